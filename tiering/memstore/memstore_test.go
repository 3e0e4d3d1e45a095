package memstore_test

import (
	"testing"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
	"github.com/strata-io/strata/tiering/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) tiering.ObjectStore { return memstore.New() })
}
