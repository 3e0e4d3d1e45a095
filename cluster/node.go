package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// ErrNotController is returned by controller operations on a node that is not the
// quorum's ready leader. errors.As to *NotControllerError gives the leader, if known.
var ErrNotController = errors.New("cluster: not the active controller")

// NotControllerError names the leader the caller should retry on (LeaderID -1: unknown,
// an election is under way).
type NotControllerError struct {
	LeaderID   int32
	LeaderAddr string
}

func (e *NotControllerError) Error() string {
	if e.LeaderID < 0 {
		return "cluster: not the active controller (leader unknown)"
	}
	return fmt.Sprintf("cluster: not the active controller (leader %d at %s)", e.LeaderID, e.LeaderAddr)
}

func (e *NotControllerError) Unwrap() error { return ErrNotController }

// Voter is one member of the controller quorum: controller.quorum.voters' id@host:port.
type Voter struct {
	ID   int32
	Addr string // host:port of its Raft transport (the CONTROLLER listener)
}

// NodeConfig configures one quorum member. The zero durations take the defaults named.
type NodeConfig struct {
	NodeID int32
	// Dir holds raft.db (the bolt log and stable store) and snapshots/. Created if missing.
	Dir string
	// BindAddr is the controller listener's listen address, e.g. ":9093"; the node's
	// voter entry is what it advertises. Ignored when Transport is set.
	BindAddr string
	// Transport, if set, is used instead of listening on BindAddr (tests open
	// transports first to learn their ports). Open takes ownership: Close closes it.
	Transport *Transport
	// Voters is the static quorum. On first start (no Raft state in Dir) every voter
	// bootstraps the same configuration; later starts use the stored one.
	Voters []Voter

	// ClusterID is written to the image by the first active controller when the image
	// has none (cluster.id); empty: a random one. A different id already in the image
	// wins and is logged.
	ClusterID string

	// SessionTimeout: a broker without a heartbeat for this long is fenced
	// (broker.session.timeout.ms). Default 9s.
	SessionTimeout time.Duration
	// UncleanLeaderElection lets a partition whose ISR has no live member elect any live
	// replica, losing records (unclean.leader.election.enable). A topic config of the
	// same name overrides it. Default false.
	UncleanLeaderElection bool

	// Raft timings (hashicorp/raft's names). Defaults: 1s, 1s, 500ms.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// SnapshotThreshold: entries between snapshots. Default 8192. SnapshotInterval:
	// how often raft checks. Default 2m.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// TrailingLogs kept after a snapshot for slow followers. Default 10240.
	TrailingLogs uint64

	Logger *slog.Logger // nil: discard
}

func (c *NodeConfig) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SessionTimeout, 9*time.Second)
	def(&c.HeartbeatTimeout, time.Second)
	def(&c.ElectionTimeout, time.Second)
	def(&c.LeaderLeaseTimeout, 500*time.Millisecond)
	def(&c.SnapshotInterval, 2*time.Minute)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first configuration mistake.
func (c NodeConfig) Validate() error {
	if c.NodeID < 0 {
		return fmt.Errorf("cluster: node id %d", c.NodeID)
	}
	if c.Dir == "" {
		return errors.New("cluster: no metadata directory")
	}
	if c.Transport == nil && c.BindAddr == "" {
		return errors.New("cluster: no Raft bind address")
	}
	self := false
	seen := map[int32]bool{}
	for _, v := range c.Voters {
		if seen[v.ID] {
			return fmt.Errorf("cluster: voter %d listed twice", v.ID)
		}
		seen[v.ID] = true
		self = self || v.ID == c.NodeID
	}
	if !self {
		return fmt.Errorf("cluster: node %d is not among the voters %v", c.NodeID, c.Voters)
	}
	return nil
}

