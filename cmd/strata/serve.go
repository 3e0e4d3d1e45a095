package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/strata-io/strata/admin"
	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering/storewrap"
)

// serveOptions is everything `strata serve` gathered before starting the broker.
type serveOptions struct {
	props map[string]string // broker keys (Kafka names), flags > env > file
	tier  tierConfig
	// acceptStoreChange: --accept-tier-store-change
	acceptStoreChange bool
	dirLock           *broker.DataDirLock // held: taken before anything is logged
	admin             adminConfig
	cluster           clusterConfig // cluster.go; not clustered: today's single broker
	logger            *slog.Logger
}

// gatherServeProps layers the configuration sources: file < env < flags. The returned map
// still holds the strata.tier.* keys. STRATA_* variables that name no configuration key are
// returned in ignoredEnv rather than failing (the environment is shared with other tools);
// unknown keys in the file or flags are errors (from broker.ParseConfig).
func gatherServeProps(configPath string, environ []string, flagProps map[string]string) (props map[string]string, ignoredEnv []string, err error) {
	var file map[string]string
	if configPath != "" {
		if file, err = loadPropertiesFile(configPath); err != nil {
			return nil, nil, err
		}
	}
	env := map[string]string{}
	for k, v := range propsFromEnv(environ) {
		switch {
		case knownConfigKey(k):
			env[k] = v
		case knownConfigKey("strata." + k):
			// Strata's own keys may drop their "strata." part: STRATA_ADMIN_LISTENER,
			// STRATA_DISK_BUDGET_BYTES.
			env["strata."+k] = v
		default:
			ignoredEnv = append(ignoredEnv, k)
		}
	}
	sort.Strings(ignoredEnv)
	return mergeProps(file, env, flagProps), ignoredEnv, nil
}

