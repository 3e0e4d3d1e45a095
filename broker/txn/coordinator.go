package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/segment"
)

// State is a transaction's state, named as Kafka names it.
type State int8

// Transaction states (Kafka's TransactionState).
const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// TP names a partition.
type TP struct {
	Topic     string `json:"t"`
	Partition int32  `json:"p"`
}

// Offset is a consumer offset committed in a transaction (TxnOffsetCommit).
type Offset struct {
	Topic       string `json:"t"`
	Partition   int32  `json:"p"`
	Offset      int64  `json:"o"`
	LeaderEpoch int32  `json:"e"`
	Metadata    string `json:"m,omitempty"`
}

// Txn is the durable state of one transactional id (one record of the log).
type Txn struct {
	ID         string `json:"id"`
	ProducerID int64  `json:"pid"`
	Epoch      int16  `json:"epoch"`
	// LastEpoch is the epoch before the coordinator bumped it to abort a timed-out
	// transaction (-1: none): a producer at that epoch may re-initialise (KIP-360).
	LastEpoch  int16               `json:"last_epoch"`
	TimeoutMs  int32               `json:"timeout_ms"`
	State      State               `json:"state"`
	Partitions []TP                `json:"partitions,omitempty"`
	Groups     []string            `json:"groups,omitempty"`
	Offsets    map[string][]Offset `json:"offsets,omitempty"` // pending, by group
	StartMs    int64               `json:"start_ms"`          // start of the current transaction
	UpdateMs   int64               `json:"update_ms"`
}

// MarkerWriter writes transaction markers to partitions (the broker).
type MarkerWriter interface {
	// WriteMarkers appends a COMMIT (commit) or ABORT marker of producer pid at epoch to
	// every partition of parts and returns once they are durable. Partitions that no
	// longer exist are skipped. An error leaves the transaction prepared; the coordinator
	// retries.
	WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, parts []TP) error
}

// OffsetCommitter makes a committed transaction's offsets visible (the group coordinator).
type OffsetCommitter interface {
	// CommitTxnOffsets durably commits offsets for group (idempotent: the coordinator
	// calls it again after a crash while the commit was prepared).
	CommitTxnOffsets(group string, offsets []Offset) error
}

// Config configures a Coordinator.
type Config struct {
	Dir    string     // holds the transaction log; required
	FS     segment.FS // nil: the OS
	Logger *slog.Logger
	// NextProducerID allocates a producer id (producer.Manager.NextID); required.
	NextProducerID func() (int64, error)
	Markers        MarkerWriter    // required
	Offsets        OffsetCommitter // nil: TxnOffsetCommit offsets are dropped at commit
	// PartitionExists says whether a topic partition exists (AddPartitionsToTxn).
	PartitionExists func(topic string, partition int32) bool
	// MaxTimeout is transaction.max.timeout.ms (default 15 minutes).
	MaxTimeout time.Duration
	// IDExpiration is transactional.id.expiration.ms (default 7 days).
	IDExpiration time.Duration
	// CheckInterval is how often timed-out transactions are aborted and prepared ones
	// retried (transaction.abort.timed.out.transaction.cleanup.interval.ms; default 10 s).
	CheckInterval time.Duration
	Now           func() time.Time
	// AfterPrepare, for crash tests: called once a commit or abort is prepared (durably);
	// an error stops the completion there, as a crash would.
	AfterPrepare func(t Txn) error
}

// Coordinator is the transaction coordinator of a single-node broker. Handlers are safe
// for concurrent use; the operations on one transactional id are serialised.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex // guards txns and the store's appends
	txns   map[string]*entry
	st     *store
	closed bool
}

// entry is one transactional id in memory; mu serialises the operations on it (held
// across marker writes, so a request for an id that is completing waits).
//
// v is what Verify reads: the last durable state's producer, epoch, state and partitions,
// published by persist under vmu alone. Verify runs under a partition's write lock, which
// the marker writes take while mu is held, so it must not take mu.
type entry struct {
	mu sync.Mutex
	t  Txn

	vmu sync.Mutex
	v   verifyState
}

