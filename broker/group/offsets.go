package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit handles OffsetCommit v0-v9. A commit with generation < 0 to an Empty (or
// unknown) group is an offsets-only commit (consumers using assign()); otherwise the
// member and generation must be current. Offsets are durable before the response.
func (c *Coordinator) OffsetCommit(_ context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	codes := make([][]int16, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	fillAll := func(code int16) {
		for i := range codes {
			for j := range codes[i] {
				codes[i][j] = code
			}
		}
	}
	generation := req.Generation
	if req.Version == 0 {
		generation = -1
	}
	switch {
	case req.Group == "":
		fillAll(kerr.InvalidGroupID.Code)
	default:
		var g *group
		if generation < 0 {
			g = c.getOrCreate(req.Group)
		} else {
			g = c.lookup(req.Group)
		}
		if g == nil {
			fillAll(kerr.IllegalGeneration.Code)
			break
		}
		code := int16(0)
		if g.cg != nil {
			var stale func(string, int32) bool
			code, stale = g.consumerCommitAllowedLocked(req.MemberID, generation, req.Version)
			for i, t := range req.Topics {
				for j, p := range t.Partitions {
					if stale != nil && stale(t.Topic, p.Partition) {
						codes[i][j] = kerr.StaleMemberEpoch.Code
					}
				}
			}
		} else {
			code = g.commitAllowedLocked(req.MemberID, strOrEmpty(req.InstanceID), generation)
		}
		if code != 0 {
			fillAll(code)
		} else {
			c.commitLocked(g, req, codes)
		}
		empty := g.state == Empty && !g.hasMembersLocked() && g.cg == nil && len(g.offsets) == 0
		if empty {
			// Nothing was committed to a group created for this request: drop it again.
			g.removeLocked()
		}
		g.mu.Unlock()
	}
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (g *group) commitAllowedLocked(memberID, instanceID string, generation int32) int16 {
	if instanceID != "" {
		if cur, ok := g.static[instanceID]; ok && cur != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if generation < 0 && g.state == Empty {
		return 0
	}
	m, code := g.validateMemberLocked(memberID, instanceID, generation)
	if code != 0 {
		return code
	}
	switch g.state {
	case Stable, PreparingRebalance:
		g.heartbeatLocked(m)
		return 0
	case CompletingRebalance:
		return kerr.RebalanceInProgress.Code
	default:
		return kerr.UnknownMemberID.Code
	}
}

func (c *Coordinator) commitLocked(g *group, req *kmsg.OffsetCommitRequest, codes [][]int16) {
	now := time.Now().UnixMilli()
	var recs []Record
	for i, t := range req.Topics {
		topicOK := c.cfg.TopicExists == nil || c.cfg.TopicExists(t.Topic)
		for j, p := range t.Partitions {
			switch {
			case codes[i][j] != 0: // refused by the caller's checks
			case !topicOK || p.Partition < 0 || (c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(t.Topic, p.Partition)):
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > c.cfg.MaxMetadataBytes:
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
			default:
				epoch := p.LeaderEpoch
				if req.Version < 6 {
					epoch = -1
				}
				recs = append(recs, Record{Kind: KindOffset, Group: g.name, Topic: t.Topic, Partition: p.Partition,
					Offset: OffsetValue{Offset: p.Offset, LeaderEpoch: epoch, Metadata: strOrEmpty(p.Metadata), CommitTime: now}})
			}
		}
	}
	if len(recs) == 0 {
		return
	}
	start := time.Now()
	if err := c.store.Append(recs); err != nil {
		c.log.Error("cannot persist offset commit", "group", g.name, "err", err)
		for i := range codes {
			for j := range codes[i] {
				if codes[i][j] == 0 {
					codes[i][j] = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
		return
	}
	c.cfg.Metrics.committed(len(recs), time.Since(start).Seconds())
	for _, r := range recs {
		g.setOffset(r.Topic, r.Partition, r.Offset)
	}
}

// OffsetFetch handles OffsetFetch v0-v9 (v8+: several groups). Partitions without a
// committed offset answer offset -1. Null topics (v2+) means every committed offset.
func (c *Coordinator) OffsetFetch(_ context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		var topics []kmsg.OffsetFetchRequestGroupTopic
		for _, t := range req.Topics {
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
		all := req.Topics == nil && req.Version >= 2
		code, res := c.fetchGroup(req.Group, topics, all, nil, -1)
		resp.ErrorCode = code
		for _, t := range res {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				if code != 0 && req.Version < 2 {
					rp.ErrorCode = code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, rg := range req.Groups {
		epoch := rg.MemberEpoch
		if req.Version < 9 {
			epoch = -1
		}
		code, res := c.fetchGroup(rg.Group, rg.Topics, rg.Topics == nil, rg.MemberID, epoch)
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group, g.ErrorCode, g.Topics = rg.Group, code, res
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

func (c *Coordinator) fetchGroup(name string, topics []kmsg.OffsetFetchRequestGroupTopic, all bool, memberID *string, memberEpoch int32) (int16, []kmsg.OffsetFetchResponseGroupTopic) {
	if name == "" {
		return kerr.InvalidGroupID.Code, nil
	}
	g := c.lookup(name)
	var offsets map[string]map[int32]OffsetValue
	if g != nil {
		defer g.mu.Unlock()
		if g.cg != nil {
			if code := g.consumerFetchAllowedLocked(memberID, memberEpoch); code != 0 {
				return code, nil
			}
		}
		offsets = g.offsets
	}
	if all {
		topics = nil
		for _, t := range sortedKeys(offsets) {
			var parts []int32
			for _, p := range sortedKeys(offsets[t]) {
				parts = append(parts, p)
			}
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t, Partitions: parts})
		}
	}
	var out []kmsg.OffsetFetchResponseGroupTopic
	for _, t := range topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, -1, -1
			md := ""
			if v, ok := offsets[t.Topic][p]; ok {
				rp.Offset, rp.LeaderEpoch, md = v.Offset, v.LeaderEpoch, v.Metadata
			}
			rp.Metadata = &md
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return 0, out
}

// OffsetDelete handles OffsetDelete v0: offsets of an Empty group, or of topics a
// consumer group is not subscribed to, are deleted.
func (c *Coordinator) OffsetDelete(_ context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	g := c.lookup(req.Group)
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	defer g.mu.Unlock()
	var subscribed map[string]bool
	if g.cg != nil {
		if len(g.cg.members) > 0 {
			subscribed = g.consumerSubscribedLocked()
		}
	} else if g.state != Empty {
		if g.protocolType != "consumer" {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			return resp
		}
		subscribed = g.subscribedTopicsLocked()
	}
	var recs []Record
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case subscribed[t.Topic]:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			case c.cfg.TopicExists != nil && !c.cfg.TopicExists(t.Topic):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				if _, ok := g.offsets[t.Topic][p.Partition]; ok {
					recs = append(recs, Record{Kind: KindOffsetDelete, Group: g.name, Topic: t.Topic, Partition: p.Partition})
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(recs) > 0 {
		if err := c.store.Append(recs); err != nil {
			c.log.Error("cannot persist offset delete", "group", g.name, "err", err)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Topics = nil
			return resp
		}
		for _, r := range recs {
			g.deleteOffset(r.Topic, r.Partition)
		}
	}
	return resp
}

// subscribedTopicsLocked decodes the consumer-protocol subscriptions of the members.
func (g *group) subscribedTopicsLocked() map[string]bool {
	out := make(map[string]bool)
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			continue
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out
}

// ExpireOffsets applies offsets.retention.minutes (Run calls it periodically): offsets of
// an Empty group expire once both their commit and the group becoming empty are older
// than the retention; a consumer group with members loses offsets of topics it no longer
// subscribes to once they are older than the retention. An Empty group left without
// offsets is deleted. It returns how many offsets were removed.
func (c *Coordinator) ExpireOffsets() int {
	c.mu.Lock()
	groups := c.groupList()
	c.mu.Unlock()
	now := time.Now()
	limit := c.cfg.OffsetsRetention.Milliseconds()
	n := 0
	for _, g := range groups {
		g.mu.Lock()
		if g.state == Dead {
			g.mu.Unlock()
			continue
		}
		var subscribed map[string]bool
		switch {
		case g.cg != nil:
			if len(g.cg.members) > 0 {
				subscribed = g.consumerSubscribedLocked()
			}
		case g.state == Empty:
		case g.protocolType == "consumer" && g.state == Stable:
			subscribed = g.subscribedTopicsLocked()
		default:
			g.mu.Unlock()
			continue
		}
		var recs []Record
		for topic, parts := range g.offsets {
			if subscribed[topic] {
				continue
			}
			for p, v := range parts {
				base := v.CommitTime
				switch {
				case g.cg != nil && len(g.cg.members) == 0:
					base = max(base, g.cg.stateTime.UnixMilli())
				case g.cg != nil:
				case g.state == Empty && !g.stateTime.IsZero():
					base = max(base, g.stateTime.UnixMilli())
				}
				if now.UnixMilli()-base >= limit {
					recs = append(recs, Record{Kind: KindOffsetDelete, Group: g.name, Topic: topic, Partition: p})
				}
			}
		}
		deleteGroup := g.state == Empty && !g.hasMembersLocked() && len(recs) == countOffsets(g.offsets)
		if deleteGroup {
			recs = []Record{{Kind: KindGroupDelete, Group: g.name}}
		}
		if len(recs) > 0 {
			if err := c.store.Append(recs); err != nil {
				c.log.Error("cannot persist offset expiry", "group", g.name, "err", err)
			} else if deleteGroup {
				n += countOffsets(g.offsets)
				g.offsets = make(map[string]map[int32]OffsetValue)
				g.removeLocked()
			} else {
				for _, r := range recs {
					g.deleteOffset(r.Topic, r.Partition)
				}
				n += len(recs)
			}
		}
		g.mu.Unlock()
	}
	if n > 0 {
		c.cfg.Metrics.expiredOffsets(n)
		c.log.Info("expired group offsets", "offsets", n)
	}
	return n
}

func countOffsets(m map[string]map[int32]OffsetValue) int {
	n := 0
	for _, p := range m {
		n += len(p)
	}
	return n
}

// TopicDeleted removes every group's committed offsets for topic (the broker calls it
// after deleting the topic).
func (c *Coordinator) TopicDeleted(topic string) {
	c.mu.Lock()
	groups := c.groupList()
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		var recs []Record
		for _, p := range sortedKeys(g.offsets[topic]) {
			recs = append(recs, Record{Kind: KindOffsetDelete, Group: g.name, Topic: topic, Partition: p})
		}
		if len(recs) > 0 {
			if err := c.store.Append(recs); err != nil {
				c.log.Error("cannot persist offsets of deleted topic", "group", g.name, "topic", topic, "err", err)
			}
			// Dropped from memory even if the store failed: the topic is gone either way.
			delete(g.offsets, topic)
		}
		g.mu.Unlock()
	}
}
