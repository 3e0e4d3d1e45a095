package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/strata-io/strata/segment"
)

// A full disk.
//
// Without strata.disk.budget.bytes (diskbudget.go), or when something else fills the
// filesystem, a write fails with ENOSPC and fences its partition's log (segment.ErrFenced:
// produce answers the retriable KAFKA_STORAGE_ERROR). Four things make the broker get
// through it without a restart:
//
//   - Recovery by itself. Every fullDiskCheckInterval the broker looks at the data dir's
//     free space; once at least unfenceMinFree bytes are free, each partition fenced by a
//     full disk is checked and unfenced in place (segment.Log.Unfence: the active segment
//     is cut to its committed end and re-verified, its indexes rebuilt, all fsynced), and
//     produce resumes. A fence by anything else (an I/O error, a failed fsync) still
//     needs a restart, which runs full recovery.
//   - A reserve for the ways out. The broker keeps a file of strata.disk.reserve.bytes
//     in the data dir (reserveFileName, fallocated). When topics.json cannot be written for
//     want of space (deleting a topic, changing its configs), or DeleteRecords meets a
//     full disk, the reserve is deleted and the operation retried once (DeleteRecords
//     first unfences its partition: the fence is about space, and the reserve gave some
//     back); the reserve is written again once the disk has twice its size free.
//   - Delete first, when even the reserve is spent. DeleteRecords deletes the segments
//     wholly below the new log start before writing its checkpoint (segment.Log
//     SetLogStartOffset), and deleting a topic deletes its partitions before writing
//     topics.json; a crash in between leaves a log that starts a little lower, or the topic
//     back empty, never lost acknowledged data that was meant to stay. Deleted segments
//     whose files are kept open for readers (segment's retire delay, 30 s) are closed at
//     once while the disk is full, since their space returns only then.
//   - Visibility. Readiness reports the partitions fenced by a full disk and the disk
//     being full (Health); the per-partition warnings of a full disk (a producer snapshot
//     that cannot be saved) are logged at most once a minute per partition (package
//     partition).
const (
	fullDiskCheckInterval = time.Second
	unfenceMinFree        = 4 << 20
	reserveFileName       = ".strata-disk-reserve"
)

// fullDisk is the broker's view of a full disk.
type fullDisk struct {
	fenced   atomic.Int64 // partitions fenced by a full disk, as of the last check
	free     atomic.Int64 // free bytes of the data dir's filesystem at the last check
	checked  atomic.Bool  // checkFullDisk has read the free space once
	mu       sync.Mutex   // serialises reserve changes
	reserved bool         // guarded by mu: the reserve file is in place
}

// noSpace reports a write that failed for want of disk space (not a failed fsync).
func noSpace(err error) bool { return segment.NoSpace(err) }

func (b *Broker) reservePath() string { return filepath.Join(b.cfg.DataDir, reserveFileName) }

// dataDirFree returns the free bytes of the data dir's filesystem (for unprivileged users).
func (b *Broker) dataDirFree() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(b.cfg.DataDir, &st); err != nil {
		return -1, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// ensureReserve writes the reserve file if it is missing and the disk has room for it
// twice over. A reserve that cannot be written whole is removed.
func (b *Broker) ensureReserve(free int64) {
	size := b.cfg.DiskReserveBytes
	if size <= 0 {
		return
	}
	b.fdisk.mu.Lock()
	defer b.fdisk.mu.Unlock()
	if b.fdisk.reserved {
		return
	}
	path := b.reservePath()
	if fi, err := os.Stat(path); err == nil && fi.Size() == size {
		b.fdisk.reserved = true
		return
	}
	if free < 2*size {
		return
	}
	if err := writeReserve(path, size); err != nil {
		os.Remove(path)
		b.logger.Warn("cannot write the disk reserve", "path", path, "bytes", size, "err", err)
		return
	}
	b.fdisk.reserved = true
	b.logger.Debug("disk reserve in place", "path", path, "bytes", size)
}

// writeReserve creates the reserve file with size bytes allocated on disk: fallocate where
// the system has it (instant), else zeros written out.
func writeReserve(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err = allocate(f, size); errors.Is(err, errors.ErrUnsupported) {
		zeros := make([]byte, min(size, 1<<20))
		err = nil
		for left := size; left > 0 && err == nil; left -= int64(len(zeros)) {
			_, err = f.Write(zeros[:min(left, int64(len(zeros)))])
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// releaseReserve deletes the reserve file, giving its space to the writes that free space.
// It reports whether there was one.
func (b *Broker) releaseReserve(why string) bool {
	b.fdisk.mu.Lock()
	defer b.fdisk.mu.Unlock()
	if !b.fdisk.reserved {
		return false
	}
	b.fdisk.reserved = false
	if err := os.Remove(b.reservePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.logger.Warn("cannot delete the disk reserve", "err", err)
		return false
	}
	b.logger.Warn("disk full: released the disk reserve (strata.disk.reserve.bytes) for a write that frees space",
		"for", why, "bytes", b.cfg.DiskReserveBytes)
	return true
}

// withReserve runs write; if it fails for want of disk space, it releases the reserve and
// runs it once more.
func (b *Broker) withReserve(why string, write func() error) error {
	err := write()
	if err != nil && noSpace(err) && b.releaseReserve(why) {
		err = write()
	}
	return err
}

// fullDiskLoop checks the disk and unfences partitions until ctx ends.
func (b *Broker) fullDiskLoop(ctx context.Context) {
	tick := time.NewTicker(fullDiskCheckInterval)
	defer tick.Stop()
	for {
		b.checkFullDisk()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checkFullDisk unfences the partitions fenced by a full disk once there is room, counts
// those still fenced, and puts the reserve back when there is room for it.
func (b *Broker) checkFullDisk() {
	free, err := b.dataDirFree()
	if err != nil {
		return
	}
	b.fdisk.free.Store(free)
	b.fdisk.checked.Store(true)
	var fenced int64
	for _, t := range b.allTopics() {
		for _, p := range t.partitions() {
			if p.Closed() {
				continue
			}
			if free < unfenceMinFree {
				// Deleted segments kept open for readers hold their space: give it back now.
				p.CloseRetired()
			}
			ferr := p.LogFenced()
			if ferr == nil || !noSpace(ferr) {
				continue
			}
			if free >= unfenceMinFree {
				if ok, err := p.Unfence(); ok {
					continue
				} else if err != nil {
					b.logger.Warn("cannot unfence partition after a full disk", "topic", p.Topic(), "partition", p.Index(), "err", err)
				}
			}
			fenced++
		}
	}
	b.fdisk.fenced.Store(fenced)
	b.ensureReserve(free)
}

// DiskFull reports whether the data dir's disk is full: partitions are fenced by it, or
// less than unfenceMinFree bytes are free. Readiness calls it; it never touches the disk.
func (b *Broker) DiskFull() (bool, string) {
	if !b.fdisk.checked.Load() {
		return false, ""
	}
	fenced, free := b.fdisk.fenced.Load(), b.fdisk.free.Load()
	switch {
	case fenced > 0:
		return true, fmt.Sprintf("%d partitions fenced by a full disk refuse produce until %d bytes are free in %s (%d free now)",
			fenced, unfenceMinFree, b.cfg.DataDir, free)
	case free >= 0 && free < unfenceMinFree:
		return true, fmt.Sprintf("%d bytes free in %s", free, b.cfg.DataDir)
	}
	return false, ""
}