type verifyState struct {
	pid   int64
	epoch int16
	state State
	parts map[TP]bool
}

// publish makes e.t (just made durable) what Verify sees.
func (e *entry) publish() {
	v := verifyState{pid: e.t.ProducerID, epoch: e.t.Epoch, state: e.t.State}
	if len(e.t.Partitions) > 0 {
		v.parts = make(map[TP]bool, len(e.t.Partitions))
		for _, p := range e.t.Partitions {
			v.parts[p] = true
		}
	}
	e.vmu.Lock()
	e.v = v
	e.vmu.Unlock()
}

// errStopped is returned by complete when AfterPrepare stopped it.
var errStopped = errors.New("txn: completion stopped by AfterPrepare")

// New loads the transaction log. Transactions left prepared are completed by Run.
func New(cfg Config) (*Coordinator, error) {
	if cfg.Dir == "" || cfg.NextProducerID == nil || cfg.Markers == nil {
		return nil, fmt.Errorf("txn: Config.Dir, NextProducerID and Markers are required")
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = 7 * 24 * time.Hour
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{cfg: cfg, log: log, txns: make(map[string]*entry)}
	st, err := openStore(cfg.FS, cfg.Dir, func(t Txn) {
		if t.State == Dead {
			delete(c.txns, t.ID)
			return
		}
		e := &entry{t: t}
		e.publish()
		c.txns[t.ID] = e
	})
	if err != nil {
		return nil, err
	}
	c.st = st
	log.Info("transaction coordinator loaded", "transactional_ids", len(c.txns))
	return c, nil
}

// Close closes the log.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.st.close()
}

// persist appends e's state (e.mu held).
func (c *Coordinator) persist(e *entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("txn: coordinator closed")
	}
	e.t.UpdateMs = c.cfg.Now().UnixMilli()
	if err := c.st.append(&e.t); err != nil {
		c.log.Error("cannot write transaction log", "transactional_id", e.t.ID, "err", err)
		return err
	}
	if e.t.State == Dead {
		delete(c.txns, e.t.ID)
	}
	e.publish()
	return nil
}

// lookup returns the id's entry locked, or nil.
func (c *Coordinator) lookup(id string) *entry {
	c.mu.Lock()
	e := c.txns[id]
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	e.mu.Lock()
	if e.t.State == Dead {
		e.mu.Unlock()
		return nil
	}
	return e
}

// Run completes transactions left prepared, then every CheckInterval aborts timed-out
// transactions, retries prepared ones and expires idle transactional ids, until ctx ends.
func (c *Coordinator) Run(ctx context.Context) {
	c.Check(ctx)
	tk := time.NewTicker(c.cfg.CheckInterval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			c.Check(ctx)
		}
	}
}