// dataDirOf returns the broker's data directory from log.dirs (first entry) or log.dir.
func dataDirOf(props map[string]string) string {
	for _, k := range []string{"log.dirs", "log.dir"} {
		if v := strings.TrimSpace(props[k]); v != "" {
			first, _, _ := strings.Cut(v, ",")
			return strings.TrimSpace(first)
		}
	}
	return "data"
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("--log-level: want debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageErrorf("--log-format: want text or json, got %q", format)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func runServe(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "serve", "serve [--config server.properties] [--listeners ...] [--log-dirs DIR] [--set key=value]...")
	configPath := fs.String("config", os.Getenv("STRATA_CONFIG"), "server.properties file (env STRATA_CONFIG)")
	listeners := fs.String("listeners", "", "listeners, e.g. PLAINTEXT://127.0.0.1:9092 (key listeners)")
	advertised := fs.String("advertised-listeners", "", "advertised.listeners")
	logDirs := fs.String("log-dirs", "", "data directory (key log.dirs)")
	nodeID := fs.String("node-id", "", "node.id")
	var sets kvFlag
	fs.Var(&sets, "set", "any configuration key=value (repeatable); wins over file and env")
	logFormat := fs.String("log-format", envOr("STRATA_LOG_FORMAT", "text"), "log format: text or json (env STRATA_LOG_FORMAT)")
	logLevel := fs.String("log-level", envOr("STRATA_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env STRATA_LOG_LEVEL)")
	adminAddr := fs.String("admin-addr", "", "admin HTTP listener (/metrics, /healthz, /readyz, console; key strata.admin.listener; default "+admin.DefaultAddr+"; off disables)")
	metricsAddr := fs.String("metrics-addr", "", "same as --admin-addr (kept for compatibility)")
	printConfig := fs.Bool("print-config", false, "print the merged configuration (secrets redacted) and exit")
	acceptStoreChange := fs.Bool("accept-tier-store-change", false, "the data dir's remote data now lives in the configured tier store and prefix (a deliberate migration: the objects were copied); without it a data dir refuses another store than the one it recorded")
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErrorf("serve: unexpected arguments %q", pos)
	}

	flagProps := map[string]string{}
	for _, kv := range []struct{ key, val string }{
		{"listeners", *listeners}, {"advertised.listeners", *advertised},
		{"log.dirs", *logDirs}, {"node.id", *nodeID},
	} {
		if kv.val != "" {
			flagProps[kv.key] = kv.val
		}
	}
	for _, a := range []string{*metricsAddr, *adminAddr} { // --admin-addr wins; --set wins over both
		if a != "" {
			flagProps["strata.admin.listener"] = a
		}
	}
	for _, k := range sets.keys {
		flagProps[k] = sets.vals[k]
	}
	props, ignoredEnv, err := gatherServeProps(*configPath, os.Environ(), flagProps)
	if err != nil {
		return err
	}
	if err := checkConfigKeys(props); err != nil {
		return err
	}
	if *printConfig {
		for _, line := range redacted(props) {
			fmt.Fprintln(s.out, line)
		}
		return nil
	}
	logger, err := newLogger(s.err, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	for _, k := range ignoredEnv {
		logger.Warn("ignoring environment variable that names no configuration key", "key", k)
	}
	props, adminProps := splitAdminProps(props)
	ac, err := parseAdminConfig(adminProps)
	if err != nil {
		return err
	}
	brokerProps, tierProps := splitTierProps(props)
	tc, err := parseTierConfig(tierProps, dataDirOf(brokerProps))
	if err != nil {
		return err
	}
	brokerProps, clusterProps := splitClusterProps(brokerProps)
	cc, err := parseClusterConfig(brokerProps, clusterProps, dataDirOf(brokerProps))
	if err != nil {
		return err
	}
	// Every configuration mistake is reported before the first log line or listener.
	if _, err := broker.ParseConfig(brokerProps); err != nil {
		return err
	}
	// A second broker on the data dir is refused before it logs or opens anything.
	lock, err := broker.LockDataDir(dataDirOf(brokerProps))
	if err != nil {
		return err
	}
	return serve(ctx, serveOptions{props: brokerProps, tier: tc, admin: ac, cluster: cc, logger: logger, acceptStoreChange: *acceptStoreChange, dirLock: lock})
}

// serve runs the broker until ctx is done (SIGINT/SIGTERM), then shuts it down gracefully.
func serve(ctx context.Context, o serveOptions) error {
	logger := o.logger
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	logger.Info("starting strata", "version", version, "config", strings.Join(redacted(o.props), " "),
		"tier_store", o.tier.Store)

	// The broker releases the lock on Close (or when it fails to start); this covers the
	// paths that never reach it. Release is idempotent.
	defer o.dirLock.Release()
	adm, err := startAdmin(o.admin, reg, logger)
	if err != nil {
		return err
	}
	if adm != nil {
		defer adm.Close()
	}

	member, err := startClusterMember(o.cluster, logger, reg) // nil unless process.roles asks for a cluster
	if err != nil {
		return err
	}
	defer member.Stop()
	if member != nil && !o.cluster.Quorum.Broker {
		// process.roles=controller: the quorum only, no Kafka listener (cluster.go).
		logger.Info("controller only: serving the metadata quorum, no broker")
		<-ctx.Done()
		logger.Info("strata stopped")
		return nil
	}

	store, closeStore, err := buildObjectStore(ctx, o.tier, logger, reg)
	if err != nil {
		return fmt.Errorf("cannot open tier store %q: %w", o.tier.Store, err)
	}
	defer closeStore()
	if store != nil {
		store = storewrap.Metrics(store, reg) // strata_remote_requests_total, _request_duration_seconds, _bytes_total
	}

	err = runBroker(ctx, brokerParams{
		props:            o.props,
		store:            store,
		prefix:           o.tier.Prefix,
		storeID:          o.tier.storeID(dataDirOf(o.props)),
		lockMode:         o.tier.S3.ObjectLockMode,
		lockUnlimited:    o.tier.S3.ObjectLockUnlimited,
		allowStoreChange: o.acceptStoreChange,
		dirLock:          o.dirLock,
		logger:           logger,
		registry:         reg,
		onOpen: func(b *broker.Broker) {
			attachAdmin(adm, o.admin, reg, b, logger)
			member.brokerStarted(ctx, b)
		},
	})
	if err != nil {
		if worded, ok := bucketProblem(o.tier, err); ok && store != nil {
			return worded // e.g. a restore onto an empty data dir from a bucket that does not exist
		}
		return err
	}
	logger.Info("strata stopped")
	return nil
}

// checkConfigKeys rejects keys that name nothing, with the nearest known key for a typo.
func checkConfigKeys(props map[string]string) error {
	var errs []error
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if knownConfigKey(k) || strings.HasPrefix(k, "listener.name.") {
			continue
		}
		msg := fmt.Sprintf("unknown config key %q", k)
		if c := broker.ClosestName(k, allConfigKeyNames()); c != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", c)
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

// allConfigKeyNames lists every key strata serve accepts.
func allConfigKeyNames() []string {
	var out []string
	for _, k := range broker.ConfigKeys() {
		out = append(out, k.Name)
	}
	for k := range tierKeys {
		out = append(out, k)
	}
	for k := range adminKeys {
		out = append(out, k)
	}
	for k := range clusterKeys {
		out = append(out, k)
	}
	return out
}
