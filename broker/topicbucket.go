package broker

// Topics that are not tiered in the bucket's self-description.
//
// With a remote tier, every topic has a topic.json in the bucket (tier.go's
// writeTopicManifest), not only the tiered ones: a topic with remote.storage.enable=false
// is marked localOnly and has nothing else there. A broker restored onto an empty data dir
// recreates it as an empty topic with its partition count and configs (its records lived
// only on the lost disk), each partition restarting after the log end recorded in the
// bucket (localwatermark.go).
//
// Unlike a tiered topic's, such a topic's topic.json is written (and deleted with the
// topic) in the background, by bucketMetaLoop, so that an unreachable bucket never delays
// creating, changing or deleting a topic that does not use it; a failed write is retried
// every strata.remote.groups.upload.interval.ms (or minute). A change not yet written when
// the broker stops is lost, except that a data dir gets the topic.json of every topic that
// has none in the background after each start (syncTopicManifests), which also covers data
// dirs from before every topic had one.

import (
	"context"
	"errors"
	"sync"

	"github.com/strata-io/strata/tiering"
)

// topicManifestQueue holds the topics whose topic.json bucketMetaLoop must write or
// delete.
type topicManifestQueue struct {
	mu   sync.Mutex
	todo map[[16]byte]*Topic // by topic ID
	wake chan struct{}       // cap 1
}

func (b *Broker) queueTopicManifest(t *Topic) {
	q := &b.topicQ
	q.mu.Lock()
	if q.todo == nil {
		q.todo = map[[16]byte]*Topic{}
	}
	q.todo[t.ID] = t
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// deleteTopicManifest queues the deletion of the topic.json (and marker) of a deleted
// topic that was not tiered.
func (b *Broker) deleteTopicManifest(t *Topic) {
	if b.tier != nil {
		b.queueTopicManifest(t)
	}
}

// flushTopicManifests writes the queued topic.json of topics that exist (and are still
// not tiered: a tiered topic's is written synchronously) and deletes those of deleted
// topics. Failures stay queued.
func (b *Broker) flushTopicManifests(ctx context.Context) {
	q := &b.topicQ
	q.mu.Lock()
	todo := q.todo
	q.todo = nil
	q.mu.Unlock()
	for id, t := range todo {
		octx, cancel := context.WithTimeout(ctx, tierOpTimeout)
		var err error
		b.adminMu.Lock()
		switch {
		case b.lookupTopicID(id) != t: // deleted
			err = b.tier.DeleteTopic(octx, t.Name, t.ID, false)
		case !t.Config().RemoteStorageEnable:
			err = b.tier.WriteTopicManifest(octx, tiering.TopicManifest{
				Topic: t.Name, TopicID: t.ID, Partitions: t.numPartitions(), Configs: t.configOverrides(), LocalOnly: true,
			})
		}
		b.adminMu.Unlock()
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				b.logger.Warn("cannot update topic manifest in the bucket; retrying", "topic", t.Name, "err", err)
			}
			q.mu.Lock()
			if q.todo == nil {
				q.todo = map[[16]byte]*Topic{}
			}
			if _, newer := q.todo[id]; !newer {
				q.todo[id] = t
			}
			q.mu.Unlock()
		}
	}
}

// syncTopicManifests writes the topic.json of every topic that has none in the bucket.
func (b *Broker) syncTopicManifests(ctx context.Context) {
	for _, t := range b.allTopics() {
		if ctx.Err() != nil {
			return
		}
		octx, cancel := context.WithTimeout(ctx, tierOpTimeout)
		_, err := b.cfg.RemoteStore.Stat(octx, tiering.TopicManifestKey(b.cfg.RemotePrefix, t.Name, t.ID))
		if errors.Is(err, tiering.ErrNotExist) {
			b.adminMu.Lock()
			if b.lookupTopic(t.Name) == t && t.Config().RemoteStorageEnable {
				b.putTopicManifest(octx, t)
			} else if b.lookupTopic(t.Name) == t {
				b.queueTopicManifest(t)
			}
			b.adminMu.Unlock()
		}
		cancel()
	}
}
