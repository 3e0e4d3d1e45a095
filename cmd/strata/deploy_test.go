package main

// Static checks of the deployment examples (CI has no Docker engine): the YAML and JSON
// parse, every command line in compose.yaml, strata.service and the Dockerfile is accepted
// by the binary's own flag parsing with the example server.properties, the environment
// variables name real keys, Prometheus scrapes the admin port the broker listens on, and
// every metric the Grafana dashboard queries exists in a scrape of a live broker.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"
)

const deployDir = "../../deploy"

// checkCommandLine runs a strata command line from a deployment file with --print-config:
// flag parsing and the configuration file must be accepted, and every resulting key must
// be known. paths maps container paths to files in the repository.
func checkCommandLine(t *testing.T, where string, args []string, paths map[string]string) map[string]string {
	t.Helper()
	if len(args) == 0 {
		t.Fatalf("%s: empty command", where)
	}
	if _, ok := commands[args[0]]; !ok || args[0] != "serve" {
		t.Fatalf("%s: command %q, want serve", where, args[0])
	}
	var mapped []string
	for _, a := range args {
		if p, ok := paths[a]; ok {
			a = p
		}
		mapped = append(mapped, a)
	}
	var out, errOut bytes.Buffer
	err := dispatch(t.Context(), streams{in: strings.NewReader(""), out: &out, err: &errOut}, append(mapped, "--print-config"))
	if err != nil {
		t.Fatalf("%s: strata %s: %v\n%s", where, strings.Join(args, " "), err, errOut.String())
	}
	props := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if !knownConfigKey(k) {
			t.Errorf("%s: unknown configuration key %q", where, k)
		}
		props[k] = v
	}
	// The configuration as a whole must be valid too.
	props2, adminProps := splitAdminProps(props)
	if _, err := parseAdminConfig(adminProps); err != nil {
		t.Errorf("%s: %v", where, err)
	}
	brokerProps, tierProps := splitTierProps(props2)
	if _, err := parseTierConfig(tierProps, dataDirOf(brokerProps)); err != nil {
		t.Errorf("%s: %v", where, err)
	}
	return props
}

func TestDeployCompose(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			Build       *struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, want := range []string{"strata", "minio", "createbucket", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("compose.yaml has no service %q", want)
		}
	}
	s := c.Services["strata"]
	if s.Build == nil {
		t.Fatal("strata service is not built from the repository")
	}
	if _, err := os.Stat(filepath.Join(deployDir, s.Build.Context, s.Build.Dockerfile)); err != nil {
		t.Errorf("strata build: %v", err)
	}
	paths := map[string]string{}
	for _, v := range append(s.Volumes, c.Services["prometheus"].Volumes...) {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		if strings.HasPrefix(src, "./") {
			if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
				t.Errorf("volume %q: %v", v, err)
			}
			paths[dst] = filepath.Join(deployDir, src)
		}
	}
	for _, v := range c.Services["grafana"].Volumes {
		src, _, _ := strings.Cut(v, ":")
		if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
			t.Errorf("grafana volume %q: %v", v, err)
		}
	}
	for k, v := range s.Environment {
		t.Setenv(k, v)
		for key := range propsFromEnv([]string{k + "=" + v}) {
			if !knownConfigKey(key) {
				t.Errorf("compose environment %s names no configuration key (%s)", k, key)
			}
		}
	}
	props := checkCommandLine(t, "compose.yaml strata", s.Command, paths)
	for k, want := range map[string]string{
		"strata.tier.store": "s3", "strata.tier.s3.bucket": "strata", "strata.tier.s3.endpoint": "http://minio:9000",
		"strata.admin.listener": "0.0.0.0:9644", "strata.tier.s3.access.key": "***",
	} {
		if got := props[k]; got != want && !(want == "***" && got != "") {
			t.Errorf("compose strata config %s=%q, want %q", k, got, want)
		}
	}
	if !strings.Contains(strings.Join(c.Services["createbucket"].Command, " "), "mb --ignore-existing local/"+props["strata.tier.s3.bucket"]) {
		t.Errorf("createbucket does not create bucket %q", props["strata.tier.s3.bucket"])
	}
	if !contains(s.Ports, "9644:9644") || !contains(s.Ports, "9092:9092") {
		t.Errorf("strata ports %v", s.Ports)
	}

	// Prometheus scrapes the admin listener of the "strata" service.
	raw, err = os.ReadFile(filepath.Join(deployDir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &pc); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if len(pc.ScrapeConfigs) == 0 || pc.ScrapeConfigs[0].MetricsPath != "/metrics" || len(pc.ScrapeConfigs[0].StaticConfigs) == 0 ||
		!contains(pc.ScrapeConfigs[0].StaticConfigs[0].Targets, "strata:9644") {
		t.Errorf("prometheus.yml does not scrape strata:9644/metrics: %+v", pc)
	}
	for _, f := range []string{"grafana/provisioning/datasources/prometheus.yaml", "grafana/provisioning/dashboards/strata.yaml"} {
		raw, err := os.ReadFile(filepath.Join(deployDir, f))
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(raw, &v); err != nil || v["apiVersion"] == nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDeploySystemdAndDockerfile(t *testing.T) {
	paths := map[string]string{"/etc/strata/server.properties": filepath.Join(deployDir, "server.properties")}

	raw, err := os.ReadFile(filepath.Join(deployDir, "strata.service"))
	if err != nil {
		t.Fatal(err)
	}
	var exec []string
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			exec = strings.Fields(rest)
		}
	}
	if len(exec) < 2 || exec[0] != "/usr/local/bin/strata" {
		t.Fatalf("strata.service ExecStart %q", exec)
	}
	checkCommandLine(t, "strata.service", exec[1:], paths)

	raw, err = os.ReadFile(filepath.Join(deployDir, "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var entry, cmd []string
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
			if err := json.Unmarshal([]byte(rest), &entry); err != nil {
				t.Fatalf("Dockerfile ENTRYPOINT: %v", err)
			}
		}
		if rest, ok := strings.CutPrefix(line, "CMD "); ok {
			if err := json.Unmarshal([]byte(rest), &cmd); err != nil {
				t.Fatalf("Dockerfile CMD: %v", err)
			}
		}
	}
	if len(entry) != 1 || entry[0] != "/usr/local/bin/strata" {
		t.Fatalf("Dockerfile ENTRYPOINT %q", entry)
	}
	props := checkCommandLine(t, "Dockerfile", cmd, paths)
	if props["strata.admin.listener"] != "0.0.0.0:9644" {
		t.Errorf("Dockerfile: admin listener %q, want 0.0.0.0:9644 (reachable from outside the container)", props["strata.admin.listener"])
	}
	if !strings.Contains(string(raw), "go build") || !strings.Contains(string(raw), "./cmd/strata") || !strings.Contains(string(raw), "CGO_ENABLED=0") {
		t.Error("Dockerfile does not build the static ./cmd/strata binary")
	}
}

