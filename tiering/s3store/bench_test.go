package s3store_test

import (
	"testing"

	"github.com/strata-io/strata/tiering/objstoretest"
	"github.com/strata-io/strata/tiering/s3store"
)

// BenchmarkStore runs against the package's MinIO (PartSize 5 MiB, so the 16 MiB put is a
// 4-part multipart upload).
func BenchmarkStore(b *testing.B) {
	st, err := s3store.New(b.Context(), storeConfig(srv, srv.NewBucket(b)))
	if err != nil {
		b.Fatal(err)
	}
	objstoretest.Bench(b, st)
}
