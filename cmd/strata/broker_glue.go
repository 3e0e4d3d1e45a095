package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering"
)

// brokerParams is what serve hands to the broker.
type brokerParams struct {
	props    map[string]string // Kafka broker keys only
	store    tiering.ObjectStore
	prefix   string // strata.tier.prefix
	logger   *slog.Logger
	registry prometheus.Registerer
}

// brokerConfig turns brokerParams into a validated broker.Config.
func brokerConfig(p brokerParams) (broker.Config, error) {
	cfg, err := broker.ParseConfig(p.props)
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
	cfg.Logger = p.logger
	cfg.Registerer = p.registry
	return cfg, nil
}

// errNoServer is returned while the broker package has no network server yet.
var errNoServer = errors.New("this build of strata has no broker server yet")

// runBroker starts the broker and blocks until ctx is done, then shuts it down.
func runBroker(ctx context.Context, p brokerParams) error {
	if _, err := brokerConfig(p); err != nil {
		return err
	}
	return errNoServer
}

// knownConfigKey reports whether key is a broker key (or alias) or one of cmd/strata's own.
func knownConfigKey(key string) bool {
	if _, ok := tierKeys[key]; ok {
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
	return "", nil, errNoServer
}
