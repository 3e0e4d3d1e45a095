"""kafka-python 3.x (from PyPI) against Strata: kafkapython_client.py with the admin step
rewritten for the 3.x KafkaAdminClient, whose calls return dicts.

usage: kafkapython3_client.py BOOTSTRAP version|create|produce|consume|group|autocommit|admin ARGS...
"""
import sys

import kafka
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.structs import OffsetAndMetadata

import kafkapython_client as base
from common import emit


def admin(bs, topic, group_id, doomed):
    a = KafkaAdminClient(bootstrap_servers=bs)
    res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
    for rtype, by_name in res.items():
        for name, entries in by_name.items():
            for k, data in entries.items():
                v = data.get("value") if isinstance(data, dict) else data
                emit(ev="config", k=k, v=v)
    for g in a.list_groups():
        emit(ev="group", k=g["group_id"] if isinstance(g, dict) else g[0])
    for tp, om in a.list_group_offsets({group_id: None})[group_id].items():
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
    c.commit({tp: OffsetAndMetadata(7, "", -1)})
    emit(ev="setoffset", p=1, o=7)
    c.close(autocommit=False)

    # AlterConfigs (not incremental) replaces the topic's configs.
    a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "123456789"})],
                    incremental=False)
    a.delete_topics([doomed])  # raises on an error
    a.close()


def main():
    bs, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "version":
        emit(ev="version", version="kafka-python %s" % kafka.__version__)
        return
    {"create": base.create, "produce": base.produce, "consume": base.consume, "group": base.group,
     "admin": admin, "autocommit": base.autocommit}[cmd](bs, *args)


if __name__ == "__main__":
    main()
