package broker

// Topics that are not tiered in the bucket's self-description.
//
// With a remote tier, every topic has a topic.json in the bucket (tier.go's
// writeTopicManifest), not only the tiered ones: a topic with remote.storage.enable=false
// is marked localOnly and has nothing else there. A broker restored onto an empty data dir
// recreates it as an empty topic (offsets from 0) with its partition count and configs;
// its records lived only on the lost disk. A data dir from before topic.json was written
// for every topic gets the missing ones in the background after start-up
// (syncTopicManifests).

import (
	"context"
	"errors"

	"github.com/strata-io/strata/tiering"
)

// deleteTopicManifest removes the topic.json (and marker) of a deleted topic that was not
// tiered; failures are logged (a restore would bring the topic back, empty).
func (b *Broker) deleteTopicManifest(t *Topic) {
	if b.tier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	if err := b.tier.DeleteTopic(ctx, t.Name, t.ID, false); err != nil {
		b.logger.Warn("cannot delete topic manifest of deleted topic", "topic", t.Name, "err", err)
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
			if b.lookupTopic(t.Name) == t {
				b.writeTopicManifest(octx, t)
			}
			b.adminMu.Unlock()
		}
		cancel()
	}
}
