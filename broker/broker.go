// Package broker is Strata's Kafka protocol server: the listener, request framing, ApiVersions
// negotiation, one handler per Kafka API key (files named NN_api_name.go after Kafka's API
// keys), the topic and partition registry, and the broker configuration.
//
// The broker is a single node: it is the controller and the leader of every partition, with
// leader epoch 0 and ISR = [node.id]. APIs that act on other nodes are answered as a
// single-node Kafka answers them: ElectLeaders finds no election needed, a reassignment can
// only keep a partition on this node, DescribeQuorum shows this node as the only voter and
// the finalized features never change (features.go). The internal topic
// __consumer_offsets is presented in Metadata, not stored (internaltopics.go). Fetch
// sessions (KIP-227) are kept per Kafka's rules (fetchsession.go). The API table the
// broker advertises is checked against franz-go's kmsg, each gap with its reason
// (api_versions_kmsg_test.go), and rendered into README.md.
package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/broker/group"
	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/broker/txn"
	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/security"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Broker is one Strata node. Create it with New, serve with Run, stop with Close.
type Broker struct {
	cfg       Config
	logger    *slog.Logger
	ln        net.Listener         // the first listener
	listeners []*listener          // every listener (listeners.go)
	authz     *security.Authorizer // nil: authorization disabled (authorizer.go)
	aclStore  *security.ACLStore
	scram     *security.SCRAMStore // SCRAM users (scram.go)
	secm      *security.Metrics    // security metrics (secmetrics.go)
	clusterID string
	// directoryID is meta.properties' directory.id; owner is this broker's claim on its
	// bucket prefix (remoteident.go).
	directoryID string
	owner       ownerState
	tier        *tiering.Manager // nil: no remote tier
	freshDir    bool             // started without topics.json (empty data dir: restore from the bucket)
	disk        diskBudget       // strata.disk.budget.bytes (diskbudget.go)
	fdisk       fullDisk         // a full disk: unfencing, the reserve (fulldisk.go)
	reqBudget   *requestBudget   // queued.max.request.bytes (requestbudget.go)
	bprobe      *bucketProbe     // the bucket's last known state, for /readyz (bucketprobe.go)
	segmentFS   segment.FS       // filesystem of partition logs; nil = the OS (a seam for power-loss tests)
	dirLock     *DataDirLock     // <data-dir>/.lock, held from New to Close (datadirlock.go)

	// segFiles caps the open sealed segment files of all partitions (segfiles.go); nil
	// (tests that build a Broker by hand): a cache per log.
	segFiles *segment.FileCache

	lateTiers  []lateTier                // tiers attached by Run after start-up (tier.go); set by New, taken by Run
	lateAttach atomic.Bool               // attachTierLate is running: maintenance leaves the pending tiers to it
	tierUrgent chan *partition.Partition // partitions a request waits for: attachTierLate takes them first

	fetchSessions *fetchSessionCache // KIP-227 fetch sessions (fetchsession.go)
	internal      internalTopics     // presented internal topics (internaltopics.go)

	groups      *group.Coordinator
	groupStore  *group.FileStore
	groupsBkt   groupsBucket       // the groups snapshot in the bucket (groupbucket.go)
	topicQ      topicManifestQueue // topic.json of topics that are not tiered (topicbucket.go)
	localWM     localWatermarks    // their log ends (localwatermark.go)
	producerIDs *producer.Manager
	quotas      *quotaManager    // client quotas (quota.go)
	txns        *txn.Coordinator // transactions (txns.go)

	// adminMu serialises topic mutations (create, delete, partitions, configs) and the
	// writes of <data-dir>/meta; lock order: adminMu, then mu.
	adminMu sync.Mutex
	// mu guards the registry maps; lookups take it shared.
	mu       sync.RWMutex
	topics   map[string]*Topic
	topicIDs map[[16]byte]*Topic

	connMu    sync.Mutex
	conns     map[net.Conn]struct{}
	closing   bool
	runCancel context.CancelFunc

	wg        sync.WaitGroup // connections and background loops
	runDone   chan struct{}  // closed when Run returns
	runOnce   sync.Once
	closeOnce sync.Once
	closeErr  error
}

