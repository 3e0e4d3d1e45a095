package broker

// Internal topics, as clients see them.
//
// Kafka keeps consumer-group state in the internal topic __consumer_offsets, which
// Metadata lists with IsInternal set, so that tools can list and describe it and clients'
// regex subscriptions skip it. Strata keeps group state in its own store (broker/group),
// not in a topic, and presents __consumer_offsets as Kafka's group coordinator creates it:
// offsets.topic.num.partitions partitions (default 50) led by this node, with the topic
// configs cleanup.policy=compact, compression.type=producer and segment.bytes=104857600,
// and a topic id derived from the cluster id (stable across restarts).
//
// Presented, not real: Metadata (all topics, by name and by id), DescribeTopicPartitions
// and DescribeConfigs answer it; CreateTopics (and auto-creation) of it is
// TOPIC_ALREADY_EXISTS; Produce to it is INVALID_TOPIC_EXCEPTION ("Cannot append to
// internal topic"), as Kafka answers clients; DescribeProducers lists no producers on its
// partitions (kafka-transactions find-hanging describes every partition of a broker);
// every other API answers it as an unknown
// topic (it has no log, so Fetch and ListOffsets have nothing to serve).
// __transaction_state is not presented: Strata has no transaction log.

import (
	"crypto/sha256"
	"fmt"
	"sync"
)

// offsetsTopicName is Kafka's internal topic of consumer-group state.
const offsetsTopicName = "__consumer_offsets"

// offsetsTopicConfigs are the topic configs Kafka creates __consumer_offsets with.
var offsetsTopicConfigs = map[string]string{
	"cleanup.policy":   "compact",
	"compression.type": "producer",
	"segment.bytes":    "104857600",
}

// isInternalTopic reports whether name is an internal topic Strata presents.
func isInternalTopic(name string) bool { return name == offsetsTopicName }

// internalTopics holds the presented topics, built on first use (they need the cluster id).
type internalTopics struct {
	once    sync.Once
	offsets *Topic
}

// internalTopic returns the presented internal topic called name, or nil.
func (b *Broker) internalTopic(name string) *Topic {
	if !isInternalTopic(name) {
		return nil
	}
	return b.presentedOffsetsTopic()
}

// internalTopicByID returns the presented internal topic with id, or nil.
func (b *Broker) internalTopicByID(id [16]byte) *Topic {
	if t := b.presentedOffsetsTopic(); t.ID == id {
		return t
	}
	return nil
}

func (b *Broker) presentedOffsetsTopic() *Topic {
	b.internal.once.Do(func() {
		sum := sha256.Sum256([]byte("strata internal topic\x00" + b.clusterID + "\x00" + offsetsTopicName))
		var id [16]byte
		copy(id[:], sum[:])
		id[6] = id[6]&0x0f | 0x40 // a version 4 UUID, as Kafka's are
		id[8] = id[8]&0x3f | 0x80
		n := b.cfg.OffsetsTopicPartitions
		if n < 1 {
			n = 50
		}
		b.internal.offsets = &Topic{Name: offsetsTopicName, ID: id, b: b, presented: n, overrides: cloneConfigs(offsetsTopicConfigs)}
	})
	return b.internal.offsets
}

// presentedPartition reports whether partition idx of topic name is a partition of a
// presented internal topic (one that is not a real topic of the registry).
func (b *Broker) presentedPartition(name string, idx int32) bool {
	t := b.internalTopic(name)
	return t != nil && b.lookupTopic(name) == nil && idx >= 0 && idx < t.presented
}

// allTopicsWithInternal is allTopics and the presented internal topics that are not real
// topics of the registry (a __consumer_offsets auto-created by an older Strata stays as
// it is).
func (b *Broker) allTopicsWithInternal() []*Topic {
	ts := b.allTopics()
	if b.lookupTopic(offsetsTopicName) == nil {
		ts = append(ts, b.presentedOffsetsTopic())
	}
	return ts
}

// errInternalTopicAppend is Kafka's answer to a client producing to an internal topic.
func errInternalTopicAppend(name string) error {
	return fmt.Errorf("%w: Cannot append to internal topic %s", errInvalidTopic, name)
}
