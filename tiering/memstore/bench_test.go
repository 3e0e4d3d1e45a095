package memstore_test

import (
	"testing"

	"github.com/strata-io/strata/tiering/memstore"
	"github.com/strata-io/strata/tiering/objstoretest"
)

func BenchmarkStore(b *testing.B) { objstoretest.Bench(b, memstore.New()) }
