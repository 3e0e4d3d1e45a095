package broker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Local disk budget (strata.disk.budget.bytes).
//
// The budget bounds the bytes of every partition's local log (segment files as counted by
// segment.Log.Size: sealed and active segments; not meta, group offsets or index slack).
// Usage is summed from the partitions every diskCheckInterval and grown by each append in
// between, so a burst cannot overshoot by more than one interval's appends... plus one
// request: the check is made before each partition's append, not per byte.
//
// When usage reaches the budget the broker is under disk pressure:
//   - Produce answers KAFKA_STORAGE_ERROR (code 56) for every partition, with the message
//     "disk budget exceeded". Every client retries it: Java's KafkaStorageException is a
//     RetriableException, franz-go's kerr.KafkaStorageError is retriable, librdkafka
//     refreshes metadata and retries; idempotent producers keep their sequence numbers, so
//     the retries neither duplicate nor reorder. Nothing already written is touched; fetches,
//     group commits and the tier carry on.
//   - Tiered partitions give up local copies early: every sealed segment that the tier has
//     confirmed uploaded is deleted locally regardless of local.retention.*, and an active
//     segment of at least diskRollMinBytes is rolled so that it can be uploaded too. Nothing
//     that is not safely remote is deleted: with the bucket down, pressure lasts until it
//     is back.
//   - DiskPressure reports it (for /readyz).
//
// Produce resumes as soon as usage is below the budget again (no hysteresis: a client
// retry a moment later either fits or gets the same retriable error).
const (
	diskCheckInterval = 250 * time.Millisecond
	diskRollMinBytes  = 1 << 20
)

// errDiskBudget is answered to producers under disk pressure.
var errDiskBudget = fmt.Errorf("%w: disk budget exceeded (strata.disk.budget.bytes)", kerr.KafkaStorageError)

// diskBudget is the broker's disk accounting. The zero value is an unlimited budget.
type diskBudget struct {
	used     atomic.Int64 // bytes of local logs: last sum plus appends since
	pressure atomic.Bool
	mu       sync.Mutex // serialises refresh
	since    time.Time  // guarded by mu: start of the current pressure episode (zero: none)
}

// DiskPressure reports whether the local disk budget (strata.disk.budget.bytes) is used
// up, and a human-readable reason when it is. While it is, producers get a retriable
// KAFKA_STORAGE_ERROR. Readiness checks may call it as often as they like: it reads two
// atomics and never touches the disk.
func (b *Broker) DiskPressure() (bool, string) {
	limit := b.cfg.DiskBudgetBytes
	if limit <= 0 || !b.disk.pressure.Load() {
		return false, ""
	}
	return true, fmt.Sprintf("local logs use %d bytes of the %d-byte disk budget (strata.disk.budget.bytes); produce is refused until tiering or retention frees space",
		b.disk.used.Load(), limit)
}

// DiskUsage returns the bytes of local logs counted against the disk budget (as of the
// last refresh plus appends since).
func (b *Broker) DiskUsage() int64 { return b.disk.used.Load() }

// checkDiskBudget is called before each append; it fails when the budget is used up.
func (b *Broker) checkDiskBudget() error {
	if b.cfg.DiskBudgetBytes <= 0 {
		return nil
	}
	if b.disk.pressure.Load() || b.disk.used.Load() >= b.cfg.DiskBudgetBytes {
		b.disk.pressure.Store(true)
		return errDiskBudget
	}
	return nil
}

// diskAppended counts an append of n bytes against the budget until the next refresh.
func (b *Broker) diskAppended(n int) {
	if b.cfg.DiskBudgetBytes > 0 {
		b.disk.used.Add(int64(n))
	}
}

// diskLoop refreshes the usage and relieves pressure until ctx ends. It only runs with a
// budget configured.
func (b *Broker) diskLoop(ctx context.Context) {
	tick := time.NewTicker(diskCheckInterval)
	defer tick.Stop()
	b.refreshDiskUsage(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			b.refreshDiskUsage(now)
		}
	}
}

// refreshDiskUsage sums the local logs, sets or clears the pressure flag, and under
// pressure lets tiered partitions drop their uploaded segments.
func (b *Broker) refreshDiskUsage(now time.Time) {
	limit := b.cfg.DiskBudgetBytes
	if limit <= 0 {
		return
	}
	b.disk.mu.Lock()
	defer b.disk.mu.Unlock()
	sum := b.localLogBytes()
	if sum >= limit {
		b.relieveDiskPressure(now, limit)
		sum = b.localLogBytes()
	}
	b.disk.used.Store(sum)
	over := sum >= limit
	was := b.disk.pressure.Swap(over)
	switch {
	case over && !was:
		b.disk.since = now
		b.logger.Warn("disk budget exceeded: refusing produce", "used_bytes", sum, "budget_bytes", limit)
	case !over && was:
		b.logger.Info("disk budget available again: produce resumes", "used_bytes", sum, "budget_bytes", limit,
			"pressure_seconds", now.Sub(b.disk.since).Seconds())
		b.disk.since = time.Time{}
	}
}

func (b *Broker) localLogBytes() int64 {
	var sum int64
	for _, t := range b.allTopics() {
		for _, p := range t.partitions() {
			if !p.Closed() {
				sum += p.SizeBytes()
			}
		}
	}
	return sum
}

// relieveDiskPressure deletes, in tiered partitions, every sealed local segment the tier
// confirms uploaded, and rolls active segments of at least diskRollMinBytes (or of a
// sixteenth of the budget, if smaller) so that the uploader can take them.
func (b *Broker) relieveDiskPressure(now time.Time, limit int64) {
	rollMin := min(int64(diskRollMinBytes), max(limit/16, 1))
	for _, t := range b.allTopics() {
		for _, p := range t.partitions() {
			p.ShedUploaded(now, rollMin)
		}
	}
}
