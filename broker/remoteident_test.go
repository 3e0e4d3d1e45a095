package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// identBroker opens a broker on dir with store (nil: none) identified as storeID.
func identBroker(t *testing.T, dir string, store tiering.ObjectStore, storeID, prefix string, allowChange bool) (*Broker, error) {
	t.Helper()
	bc, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir,
		"log.remote.storage.enable": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if store != nil {
		bc.RemoteStore = store
	} else {
		bc.LogRemoteStorageEnable = false
	}
	bc.RemoteStoreID, bc.RemotePrefix, bc.RemoteStoreChangeAllowed = storeID, prefix, allowChange
	return New(bc)
}

// Issue 14: the quickstart's fs store, then the MinIO section on the same data dir, moved
// the log start of a tiered topic from 0 to 4,810 without a word. Another store or prefix
// under an existing data dir is refused, naming both; "none" to a store is allowed, and so
// is a change the operator asks for.
func TestRemoteStoreChangeRefused(t *testing.T) {
	dir := t.TempDir()
	a, other := memstore.New(), memstore.New()
	b, err := identBroker(t, dir, a, "fs:data/tier", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.createTopic("tiered", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	b.Close()

	for _, tc := range []struct {
		name, id, prefix string
		store            tiering.ObjectStore
		want             string
	}{
		{"other store", "s3://strata at http://127.0.0.1:9000", "", other, `configured with s3://strata at http://127.0.0.1:9000`},
		{"other prefix", "fs:data/tier", "p1", a, `fs:data/tier with prefix "p1"`},
		{"no store", "none", "", nil, "configured with none"},
	} {
		_, err := identBroker(t, dir, tc.store, tc.id, tc.prefix, false)
		if err == nil {
			t.Fatalf("%s: broker started", tc.name)
		}
		msg := err.Error()
		if !strings.Contains(msg, "keeps its remote data in fs:data/tier,") || !strings.Contains(msg, tc.want) ||
			!strings.Contains(msg, "--accept-tier-store-change") {
			t.Fatalf("%s: error %q does not name both stores and the override", tc.name, msg)
		}
	}
	// The refused starts left the record alone; the same store still starts.
	b, err = identBroker(t, dir, a, "fs:data/tier", "", false)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	// A deliberate migration is recorded.
	b, err = identBroker(t, dir, other, "s3://strata", "", true)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := identBroker(t, dir, a, "fs:data/tier", "", false); err == nil || !strings.Contains(err.Error(), "keeps its remote data in s3://strata,") {
		t.Fatalf("after the migration: err = %v", err)
	}

	// A data dir that never tiered may start tiering.
	dir2 := t.TempDir()
	if b, err = identBroker(t, dir2, nil, "none", "", false); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if b, err = identBroker(t, dir2, memstore.New(), "fs:x", "", false); err != nil {
		t.Fatalf("none -> store: %v", err)
	}
	b.Close()
	data, _ := os.ReadFile(filepath.Join(dir2, metaDirName, remoteStoreFileName))
	if !strings.Contains(string(data), `"store":"fs:x"`) {
		t.Fatalf("record after none -> fs:x: %s", data)
	}
}

// Issue 14: two brokers sharing one bucket prefix. The second refuses to start while the
// first heartbeats (an empty data dir would otherwise restore the first one's topics and
// write the same partitions); a data dir of another cluster is refused always; after a clean
// stop (released) or a missed heartbeat (disk lost) another data dir takes over, adopting the
// cluster id, and the old owner, if it comes back, is fenced.
func TestBucketPrefixOwner(t *testing.T) {
	defer func(d time.Duration) { bucketOwnerHeartbeat = d }(bucketOwnerHeartbeat)
	bucketOwnerHeartbeat = time.Hour // no heartbeat writes unless the test says so
	mem := memstore.New()
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	const id = "s3://shared"

	a, err := identBroker(t, dirA, mem, id, "pre", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.createTopic("orders", 2, nil, false); err != nil {
		t.Fatal(err)
	}
	// An empty data dir on the same prefix while A runs: refused, naming A.
	_, err = identBroker(t, dirB, mem, id, "pre", false)
	if !errors.Is(err, errPrefixTaken) || !strings.Contains(err.Error(), "in use by another strata broker") ||
		!strings.Contains(err.Error(), dirA) {
		t.Fatalf("second broker on the prefix: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dirB, metaDirName, topicsFileName)); err == nil {
		t.Fatal("the refused broker restored the topics")
	}
	// Another cluster's data dir (it has topics) on the prefix: refused.
	c, err := identBroker(t, dirC, mem, id, "", false)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = identBroker(t, dirC, mem, id, "pre", true)
	if !errors.Is(err, errPrefixTaken) || !strings.Contains(err.Error(), "belongs to cluster "+a.ClusterID()) {
		t.Fatalf("other cluster: err = %v", err)
	}
	// A restarts on its own data dir at once (the lock proves the previous run dead).
	a.Close()
	dirB2 := t.TempDir()
	bucketOwnerHeartbeat = 20 * time.Millisecond
	a, err = identBroker(t, dirA, mem, id, "pre", false)
	if err != nil {
		t.Fatalf("restart of the owner: %v", err)
	}

	// A stops heartbeating (simulated: it does not Run, so its heartbeat grows older than
	// three beats): B, on an empty data dir, takes over and restores A's topics in A's cluster.
	time.Sleep(4 * bucketOwnerHeartbeat)
	b, err := identBroker(t, dirB2, mem, id, "pre", false)
	if err != nil {
		t.Fatalf("takeover of a stale prefix: %v", err)
	}
	defer b.Close()
	if b.ClusterID() != a.ClusterID() || b.lookupTopic("orders") == nil {
		t.Fatalf("restore: cluster %s (want %s), topic orders %v", b.ClusterID(), a.ClusterID(), b.lookupTopic("orders"))
	}
	// A's next heartbeat finds B's record: A fences its tier.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rp, ok := a.tier.Partition("orders", 0)
		if ok && rp.Fenced() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old owner did not fence its tier")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	a.Close()
	// B still owns the prefix; A, restarted, is refused.
	bucketOwnerHeartbeat = time.Hour
	if _, err := identBroker(t, dirA, mem, id, "pre", false); !errors.Is(err, errPrefixTaken) {
		t.Fatalf("old owner restarted while the new one runs: err = %v", err)
	}
	// B stops cleanly and releases the prefix: A may take it back at once.
	b.Close()
	a, err = identBroker(t, dirA, mem, id, "pre", false)
	if err != nil {
		t.Fatalf("after a clean stop of the owner: %v", err)
	}
	a.Close()
}
