"""Shared pieces of the Python compatibility clients (see ../suite_test.go for the scenario)."""
import json
import sys
import threading


def key(i):
    return "key-%d" % (i % 23)


def value(topic, i):
    return "%s|%06d|%s\u00fc" % (topic, i, "ab" * (i % 40))


def emit(**ev):
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


def record(p, o, k, v):
    emit(ev="record", p=p, o=o, k=k.decode("utf-8") if k is not None else "",
         v=v.decode("utf-8") if v is not None else "")


def stdin_closed():
    """An Event set when the test closes our stdin: the signal to leave the group."""
    ev = threading.Event()

    def watch():
        sys.stdin.read()
        ev.set()

    threading.Thread(target=watch, daemon=True).start()
    return ev
