"""kafka-python against Strata.

usage: kafkapython_client.py BOOTSTRAP version|create|produce|consume|group ARGS...
Prints one JSON event per line; see ../client_test.go. kafka-python 2.0.x has no
idempotent producer.
"""
import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from common import emit, key, record, stdin_closed, value


def create(bs, topic, partitions):
    admin = KafkaAdminClient(bootstrap_servers=bs)
    resp = admin.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)])
    for t in getattr(resp, "topic_errors", []):
        if t[1] != 0:
            sys.exit("create: %s" % (t,))
    admin.close()
    emit(ev="created")


def produce(bs, topic, codec, n, idempotent):
    n = int(n)
    p = KafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=5, batch_size=4096,
                      compression_type=None if codec == "none" else codec)
    futs = [p.send(topic, key=key(i).encode(), value=value(topic, i).encode("utf-8")) for i in range(n)]
    p.flush(30)
    for f in futs:
        f.get(timeout=30)  # raises on a failed record
    p.close()
    emit(ev="produced", n=len(futs))


def consume(bs, topic, n, small=""):
    n = int(n)
    limits = {"max_partition_fetch_bytes": 256, "fetch_max_bytes": 1024} if small else {}
    c = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, group_id=None, **limits)
    parts = None
    deadline = time.time() + 30
    while not parts and time.time() < deadline:
        parts = c.partitions_for_topic(topic)
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = 0
    while got < n and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=500).items():
            for m in msgs:
                record(m.partition, m.offset, m.key, m.value)
                got += 1
    c.close()
    if got < n:
        sys.exit("consume: read %d of %d" % (got, n))


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        emit(ev="assigned", partitions=[])

    def on_partitions_assigned(self, assigned):
        emit(ev="assigned", partitions=sorted(tp.partition for tp in assigned))


def group(bs, topic, group_id):
    stop = stdin_closed()
    c = KafkaConsumer(bootstrap_servers=bs, group_id=group_id, enable_auto_commit=False,
                      auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
                      max_poll_records=10)
    c.subscribe([topic], listener=Listener())
    while not stop.is_set():
        for tp, msgs in c.poll(timeout_ms=200).items():
            for m in msgs:
                if stop.is_set():
                    break  # not committed, not reported: the next owner reads it
                try:
                    c.commit({tp: OffsetAndMetadata(m.offset + 1, "")})
                except (CommitFailedError, KafkaError) as e:
                    sys.stderr.write("commit: %r\n" % e)
                    break  # re-read from the committed offset by whoever owns tp now
                record(m.partition, m.offset, m.key, m.value)
    c.close()


def autocommit(bs, topic, group_id, n):
    """A group member with the default automatic commits reads n records and closes."""
    n = int(n)
    c = KafkaConsumer(topic, bootstrap_servers=bs, group_id=group_id, auto_offset_reset="earliest",
                      auto_commit_interval_ms=200)
    got = 0
    deadline = time.time() + 30
    while got < n and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=200).items():
            for m in msgs:
                record(m.partition, m.offset, m.key, m.value)
                got += 1
    c.close()  # commits what was consumed (autocommit=True)
    if got < n:
        sys.exit("autocommit: read %d of %d" % (got, n))


def admin(bs, topic, group_id, doomed):
    a = KafkaAdminClient(bootstrap_servers=bs)
    for resp in a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]):
        for err, msg, rtype, rname, entries in resp.resources:
            if err != 0:
                sys.exit("describe_configs: error %d %s" % (err, msg))
            for entry in entries:
                emit(ev="config", k=entry[0], v=entry[1])
    for gid, _ in a.list_consumer_groups():
        emit(ev="group", k=gid)
    for tp, om in a.list_consumer_group_offsets(group_id).items():
        if tp.topic == topic:
            emit(ev="committed", p=tp.partition, o=om.offset)

    c = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, group_id=None)
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    for tp, o in c.end_offsets(tps).items():
        emit(ev="end", p=tp.partition, o=o)
    for tp, ot in c.offsets_for_times({tp: 0 for tp in tps}).items():
        emit(ev="bytime", p=tp.partition, o=ot.offset if ot is not None else -1)
    c.close()

    # A commit without group membership (what assign() users do), to the now empty group.
    c = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, group_id=group_id)
    tp = TopicPartition(topic, 1)
    c.assign([tp])
    c.commit({tp: OffsetAndMetadata(7, "")})
    emit(ev="setoffset", p=1, o=7)
    c.close(autocommit=False)

    # AlterConfigs (kafka-python has no incremental variant) replaces the topic's configs.
    for resp in [a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                 configs={"retention.ms": "123456789"})])]:
        for err, msg, rtype, rname in resp.resources:
            if err != 0:
                sys.exit("alter_configs: error %d %s" % (err, msg))
    resp = a.delete_topics([doomed])
    for name, err in resp.topic_error_codes:
        if err != 0:
            sys.exit("delete_topics %s: error %d" % (name, err))
    a.close()


def main():
    bs, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "version":
        emit(ev="version", version="kafka-python %s" % kafka.__version__)
        return
    {"create": create, "produce": produce, "consume": consume, "group": group, "admin": admin,
     "autocommit": autocommit}[cmd](bs, *args)


if __name__ == "__main__":
    main()