// Node is one member of the metadata quorum. Every node applies the replicated log to its
// image; the Raft leader is also the active controller (controller.go).
type Node struct {
	cfg    NodeConfig
	logger *slog.Logger
	raft   *raft.Raft
	fsm    *fsm
	tr     *Transport
	trans  *raft.NetworkTransport
	store  *raftboltdb.BoltStore

	ctl controllerState // leader-only soft state; controller.go

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open starts the node: it opens (or creates) the bolt store and snapshots in cfg.Dir,
// restores the newest snapshot, bootstraps the quorum on first start and joins elections.
func Open(cfg NodeConfig) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create metadata directory %q: %w", cfg.Dir, err)
	}
	n := &Node{cfg: cfg, logger: cfg.Logger.With("node_id", cfg.NodeID), stop: make(chan struct{})}
	n.fsm = newFSM(n.logger)
	ok := false
	defer func() {
		if !ok {
			n.closeResources()
		}
	}()
	n.tr = cfg.Transport
	if n.tr == nil {
		adv := ""
		for _, v := range cfg.Voters {
			if v.ID == cfg.NodeID {
				adv = v.Addr
			}
		}
		t, err := Listen(cfg.BindAddr, adv, n.logger)
		if err != nil {
			return nil, err
		}
		n.tr = t
	}
	n.trans = n.tr.net
	path := filepath.Join(cfg.Dir, "raft.db")
	store, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open Raft store %q: %w", path, err)
	}
	n.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hclogFor(n.logger))
	if err != nil {
		return nil, fmt.Errorf("cannot open snapshot store in %q: %w", cfg.Dir, err)
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(strconv.Itoa(int(cfg.NodeID)))
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hclogFor(n.logger)

	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("cannot read Raft state in %q: %w", cfg.Dir, err)
	}
	if !has {
		var servers []raft.Server
		for _, v := range cfg.Voters {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(v.ID))), Address: raft.ServerAddress(v.Addr)})
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			return nil, fmt.Errorf("cannot bootstrap metadata quorum: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, n.trans)
	if err != nil {
		return nil, fmt.Errorf("cannot start Raft: %w", err)
	}
	n.raft = r
	n.tr.mux.setHandler(n.serveRPC)
	ok = true
	n.wg.Add(1)
	go n.controllerLoop()
	n.logger.Info("metadata quorum node started", "addr", string(n.trans.LocalAddr()), "restored_version", n.fsm.restored.Load())
	return n, nil
}

// Close leaves the quorum's elections, stops the controller and closes the transport and
// store. The other voters elect a new leader if this one led.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.stop)
		// Raft first: a controller write in flight then fails at once instead of
		// waiting out its timeout.
		if n.raft != nil {
			if err := n.raft.Shutdown().Error(); err != nil {
				n.closeErr = fmt.Errorf("cannot shut down Raft: %w", err)
			}
		}
		n.wg.Wait()
		n.closeResources()
	})
	return n.closeErr
}

func (n *Node) closeResources() {
	if n.tr != nil {
		n.tr.Close()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil && n.closeErr == nil {
			n.closeErr = fmt.Errorf("cannot close Raft store: %w", err)
		}
	}
}

// ID returns the node id.
func (n *Node) ID() int32 { return n.cfg.NodeID }

// Addr returns the Raft transport address.
func (n *Node) Addr() string { return string(n.trans.LocalAddr()) }

// IsLeader reports whether this node is the Raft leader (not necessarily ready to act as
// controller yet; see controller.go).
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader's id and address as this node knows them (-1: none).
func (n *Node) Leader() (int32, string) {
	addr, id := n.raft.LeaderWithID()
	if id == "" {
		return -1, ""
	}
	v, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil {
		return -1, ""
	}
	return int32(v), string(addr)
}

// Image returns the newest applied metadata image. On a follower it may lag the leader;
// its Version says how far it got.
func (n *Node) Image() *Image { return n.fsm.image.Load() }

// Watch returns the first image with a Version greater than after, waiting for one.
func (n *Node) Watch(ctx context.Context, after uint64) (*Image, error) {
	for {
		im, changed := n.fsm.current()
		if im.Version > after {
			return im, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Snapshot makes Raft take a snapshot now and compact its log (operators, tests).
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("cannot snapshot metadata: %w", err)
	}
	return nil
}

// hclogFor adapts raft's hclog output to slog: each line becomes one record. Raft's
// errors are Warn and its warnings Info, each kind at most once per raftLogEvery (the
// rest Debug): a dead peer makes raft report every retry.
func hclogFor(logger *slog.Logger) hclog.Logger {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &slogWriter{l: logger, last: map[string]time.Time{}}
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: w, DisableTime: true})
}

const raftLogEvery = 10 * time.Second

type slogWriter struct {
	l    *slog.Logger
	mu   sync.Mutex
	last map[string]time.Time // kind of line -> when last logged above Debug
}

func (w *slogWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		line := sc.Text()
		lv := slog.LevelDebug
		switch {
		case strings.Contains(line, "[ERROR]"):
			lv = slog.LevelWarn
		case strings.Contains(line, "[WARN]"):
			lv = slog.LevelInfo
		}
		if lv > slog.LevelDebug {
			// The kind: the message before its key=value fields.
			kind := line
			if i := strings.Index(kind, ": "); i >= 0 {
				if j := strings.Index(kind[i+2:], ": "); j >= 0 {
					kind = kind[:i+2+j]
				}
			}
			w.mu.Lock()
			if now := time.Now(); now.Sub(w.last[kind]) < raftLogEvery {
				lv = slog.LevelDebug
			} else {
				w.last[kind] = now
			}
			w.mu.Unlock()
		}
		w.l.Log(context.Background(), lv, "raft", "line", line)
	}
	return len(p), nil
}

var _ io.Writer = (*slogWriter)(nil)
