package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/cluster"
)

// clusterKeys are the cluster keys strata serve reads itself (Kafka names), beyond
// process.roles, node.id and controller.* which broker.Config already accepts.
var clusterKeys = map[string]string{
	"broker.rack":                    "Rack of this broker; CreateTopics spreads replicas across racks.",
	"broker.heartbeat.interval.ms":   "How often a clustered broker heartbeats to the controller.",
	"broker.session.timeout.ms":      "A broker without a heartbeat for this long is fenced and loses its leaderships.",
	"metadata.log.dir":               "Directory of the metadata quorum's Raft log and snapshots.",
	"unclean.leader.election.enable": "Default for topics: elect an out-of-sync replica when no ISR member is alive (loses records).",
}

var clusterKeyDefaults = map[string]string{
	"broker.heartbeat.interval.ms":   "2000",
	"broker.session.timeout.ms":      "9000",
	"metadata.log.dir":               "<log.dirs>/__cluster_metadata",
	"unclean.leader.election.enable": "false",
}

// splitClusterProps takes clusterKeys out of props.
func splitClusterProps(props map[string]string) (rest, cl map[string]string) {
	rest, cl = map[string]string{}, map[string]string{}
	for k, v := range props {
		if _, ok := clusterKeys[k]; ok {
			cl[k] = v
		} else {
			rest[k] = v
		}
	}
	return rest, cl
}

// clusterConfig is what serve needs to join a cluster; Quorum.Clustered() false means
// the single broker of today, and nothing here runs.
type clusterConfig struct {
	Quorum            cluster.QuorumConfig
	Rack              string
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	MetadataDir       string
	Unclean           bool
	ClusterID         string             // cluster.id: the quorum's id if it has none yet
	Listeners         []cluster.Listener // what the broker registers
}

func parseClusterConfig(brokerProps, cl map[string]string, dataDir string) (clusterConfig, error) {
	q, err := cluster.ParseQuorumConfig(brokerProps)
	if err != nil {
		return clusterConfig{}, err
	}
	c := clusterConfig{Quorum: q, Rack: cl["broker.rack"], MetadataDir: cl["metadata.log.dir"], ClusterID: brokerProps["cluster.id"]}
	if c.MetadataDir == "" {
		c.MetadataDir = filepath.Join(dataDir, "__cluster_metadata")
	}
	ms := func(key string) (time.Duration, error) {
		v := cl[key]
		if v == "" {
			v = clusterKeyDefaults[key]
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s: want a positive number of milliseconds, got %q", key, v)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	if c.HeartbeatInterval, err = ms("broker.heartbeat.interval.ms"); err != nil {
		return c, err
	}
	if c.SessionTimeout, err = ms("broker.session.timeout.ms"); err != nil {
		return c, err
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		return c, fmt.Errorf("broker.heartbeat.interval.ms (%v) must be below broker.session.timeout.ms (%v)", c.HeartbeatInterval, c.SessionTimeout)
	}
	switch v := strings.ToLower(cl["unclean.leader.election.enable"]); v {
	case "", "false":
	case "true":
		c.Unclean = true
	default:
		return c, fmt.Errorf("unclean.leader.election.enable: want true or false, got %q", v)
	}
	if !q.Clustered() {
		return c, nil
	}
	if q.Controller && q.BindAddr == "" {
		return c, errors.New("a controller needs its address: list it in controller.quorum.voters or name a controller listener (controller.listener.names, listeners)")
	}
	ls := brokerProps["advertised.listeners"]
	if ls == "" {
		ls = brokerProps["listeners"]
	}
	for _, l := range strings.Split(ls, ",") {
		name, hp, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok || strings.EqualFold(name, "CONTROLLER") || isControllerListener(name, q.ListenerNames) {
			continue
		}
		host, port, err := net.SplitHostPort(hp)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			return c, fmt.Errorf("listener %q: want NAME://host:port", l)
		}
		c.Listeners = append(c.Listeners, cluster.Listener{Name: name, Host: host, Port: int32(p), SecurityProtocol: name})
	}
	return c, nil
}

