package group

// Offsets committed in transactions (KIP-98, KIP-447). The transaction coordinator
// (broker/txn) keeps a transaction's offsets pending until it commits; the group
// coordinator checks the committing member (ValidateTxnOffsetCommit) and makes the
// offsets visible at commit (CommitTxnOffsets).

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TxnOffset is one offset committed by a transaction.
type TxnOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// ValidateTxnOffsetCommit checks the group fields of a TxnOffsetCommit (v3+, KIP-447)
// as Kafka's group coordinator does: an unknown member id is UNKNOWN_MEMBER_ID (an empty
// one skips the member checks), a static member replaced by another is
// FENCED_INSTANCE_ID, and a generation >= 0 other than the group's is
// ILLEGAL_GENERATION. It returns 0 when the commit may proceed.
func (c *Coordinator) ValidateTxnOffsetCommit(groupID, memberID, instanceID string, generation int32) int16 {
	if groupID == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.lookup(groupID)
	if g == nil {
		if memberID != "" {
			return kerr.UnknownMemberID.Code
		}
		if generation >= 0 {
			return kerr.IllegalGeneration.Code
		}
		return 0
	}
	defer g.mu.Unlock()
	if instanceID != "" {
		if cur, ok := g.static[instanceID]; ok && cur != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if memberID != "" {
		if _, ok := g.members[memberID]; !ok {
			return kerr.UnknownMemberID.Code
		}
	}
	if generation >= 0 && generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	return 0
}

// CommitTxnOffsets durably commits a committed transaction's offsets for groupID (the
// group is created if needed, as an offsets-only commit would). Committing the same
// offsets again is harmless (the transaction coordinator retries after a crash).
func (c *Coordinator) CommitTxnOffsets(groupID string, offs []TxnOffset) error {
	if len(offs) == 0 {
		return nil
	}
	g := c.getOrCreate(groupID)
	defer g.mu.Unlock()
	now := time.Now().UnixMilli()
	recs := make([]Record, 0, len(offs))
	for _, o := range offs {
		recs = append(recs, Record{Kind: KindOffset, Group: g.name, Topic: o.Topic, Partition: o.Partition,
			Offset: OffsetValue{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTime: now}})
	}
	if err := c.store.Append(recs); err != nil {
		return err
	}
	for _, r := range recs {
		g.setOffset(r.Topic, r.Partition, r.Offset)
	}
	return nil
}
