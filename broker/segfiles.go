package broker

import "github.com/strata-io/strata/segment"

// Sealed segment files (strata.log.max.open.segment.files).
//
// Every partition's sealed segments open their .log file on demand and share one
// segment.FileCache, so that the files held open for reads are bounded for the whole
// broker, however many partitions and segments it has: at most the cap open for reads plus
// at most the cap of evicted ones still serving earlier reads (sendfile, uploads) for up to
// 30 seconds. The rest of the file-descriptor budget is left to what the cache does not
// manage: three files per active segment, client connections, the group store.
//
// The default cap is a sixteenth of the soft RLIMIT_NOFILE (so the cache holds at most an
// eighth of it: 5,000 partitions' active segments alone hold 15,000 files), at least
// minSegmentFileCap. Go raises the soft limit to the hard limit
// at start on Linux, so that is normally the hard limit.
const (
	minSegmentFileCap    = 64
	segmentFileCapShare  = 16
	assumedOpenFileLimit = 1024 // when the limit cannot be read
)

// segmentFileCap resolves strata.log.max.open.segment.files (<= 0: derived from the limit).
func segmentFileCap(configured int64) int {
	if configured > 0 {
		return int(min(configured, 1<<30))
	}
	limit := openFileLimit()
	if limit <= 0 {
		limit = assumedOpenFileLimit
	}
	return int(max(limit/segmentFileCapShare, minSegmentFileCap))
}

// newSegmentFiles makes the broker's cache of sealed segment files.
func newSegmentFiles(cfg Config) *segment.FileCache {
	return segment.NewFileCache(segmentFileCap(cfg.MaxOpenSegmentFiles))
}
