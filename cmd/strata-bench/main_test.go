package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/test/miniotest"
)

// The child broker is this test binary started again with "child" as its first argument.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		if err := runChild(os.Args[2:]); err != nil {
			os.Stderr.WriteString("child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmoke runs every phase once at tiny sizes and checks that each one reported a number
// (the numbers themselves are never judged). NATS runs when bin/nats-server exists.
func TestSmoke(t *testing.T) {
	root, err := miniotest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	o := options{
		rounds: 1, mib: 1, coldMiB: 4, recordSize: 1024,
		latencyDur: 300 * time.Millisecond, latencyRate: 200,
		diskMiB: 4, tcpMiB: 16, s3Sizes: []int64{1 << 20},
		out: t.TempDir(), natsBin: filepath.Join(root, "bin", "nats-server"),
		segmentBytes: 1 << 20, idlePartitions: 20, idleDur: 300 * time.Millisecond,
		historySizes: []int{10, 300}, historySegments: 300, historySmall: 10, historyMiB: 2, historySegmentBytes: 256 << 10,
		coldPartitions: []int{2}, rssPartitions: []int{3},
	}
	// Apache Kafka (kafkapeer.go) when make jvm-tools has run (make test runs it first).
	kafka := kafkaTools(filepath.Join(root, "test", "java")) == nil
	if kafka {
		o.kafkaJavaDir, o.kafkaHeap = filepath.Join(root, "test", "java"), "-Xmx512M -Xms512M"
	} else {
		t.Log("no Kafka jars or java: the Apache Kafka peer is not smoke-tested")
	}
	var out bytes.Buffer
	if err := run(t.Context(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		`"target":"limit","metric":"disk write, fdatasync per MiB"`,
		`"target":"strata","metric":"produce 8p acks=-1"`,
		`"target":"kfake","metric":"hot consume 8p"`,
		`"target":"strata","metric":"cold consume 1p (MinIO, empty cache)"`,
		`"target":"strata","metric":"cold 2nd concurrent consumer: extra GET bytes"`,
		`"target":"strata","metric":"cold consume 2p (MinIO, empty cache)"`,
		`"target":"limit","metric":"raw GET of the cold topic's segments, 2 streams (2p)"`,
		`"target":"strata","metric":"cold replay 3p, cache 4 MiB: broker peak RSS"`,
		`"metric":"idle CPU with 20 partitions"`,
		`"target":"strata","metric":"history 300 segments: upload wall time per segment"`,
		"| history 300/10 segments: start-up to first acks=-1 produce |",
		`"target":"strata","metric":"history 300 segments: ListOffsets by timestamp into old data"`,
		`"target":"strata","metric":"history 300 segments: seek into old data: first record"`,
		`"target":"strata","metric":"history 300 segments: hash chain check of all entries (in-process)"`,
		"| target | ratio | wanted | met |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s", want)
		}
	}
	if kafka {
		for _, want := range []string{
			`"target":"kafka","metric":"produce 8p acks=-1"`,
			`"target":"kafka","metric":"hot consume 8p: MB per broker CPU-second"`,
			`"target":"kafka","metric":"idle RSS after start"`,
			`"target":"kafka","metric":"kafka-producer-perf-test 8p acks=all"`,
			`"target":"strata","metric":"kafka-consumer-perf-test 8p"`,
			`"target":"strata","metric":"produce-8p-acks-1: broker RSS peak (VmHWM)"`,
			"| durable produce 8p (acks=-1) vs Apache Kafka |",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %s", want)
			}
		}
	}
	profs, _ := filepath.Glob(filepath.Join(o.out, "pprof", "r1-*.cpu.pprof"))
	if len(profs) < 8 {
		t.Errorf("%d CPU profiles, want one per Strata phase: %v", len(profs), profs)
	}
	if t.Failed() {
		t.Log(out.String())
	}
}
