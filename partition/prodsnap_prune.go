package partition

import (
	"os"
	"slices"

	"github.com/strata-io/strata/broker/producer"
)

// snapshotFiles tracks the producer snapshot files of one partition directory, so that
// the maintenance loop's pruning after each snapshot does not list a directory that a long
// history fills with hundreds of thousands of segment files (a listing of 300,000 names
// took 0.55 s, with the partition lock held, on every maintenance run).
//
// The directory is listed once, at the first prune. From then on the files are known:
// those kept by the last prune (the snapshot at the then log end, and roll snapshots at the
// base offsets of local segments), the snapshot just saved, and the roll snapshots saved
// since (Partition.rollSnaps). Local segments are deleted only from the head, so the roll
// snapshots to remove are the oldest entries, up to the first that is still a segment base;
// the one other file to remove is the previous log-end snapshot. (A roll snapshot whose roll
// then failed is not a segment base: it goes once every older entry went.)
//
// The fields are guarded by the partition's mu (saveProducerState holds it).
type snapshotFiles struct {
	listed bool
	offs   []int64 // ascending: the snapshot files on disk
	hw     int64   // the snapshot at the log end kept by the last prune
}

// pruneProducerSnapshotsLocked removes the snapshot files other than the one at hw and, in
// a tiered partition, those at the base offset of a local segment (the roll snapshots the
// uploader sends with the segment before): the same files as a prune that lists the
// directory removes.
func (p *Partition) pruneProducerSnapshotsLocked(sf *snapshotFiles, hw int64) error {
	reports := p.snapshotReports()
	if reports != nil {
		reports.ProducerSnapshotSaved(hw) // saveProducerState just wrote it
	}
	if !sf.listed {
		p.rollSnaps = p.rollSnaps[:0]                        // the listing sees them
		if err := p.pruneProducerSnapshots(hw); err != nil { // lists the directory
			return err
		}
		offs, err := producer.Snapshots(p.dir)
		if err != nil {
			return err
		}
		*sf = snapshotFiles{listed: true, offs: offs, hw: hw}
		return nil
	}
	tiered := p.config().RemoteStorageEnable
	add := func(o int64) {
		if i, found := slices.BinarySearch(sf.offs, o); !found {
			sf.offs = slices.Insert(sf.offs, i, o)
		}
	}
	for _, o := range p.rollSnaps {
		add(o)
	}
	p.rollSnaps = p.rollSnaps[:0]
	add(hw)
	keep := func(o int64) bool { return o == hw || (tiered && p.log.HasSegment(o)) }
	var errs []error
	remove := func(o int64) bool {
		if err := os.Remove(producer.SnapshotPath(p.dir, o)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
			return false
		}
		if reports != nil {
			reports.ProducerSnapshotRemoved(o)
		}
		return true
	}
	// The oldest entries whose segments are gone (all but hw outside a tiered partition).
	i := 0
	for i < len(sf.offs) && !keep(sf.offs[i]) {
		if !remove(sf.offs[i]) {
			break
		}
		i++
	}
	sf.offs = sf.offs[i:]
	// The previous log-end snapshot, unless it is hw or a segment base.
	if sf.hw != hw && !keep(sf.hw) {
		if j, found := slices.BinarySearch(sf.offs, sf.hw); found && remove(sf.hw) {
			sf.offs = slices.Delete(sf.offs, j, j+1)
		}
	}
	if !tiered { // entries above hw cannot exist; below it only hw is kept
		sf.offs = slices.DeleteFunc(sf.offs, func(o int64) bool { return o != hw && remove(o) })
	}
	sf.hw = hw
	if len(errs) > 0 {
		if reports != nil {
			reports.ProducerSnapshotsChanged() // a failed removal may have removed it
		}
		sf.listed = false // list again next time
		return errs[0]
	}
	return nil
}
