package main

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/admin"
	"github.com/strata-io/strata/broker"
)

// adminKeys documents the keys of the admin listener (strata.admin.*) and of the broker
// metrics switches (strata.metrics.*); cmd/strata handles them, the broker never sees them.
var adminKeys = map[string]struct{ def, doc string }{
	"strata.admin.listener":                      {admin.DefaultAddr, "address of the admin HTTP listener (/metrics, /healthz, /readyz, console); empty or `off` disables it"},
	"strata.admin.readiness.backlog.bytes":       {"1073741824", "/readyz is degraded when sealed local bytes not yet uploaded exceed this; -1 = never"},
	"strata.admin.readiness.min.free.disk.ratio": {"0.05", "/readyz is degraded when the data dir's filesystem has less free space than this fraction"},
	"strata.metrics.partition.labels":            {"false", "label partition metrics and group lag per partition (true) instead of per topic; many partitions make many series"},
}

// adminConfig is the parsed strata.admin.* / strata.metrics.* configuration.
type adminConfig struct {
	Addr         string // "" = off
	explicit     bool   // Addr was configured (a bind failure is then fatal)
	BacklogBytes int64
	MinFreeRatio float64
	PerPartition bool
}

func isAdminKey(k string) bool {
	_, ok := adminKeys[k]
	return ok
}

// splitAdminProps removes strata.admin.* and strata.metrics.* keys from props.
func splitAdminProps(props map[string]string) (rest, adm map[string]string) {
	rest, adm = map[string]string{}, map[string]string{}
	for k, v := range props {
		if strings.HasPrefix(k, "strata.admin.") || strings.HasPrefix(k, "strata.metrics.") {
			adm[k] = v
		} else {
			rest[k] = v
		}
	}
	return rest, adm
}

func parseAdminConfig(p map[string]string) (adminConfig, error) {
	var unknown []string
	for k := range p {
		if !isAdminKey(k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return adminConfig{}, fmt.Errorf("unknown config keys: %s", strings.Join(unknown, ", "))
	}
	c := adminConfig{Addr: admin.DefaultAddr, BacklogBytes: 1 << 30, MinFreeRatio: 0.05}
	if v, ok := p["strata.admin.listener"]; ok {
		c.explicit = true
		c.Addr = strings.TrimSpace(v)
		if c.Addr == "off" {
			c.Addr = ""
		}
	}
	if v, ok := p["strata.admin.readiness.backlog.bytes"]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < -1 || n == 0 {
			return adminConfig{}, fmt.Errorf("strata.admin.readiness.backlog.bytes: want a positive number of bytes or -1, got %q", v)
		}
		c.BacklogBytes = n
	}
	if v, ok := p["strata.admin.readiness.min.free.disk.ratio"]; ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 || f >= 1 {
			return adminConfig{}, fmt.Errorf("strata.admin.readiness.min.free.disk.ratio: want a fraction in (0, 1), got %q", v)
		}
		c.MinFreeRatio = f
	}
	if v, ok := p["strata.metrics.partition.labels"]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return adminConfig{}, fmt.Errorf("strata.metrics.partition.labels: want true or false, got %q", v)
		}
		c.PerPartition = b
	}
	return c, nil
}

// startAdmin starts the admin listener before the broker opens its data dir, so /healthz
// answers during recovery. A default address that is taken only logs a warning (several
// brokers on one host); a configured one that cannot be bound is an error. Returns nil when off.
func startAdmin(c adminConfig, reg *prometheus.Registry, logger *slog.Logger) (*admin.Server, error) {
	if c.Addr == "" {
		return nil, nil
	}
	srv, err := admin.New(admin.Config{Addr: c.Addr, Gatherer: reg, Logger: logger,
		BacklogBytes: c.BacklogBytes, MinFreeDiskRatio: c.MinFreeRatio})
	if err != nil {
		if c.explicit {
			return nil, err
		}
		logger.Warn("admin listener not started: default address unavailable; set strata.admin.listener", "addr", c.Addr, "err", err)
		return nil, nil
	}
	logger.Info("serving metrics", "addr", srv.Addr().String(), "path", "/metrics")
	return srv, nil
}

// attachAdmin registers the broker's state metrics and shows it on the admin listener.
func attachAdmin(srv *admin.Server, c adminConfig, reg prometheus.Registerer, b *broker.Broker, logger *slog.Logger) {
	if reg != nil {
		if err := b.RegisterStateMetrics(reg, broker.StateMetricsOptions{PerPartition: c.PerPartition}); err != nil {
			logger.Warn("cannot register broker state metrics", "err", err)
		}
	}
	if srv != nil {
		srv.SetSource(b)
	}
}

// writeAdminKeys appends the admin keys to the configuration reference table.
func writeAdminKeys(w io.Writer, md func(string) string) {
	names := make([]string, 0, len(adminKeys))
	for k := range adminKeys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "| `%s` | `%s` | %s |\n", k, adminKeys[k].def, md(adminKeys[k].doc))
	}
}
