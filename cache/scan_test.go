package cache

import (
	"context"
	"testing"
)

// A full cache must not make a sequential reader fetch a chunk again while it reads it
// piecewise (ristretto alone rejects newcomers seen less often than its residents).
func TestScanOfFullCacheLoadsEachChunkOnce(t *testing.T) {
	c := newCache(t, Config{MaxBytes: 1 << 20})
	loads := 0
	for i := range 200 {
		for range 50 { // one reader touching its chunk once per batch
			_, err := c.Chunk(t.Context(), "seg", int64(i), func(context.Context) ([]byte, error) {
				loads++
				return make([]byte, 64<<10), nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if used, _ := c.Bytes(); used > 1<<20 {
			t.Fatalf("%d bytes cached, budget %d", used, 1<<20)
		}
	}
	if loads != 200 {
		t.Fatalf("%d loads for 200 chunks read sequentially", loads)
	}
}
