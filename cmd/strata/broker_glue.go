package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/fsstore"
)

// brokerParams is what serve hands to the broker.
type brokerParams struct {
	props   map[string]string // Kafka broker keys only
	store   tiering.ObjectStore
	prefix  string // strata.tier.prefix
	storeID string // tierConfig.storeID: what the data dir records (broker.Config.RemoteStoreID)
	// lockMode, lockUnlimited: strata.tier.s3.object.lock.* (broker.Config.RemoteObjectLock*)
	lockMode      string
	lockUnlimited time.Duration
	// allowStoreChange: --accept-tier-store-change (broker.Config.RemoteStoreChangeAllowed)
	allowStoreChange bool
	dirLock          *broker.DataDirLock // taken by serve before it logs; nil: broker.New takes it
	logger           *slog.Logger
	registry         prometheus.Registerer
	onOpen           func(*broker.Broker) // called once the broker is open (admin listener); may be nil
}

// brokerConfig turns brokerParams into a validated broker.Config.
func brokerConfig(p brokerParams) (broker.Config, error) {
	props := p.props
	if _, set := props["log.remote.storage.enable"]; !set && p.store != nil {
		// Tiering is Strata's point: with a tier store configured (the embedded fs store by
		// default), new topics are tiered unless they or the operator say otherwise.
		props = make(map[string]string, len(p.props)+1)
		for k, v := range p.props {
			props[k] = v
		}
		props["log.remote.storage.enable"] = "true"
	}
	cfg, err := broker.ParseConfig(props)
	if err != nil {
		return broker.Config{}, err
	}
	if p.prefix != "" {
		if cfg.RemotePrefix != "" && cfg.RemotePrefix != p.prefix {
			return broker.Config{}, fmt.Errorf("strata.tier.prefix %q and remote.log.prefix %q disagree", p.prefix, cfg.RemotePrefix)
		}
		cfg.RemotePrefix = p.prefix
	}
	cfg.RemoteStore = p.store
	cfg.RemoteStoreID = p.storeID
	cfg.RemoteStoreChangeAllowed = p.allowStoreChange
	cfg.RemoteObjectLockMode, cfg.RemoteObjectLockUnlimited = p.lockMode, p.lockUnlimited
	cfg.DataDirLock = p.dirLock
	cfg.Logger = p.logger
	cfg.Registerer = p.registry
	return cfg, nil
}

// runBroker starts the broker and blocks until ctx is done, then shuts it down gracefully:
// stop accepting, finish or cancel in-flight requests, close (and flush) every partition.
func runBroker(ctx context.Context, p brokerParams) error {
	cfg, err := brokerConfig(p)
	if err != nil {
		return err
	}
	b, err := broker.New(cfg)
	if err != nil {
		return err
	}
	p.logger.Info("listening", "addr", b.Addr().String(), "cluster_id", b.ClusterID())
	if p.onOpen != nil {
		p.onOpen(b)
	}
	runErr := b.Run(ctx)
	p.logger.Info("shutting down")
	return errors.Join(runErr, b.Close())
}

// knownConfigKey reports whether key is a broker key (or alias) or one of cmd/strata's own.
func knownConfigKey(key string) bool {
	if _, ok := tierKeys[key]; ok {
		return true
	}
	if isAdminKey(key) {
		return true
	}
	if _, ok := clusterKeys[key]; ok {
		return true
	}
	switch key {
	case "broker.id", "log.dir":
		return true
	}
	for _, k := range broker.ConfigKeys() {
		if k.Name == key {
			return true
		}
	}
	return false
}

// startEmbeddedBroker starts a broker in-process on a free loopback port with its data (and an
// fs tier store) under dir. stop shuts it down and waits.
func startEmbeddedBroker(ctx context.Context, dir string) (addr string, stop func(), err error) {
	props := map[string]string{
		"listeners": "PLAINTEXT://127.0.0.1:0",
		"log.dirs":  filepath.Join(dir, "data"),
	}
	store, err := fsstore.New(filepath.Join(dir, "tier"))
	if err != nil {
		return "", nil, err
	}
	cfg, err := brokerConfig(brokerParams{props: props, store: store})
	if err != nil {
		return "", nil, err
	}
	b, err := broker.New(cfg)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
		_ = b.Close()
	}
	return b.Addr().String(), stop, nil
}