// New opens the data directory (creating it), loads the topic registry, opens every
// partition and binds the listener, so Addr is valid as soon as New returns.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := &Broker{
		cfg:      cfg,
		logger:   logger,
		topics:   make(map[string]*Topic),
		topicIDs: make(map[[16]byte]*Topic),
		conns:    make(map[net.Conn]struct{}),
		runDone:  make(chan struct{}),
		// A few requests' partitions at a time; awaitTier does not block when it is full.
		tierUrgent: make(chan *partition.Partition, 64),
		topicQ:     topicManifestQueue{wake: make(chan struct{}, 1)},
		reqBudget:  newRequestBudget(cfg.QueuedMaxRequestBytes),
		bprobe:     newBucketProbe(),
		// fetchsession.go
		fetchSessions: newFetchSessionCache(int(cfg.FetchSessionCacheSlots), time.Duration(cfg.FetchSessionEvictionMs)*time.Millisecond, cfg.Registerer),
	}
	b.segFiles = newSegmentFiles(cfg)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data dir %q: %w", cfg.DataDir, err)
	}
	lock := cfg.DataDirLock
	if lock == nil {
		var err error
		if lock, err = LockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	b.dirLock = lock
	opened := false
	defer func() {
		if !opened {
			b.releaseBucketOwner() // a claim New made (remoteident.go)
			lock.Release()
		}
	}()
	if free, err := b.dataDirFree(); err == nil {
		b.ensureReserve(free) // fulldisk.go
	}
	tier, err := b.newTierManager()
	if err != nil {
		return nil, err
	}
	b.tier = tier
	if err := b.loadMeta(); err != nil {
		b.closePartitions()
		return nil, err
	}
	if err := b.openCoordinators(); err != nil {
		b.closePartitions()
		return nil, err
	}
	if err := b.openSecurity(); err != nil {
		b.closePartitions()
		b.groupStore.Close()
		return nil, err
	}
	if err := b.openQuotas(); err != nil { // quota.go
		b.closePartitions()
		b.groupStore.Close()
		return nil, err
	}
	if err := b.openListeners(); err != nil {
		b.closePartitions()
		b.groupStore.Close()
		return nil, err
	}
	opened = true
	ln := b.ln
	b.logger.Info("broker started", "addr", ln.Addr().String(), "listeners", len(b.listeners), "node_id", cfg.NodeID,
		"cluster_id", b.clusterID, "data_dir", cfg.DataDir, "topics", len(b.topics))
	return b, nil
}

// Addr is the bound listener address (useful with port 0).
func (b *Broker) Addr() net.Addr { return b.ln.Addr() }

// ClusterID is the persisted cluster id.
func (b *Broker) ClusterID() string { return b.clusterID }

