package main

import (
	"maps"
	"reflect"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	f := func(in string, want map[string]string) {
		t.Helper()
		got, err := parseProperties(strings.NewReader(in))
		if err != nil {
			t.Fatalf("parseProperties(%q): %v", in, err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("parseProperties(%q)\n got %v\nwant %v", in, got, want)
		}
	}
	f("", map[string]string{})
	f("# comment\n! also comment\n\n   \n", map[string]string{})
	f("a=b", map[string]string{"a": "b"})
	f("a = b \n", map[string]string{"a": "b "})
	f("  log.dirs=/var/lib/strata\r\n", map[string]string{"log.dirs": "/var/lib/strata"})
	f("a:b\nc d\ne", map[string]string{"a": "b", "c": "d", "e": ""})
	f("a=b=c", map[string]string{"a": "b=c"})
	f("a=1\na=2", map[string]string{"a": "2"})
	f("listeners=PLAINTEXT://127.0.0.1:9092,\\\n    CONTROLLER://127.0.0.1:9093\n", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"})
	f("a=x\\\\\nb=y", map[string]string{"a": `x\`, "b": "y"})
	f("a=x\\\n", map[string]string{"a": "x"})
	f(`k\=ey=v\tw\u0041`, map[string]string{"k=ey": "v\twA"})
	f("# a=b\nc=d # not a comment", map[string]string{"c": "d # not a comment"})

	bad := []string{`a=\u00`, `a=\uZZZZ`}
	for _, in := range bad {
		if _, err := parseProperties(strings.NewReader(in)); err == nil {
			t.Errorf("parseProperties(%q): want error", in)
		}
	}
}

func TestEnvKey(t *testing.T) {
	f := func(name, want string, wantOK bool) {
		t.Helper()
		got, ok := envKey(name)
		if got != want || ok != wantOK {
			t.Fatalf("envKey(%q) = %q, %v; want %q, %v", name, got, ok, want, wantOK)
		}
	}
	f("STRATA_LOG_DIRS", "log.dirs", true)
	f("STRATA_NODE_ID", "node.id", true)
	f("STRATA_TIER_STORE", "strata.tier.store", true)
	f("STRATA_STRATA_TIER_S3_BUCKET", "strata.tier.s3.bucket", true)
	f("STRATA_TIER_S3_SECRET_KEY", "strata.tier.s3.secret.key", true)
	f("STRATA_SOAK", "", false)
	f("STRATA_BROKERS", "", false)
	f("STRATA_", "", false)
	f("KAFKA_LOG_DIRS", "", false)
	f("STRATA_log_dirs", "", false)
}

func TestPropsFromEnvAndMerge(t *testing.T) {
	env := []string{"PATH=/bin", "STRATA_LOG_DIRS=/env", "STRATA_NUM_PARTITIONS=3", "STRATA_TIER_STORE=none", "STRATA_SOAK=1"}
	got := propsFromEnv(env)
	want := map[string]string{"log.dirs": "/env", "num.partitions": "3", "strata.tier.store": "none"}
	if !maps.Equal(got, want) {
		t.Fatalf("propsFromEnv = %v, want %v", got, want)
	}
	file := map[string]string{"log.dirs": "/file", "num.partitions": "2", "node.id": "7"}
	flags := map[string]string{"num.partitions": "5"}
	merged := mergeProps(file, got, flags)
	want = map[string]string{"log.dirs": "/env", "num.partitions": "5", "node.id": "7", "strata.tier.store": "none"}
	if !maps.Equal(merged, want) {
		t.Fatalf("mergeProps = %v, want %v", merged, want)
	}
}

func TestRedacted(t *testing.T) {
	got := redacted(map[string]string{
		"strata.tier.s3.secret.key": "hunter2",
		"strata.tier.s3.access.key": "AKIA",
		"strata.tier.s3.bucket":     "b",
		"sasl.jaas.config":          "x",
		"log.dirs":                  "/d",
	})
	want := []string{
		"log.dirs=/d",
		"sasl.jaas.config=[redacted]",
		"strata.tier.s3.access.key=[redacted]",
		"strata.tier.s3.bucket=b",
		"strata.tier.s3.secret.key=[redacted]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("redacted = %q, want %q", got, want)
	}
	for _, line := range got {
		if strings.Contains(line, "hunter2") {
			t.Fatal("secret leaked")
		}
	}
}

func TestKVFlag(t *testing.T) {
	var f kvFlag
	for _, s := range []string{"a=1", "b=x=y", "a=2", "c="} {
		if err := f.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(f.keys, []string{"a", "b", "c"}) {
		t.Fatalf("keys %v", f.keys)
	}
	if want := map[string]string{"a": "2", "b": "x=y", "c": ""}; !maps.Equal(f.vals, want) {
		t.Fatalf("vals %v", f.vals)
	}
	for _, s := range []string{"a", "=1", ""} {
		if err := f.Set(s); err == nil {
			t.Errorf("Set(%q): want error", s)
		}
	}
}

func TestParseTierConfig(t *testing.T) {
	tc, err := parseTierConfig(map[string]string{}, "/data")
	if err != nil || tc.Store != "fs" || tc.FSDir != "/data/tier" {
		t.Fatalf("defaults: %+v, %v", tc, err)
	}
	tc, err = parseTierConfig(map[string]string{
		"strata.tier.store":         "s3",
		"strata.tier.s3.bucket":     "b",
		"strata.tier.s3.endpoint":   "http://127.0.0.1:9000",
		"strata.tier.s3.path.style": "true",
		"strata.tier.s3.access.key": "ak",
		"strata.tier.s3.secret.key": "sk",
		"strata.tier.prefix":        "p/",
	}, "/data")
	if err != nil {
		t.Fatal(err)
	}
	want := tierConfig{Store: "s3", Prefix: "p/", S3: s3Config{Bucket: "b", Endpoint: "http://127.0.0.1:9000",
		Region: "us-east-1", PathStyle: true, AccessKey: "ak", SecretKey: "sk"}}
	if !reflect.DeepEqual(tc, want) {
		t.Fatalf("got %+v\nwant %+v", tc, want)
	}
	bad := []map[string]string{
		{"strata.tier.store": "gcs"},
		{"strata.tier.store": "s3"},
		{"strata.tier.store": "s3", "strata.tier.s3.bucket": "b", "strata.tier.s3.access.key": "x"},
		{"strata.tier.store": "s3", "strata.tier.s3.bucket": "b", "strata.tier.s3.sse": "rot13"},
		{"strata.tier.store": "s3", "strata.tier.s3.bucket": "b", "strata.tier.s3.sse.kms.key.id": "k"},
		{"strata.tier.s3.path.style": "yes please"},
		{"strata.tier.bogus": "1"},
	}
	for _, m := range bad {
		if _, err := parseTierConfig(m, "/data"); err == nil {
			t.Errorf("parseTierConfig(%v): want error", m)
		}
	}
}

func TestSplitTierProps(t *testing.T) {
	b, tr := splitTierProps(map[string]string{"log.dirs": "d", "strata.tier.store": "none"})
	if !maps.Equal(b, map[string]string{"log.dirs": "d"}) || !maps.Equal(tr, map[string]string{"strata.tier.store": "none"}) {
		t.Fatalf("split: %v %v", b, tr)
	}
}

func TestDataDirOf(t *testing.T) {
	f := func(props map[string]string, want string) {
		t.Helper()
		if got := dataDirOf(props); got != want {
			t.Fatalf("dataDirOf(%v) = %q, want %q", props, got, want)
		}
	}
	f(nil, "data")
	f(map[string]string{"log.dirs": "/a, /b"}, "/a")
	f(map[string]string{"log.dir": "/c"}, "/c")
}
