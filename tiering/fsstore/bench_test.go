package fsstore_test

import (
	"testing"

	"github.com/strata-io/strata/tiering/fsstore"
	"github.com/strata-io/strata/tiering/objstoretest"
)

func BenchmarkStore(b *testing.B) {
	s, err := fsstore.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	objstoretest.Bench(b, s)
}
