package s3store_test

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering/objstoretest"
)

// TestSoakLongOutage (STRATA_SOAK=1, `make soak`): MinIO is down for 90 s while small and
// multipart Puts are in flight; all of them block and then succeed with the right bytes.
func TestSoakLongOutage(t *testing.T) {
	if os.Getenv("STRATA_SOAK") == "" {
		t.Skip("set STRATA_SOAK=1 to run")
	}
	const outage = 90 * time.Second
	m := miniotest.Start(t)
	cfg := storeConfig(m, m.Bucket)
	cfg.RetryMaxDelay = 2 * time.Second
	st := newStore(t, cfg)
	objstoretest.Put(t, st, "warm", []byte("x"))
	m.Stop()
	sizes := []int64{10, 1 << 20, 12 << 20, 100, 6 << 20}
	var wg sync.WaitGroup
	errs := make([]error, len(sizes))
	finished := make([]time.Time, len(sizes))
	for i, size := range sizes {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte(i + 1)}, int(size))
			errs[i] = st.Put(t.Context(), fmt.Sprintf("soak/%d", i), bytes.NewReader(data), size)
			finished[i] = time.Now()
		})
	}
	time.Sleep(outage)
	restarted := time.Now()
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, size := range sizes {
		if errs[i] != nil {
			t.Fatalf("put %d (%d bytes): %v", i, size, errs[i])
		}
		if finished[i].Before(restarted) {
			t.Fatalf("put %d finished during the outage", i)
		}
		got := objstoretest.Get(t, st, fmt.Sprintf("soak/%d", i))
		if !bytes.Equal(got, bytes.Repeat([]byte{byte(i + 1)}, int(size))) {
			t.Fatalf("put %d: wrong content after the outage", i)
		}
		t.Logf("put %d (%d bytes) done %v after the restart", i, size, finished[i].Sub(restarted).Round(time.Millisecond))
	}
}
