package broker

import "github.com/strata-io/strata/partition"

// listOffsetNeedsTier reports whether ListOffsets query ts on p cannot be answered because
// p belongs to a tiered topic whose remote tier is not attached yet (its manifest could not
// be loaded, typically because the bucket was unreachable at start-up; maintenance retries).
// Such queries are answered KAFKA_STORAGE_ERROR, which clients retry:
//
//   - earliest (-2) and timestamp lookups (>= 0), when the local log does not start at 0:
//     the local answer could skip records still in the bucket, and a consumer resetting
//     to earliest would silently lose them (the Fetch side of the same rule is in
//     handleFetch);
//   - latest tiered (-5) and earliest pending upload (-6): they are about the remote tier,
//     which is unknown (-1 would claim nothing is tiered).
//
// Latest (-1), max timestamp (-3, local by design) and earliest local (-4) are answered.
func (b *Broker) listOffsetNeedsTier(p *partition.Partition, ts int64) bool {
	if !b.tierPending(p) {
		return false
	}
	switch {
	case ts == partition.ListLatestTiered || ts == partition.ListEarliestPending:
		return true
	case ts == partition.ListEarliest || ts >= 0:
		return p.LocalLogStartOffset() > 0
	}
	return false
}
