package broker

// ApiVersions (key 18), versions 0-5.
//
// The response lists exactly apiTable() (every registered API). A request with a version above 5 is answered
// (without parsing its body) by a v0 response with UNSUPPORTED_VERSION and the list, as
// Kafka >= 2.4 does, so that clients retry with a version both sides know. v5 (KIP-1242):
// a client naming a cluster id and node id that are not ours gets REBOOTSTRAP_REQUIRED;
// naming only one of them is INVALID_REQUEST. v3+ carries the supported and finalized
// features (features.go).
//
// One deliberate inconsistency, as in Kafka >= 4.0 (KAFKA-18659): Produce is advertised
// from v0 although requests below v3 are refused (the registered floor). librdkafka before
// 2.8 enables gzip, snappy and lz4 only if the broker lists Produce v0 (and v2 for lz4);
// with an honest floor of 3 it silently produces uncompressed batches. Clients pick the
// highest version both sides know, so none of them ever sends v0-v2 because of this.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Needs no authorization (any client, before and after authentication).
func init() {
	register(apiEntry{key: kmsg.ApiVersions, min: 0, max: 5, handle: h((*Broker).handleApiVersions), authz: noHook})
}

func (b *Broker) handleApiVersions(ctx context.Context, req *kmsg.ApiVersionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiVersionsKeys()
	fillFeatures(resp) // features.go
	if req.Version >= 5 {
		switch {
		case (req.ClusterID == nil) != (req.NodeID == -1):
			resp.ErrorCode = kerr.InvalidRequest.Code
		case req.ClusterID != nil && (*req.ClusterID != b.servedClusterID() || req.NodeID != b.cfg.NodeID):
			resp.ErrorCode = kerr.RebootstrapRequired.Code
		}
	}
	return resp, nil
}

// unsupportedApiVersions is the v0 answer to an ApiVersions request of a newer version.
func (b *Broker) unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiVersionsKeys()
	return resp
}

func apiVersionsKeys() []kmsg.ApiVersionsResponseApiKey {
	table := apiTable()
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(table))
	for i := range table {
		e := &table[i]
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey = int16(e.key)
		k.MinVersion = e.min
		if e.key == kmsg.Produce {
			k.MinVersion = 0 // KAFKA-18659, see the file comment
		}
		k.MaxVersion = e.max
		keys = append(keys, k)
	}
	return keys
}
