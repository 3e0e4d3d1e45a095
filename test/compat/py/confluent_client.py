"""librdkafka (through confluent-kafka-python) against Strata.

usage: confluent_client.py BOOTSTRAP version|create|produce|produce-keyed|consume|group|autostore|autocommit|admin ARGS...
Prints one JSON event per line; see ../client_test.go.
"""
import sys
import time

import confluent_kafka
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from common import emit, key, record, stdin_closed, value


def create(bs, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bs})
    futs = admin.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)],
                               operation_timeout=10)
    for f in futs.values():
        f.result(timeout=20)
    emit(ev="created")


def produce(bs, topic, codec, n, idempotent):
    n = int(n)
    conf = {"bootstrap.servers": bs, "compression.type": codec, "acks": "all", "linger.ms": 5,
            "batch.num.messages": 50}
    if idempotent == "1":
        conf["enable.idempotence"] = True
    p = Producer(conf)
    errors = []
    delivered = [0]

    def cb(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered[0] += 1

    for i in range(n):
        p.produce(topic, key=key(i).encode(), value=value(topic, i).encode("utf-8"), on_delivery=cb)
        p.poll(0)
    left = p.flush(30)
    if left or errors:
        sys.exit("produce: %d undelivered, errors %s" % (left, errors[:5]))
    emit(ev="produced", n=delivered[0])


def consume(bs, topic, n, small=""):
    n = int(n)
    conf = {"bootstrap.servers": bs, "group.id": "compat-assign", "enable.auto.commit": False,
            "enable.partition.eof": False}
    if small:
        conf.update({"max.partition.fetch.bytes": 256, "fetch.max.bytes": 1024, "message.max.bytes": 1000})
    c = Consumer(conf)
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in parts])
    got = 0
    deadline = time.time() + 30
    while got < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            sys.exit("consume: %s" % m.error())
        record(m.partition(), m.offset(), m.key(), m.value())
        got += 1
    c.close()
    if got < n:
        sys.exit("consume: read %d of %d" % (got, n))


def group(bs, topic, group_id, assignor="range,roundrobin"):
    stop = stdin_closed()
    conf = {"bootstrap.servers": bs, "group.id": group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
            "partition.assignment.strategy": assignor}
    if assignor.startswith("consumer"):
        # KIP-848 (group.protocol=consumer): the broker assigns; "consumer:NAME" picks
        # its assignor. Session timeout and assignment strategy are the broker's.
        conf = {"bootstrap.servers": bs, "group.id": group_id, "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "group.protocol": "consumer"}
        if ":" in assignor:
            conf["group.remote.assignor"] = assignor.split(":", 1)[1]
    c = Consumer(conf)
    # With the eager assignors the callbacks get the whole assignment; with
    # cooperative-sticky only what is added or taken away. Report the whole set.
    owned = set()

    def on_assign(consumer, parts):
        owned.update(p.partition for p in parts)
        emit(ev="assigned", partitions=sorted(owned))

    def on_revoke(consumer, parts):
        owned.difference_update(p.partition for p in parts)
        emit(ev="assigned", partitions=sorted(owned))

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    while not stop.is_set():
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            sys.stderr.write("poll: %s\n" % m.error())
            continue
        try:
            c.commit(message=m, asynchronous=False)
        except KafkaException as e:
            # Not committed (a rebalance took the partition): not reported, so it is
            # read again by whoever owns the partition now.
            sys.stderr.write("commit: %s\n" % e)
            continue
        record(m.partition(), m.offset(), m.key(), m.value())
    c.close()


def produce_keyed(bs, topic, prefix, mod, start, n):
    """Idempotent producer (a new producer id per call) writing records start..start+n-1,
    keyed prefix-<i % mod> (mod 0: prefix-<i>), with value topic|prefix|i."""
    mod, start, n = int(mod), int(start), int(n)
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    errors = []
    delivered = [0]

    def cb(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered[0] += 1

    for i in range(start, start + n):
        k = "%s-%d" % (prefix, i % mod if mod else i)
        p.produce(topic, key=k.encode(), value=("%s|%s|%d" % (topic, prefix, i)).encode(), on_delivery=cb)
        p.poll(0)
    left = p.flush(30)
    if left or errors:
        sys.exit("produce-keyed: %d undelivered, errors %s" % (left, errors[:5]))
    emit(ev="produced", n=delivered[0])


def autostore(bs, topic, group_id, assignor, pace_ms):
    """A group member as in issue 23: automatic commits of offsets it stores itself after
    each record (enable.auto.offset.store=false), polled one record at a time, with
    pace_ms of work per record so that rebalances happen mid-stream.

    Not Consumer.consume(num_messages=N): librdkafka 2.0.2's batch consume advances the
    application position over records it then drops at a pause/resume barrier, so after
    a cooperative rebalance (two pauses) the tail of a partition is never fetched again,
    on any broker (franz-go's kfake too). That was issue 23; librdkafka 2.1.0 fixed it
    (its #4208)."""
    stop = stdin_closed()
    c = Consumer({"bootstrap.servers": bs, "group.id": group_id, "partition.assignment.strategy": assignor,
                  "enable.auto.commit": True, "enable.auto.offset.store": False,
                  "auto.commit.interval.ms": 500, "session.timeout.ms": 10000,
                  "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 100,
                  "auto.offset.reset": "earliest"})
    pace = int(pace_ms) / 1000.0
    owned = set()

    def on_assign(consumer, parts):
        owned.update(p.partition for p in parts)
        emit(ev="assigned", partitions=sorted(owned))

    def on_revoke(consumer, parts):
        owned.difference_update(p.partition for p in parts)
        emit(ev="assigned", partitions=sorted(owned))

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    while not stop.is_set():
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            sys.stderr.write("poll: %s\n" % m.error())
            continue
        c.store_offsets(message=m)
        record(m.partition(), m.offset(), m.key(), m.value())
        if pace:
            time.sleep(pace)
    c.close()  # commits the stored offsets


def autocommit(bs, topic, group_id, n):
    """A group member with the default automatic commits reads n records and closes."""
    n = int(n)
    c = Consumer({"bootstrap.servers": bs, "group.id": group_id, "auto.offset.reset": "earliest",
                  "auto.commit.interval.ms": 200})
    c.subscribe([topic])
    got = 0
    deadline = time.time() + 30
    while got < n and time.time() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        record(m.partition(), m.offset(), m.key(), m.value())
        got += 1
    c.close()  # commits what was consumed
    if got < n:
        sys.exit("autocommit: read %d of %d" % (got, n))


def admin(bs, topic, group_id, doomed):
    a = AdminClient({"bootstrap.servers": bs})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    for entry in a.describe_configs([res])[res].result(timeout=20).values():
        emit(ev="config", k=entry.name, v=entry.value)
    for g in a.list_groups(timeout=20):
        emit(ev="group", k=g.id)

    c = Consumer({"bootstrap.servers": bs, "group.id": group_id, "enable.auto.commit": False})
    parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
    for tp in c.committed([TopicPartition(topic, p) for p in parts], timeout=20):
        emit(ev="committed", p=tp.partition, o=tp.offset)
    for p in parts:
        low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)
        emit(ev="end", p=p, o=high)
    for tp in c.offsets_for_times([TopicPartition(topic, p, 0) for p in parts], timeout=20):
        emit(ev="bytime", p=tp.partition, o=tp.offset)
    # A commit without group membership (what assign() users do), to the now empty group.
    c.commit(offsets=[TopicPartition(topic, 1, 7)], asynchronous=False)
    emit(ev="setoffset", p=1, o=7)
    c.close()

    # AlterConfigs (not incremental in this client version) replaces the topic's configs.
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"retention.ms": "123456789"})
    a.alter_configs([res])[res].result(timeout=20)
    for f in a.delete_topics([doomed], operation_timeout=10).values():
        f.result(timeout=20)


