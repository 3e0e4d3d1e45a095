"""librdkafka OAUTHBEARER against Strata (see ../oauth_test.go).

usage: oauth_client.py BOOTSTRAP TOKEN_URL TOPIC SECONDS
  Produces one record every 100 ms for SECONDS over SASL_PLAINTEXT/OAUTHBEARER. The oauth_cb
  asks TOKEN_URL (the test's issuer) for a token each time librdkafka refreshes it (at 80% of
  the token's lifetime). Prints one JSON line: records sent and delivered, delivery errors,
  tokens fetched, client errors (error_cb).
usage: oauth_client.py BOOTSTRAP TOKEN_URL TOPIC bad
  Tries to produce one record with a token the broker refuses; prints the client errors.
"""
import json
import sys
import time
import urllib.request

import confluent_kafka
from confluent_kafka import Producer

from common import emit

bs, token_url, topic, mode = sys.argv[1:5]
# confluent-kafka before 1.9 takes (token, expiry) only, and names the principal itself.
OLD_CB = tuple(int(x) for x in confluent_kafka.version()[0].split(".")[:2]) < (1, 9)
tokens = [0]
client_errors = []


def oauth_cb(_config):
    with urllib.request.urlopen(token_url, timeout=10) as r:
        t = json.load(r)
    tokens[0] += 1
    if OLD_CB:
        return t["token"], float(t["exp"])
    return t["token"], float(t["exp"]), t["sub"]


def error_cb(err):
    if len(client_errors) < 5:  # a refused client retries, and reports each retry
        client_errors.append("%s:%s" % (err.name(), err.str()))


conf = {
    "bootstrap.servers": bs,
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanisms": "OAUTHBEARER",
    "oauth_cb": oauth_cb,
    "error_cb": error_cb,
    "acks": "all",
    "linger.ms": 0,
}
if mode == "bad":
    conf["message.timeout.ms"] = 5000
p = Producer(conf)
sent = [0]
delivered = [0]
failed = []


def cb(err, _msg):
    if err is not None:
        failed.append(str(err))
    else:
        delivered[0] += 1


if mode == "bad":
    p.produce(topic, b"x", on_delivery=cb)
    p.flush(15)
    emit(ev="bad", delivered=delivered[0], failed=failed, tokens=tokens[0], client_errors=client_errors,
         auth_failed=any(e.startswith("_AUTHENTICATION") or "SASL_AUTHENTICATION_FAILED" in e or
                         "Authentication failed" in e for e in client_errors))
    sys.exit(0)

end = time.time() + float(mode)
while time.time() < end:
    p.produce(topic, b"v%06d" % sent[0], on_delivery=cb)
    sent[0] += 1
    p.poll(0.1)
    time.sleep(0.05)
left = p.flush(30)
emit(ev="done", sent=sent[0], delivered=delivered[0], failed=failed, unflushed=left, tokens=tokens[0],
     client_errors=client_errors)
