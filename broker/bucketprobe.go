package broker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/strata-io/strata/tiering"
)

// Bucket probe: the bucket's reachability for /readyz.
//
// Readiness must answer at once, also while the bucket hangs (a probe that waits for an
// unreachable bucket made /readyz take 3 s, longer than a typical probe timeout). So
// Health never touches the bucket: it reads the result of the last probe, which a
// goroutine of Run refreshes every bucketProbeInterval, and sooner (at most one probe at a
// time, bucketProbeTimeout each) when a reader finds the result older than bucketProbeTTL.
// The first probe runs as soon as Run starts.
//
// A probe lists a prefix that holds nothing: a missing bucket fails it (a HEAD of a key
// would not tell a missing bucket from a missing key), and so do rejected credentials.
// Those two are configuration errors (tiering.ErrNoBucket, tiering.ErrAccessDenied): the
// first probe that finds one logs one ERROR line saying what to fix, and readiness fails
// until it is fixed. An outage (timeouts, 5xx) is logged at WARN, also once per episode.
const (
	bucketProbeTTL      = time.Second
	bucketProbeInterval = 10 * time.Second
	bucketProbeTimeout  = 3 * time.Second
)

// bucketProbe is the last probe's result.
type bucketProbe struct {
	mu   sync.Mutex
	at   time.Time // zero: no probe finished yet
	err  error
	kick chan struct{} // asks the probe loop for a fresh probe
}

func newBucketProbe() *bucketProbe { return &bucketProbe{kick: make(chan struct{}, 1)} }

// bucketState returns the last probe's error, asking for a fresh probe when the result is
// older than bucketProbeTTL. It never blocks.
func (b *Broker) bucketState() error {
	pr := b.bprobe
	if pr == nil { // a Broker built by hand in a test
		return nil
	}
	pr.mu.Lock()
	err, at := pr.err, pr.at
	pr.mu.Unlock()
	if time.Since(at) >= bucketProbeTTL {
		select {
		case pr.kick <- struct{}{}:
		default:
		}
	}
	return err
}

// bucketProbeLoop probes the bucket until ctx ends: at once, every bucketProbeInterval,
// and when bucketState asks.
func (b *Broker) bucketProbeLoop(ctx context.Context) {
	pr := b.bprobe
	tick := time.NewTicker(bucketProbeInterval)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, bucketProbeTimeout)
		err := b.probeBucketOnce(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		pr.mu.Lock()
		prev := pr.err
		pr.at, pr.err = time.Now(), err
		pr.mu.Unlock()
		b.logBucketState(prev, err)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-pr.kick:
		}
	}
}

// probeBucketOnce lists the probe prefix (which holds no object).
func (b *Broker) probeBucketOnce(ctx context.Context) error {
	key := strings.TrimSuffix(b.cfg.RemotePrefix, "/")
	if key != "" {
		key += "/"
	}
	key += ".strata-health-probe"
	errFound := errors.New("found")
	err := b.cfg.RemoteStore.List(ctx, key, func(tiering.ObjectInfo) error { return errFound })
	if errors.Is(err, errFound) || errors.Is(err, tiering.ErrNotExist) {
		err = nil
	}
	return err
}

// logBucketState logs a change of the bucket's state: a configuration error as one ERROR
// line with the fix, an outage as a WARN line, the recovery as INFO.
func (b *Broker) logBucketState(prev, err error) {
	kind := func(e error) int {
		switch {
		case e == nil:
			return 0
		case errors.Is(e, tiering.ErrNoBucket):
			return 1
		case errors.Is(e, tiering.ErrAccessDenied):
			return 2
		}
		return 3
	}
	k := kind(err)
	if k == kind(prev) {
		return
	}
	switch k {
	case 0:
		b.logger.Info("bucket reachable again")
	case 1:
		b.logger.Error("the bucket does not exist: create it (e.g. `mc mb ALIAS/BUCKET` or `aws s3 mb s3://BUCKET`) or set strata.tier.s3.bucket to an existing one; until then nothing is uploaded, remote data cannot be read and /readyz reports not ready",
			"prefix", b.cfg.RemotePrefix, "err", err)
	case 2:
		b.logger.Error("the bucket refused the credentials: set strata.tier.s3.access.key and strata.tier.s3.secret.key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) to a key allowed to list, read, write and delete in the bucket; until then nothing is uploaded, remote data cannot be read and /readyz reports not ready",
			"prefix", b.cfg.RemotePrefix, "err", err)
	default:
		b.logger.Warn("bucket unreachable", "err", err)
	}
}
