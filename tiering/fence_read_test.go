package tiering_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Regression (found by test/reliability's faulty-store scenario): a head write whose
// response was lost, followed by a failed read of the head when the retry's precondition
// failed, fenced the partition's own writer for good; its uploads stopped and the backlog
// never drained. A head that cannot be read back is a transient error, not a fence.
func TestLostManifestResponseThenFailedReadDoesNotFence(t *testing.T) {
	ls := &lostResponseStore{faultyStore: &faultyStore{ObjectStore: newMem()}}
	var failHeadGet atomic.Bool
	ls.failGet = func(key string) bool {
		return strings.HasSuffix(key, "manifest.json") && failHeadGet.CompareAndSwap(true, false)
	}
	e := newEnv(t, ls, testConfig())
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 60, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "lostread", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ls.lose.Store(true)
	if err := p.UploadPending(t.Context()); !errors.Is(err, errInjected) {
		t.Fatalf("first pass: %v", err)
	}
	failHeadGet.Store(true) // the read-back after the precondition failure fails once
	if err := p.UploadPending(t.Context()); err == nil || p.Fenced() {
		t.Fatalf("second pass: err %v, fenced %v (want a transient error, not fenced)", err, p.Fenced())
	}
	if failHeadGet.Load() {
		t.Fatal("the head was not read back after the precondition failure")
	}
	for i := 0; i < 3 && !allUploaded(p, l); i++ {
		if err := p.UploadPending(t.Context()); err != nil && !strings.Contains(err.Error(), "reload") {
			t.Fatalf("pass %d: %v", i+3, err)
		}
	}
	if p.Fenced() {
		t.Fatal("fenced")
	}
	if !allUploaded(p, l) {
		t.Fatal("not every sealed segment was uploaded")
	}
	if n, m := len(p.Entries()), len(sealed(l)); n != m {
		t.Fatalf("%d manifest entries for %d segments", n, m)
	}
}

func allUploaded(p *tiering.RemotePartition, l *segment.Log) bool {
	for _, s := range sealed(l) {
		if !p.Uploaded(s) {
			return false
		}
	}
	return true
}
