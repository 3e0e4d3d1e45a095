package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc handles one decoded request. A nil response sends nothing (acks=0 produce);
// an error closes the connection.
type handlerFunc func(b *Broker, ctx context.Context, req kmsg.Request) (kmsg.Response, error)

// apiEntry is one implemented API: its key, the version range served and its handler.
// ApiVersions advertises exactly this table.
type apiEntry struct {
	key      kmsg.Key
	min, max int16
	handle   handlerFunc
}

// h adapts a typed handler method to handlerFunc.
func h[R kmsg.Request](f func(*Broker, context.Context, R) (kmsg.Response, error)) handlerFunc {
	return func(b *Broker, ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
		r, ok := req.(R)
		if !ok {
			return nil, fmt.Errorf("%w: request type %T for key %d", errProtocol, req, req.Key())
		}
		return f(b, ctx, r)
	}
}

// apiTable lists every API the broker serves. Adding an API is one line here plus its
// NN_name.go file. Version floors follow Kafka 4.0 (KIP-896) where older versions need
// message formats Strata does not store.
var apiTable []apiEntry

// apiByKey indexes apiTable.
var apiByKey []*apiEntry

// The table is filled in init because handleApiVersions reads it (an initialisation
// cycle for a plain var).
func init() {
	apiTable = []apiEntry{
		{kmsg.Produce, 3, 13, h((*Broker).handleProduce)},
		{kmsg.Fetch, 4, 18, h((*Broker).handleFetch)},
		{kmsg.ListOffsets, 1, 11, h((*Broker).handleListOffsets)},
		{kmsg.Metadata, 0, 13, h((*Broker).handleMetadata)},
		{kmsg.ApiVersions, 0, 5, h((*Broker).handleApiVersions)},
		{kmsg.CreateTopics, 0, 7, h((*Broker).handleCreateTopics)},
		{kmsg.DeleteTopics, 0, 6, h((*Broker).handleDeleteTopics)},
		{kmsg.DeleteRecords, 0, 2, h((*Broker).handleDeleteRecords)},
		{kmsg.OffsetForLeaderEpoch, 0, 4, h((*Broker).handleOffsetForLeaderEpoch)},
		{kmsg.DescribeConfigs, 0, 4, h((*Broker).handleDescribeConfigs)},
		{kmsg.AlterConfigs, 0, 2, h((*Broker).handleAlterConfigs)},
		{kmsg.DescribeLogDirs, 0, 4, h((*Broker).handleDescribeLogDirs)},
		{kmsg.CreatePartitions, 0, 3, h((*Broker).handleCreatePartitions)},
		{kmsg.IncrementalAlterConfigs, 0, 1, h((*Broker).handleIncrementalAlterConfigs)},
		{kmsg.DescribeCluster, 0, 2, h((*Broker).handleDescribeCluster)},
		{kmsg.DescribeClientQuotas, 0, 1, h((*Broker).handleDescribeClientQuotas)},
		{kmsg.DescribeTopicPartitions, 0, 0, h((*Broker).handleDescribeTopicPartitions)},
	}
	apiTable = append(apiTable, groupAPIs()...)
	apiTable = append(apiTable, securityAPIs()...) // secconfig.go
	idx := make([]*apiEntry, kmsg.MaxKey+1)
	for i := range apiTable {
		e := &apiTable[i]
		if idx[e.key] != nil {
			panic(fmt.Sprintf("broker: api key %d twice in apiTable", e.key))
		}
		if e.max > kmsg.RequestForKey(int16(e.key)).MaxVersion() {
			panic(fmt.Sprintf("broker: %s v%d is beyond kmsg", e.key.Name(), e.max))
		}
		idx[e.key] = e
	}
	apiByKey = idx
}

// lookupAPI returns the entry for key, or nil if the key is not implemented.
func lookupAPI(key int16) *apiEntry {
	if key < 0 || int(key) >= len(apiByKey) {
		return nil
	}
	return apiByKey[key]
}
