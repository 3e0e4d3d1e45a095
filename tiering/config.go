package tiering

import (
	"fmt"
	"time"
)

// Config is the broker-wide configuration of the remote tier. The zero value is usable.
type Config struct {
	Prefix               string        // key prefix in the bucket; default ""
	UploadConcurrency    int           // segments uploaded at once across partitions (remote.log.copier.thread.pool.size); default 4
	MaxBytesPerSec       int64         // upload bandwidth cap (remote.log.manager.copy.max.bytes.per.second); 0 = unlimited
	ChunkBytes           int64         // aligned size of cached data chunks (ranged GETs); default 4 MiB
	CacheBytes           int64         // chunk cache budget when NewManager creates the cache (remote.log.cache.bytes); default 256 MiB
	ManifestChunkEntries int           // entries kept in a partition head before they spill into a chunk; default 128
	IndexIntervalBytes   int           // bytes between entries of the remote index; default 64 KiB (reads scan headers within a cached chunk, so finer buys little)
	ReadAheadChunks      int           // chunks loaded ahead of a sequential reader, at least: raised to cover its next two reads, up to 1/8 of the cache budget (readahead.go); default 1; < 0 disables
	ReadAheadRunChunks   int           // most chunks one read-ahead GET fetches (runs aligned in the object, see readahead.go); default 4; 1 = one GET per chunk
	CheckInterval        time.Duration // how often the uploader looks at a partition without an OnSealed hint; default 30s
	RetryBackoff         time.Duration // first delay after a failed upload; doubles up to RetryMaxBackoff; default 200ms
	RetryMaxBackoff      time.Duration // default 30s
	OrphanGrace          time.Duration // unnamed objects younger than this are never swept; default 1h
	OrphanSweepInterval  time.Duration // how often each partition sweeps orphans; default 1h; < 0 disables
	DeleteDelay          time.Duration // wait between the manifest dropping a segment and deleting its objects, for in-flight readers; default 0
	WatermarkInterval    time.Duration // how often partitions whose log end moved write watermark.json (watermark.go); 0 = never
	// SkipHashCheck turns off the SHA-256 check of remote reads (hashcheck.go); the
	// CRC-32C and frame checks stay. For measuring what the check costs, and tests of
	// the CRC path. Uploads record the hashes either way.
	SkipHashCheck bool
	// ObjectLockMode puts segment objects (.log, indexes, hash list, producer snapshot)
	// under S3 Object Lock when the store can (RetainingPutter): "GOVERNANCE" or
	// "COMPLIANCE"; "" = none. Manifests are not locked (the head is rewritten). The
	// retain-until date is min(the segment's max timestamp, upload time) + the topic's
	// retention.ms (PartitionConfig.RetentionMs), when that is more than a minute ahead;
	// for retention.ms = -1, upload time + ObjectLockUnlimited (0 = not locked).
	ObjectLockMode      string
	ObjectLockUnlimited time.Duration
}

func (c Config) withDefaults() Config {
	if c.UploadConcurrency <= 0 {
		c.UploadConcurrency = 4
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = 4 << 20
	}
	if c.ManifestChunkEntries <= 0 {
		c.ManifestChunkEntries = 128
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = defaultIndexPeriod
	}
	if c.ReadAheadChunks == 0 {
		c.ReadAheadChunks = 1
	}
	if c.ReadAheadRunChunks <= 0 {
		c.ReadAheadRunChunks = defaultRunChunks
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = 30 * time.Second
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.RetryMaxBackoff <= 0 {
		c.RetryMaxBackoff = 30 * time.Second
	}
	if c.OrphanGrace <= 0 {
		c.OrphanGrace = time.Hour
	}
	if c.OrphanSweepInterval == 0 {
		c.OrphanSweepInterval = time.Hour
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.MaxBytesPerSec < 0 {
		return fmt.Errorf("tiering: MaxBytesPerSec %d < 0", c.MaxBytesPerSec)
	}
	if c.ChunkBytes < 0 || c.ChunkBytes > 1<<30 {
		return fmt.Errorf("tiering: ChunkBytes %d outside [0, 1 GiB]", c.ChunkBytes)
	}
	switch c.ObjectLockMode {
	case "", "GOVERNANCE", "COMPLIANCE":
	default:
		return fmt.Errorf("tiering: ObjectLockMode %q: want GOVERNANCE, COMPLIANCE or empty", c.ObjectLockMode)
	}
	return nil
}

// PartitionConfig is the per-topic part of the tier's configuration (topic configs).
type PartitionConfig struct {
	// CopyDisabled stops uploads (remote.log.copy.disable); reads and retention continue.
	CopyDisabled bool
	// UploadInterval is remote.log.upload.interval.ms: RollDue reports true once the active
	// segment has held data this long, so that a quiet partition still reaches the bucket.
	// 0 = never.
	UploadInterval time.Duration
	// RetentionMs is the topic's retention.ms (-1 unlimited; 0 = unknown): the retain-until
	// date of object-locked uploads derives from it (Config.ObjectLockMode).
	RetentionMs int64
}