def txn(bs, topic, group_id):
    """Transactions: commit 50 records, abort 50, commit 50 more with a consumer offset
    sent to the transaction; then count what read_committed and read_uncommitted see."""
    p = Producer({"bootstrap.servers": bs, "transactional.id": "compat-txn-" + topic, "linger.ms": 5})
    p.init_transactions(30)
    parts = sorted(p.list_topics(topic, timeout=10).topics[topic].partitions)
    for tag, commit, offsets in (("c1", True, False), ("ab", False, False), ("c2", True, True)):
        p.begin_transaction()
        for i in range(50):
            p.produce(topic, partition=parts[i % len(parts)], value=("%s-%d" % (tag, i)).encode())
        if offsets:
            c = Consumer({"bootstrap.servers": bs, "group.id": group_id})
            p.send_offsets_to_transaction([TopicPartition(topic, parts[0], 77)], c.consumer_group_metadata(), 30)
            c.close()
        if commit:
            p.commit_transaction(30)
        else:
            p.flush(30)  # written, then aborted (abort alone would purge unsent records)
            p.abort_transaction(30)
    emit(ev="txns-done")
    for level in ("read_committed", "read_uncommitted"):
        c = Consumer({"bootstrap.servers": bs, "group.id": "compat-txn-reader", "enable.auto.commit": False,
                      "enable.partition.eof": True, "isolation.level": level})
        c.assign([TopicPartition(topic, q, confluent_kafka.OFFSET_BEGINNING) for q in parts])
        eof, n, aborted = set(), 0, 0
        deadline = time.time() + 30
        while len(eof) < len(parts) and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                    continue
                sys.exit("consume: %s" % m.error())
            n += 1
            if m.value().startswith(b"ab-"):
                aborted += 1
        c.close()
        emit(ev="count", k=level, n=n, o=aborted, p=len(eof))


def main():
    bs, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "version":
        v = confluent_kafka.version()  # (str, int) in 1.x, str in 2.x
        emit(ev="version", version="confluent-kafka-python %s, librdkafka %s" % (
            v[0] if isinstance(v, tuple) else v, confluent_kafka.libversion()[0]))
        return
    {"create": create, "produce": produce, "consume": consume, "group": group, "admin": admin,
     "autocommit": autocommit, "produce-keyed": produce_keyed, "autostore": autostore, "txn": txn}[cmd](bs, *args)


if __name__ == "__main__":
    main()
