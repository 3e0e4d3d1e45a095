package broker

import "github.com/strata-io/strata/partition"

// readCommittedOffset applies isolation_level=read_committed to a ListOffsets answer, as
// Kafka's fetchOffsetForTimestamp does: latest (-1) is the last stable offset, and a
// lookup by timestamp (or max timestamp) that found an offset at or past the LSO finds
// nothing (-1, -1). Earliest, earliest-local and the tiering specials are unchanged.
func readCommittedOffset(p *partition.Partition, timestamp, off, ts int64) (int64, int64) {
	switch {
	case timestamp == -1:
		return p.LastStableOffset(), ts
	case (timestamp >= 0 || timestamp == -3) && off >= 0 && off >= p.LastStableOffset():
		return -1, -1
	}
	return off, ts
}
