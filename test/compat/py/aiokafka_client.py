"""aiokafka (asyncio, from PyPI) against Strata.

usage: aiokafka_client.py BOOTSTRAP version|create|produce|consume|group|autocommit|admin ARGS...
Prints one JSON event per line; see ../client_test.go.
"""
import asyncio
import sys
import time

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from common import emit, key, record, stdin_closed, value


async def create(bs, topic, partitions):
    a = AIOKafkaAdminClient(bootstrap_servers=bs)
    await a.start()
    await a.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)])
    await a.close()
    emit(ev="created")


async def produce(bs, topic, codec, n, idempotent):
    n = int(n)
    p = AIOKafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=5, max_batch_size=4096,
                         enable_idempotence=idempotent == "1",
                         compression_type=None if codec == "none" else codec)
    await p.start()
    try:
        futs = [await p.send(topic, key=key(i).encode(), value=value(topic, i).encode("utf-8")) for i in range(n)]
        for f in futs:
            await asyncio.wait_for(f, 30)  # raises on a failed record
    finally:
        await p.stop()
    emit(ev="produced", n=len(futs))


async def consume(bs, topic, n, small=""):
    n = int(n)
    limits = {"max_partition_fetch_bytes": 256, "fetch_max_bytes": 1024} if small else {}
    c = AIOKafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, group_id=None, **limits)
    await c.start()
    parts = None
    deadline = time.time() + 30
    while not parts and time.time() < deadline:
        parts = c.partitions_for_topic(topic)
        if not parts:
            await c._client.force_metadata_update()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    c.assign(tps)
    await c.seek_to_beginning(*tps)
    got = 0
    while got < n and time.time() < deadline:
        for tp, msgs in (await c.getmany(timeout_ms=500)).items():
            for m in msgs:
                record(m.partition, m.offset, m.key, m.value)
                got += 1
    await c.stop()
    if got < n:
        sys.exit("consume: read %d of %d" % (got, n))


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        emit(ev="assigned", partitions=[])

    def on_partitions_assigned(self, assigned):
        emit(ev="assigned", partitions=sorted(tp.partition for tp in assigned))


async def group(bs, topic, group_id):
    stop = stdin_closed()
    c = AIOKafkaConsumer(bootstrap_servers=bs, group_id=group_id, enable_auto_commit=False,
                         auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
                         max_poll_records=10)
    await c.start()
    c.subscribe([topic], listener=Listener())
    while not stop.is_set():
        for tp, msgs in (await c.getmany(timeout_ms=200)).items():
            for m in msgs:
                if stop.is_set():
                    break  # not committed, not reported: the next owner reads it
                try:
                    await c.commit({tp: m.offset + 1})
                except (CommitFailedError, KafkaError) as e:
                    sys.stderr.write("commit: %r\n" % e)
                    break  # re-read from the committed offset by whoever owns tp now
                record(m.partition, m.offset, m.key, m.value)
    await c.stop()


async def autocommit(bs, topic, group_id, n):
    """A group member with the default automatic commits reads n records and stops."""
    n = int(n)
    c = AIOKafkaConsumer(topic, bootstrap_servers=bs, group_id=group_id, auto_offset_reset="earliest",
                         auto_commit_interval_ms=200)
    await c.start()
    got = 0
    deadline = time.time() + 30
    while got < n and time.time() < deadline:
        for tp, msgs in (await c.getmany(timeout_ms=200)).items():
            for m in msgs:
                record(m.partition, m.offset, m.key, m.value)
                got += 1
    await c.stop()  # commits what was consumed
    if got < n:
        sys.exit("autocommit: read %d of %d" % (got, n))


async def admin(bs, topic, group_id, doomed):
    a = AIOKafkaAdminClient(bootstrap_servers=bs)
    await a.start()
    for resp in await a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]):
        for err, msg, rtype, rname, entries in resp.resources:
            if err != 0:
                sys.exit("describe_configs: error %d %s" % (err, msg))
            for entry in entries:
                emit(ev="config", k=entry[0], v=entry[1])
    for g in await a.list_consumer_groups():
        emit(ev="group", k=g[0])
    for tp, om in (await a.list_consumer_group_offsets(group_id)).items():
        if tp.topic == topic:
            emit(ev="committed", p=tp.partition, o=om.offset)

    c = AIOKafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, group_id=None)
    await c.start()
    await c._client.force_metadata_update()
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    for tp, o in (await c.end_offsets(tps)).items():
        emit(ev="end", p=tp.partition, o=o)
    for tp, ot in (await c.offsets_for_times({tp: 0 for tp in tps})).items():
        emit(ev="bytime", p=tp.partition, o=ot.offset if ot is not None else -1)
    await c.stop()

    # A commit without group membership (what assign() users do), to the now empty group.
    c = AIOKafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False, group_id=group_id)
    await c.start()
    tp = TopicPartition(topic, 1)
    c.assign([tp])
    await c.commit({tp: 7})
    emit(ev="setoffset", p=1, o=7)
    await c.stop()

    # AlterConfigs (not incremental) replaces the topic's configs.
    for resp in await a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                      configs={"retention.ms": "123456789"})]):
        for err, msg, rtype, rname in resp.resources:
            if err != 0:
                sys.exit("alter_configs: error %d %s" % (err, msg))
    resp = await a.delete_topics([doomed])
    for name, err, *rest in resp.topic_error_codes:
        if err != 0:
            sys.exit("delete_topics %s: error %d" % (name, err))
    await a.close()


def main():
    bs, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "version":
        emit(ev="version", version="aiokafka %s" % aiokafka.__version__)
        return
    fn = {"create": create, "produce": produce, "consume": consume, "group": group, "admin": admin,
          "autocommit": autocommit}[cmd]
    asyncio.run(fn(bs, *args))


if __name__ == "__main__":
    main()
