package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiGap is a deliberate difference between the ApiVersions table and what kmsg (franz-go's
// encodings, which track Apache Kafka's newest release) knows: an API not served (max -1)
// or served below kmsg's newest version.
type apiGap struct {
	max    int16  // highest version served; -1: not served
	why    string // the reason
	wanted bool   // being added on another branch this session: being served too is fine
}

// apiGaps lists every deliberate gap. TestApiVersionsAgainstKmsg fails on a gap not listed
// here and on an entry that no longer describes the table, so the list stays the truth.
var apiGaps = map[kmsg.Key]apiGap{
	kmsg.LeaderAndISR:       {-1, "ZooKeeper-era controller-to-broker RPC, removed in Kafka 4.0", false},
	kmsg.StopReplica:        {-1, "ZooKeeper-era controller-to-broker RPC, removed in Kafka 4.0", false},
	kmsg.UpdateMetadata:     {-1, "ZooKeeper-era controller-to-broker RPC, removed in Kafka 4.0", false},
	kmsg.ControlledShutdown: {-1, "ZooKeeper-era broker-to-controller RPC, removed in Kafka 4.0", false},

	kmsg.AddPartitionsToTxn: {3, "v4+ (KIP-890 broker-to-broker verification) and transaction version 2 are not implemented", false},
	kmsg.EndTxn:             {4, "v5 is transaction version 2 (KIP-890 part 2), not implemented", false},
	kmsg.TxnOffsetCommit:    {4, "v5+ is transaction version 2 (KIP-890 part 2), not implemented", false},
	kmsg.WriteTxnMarkers:    {-1, "a broker-to-broker RPC: the transaction coordinator writes markers inside the broker", false},

	kmsg.AlterReplicaLogDirs: {-1, "one log directory per broker (log.dirs takes one): there is no other directory to move a replica to", false},

	kmsg.CreateDelegationToken:   {-1, "delegation tokens are not implemented (SASL/PLAIN and SCRAM only)", false},
	kmsg.RenewDelegationToken:    {-1, "delegation tokens are not implemented (SASL/PLAIN and SCRAM only)", false},
	kmsg.ExpireDelegationToken:   {-1, "delegation tokens are not implemented (SASL/PLAIN and SCRAM only)", false},
	kmsg.DescribeDelegationToken: {-1, "delegation tokens are not implemented (SASL/PLAIN and SCRAM only)", false},

	// KRaft controller and inter-node RPCs: there are no other nodes (cluster: issue 20).
	kmsg.Vote:                   {-1, "KRaft controller RPC; no other nodes (issue 20)", false},
	kmsg.BeginQuorumEpoch:       {-1, "KRaft controller RPC; no other nodes (issue 20)", false},
	kmsg.EndQuorumEpoch:         {-1, "KRaft controller RPC; no other nodes (issue 20)", false},
	kmsg.AlterPartition:         {-1, "broker-to-controller ISR change; one replica per partition", false},
	kmsg.Envelope:               {-1, "broker-to-controller forwarding; this node is the controller", false},
	kmsg.FetchSnapshot:          {-1, "KRaft controller RPC; no other nodes (issue 20)", false},
	kmsg.BrokerRegistration:     {-1, "broker-to-controller RPC; no other nodes (issue 20)", false},
	kmsg.BrokerHeartbeat:        {-1, "broker-to-controller RPC; no other nodes (issue 20)", false},
	kmsg.UnregisterBroker:       {-1, "removes another broker's registration; there are no other brokers (issue 20)", false},
	kmsg.AllocateProducerIDs:    {-1, "broker-to-controller RPC; this node allocates its own producer ids", false},
	kmsg.ControllerRegistration: {-1, "controller-to-controller RPC; no other nodes (issue 20)", false},
	kmsg.AssignReplicasToDirs:   {-1, "broker-to-controller RPC (JBOD); one log directory", false},
	kmsg.AddRaftVoter:           {-1, "changes a KRaft quorum Strata does not run (DescribeQuorum presents a single voter; issue 20)", false},
	kmsg.RemoveRaftVoter:        {-1, "changes a KRaft quorum Strata does not run (DescribeQuorum presents a single voter; issue 20)", false},
	kmsg.UpdateRaftVoter:        {-1, "KRaft controller RPC; no other nodes (issue 20)", false},
	kmsg.UnregisterController:   {-1, "removes another controller's registration; there are no other nodes (issue 20)", false},

	kmsg.GetTelemetrySubscriptions: {-1, "client telemetry (KIP-714) is not collected; clients treat the API's absence as telemetry off", false},
	kmsg.PushTelemetry:             {-1, "client telemetry (KIP-714) is not collected; clients treat the API's absence as telemetry off", false},
	kmsg.ListConfigResources:       {-1, "lists client-metrics (KIP-714) and group config resources, neither of which Strata has", false},

	kmsg.InitializeShareGroupState:  {-1, "share-group state RPC between brokers (KIP-932): one node keeps share state itself (broker/share), no share coordinator to call", false},
	kmsg.ReadShareGroupState:        {-1, "share-group state RPC between brokers (KIP-932): one node keeps share state itself (broker/share), no share coordinator to call", false},
	kmsg.WriteShareGroupState:       {-1, "share-group state RPC between brokers (KIP-932): one node keeps share state itself (broker/share), no share coordinator to call", false},
	kmsg.DeleteShareGroupState:      {-1, "share-group state RPC between brokers (KIP-932): one node keeps share state itself (broker/share), no share coordinator to call", false},
	kmsg.ReadShareGroupStateSummary: {-1, "share-group state RPC between brokers (KIP-932): one node keeps share state itself (broker/share), no share coordinator to call", false},

	kmsg.StreamsGroupHeartbeat:                 {-1, "streams groups (KIP-1071) are not implemented", false},
	kmsg.StreamsGroupDescribe:                  {-1, "streams groups (KIP-1071) are not implemented", false},
	kmsg.StreamsGroupTopologyDescriptionUpdate: {-1, "streams groups (KIP-1071) are not implemented", false},
}

// TestApiVersionsAgainstKmsg (issue 19): every API kmsg knows is served up to kmsg's
// newest version, or its gap is listed in apiGaps with the reason.
func TestApiVersionsAgainstKmsg(t *testing.T) {
	served := make(map[kmsg.Key]*apiEntry)
	for i := range apiTable() {
		e := &apiTable()[i]
		served[e.key] = e
	}
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		key := kmsg.Key(k)
		r := kmsg.RequestForKey(k)
		if r == nil {
			continue
		}
		newest := r.MaxVersion()
		have := int16(-1)
		if e := served[key]; e != nil {
			have = e.max
		}
		gap, listed := apiGaps[key]
		switch {
		case have == newest && !listed:
		case have == newest && listed && gap.wanted:
			t.Logf("%s (%d) v%d: now served; its apiGaps entry (%s) can go", key.Name(), k, have, gap.why)
		case have == newest && listed:
			t.Errorf("%s (%d) is served up to kmsg's v%d: remove its apiGaps entry (%s)", key.Name(), k, newest, gap.why)
		case !listed:
			t.Errorf("%s (%d): served up to %d, kmsg knows v%d, and apiGaps gives no reason", key.Name(), k, have, newest)
		case gap.max != have && !(gap.wanted && have > gap.max):
			t.Errorf("%s (%d): served up to %d, apiGaps says %d", key.Name(), k, have, gap.max)
		}
	}
	for key := range apiGaps {
		if kmsg.RequestForKey(int16(key)) == nil {
			t.Errorf("apiGaps names key %d, which kmsg does not know", key)
		}
	}
}