// TestDeployDashboardMetricsExist scrapes a live `strata serve` after some traffic and
// checks every metric the Grafana dashboard queries.
func TestDeployDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "grafana", "strata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("strata.json: %v", err)
	}
	if dash["title"] != "Strata" || dash["uid"] == nil {
		t.Fatalf("strata.json: title %v uid %v", dash["title"], dash["uid"])
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				if s, ok := vv.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(vv)
			}
		case []any:
			for _, vv := range x {
				walk(vv)
			}
		}
	}
	walk(dash["panels"])
	if len(exprs) < 15 {
		t.Fatalf("dashboard has %d queries", len(exprs))
	}
	nameRe := regexp.MustCompile(`\b((?:strata|process|go)_[a-z0-9_]+)\b`)
	want := map[string]bool{}
	for _, e := range exprs {
		for _, m := range nameRe.FindAllStringSubmatch(e, -1) {
			want[m[1]] = true
		}
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs},
			[]string{"serve", "--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", filepath.Join(dir, "data"),
				"--admin-addr", "127.0.0.1:0", "--set", "log.segment.bytes=2048", "--set", "strata.metrics.partition.labels=true",
				"--set", "log.local.retention.bytes=1", "--set", "log.retention.check.interval.ms=100"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addr := waitListening(t, logs, done)
	m := regexp.MustCompile(`msg="serving metrics" addr=([0-9.]+:[0-9]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no admin address in the logs:\n%s", logs)
	}
	metricsURL := "http://" + m[1] + "/metrics"

	// Traffic: produce (acks=-1), consume, a group commit, an error response.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("dash"), kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(1024), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dash"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "dashboard-%04d-%s", i, strings.Repeat("q", 50))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopics(ctx, "no-such-topic"); err != nil {
		t.Logf("delete unknown topic: %v", err)
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "dash", Partition: 0, At: 50, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "dash-group", os); err != nil {
		t.Fatal(err)
	}
	consumeAll := func() {
		ccl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"dash": {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		for n := 0; n < 200 && pctx.Err() == nil; {
			n += len(ccl.PollFetches(pctx).Records())
		}
		pcancel()
		ccl.Close()
	}
	consumeAll()
	var missing []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		have := scrapeNames(t, metricsURL)
		missing = missing[:0]
		for n := range want {
			if !have[n] && !have[n+"_total"] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		// Read everything again: once segments left the local disk, from the bucket
		// (remote fetch, cache and object store metrics).
		consumeAll()
		time.Sleep(200 * time.Millisecond) // uploads of the rolled segments are asynchronous
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("dashboard queries metrics a live broker does not export: %v", missing)
	}
	t.Logf("%d dashboard metrics found in the scrape", len(want))
}

// scrapeNames returns the sample names in a Prometheus text exposition.
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}