// Check runs one pass of Run's periodic work.
func (c *Coordinator) Check(ctx context.Context) {
	c.mu.Lock()
	ids := make([]string, 0, len(c.txns))
	for id := range c.txns {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	now := c.cfg.Now().UnixMilli()
	for _, id := range ids {
		e := c.lookup(id)
		if e == nil {
			continue
		}
		switch e.t.State {
		case PrepareCommit, PrepareAbort:
			if err := c.complete(ctx, e); err != nil {
				c.log.Warn("cannot complete prepared transaction", "transactional_id", id, "err", err)
			}
		case Ongoing:
			if now-e.t.StartMs > int64(e.t.TimeoutMs) {
				c.log.Info("aborting timed-out transaction", "transactional_id", id, "producer_id", e.t.ProducerID,
					"epoch", e.t.Epoch, "timeout_ms", e.t.TimeoutMs)
				if err := c.abortFenced(ctx, e); err != nil {
					c.log.Warn("cannot abort timed-out transaction", "transactional_id", id, "err", err)
				}
			}
		case Empty, CompleteCommit, CompleteAbort:
			if now-e.t.UpdateMs > c.cfg.IDExpiration.Milliseconds() {
				e.t.State = Dead
				_ = c.persist(e)
			}
		}
		e.mu.Unlock()
	}
	c.compact()
}

// compact rewrites the log if it grew well past the live ids.
func (c *Coordinator) compact() {
	c.mu.Lock()
	if c.closed || !c.st.compactDue(len(c.txns)) {
		c.mu.Unlock()
		return
	}
	ents := make([]*entry, 0, len(c.txns))
	for _, e := range c.txns {
		ents = append(ents, e)
	}
	records := c.st.records
	c.mu.Unlock()
	live := make([]*Txn, 0, len(ents))
	for _, e := range ents { // copy each state under its lock
		e.mu.Lock()
		t := e.t
		e.mu.Unlock()
		live = append(live, &t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// An operation that persisted after the copies above appended its record to the
	// log the compaction would replace: compact only when no record arrived meanwhile.
	if c.closed || c.st.records != records {
		return
	}
	if err := c.st.compact(live); err != nil {
		c.log.Warn("cannot compact transaction log", "err", err)
	}
}

// abortFenced aborts e's ongoing transaction with a bumped epoch (fencing the producer
// that still holds the old one), as Kafka does on timeout and on re-initialisation.
func (c *Coordinator) abortFenced(ctx context.Context, e *entry) error {
	if e.t.Epoch < math.MaxInt16-1 {
		e.t.LastEpoch = e.t.Epoch
		e.t.Epoch++
	}
	e.t.State = PrepareAbort
	if err := c.persist(e); err != nil {
		return err
	}
	return c.complete(ctx, e)
}

// prepare moves e's ongoing transaction to PrepareCommit/PrepareAbort durably, then
// completes it.
func (c *Coordinator) prepare(ctx context.Context, e *entry, commit bool) error {
	e.t.State = PrepareAbort
	if commit {
		e.t.State = PrepareCommit
	}
	if err := c.persist(e); err != nil {
		return err
	}
	return c.complete(ctx, e)
}

// complete writes the prepared transaction's offsets (commit) and markers, then records
// it complete. On error it stays prepared (Run retries).
func (c *Coordinator) complete(ctx context.Context, e *entry) error {
	if hook := c.cfg.AfterPrepare; hook != nil {
		if err := hook(e.t); err != nil {
			return fmt.Errorf("%w: %w", errStopped, err)
		}
	}
	commit := e.t.State == PrepareCommit
	if commit && c.cfg.Offsets != nil {
		for _, g := range sortedGroups(e.t.Offsets) {
			if err := c.cfg.Offsets.CommitTxnOffsets(g, e.t.Offsets[g]); err != nil {
				return fmt.Errorf("cannot commit offsets of group %q: %w", g, err)
			}
		}
	}
	if len(e.t.Partitions) > 0 {
		if err := c.cfg.Markers.WriteMarkers(ctx, e.t.ProducerID, e.t.Epoch, commit, e.t.Partitions); err != nil {
			return fmt.Errorf("cannot write transaction markers: %w", err)
		}
	}
	e.t.State = CompleteAbort
	if commit {
		e.t.State = CompleteCommit
	}
	e.t.Partitions, e.t.Groups, e.t.Offsets = nil, nil, nil
	return c.persist(e)
}

func sortedGroups(m map[string][]Offset) []string {
	out := make([]string, 0, len(m))
	for g := range m {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// fenced is the error for a request whose epoch is not the current one: PRODUCER_FENCED,
// or INVALID_PRODUCER_EPOCH for request versions older than KIP-588's (minFenced).
func fenced(version, minFenced int16) *kerr.Error {
	if version < minFenced {
		return kerr.InvalidProducerEpoch
	}
	return kerr.ProducerFenced
}

// checkProducer validates pid/epoch against e for AddPartitionsToTxn, AddOffsetsToTxn
// and EndTxn (Kafka's order: id mapping, epoch, pending completion).
func checkProducer(e *entry, pid int64, epoch int16, version, minFenced int16) *kerr.Error {
	switch {
	case e == nil || e.t.ProducerID != pid:
		return kerr.InvalidProducerIDMapping
	case epoch != e.t.Epoch:
		return fenced(version, minFenced)
	case e.t.State == PrepareCommit || e.t.State == PrepareAbort:
		return kerr.ConcurrentTransactions
	}
	return nil
}

// InitProducer serves InitProducerId for a transactional id: a new producer id, or the
// id's producer with its epoch bumped (aborting, with a fencing epoch, the transaction
// left open by a previous incarnation). reqPID/reqEpoch are -1 unless a v3+ client asks
// to re-initialise (KIP-360): they must be the id's current (or pre-timeout) producer.
func (c *Coordinator) InitProducer(ctx context.Context, id string, timeoutMs int32, reqPID int64, reqEpoch int16, version int16) (int64, int16, *kerr.Error) {
	if id == "" {
		return -1, -1, kerr.InvalidRequest
	}
	if timeoutMs <= 0 || int64(timeoutMs) > c.cfg.MaxTimeout.Milliseconds() {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	c.mu.Lock()
	e := c.txns[id]
	if e == nil {
		e = &entry{t: Txn{ID: id, ProducerID: -1, Epoch: -1, LastEpoch: -1, State: Empty}}
		c.txns[id] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.t.State == Dead { // expired meanwhile: start over
		e.t = Txn{ID: id, ProducerID: -1, Epoch: -1, LastEpoch: -1, State: Empty}
		c.mu.Lock()
		c.txns[id] = e
		c.mu.Unlock()
	}
	if reqPID >= 0 && e.t.ProducerID >= 0 {
		if reqPID != e.t.ProducerID || (reqEpoch != e.t.Epoch && reqEpoch != e.t.LastEpoch) {
			return -1, -1, fenced(version, 4)
		}
	}
	switch e.t.State {
	case PrepareCommit, PrepareAbort:
		return -1, -1, kerr.ConcurrentTransactions
	case Ongoing:
		if err := c.abortFenced(ctx, e); err != nil {
			c.log.Warn("cannot abort the open transaction of a re-initialised producer", "transactional_id", id, "err", err)
			return -1, -1, kerr.ConcurrentTransactions
		}
	}
	old := e.t
	if e.t.ProducerID < 0 || e.t.Epoch >= math.MaxInt16-1 {
		pid, err := c.cfg.NextProducerID()
		if err != nil {
			c.log.Error("cannot allocate producer id", "err", err)
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		e.t.ProducerID, e.t.Epoch = pid, 0
	} else {
		e.t.Epoch++
	}
	e.t.LastEpoch, e.t.TimeoutMs, e.t.State = -1, timeoutMs, Empty
	e.t.Partitions, e.t.Groups, e.t.Offsets = nil, nil, nil
	if err := c.persist(e); err != nil {
		e.t = old
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	return e.t.ProducerID, e.t.Epoch, nil
}

// begin makes e's transaction Ongoing (if it is not) before something is added to it.
func (c *Coordinator) begin(e *entry) {
	if e.t.State != Ongoing {
		e.t.State = Ongoing
		e.t.StartMs = c.cfg.Now().UnixMilli()
		e.t.Partitions, e.t.Groups, e.t.Offsets = nil, nil, nil
	}
}

// AddPartitions serves AddPartitionsToTxn v0-v3 for one producer: the error of each
// partition (nil: added).
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, version int16, parts []TP) []*kerr.Error {
	errs := make([]*kerr.Error, len(parts))
	fill := func(err *kerr.Error) []*kerr.Error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	bad := false
	for i, p := range parts {
		if c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(p.Topic, p.Partition) {
			errs[i], bad = kerr.UnknownTopicOrPartition, true
		}
	}
	if bad {
		return fill(kerr.OperationNotAttempted)
	}
	e := c.lookup(id)
	if err := checkProducer(e, pid, epoch, version, 2); err != nil {
		if e != nil {
			e.mu.Unlock()
		}
		return fill(err)
	}
	defer e.mu.Unlock()
	wasOngoing, before := e.t.State == Ongoing, len(e.t.Partitions)
	old := e.t
	c.begin(e)
	for _, p := range parts {
		if !slices.Contains(e.t.Partitions, p) {
			e.t.Partitions = append(e.t.Partitions, p)
		}
	}
	if wasOngoing && len(e.t.Partitions) == before {
		return errs
	}
	if err := c.persist(e); err != nil {
		e.t = old
		return fill(kerr.CoordinatorNotAvailable)
	}
	return errs
}

// AddOffsets serves AddOffsetsToTxn: group's offsets may be committed in the transaction.
func (c *Coordinator) AddOffsets(id string, pid int64, epoch int16, version int16, group string) *kerr.Error {
	e := c.lookup(id)
	if err := checkProducer(e, pid, epoch, version, 2); err != nil {
		if e != nil {
			e.mu.Unlock()
		}
		return err
	}
	defer e.mu.Unlock()
	if e.t.State == Ongoing && slices.Contains(e.t.Groups, group) {
		return nil
	}
	old := e.t
	c.begin(e)
	e.t.Groups = append(e.t.Groups, group)
	if err := c.persist(e); err != nil {
		e.t = old
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// AddOffsetsPending records offsets committed by TxnOffsetCommit in id's ongoing
// transaction (after the group coordinator checked the member): they become visible when
// the transaction commits. The transaction must be ongoing at this producer and epoch and
// have the group added (AddOffsetsToTxn).
func (c *Coordinator) AddOffsetsPending(id string, pid int64, epoch int16, version int16, group string, offs []Offset) *kerr.Error {
	e := c.lookup(id)
	switch {
	case e == nil || e.t.ProducerID != pid:
		if e != nil {
			e.mu.Unlock()
		}
		return kerr.InvalidProducerIDMapping
	}
	defer e.mu.Unlock()
	switch {
	case epoch != e.t.Epoch:
		return fenced(version, 3)
	case e.t.State == PrepareCommit || e.t.State == PrepareAbort:
		return kerr.ConcurrentTransactions
	case e.t.State != Ongoing || !slices.Contains(e.t.Groups, group):
		return kerr.InvalidTxnState
	}
	old := e.t
	e.t.Offsets = cloneOffsets(e.t.Offsets)
	cur := e.t.Offsets[group]
	for _, o := range offs {
		i := slices.IndexFunc(cur, func(x Offset) bool { return x.Topic == o.Topic && x.Partition == o.Partition })
		if i >= 0 {
			cur[i] = o
		} else {
			cur = append(cur, o)
		}
	}
	e.t.Offsets[group] = cur
	if err := c.persist(e); err != nil {
		e.t = old
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

func cloneOffsets(m map[string][]Offset) map[string][]Offset {
	out := make(map[string][]Offset, len(m)+1)
	for g, o := range m {
		out[g] = slices.Clone(o)
	}
	return out
}

// End serves EndTxn (transaction version 1): commit or abort the ongoing transaction.
// It answers once the outcome is durable in the log; the markers and offsets are
// written before it returns when they can be (else Run retries, and requests for the id
// get CONCURRENT_TRANSACTIONS meanwhile).
func (c *Coordinator) End(ctx context.Context, id string, pid int64, epoch int16, commit bool, version int16) *kerr.Error {
	e := c.lookup(id)
	if e == nil || e.t.ProducerID != pid {
		if e != nil {
			e.mu.Unlock()
		}
		return kerr.InvalidProducerIDMapping
	}
	defer e.mu.Unlock()
	if epoch != e.t.Epoch {
		return fenced(version, 2)
	}
	switch e.t.State {
	case Ongoing:
		if err := c.prepare(ctx, e, commit); err != nil {
			if e.t.State == Ongoing { // the prepare record was not written
				return kerr.CoordinatorNotAvailable
			}
			c.log.Warn("transaction prepared but not completed; will retry", "transactional_id", id, "err", err)
		}
		return nil
	case CompleteCommit:
		if commit {
			return nil // a retry
		}
	case CompleteAbort:
		if !commit {
			return nil
		}
	case PrepareCommit:
		if commit {
			return kerr.ConcurrentTransactions
		}
	case PrepareAbort:
		if !commit {
			return kerr.ConcurrentTransactions
		}
	}
	return kerr.InvalidTxnState
}

// Verify checks a transactional produce to topic/partition (KIP-890 part 1): the
// partition must have been added to the producer's ongoing transaction.
// INVALID_PRODUCER_EPOCH for an older epoch, INVALID_TXN_STATE otherwise.
//
// It reads the last durable state of the id without waiting for an operation on it (it
// runs under the partition's write lock, which marker writes need).
func (c *Coordinator) Verify(id string, pid int64, epoch int16, topic string, partition int32) *kerr.Error {
	c.mu.Lock()
	e := c.txns[id]
	c.mu.Unlock()
	if e == nil {
		return kerr.InvalidTxnState
	}
	e.vmu.Lock()
	v := e.v
	e.vmu.Unlock()
	switch {
	case v.pid != pid:
		return kerr.InvalidTxnState
	case epoch < v.epoch:
		return kerr.InvalidProducerEpoch
	case epoch > v.epoch || v.state != Ongoing || !v.parts[TP{topic, partition}]:
		return kerr.InvalidTxnState
	}
	return nil
}

// Knows reports whether producer pid has a transaction that is ongoing or being completed
// and includes tp, that is, whether the coordinator will end the transaction pid has open
// on tp (see the broker's abortOrphanTxns).
func (c *Coordinator) Knows(pid int64, tp TP) bool {
	c.mu.Lock()
	ents := make([]*entry, 0, len(c.txns))
	for _, e := range c.txns {
		ents = append(ents, e)
	}
	c.mu.Unlock()
	for _, e := range ents {
		e.vmu.Lock()
		v := e.v
		e.vmu.Unlock()
		if v.pid == pid && (v.state == Ongoing || v.state == PrepareCommit || v.state == PrepareAbort) && v.parts[tp] {
			return true
		}
	}
	return false
}

// PendingOffsets returns the partitions for which group has an offset committed in a
// transaction that is not complete (OffsetFetch require_stable: UNSTABLE_OFFSET_COMMIT);
// nil when there are none.
func (c *Coordinator) PendingOffsets(group string) map[TP]bool {
	c.mu.Lock()
	ents := make([]*entry, 0, len(c.txns))
	for _, e := range c.txns {
		ents = append(ents, e)
	}
	c.mu.Unlock()
	var out map[TP]bool
	for _, e := range ents {
		e.mu.Lock()
		if e.t.State == Ongoing || e.t.State == PrepareCommit {
			for _, o := range e.t.Offsets[group] {
				if out == nil {
					out = make(map[TP]bool)
				}
				out[TP{o.Topic, o.Partition}] = true
			}
		}
		e.mu.Unlock()
	}
	return out
}

// Describe returns id's state (ok false: unknown).
func (c *Coordinator) Describe(id string) (Txn, bool) {
	e := c.lookup(id)
	if e == nil {
		return Txn{}, false
	}
	defer e.mu.Unlock()
	t := e.t
	t.Partitions = slices.Clone(t.Partitions)
	return t, true
}

// List returns every transactional id's state, by id.
func (c *Coordinator) List() []Txn {
	c.mu.Lock()
	ids := make([]string, 0, len(c.txns))
	for id := range c.txns {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	sort.Strings(ids)
	out := make([]Txn, 0, len(ids))
	for _, id := range ids {
		if t, ok := c.Describe(id); ok {
			out = append(out, t)
		}
	}
	return out
}
