package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// librdkafka < 2.8 decides whether the broker supports gzip, snappy and lz4 from the
// Produce range in ApiVersions: it must include v0 (and v2), as Kafka 4.0 advertises
// (KAFKA-18659), or librdkafka sends every batch uncompressed. The dispatcher's floor stays
// at v3.
func TestApiVersionsAdvertisesProduceFromV0(t *testing.T) {
	var found bool
	for _, k := range apiVersionsKeys() {
		if k.ApiKey != int16(kmsg.Produce) {
			continue
		}
		found = true
		if k.MinVersion != 0 || k.MaxVersion < 7 {
			t.Fatalf("Produce advertised as v%d-v%d, want v0-v(>=7)", k.MinVersion, k.MaxVersion)
		}
	}
	if !found {
		t.Fatal("Produce not advertised")
	}
	if e := lookupAPI(int16(kmsg.Produce)); e == nil || e.min != 3 {
		t.Fatalf("Produce requests below v3 must still be refused; table entry %+v", e)
	}
}