// Run accepts connections and runs background maintenance until ctx is cancelled or Close
// is called. It returns nil after a graceful stop; it may be called once.
func (b *Broker) Run(ctx context.Context) error {
	started := false
	b.runOnce.Do(func() { started = true })
	if !started {
		return errors.New("broker: Run called twice")
	}
	defer close(b.runDone)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.connMu.Lock()
	if b.closing {
		b.connMu.Unlock()
		return errBrokerClosed
	}
	b.runCancel = cancel
	b.connMu.Unlock()

	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.maintenanceLoop(ctx)
	}()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.groups.Run(ctx)
	}()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.runCleaner(ctx) // cleaner.go
	}()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.txns.Run(ctx) // txns.go: completes prepared transactions, aborts timed-out ones
	}()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.fullDiskLoop(ctx) // fulldisk.go
	}()
	if b.cfg.DiskBudgetBytes > 0 {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.diskLoop(ctx) // diskbudget.go
		}()
	}
	if len(b.lateTiers) > 0 {
		b.lateAttach.Store(true)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.attachTierLate(ctx) // tier.go
		}()
	}
	if b.owner.enabled {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.bucketOwnerLoop(ctx) // remoteident.go
		}()
	}
	if b.tier != nil {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.bucketProbeLoop(ctx) // bucketprobe.go
		}()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.bucketMetaLoop(ctx) // groupbucket.go
		}()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.localWatermarkLoop(ctx) // localwatermark.go
		}()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := b.tier.Run(ctx); err != nil {
				b.logger.Error("remote tier stopped", "err", err)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		b.closeListeners()
	}()

	for _, l := range b.listeners[1:] {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.acceptLoop(ctx, l)
		}()
	}
	b.acceptLoop(ctx, b.listeners[0]) // listeners.go
	cancel()
	b.closeConns()
	b.wg.Wait()
	return nil
}

func (b *Broker) trackConn(nc net.Conn) bool {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.closing {
		return false
	}
	b.conns[nc] = struct{}{}
	return true
}

func (b *Broker) untrackConn(nc net.Conn) {
	b.connMu.Lock()
	delete(b.conns, nc)
	b.connMu.Unlock()
}

func (b *Broker) closeConns() {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	for nc := range b.conns {
		nc.Close()
	}
}

// Close stops accepting, cancels every request context, closes connections, waits for
// every goroutine and closes the partitions. It is safe to call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.connMu.Lock()
		b.closing = true
		cancel := b.runCancel
		b.connMu.Unlock()
		b.closeListeners()
		if cancel != nil {
			cancel()
			<-b.runDone
		}
		b.closeConns()
		b.wg.Wait()
		if b.tier != nil { // appends and uploads have stopped: record the exact log ends
			ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
			b.tier.WriteFinalWatermarks(ctx) // tiering/watermark.go
			// and those of topics that are not tiered (localwatermark.go)
			b.writeLocalWatermarks(ctx, true)
			cancel()
		}
		b.finalGroupsUpload() // groupbucket.go
		b.closeErr = errors.Join(b.closePartitions(), b.groupStore.Close(), b.txns.Close())
		b.releaseBucketOwner() // remoteident.go
		b.closeErr = errors.Join(b.closeErr, b.dirLock.Release())
		b.logger.Info("broker stopped", "node_id", b.cfg.NodeID)
	})
	return b.closeErr
}

func (b *Broker) closePartitions() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, t := range b.topics {
		for i, p := range t.partitions() {
			if err := p.Close(); err != nil {
				errs = append(errs, fmt.Errorf("cannot close partition %s-%d: %w", t.Name, i, err))
			}
		}
	}
	return errors.Join(errs...)
}

// maintenanceLoop calls runMaintenance on every partition each retention check interval.
func (b *Broker) maintenanceLoop(ctx context.Context) {
	tick := time.NewTicker(b.cfg.RetentionCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			b.runMaintenance(now)
		}
	}
}

func (b *Broker) runMaintenance(now time.Time) {
	for _, t := range b.allTopics() {
		// The retry of partitions whose manifest could not be loaded waits for the start-up
		// attach, which takes them one at a time; a retry would load them all under adminMu.
		if b.tier != nil && t.Config().RemoteStorageEnable && !b.lateAttach.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
			b.adminMu.Lock()
			if b.lookupTopic(t.Name) == t {
				b.attachTier(ctx, t) // retries partitions whose manifest could not be loaded
			}
			b.adminMu.Unlock()
			cancel()
		}
		for _, p := range t.partitions() {
			p.Maintain(now, b.tierPending(p))
		}
	}
}

// fs is the filesystem of the data directory: segmentFS, or the OS.
func (b *Broker) fs() segment.FS {
	if b.segmentFS != nil {
		return b.segmentFS
	}
	return segment.OSFS{}
}