func isControllerListener(name string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// clusterMember is this process's part of a cluster: the quorum node (process.roles has
// controller) and the broker's registration and heartbeat loop (process.roles has broker).
type clusterMember struct {
	cfg    clusterConfig
	logger *slog.Logger
	node   *cluster.Node
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startClusterMember starts the quorum node if c asks for one; nil when the node is not
// clustered. The broker registers later (brokerStarted), once its listener is bound.
func startClusterMember(c clusterConfig, logger *slog.Logger, reg prometheus.Registerer) (*clusterMember, error) {
	q := c.Quorum
	if !q.Clustered() {
		return nil, nil
	}
	m := &clusterMember{cfg: c, logger: logger}
	if q.Controller {
		n, err := cluster.Open(cluster.NodeConfig{NodeID: q.NodeID, Dir: c.MetadataDir, BindAddr: q.BindAddr, Voters: q.Voters,
			ClusterID: c.ClusterID, SessionTimeout: c.SessionTimeout, UncleanLeaderElection: c.Unclean, Logger: logger.With("component", "quorum")})
		if err != nil {
			return nil, err
		}
		m.node = n
		if err := n.RegisterMetrics(reg); err != nil {
			n.Close()
			return nil, err
		}
	}
	logger.Warn("cluster mode: the metadata quorum runs and this broker registers with it, and this broker follows its image (leaders, replicas, topics), but data replication is not built yet (issue 20): a follower does not copy its leader's log",
		"node_id", q.NodeID, "controller", q.Controller, "broker", q.Broker)
	return m, nil
}

// brokerStarted starts the registration and heartbeat loop and the broker's following of
// the image (cluster_follow.go); the broker's first bound listener's real port replaces
// a configured port 0. The following stops with serveCtx, when the broker starts to
// stop, so that it does not open partitions on a closing broker.
func (m *clusterMember) brokerStarted(serveCtx context.Context, b *broker.Broker) {
	bound := b.Addr()
	if m == nil || !m.cfg.Quorum.Broker || m.cancel != nil {
		return
	}
	c := m.cfg
	c.Listeners = append([]cluster.Listener(nil), c.Listeners...)
	if ta, ok := bound.(*net.TCPAddr); ok && len(c.Listeners) > 0 && c.Listeners[0].Port == 0 {
		c.Listeners[0].Port = int32(ta.Port)
	}
	addrs := c.Quorum.BootstrapServers
	for _, v := range c.Quorum.Voters {
		addrs = append(addrs, v.Addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Go(func() { heartbeatLoop(ctx, cluster.NewClient(addrs), c, m.logger.With("component", "registration")) })
	ctl := cluster.NewClient(addrs)
	var follow cluster.Controller = ctl
	if m.node != nil {
		follow = m.node // a voter reads its own image
	}
	listener := ""
	if len(c.Listeners) > 0 {
		listener = c.Listeners[0].Name
	}
	fctx, fcancel := context.WithCancel(serveCtx)
	stop := context.AfterFunc(ctx, fcancel)
	m.wg.Go(func() {
		defer stop()
		defer fcancel()
		followImage(fctx, follow, ctl, b, c.Quorum.NodeID, listener, m.logger.With("component", "follow"))
	})
}

// Stop ends the broker's session with a controlled shutdown, then leaves the quorum.
func (m *clusterMember) Stop() {
	if m == nil {
		return
	}
	if m.cancel != nil {
		m.cancel()
		m.wg.Wait()
	}
	if m.node != nil {
		m.node.Close()
	}
}

// heartbeatLoop registers the broker and heartbeats every interval until ctx ends, then
// asks for a controlled shutdown (bounded by the session timeout).
func heartbeatLoop(ctx context.Context, cl cluster.Controller, c clusterConfig, logger *slog.Logger) {
	var inc [16]byte
	rand.Read(inc[:])
	reg := cluster.BrokerRegistration{NodeID: c.Quorum.NodeID, IncarnationID: hex.EncodeToString(inc[:]), Listeners: c.Listeners, Rack: c.Rack}
	var epoch int64
	fenced := true
	for ctx.Err() == nil {
		if epoch == 0 {
			cctx, cancel := context.WithTimeout(ctx, c.SessionTimeout)
			e, err := cl.RegisterBroker(cctx, reg)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					logger.Warn("cannot register with the controller", "err", err)
					sleepCtx(ctx, c.HeartbeatInterval)
				}
				continue
			}
			epoch = e
			logger.Info("registered with the controller", "broker_epoch", epoch)
		}
		cctx, cancel := context.WithTimeout(ctx, c.HeartbeatInterval)
		resp, err := cl.Heartbeat(cctx, cluster.HeartbeatRequest{NodeID: reg.NodeID, BrokerEpoch: epoch})
		cancel()
		switch {
		case errors.Is(err, cluster.ErrStaleBrokerEpoch):
			logger.Warn("broker epoch is stale: registering again", "broker_epoch", epoch)
			epoch = 0
			continue
		case err != nil:
			if ctx.Err() == nil {
				logger.Warn("heartbeat failed", "err", err)
			}
		case resp.Fenced != fenced:
			fenced = resp.Fenced
			logger.Info("broker fencing changed", "fenced", fenced, "metadata_version", resp.Version)
		}
		sleepCtx(ctx, c.HeartbeatInterval)
	}
	if epoch == 0 {
		return
	}
	// Controlled shutdown: leadership moves away before the process stops.
	sctx, cancel := context.WithTimeout(context.Background(), c.SessionTimeout)
	defer cancel()
	for sctx.Err() == nil {
		resp, err := cl.Heartbeat(sctx, cluster.HeartbeatRequest{NodeID: reg.NodeID, BrokerEpoch: epoch, WantShutDown: true})
		if err == nil && resp.ShouldShutDown {
			logger.Info("controlled shutdown done")
			return
		}
		if errors.Is(err, cluster.ErrStaleBrokerEpoch) {
			return
		}
		sleepCtx(sctx, 100*time.Millisecond)
	}
	logger.Warn("controlled shutdown did not finish in time")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
