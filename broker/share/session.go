package share

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Share sessions (KIP-932): a member's ShareFetch at epoch 0 opens a session holding the
// partitions it names; later requests carry the next epoch (1, 2, ... wrapping to 1) and
// add partitions (Topics) or drop them (ForgottenTopicsData); epoch -1 closes it. A
// session belongs to the connection that opened it: when the connection closes, the
// session closes, and closing a session releases every record the member holds, as Kafka
// does (a consumer that dies is redelivered at once, not after its locks expire).

// Session updates the share session of (group, member) for one request. fetch is true
// for ShareFetch and false for ShareAcknowledge, which cannot open a session. It returns
// the session's partitions (after add and forget) and, for epoch -1, closes the session
// after the caller calls CloseSession. conn ends when the connection closes.
func (c *Coordinator) Session(conn context.Context, groupID, memberID string, epoch int32, add, forget []TP, fetch bool) ([]TP, *kerr.Error) {
	if groupID == "" || memberID == "" {
		return nil, kerr.InvalidRequest
	}
	key := sessKey{groupID, memberID}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.groupLocked(groupID, true)
	s := c.sessions[key]
	switch {
	case epoch == 0:
		if !fetch {
			return nil, kerr.InvalidShareSessionEpoch
		}
		if s != nil {
			c.closeSessionLocked(key, s)
		}
		s = &session{epoch: 1}
		s.stop = context.AfterFunc(conn, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.sessions[key] == s {
				c.closeSessionLocked(key, s)
			}
		})
		c.sessions[key] = s
	case s == nil:
		return nil, kerr.ShareSessionNotFound
	case epoch == -1:
		return slices.Clone(s.parts), nil
	case epoch != s.epoch:
		return nil, kerr.InvalidShareSessionEpoch
	default:
		s.epoch++
		if s.epoch <= 0 {
			s.epoch = 1
		}
	}
	for _, tp := range forget {
		if i := slices.Index(s.parts, tp); i >= 0 {
			s.parts = slices.Delete(s.parts, i, i+1)
		}
	}
	if fetch {
		for _, tp := range add {
			if !slices.Contains(s.parts, tp) {
				s.parts = append(s.parts, tp)
			}
		}
	}
	return slices.Clone(s.parts), nil
}

// CloseSession closes the session of (group, member), releasing the member's records.
func (c *Coordinator) CloseSession(groupID, memberID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := sessKey{groupID, memberID}
	if s := c.sessions[key]; s != nil {
		c.closeSessionLocked(key, s)
	}
}

func (c *Coordinator) closeSessionLocked(key sessKey, s *session) {
	s.stop()
	delete(c.sessions, key)
	if g := c.groups[key.group]; g != nil {
		for _, p := range g.parts {
			if p.releaseMember(key.member, c.cfg.DeliveryCountLimit) {
				c.st.dirty(g.id)
			}
		}
	}
}

// ReadOffset returns where a fetch of tp for the group should read the log, after
// expiring locks and following the log start; ok is false when there is nothing to
// acquire (the partition is unknown, everything up to the high watermark is in flight
// or done, or the in-flight limit is reached with nothing available).
func (c *Coordinator) ReadOffset(groupID string, tp TP) (off int64, ok bool) {
	logStart, hwm, known := c.cfg.Offsets(tp)
	if !known {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groupLocked(groupID, true)
	p := c.partitionLocked(g, tp)
	if p == nil {
		return 0, false
	}
	if p.expire(time.Now(), c.cfg.DeliveryCountLimit) {
		c.st.dirty(g.id)
	}
	if logStart > p.start {
		p.moveStart(logStart)
		c.st.dirty(g.id)
	}
	off = p.NextReadOffset()
	if off >= hwm || (off == p.end && p.InFlight() >= c.cfg.MaxRecordLocks) {
		return 0, false
	}
	return off, true
}

// Acquire locks for member the available records of batches (read at ReadOffset), at
// most maxRecords of them.
func (c *Coordinator) Acquire(groupID, memberID string, tp TP, batches []Batch, maxRecords int) []AcquiredRange {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groupLocked(groupID, true)
	p := c.partitionLocked(g, tp)
	if p == nil {
		return nil
	}
	out := p.acquire(memberID, batches, maxRecords, c.cfg.MaxRecordLocks, time.Now(), c.cfg.LockDuration)
	if len(out) > 0 {
		c.st.dirty(g.id)
	}
	return out
}

// AckBatch is one acknowledgement batch of a request.
type AckBatch struct {
	First, Last int64
	Types       []int8
}

// Ack applies member's acknowledgement batches for tp, in order; it stops at the first
// that fails and returns its error (ErrInvalidRecordState or ErrInvalidRequest). Call
// Sync before answering.
func (c *Coordinator) Ack(groupID, memberID string, tp TP, batches []AckBatch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[groupID]
	if g == nil || g.parts[tp] == nil {
		return ErrInvalidRecordState
	}
	p := g.parts[tp]
	now := time.Now()
	var err error
	for _, b := range batches {
		if err = p.ack(memberID, b.First, b.Last, b.Types, now, c.cfg.LockDuration, c.cfg.DeliveryCountLimit); err != nil {
			break
		}
		c.st.dirty(g.id)
	}
	return err
}
