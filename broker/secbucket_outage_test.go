package broker

import (
	"testing"

	"github.com/strata-io/strata/tiering/memstore"
	"github.com/strata-io/strata/tiering/storewrap"
)

// A broker restarting on its existing data dir during a bucket outage starts (users and
// ACLs that were never created need nothing from the bucket); a broker on an empty data
// dir, which must restore them from the bucket, does not start without it.
func TestSecurityFilesDuringBucketOutage(t *testing.T) {
	store := storewrap.Faulty(memstore.New(), storewrap.FaultConfig{})
	open := func(dir string) (*Broker, error) {
		cfg, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir,
			"authorizer.class.name": "strata"})
		if err != nil {
			t.Fatal(err)
		}
		cfg.RemoteStore = store
		return New(cfg)
	}
	dir := t.TempDir()
	b, err := open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	store.SetDown(true)
	b, err = open(dir)
	if err != nil {
		t.Fatalf("restart during a bucket outage: %v", err)
	}
	b.Close()
	if b, err := open(t.TempDir()); err == nil {
		b.Close()
		t.Fatal("a broker on an empty data dir started without reading the bucket")
	}
}
