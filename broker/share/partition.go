package share

import (
	"errors"
	"time"
)

// RecordState is the delivery state of one in-flight record, with Kafka's numeric ids
// (as DescribeShareGroupOffsets and the share-group state records use them).
type RecordState int8

const (
	Available    RecordState = 0 // may be acquired by the next fetch
	Acquired     RecordState = 1 // locked by one member until it acknowledges or the lock expires
	Acknowledged RecordState = 2 // accepted: done
	Archived     RecordState = 4 // rejected, or delivered share.delivery.count.limit times: done
)

// AckType is an acknowledgement type of ShareFetch/ShareAcknowledge (KIP-932; Renew is
// KIP-1222, ShareFetch/ShareAcknowledge v2).
type AckType int8

const (
	AckGap     AckType = 0
	AckAccept  AckType = 1
	AckRelease AckType = 2
	AckReject  AckType = 3
	AckRenew   AckType = 4
)

var (
	// ErrInvalidRecordState: an acknowledgement of a record that the member does not
	// hold (never acquired, acquired by another member, lock expired, already
	// acknowledged). Kafka's INVALID_RECORD_STATE.
	ErrInvalidRecordState = errors.New("record is not acquired by this member")
	// ErrInvalidRequest: malformed acknowledgement batch. Kafka's INVALID_REQUEST.
	ErrInvalidRequest = errors.New("invalid acknowledgement batch")
)

// Batch is the offset span of one record batch read from the log.
type Batch struct {
	First, Last int64
	Control     bool // a transaction marker: never delivered
}

// AcquiredRange is a run of consecutive acquired offsets with one delivery count.
type AcquiredRange struct {
	First, Last   int64
	DeliveryCount int16
}

type inflight struct {
	state    RecordState
	count    int16 // deliveries so far
	owner    string
	deadline time.Time
}

// Partition is the share-partition state of one (group, topic partition): the share-
// partition start offset (SPSO: every offset below it is done), the end offset (SPEO:
// the next offset never acquired) and the in-flight records between them. Not safe for
// concurrent use: the coordinator's group lock guards it.
type Partition struct {
	start, end int64
	recs       map[int64]*inflight // every offset in [start, end)
}

func newPartition(start int64) *Partition {
	return &Partition{start: start, end: start, recs: make(map[int64]*inflight)}
}

// Start returns the share-partition start offset.
func (p *Partition) Start() int64 { return p.start }

// End returns the share-partition end offset.
func (p *Partition) End() int64 { return p.end }

// InFlight returns the number of offsets between start and end.
func (p *Partition) InFlight() int { return int(p.end - p.start) }

// State returns the state and delivery count of offset o; offsets below the start are
// reported Acknowledged (done), offsets at or past the end Available with count 0.
func (p *Partition) State(o int64) (RecordState, int16) {
	if o < p.start {
		return Acknowledged, 0
	}
	r := p.recs[o]
	if r == nil {
		return Available, 0
	}
	return r.state, r.count
}

// release makes an acquired (or restored) record available again, or archives it when
// it has been delivered limit times.
func (r *inflight) release(limit int16) {
	r.owner, r.deadline = "", time.Time{}
	if r.count >= limit {
		r.state = Archived
	} else {
		r.state = Available
	}
}

// expire releases every lock that ended at or before now; it reports whether any did.
func (p *Partition) expire(now time.Time, limit int16) bool {
	changed := false
	for _, r := range p.recs {
		if r.state == Acquired && !now.Before(r.deadline) {
			r.release(limit)
			changed = true
		}
	}
	if changed {
		p.advance()
	}
	return changed
}

// releaseMember releases every record member holds.
func (p *Partition) releaseMember(member string, limit int16) bool {
	changed := false
	for _, r := range p.recs {
		if r.state == Acquired && r.owner == member {
			r.release(limit)
			changed = true
		}
	}
	if changed {
		p.advance()
	}
	return changed
}

// advance moves the start past finished records.
func (p *Partition) advance() {
	for p.start < p.end {
		r := p.recs[p.start]
		if r != nil && r.state != Acknowledged && r.state != Archived {
			return
		}
		delete(p.recs, p.start)
		p.start++
	}
}

// moveStart moves the start to off (log truncation by retention or an offsets reset):
// records below it are forgotten; when off is past the end, the end follows.
func (p *Partition) moveStart(off int64) {
	for o := p.start; o < off && o < p.end; o++ {
		delete(p.recs, o)
	}
	p.start = off
	if p.end < off {
		p.end = off
	}
	p.advance()
}

// NextReadOffset returns where the next read from the log should begin: the first
// available in-flight record, else the end.
func (p *Partition) NextReadOffset() int64 {
	for o := p.start; o < p.end; o++ {
		if r := p.recs[o]; r != nil && r.state == Available {
			return o
		}
	}
	return p.end
}

// acquire locks for member the available records of batches (read from the log at
// NextReadOffset), at most maxRecords of them, never letting end-start exceed
// maxInFlight. Offsets missing between batches past the end (compacted away) and control
// batches are archived. It returns the acquired runs in offset order.
func (p *Partition) acquire(member string, batches []Batch, maxRecords, maxInFlight int, now time.Time, lock time.Duration) []AcquiredRange {
	var out []AcquiredRange
	n := 0
	take := func(o int64, r *inflight) {
		r.state, r.owner, r.deadline = Acquired, member, now.Add(lock)
		r.count++
		n++
		if k := len(out) - 1; k >= 0 && out[k].Last == o-1 && out[k].DeliveryCount == r.count {
			out[k].Last = o
			return
		}
		out = append(out, AcquiredRange{First: o, Last: o, DeliveryCount: r.count})
	}
	for _, b := range batches {
		for o := max(b.First, p.start); o <= b.Last && n < maxRecords; o++ {
			if o < p.end {
				if r := p.recs[o]; r != nil && r.state == Available && !b.Control {
					take(o, r)
				}
				continue
			}
			if int(o+1-p.start) > maxInFlight {
				return out
			}
			for p.end < o { // a hole in the log: nothing to deliver
				p.recs[p.end] = &inflight{state: Archived}
				p.end++
			}
			r := &inflight{}
			p.recs[o] = r
			p.end = o + 1
			if b.Control {
				r.state = Archived
				continue
			}
			take(o, r)
		}
	}
	p.advance()
	return out
}

// ack applies one acknowledgement batch of member: types has one entry for the whole
// range or one per offset. It is all or nothing: if any offset is not held by member,
// nothing changes and ErrInvalidRecordState is returned.
func (p *Partition) ack(member string, first, last int64, types []int8, now time.Time, lock time.Duration, limit int16) error {
	if first > last || len(types) == 0 || (len(types) != 1 && int64(len(types)) != last-first+1) {
		return ErrInvalidRequest
	}
	typ := func(o int64) AckType {
		if len(types) == 1 {
			return AckType(types[0])
		}
		return AckType(types[o-first])
	}
	for o := first; o <= last; o++ {
		t := typ(o)
		if t < AckGap || t > AckRenew {
			return ErrInvalidRequest
		}
		r := p.recs[o]
		if o < p.start || r == nil || r.state != Acquired || r.owner != member || !now.Before(r.deadline) {
			return ErrInvalidRecordState
		}
	}
	for o := first; o <= last; o++ {
		r := p.recs[o]
		switch typ(o) {
		case AckAccept:
			r.state, r.owner = Acknowledged, ""
		case AckRelease:
			r.release(limit)
		case AckReject, AckGap:
			r.state, r.owner = Archived, ""
		case AckRenew:
			r.deadline = now.Add(lock)
		}
	}
	p.advance()
	return nil
}
