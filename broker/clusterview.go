package broker

// Clustered mode (issue 20): the seam between the broker and the metadata quorum.
//
// A single broker (no quorum keys) never calls SetCluster and behaves exactly as
// before: it is the leader of every partition with leader epoch 0. In clustered mode the
// process (cmd/strata) follows the quorum's image and hands the broker a ClusterState
// after each image it applied; from then on:
//
//   - Metadata answers brokers (the unfenced ones), controller, cluster id and, per
//     partition of a topic the image holds, leader, leader epoch, replicas and ISR from
//     that state (offline partitions: LEADER_NOT_AVAILABLE). Topics the image holds but
//     this broker has not opened yet are listed from the state alone. Local topics the
//     image does not know (created before the node joined a cluster) keep their
//     single-broker answer.
//   - Produce and consumer Fetch to a partition this broker does not lead get
//     NOT_LEADER_OR_FOLLOWER; a Fetch naming an older leader epoch gets
//     FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
//   - CreateTopics, auto-creation and DeleteTopics go to the controller through the
//     ClusterAdmin given with SetCluster; the partitions appear here when the image that
//     holds them is applied (EnsureTopic).
//
// Data replication (follower fetch, high watermark, ISR changes) is not built yet: a
// follower opens its replica's partition but does not copy the leader's log.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterState is one applied image as the broker needs it. It is immutable once handed
// to SetCluster.
type ClusterState struct {
	Version      uint64
	ClusterID    string // "" until the quorum names the cluster
	ControllerID int32  // -1 when unknown
	Brokers      []ClusterBroker
	Topics       map[string]ClusterTopic
}

// ClusterBroker is one unfenced broker and the first listener it registered.
type ClusterBroker struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   string
}

// ClusterTopic is one topic of the image.
type ClusterTopic struct {
	ID         [16]byte
	Configs    map[string]string
	Partitions []ClusterPartition
}

// ClusterPartition is one partition's replication state.
type ClusterPartition struct {
	Leader      int32 // -1: offline
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
}

// ClusterAdmin is what the broker forwards to the active controller in clustered mode.
// Errors for one topic are Kafka errors (kerr) or wrap them.
type ClusterAdmin interface {
	CreateTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, assignments [][]int32, configs map[string]string) error
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, topic string, total int32, assignments [][]int32) error
}

type clusterSeam struct {
	state *ClusterState
	admin ClusterAdmin
}

// SetCluster switches the broker to clustered mode (or updates its state). admin may be
// nil only in tests that do not create topics.
func (b *Broker) SetCluster(s *ClusterState, admin ClusterAdmin) {
	b.cseam.Store(&clusterSeam{state: s, admin: admin})
}

// cluster returns the clustered state, nil for a single broker.
func (b *Broker) cluster() *clusterSeam { return b.cseam.Load() }

type clusterSeamPtr = atomic.Pointer[clusterSeam]

// clusterPartition returns the image's state of topic's partition i; ok false when the
// broker is not clustered or the image does not hold the topic.
func (b *Broker) clusterPartition(topic string, i int32) (ClusterPartition, bool, bool) {
	c := b.cluster()
	if c == nil {
		return ClusterPartition{}, false, false
	}
	t, ok := c.state.Topics[topic]
	if !ok {
		return ClusterPartition{}, false, true
	}
	if i < 0 || int(i) >= len(t.Partitions) {
		return ClusterPartition{}, false, true
	}
	return t.Partitions[i], true, true
}

// leaderCheck is the clustered mode's check before Produce or Fetch: nil when this broker
// leads the partition (or the broker is not clustered, or the image does not know the
// topic). epoch -1 means the request names no leader epoch.
func (b *Broker) leaderCheck(topic string, i int32, epoch int32) error {
	p, ok, clustered := b.clusterPartition(topic, i)
	if !clustered {
		if epoch > 0 {
			return kerr.UnknownLeaderEpoch
		}
		return nil
	}
	if !ok {
		return nil
	}
	switch {
	case p.Leader != b.cfg.NodeID:
		return kerr.NotLeaderForPartition
	case epoch >= 0 && epoch < p.LeaderEpoch:
		return kerr.FencedLeaderEpoch
	case epoch > p.LeaderEpoch:
		return kerr.UnknownLeaderEpoch
	}
	return nil
}

// clusterMetadata fills resp's brokers, controller and cluster id from the state.
func (s *ClusterState) fillMetadata(resp *kmsg.MetadataResponse) {
	resp.Brokers = resp.Brokers[:0]
	for _, cb := range s.Brokers {
		br := kmsg.NewMetadataResponseBroker()
		br.NodeID, br.Host, br.Port = cb.NodeID, cb.Host, cb.Port
		if cb.Rack != "" {
			br.Rack = kmsg.StringPtr(cb.Rack)
		}
		resp.Brokers = append(resp.Brokers, br)
	}
	resp.ControllerID = s.ControllerID
	if s.ClusterID != "" {
		id := s.ClusterID
		resp.ClusterID = &id
	}
}

// metadataPartition is one partition's Metadata answer from the image.
func (s *ClusterState) metadataPartition(i int32, cp ClusterPartition) kmsg.MetadataResponseTopicPartition {
	p := kmsg.NewMetadataResponseTopicPartition()
	p.Partition = i
	p.Leader = cp.Leader
	p.LeaderEpoch = cp.LeaderEpoch
	p.Replicas = slices.Clone(cp.Replicas)
	p.ISR = slices.Clone(cp.ISR)
	p.OfflineReplicas = []int32{}
	live := map[int32]bool{}
	for _, br := range s.Brokers {
		live[br.NodeID] = true
	}
	for _, r := range cp.Replicas {
		if !live[r] {
			p.OfflineReplicas = append(p.OfflineReplicas, r)
		}
	}
	if cp.Leader < 0 {
		p.ErrorCode = kerr.LeaderNotAvailable.Code
	}
	return p
}

// metadataTopic answers a topic of the image.
func (s *ClusterState) metadataTopic(name string, t ClusterTopic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(name)
	mt.TopicID = t.ID
	mt.IsInternal = isInternalTopic(name)
	for i, cp := range t.Partitions {
		mt.Partitions = append(mt.Partitions, s.metadataPartition(int32(i), cp))
	}
	return mt
}

// EnsureTopic opens the named topic locally with the image's topic id, growing it to
// partitions partitions, so that this broker can serve (or follow) its replicas. A local
// topic of that name with another id is an error (the caller deletes it first when the
// image says the topic was re-created).
func (b *Broker) EnsureTopic(name string, id [16]byte, partitions int32, configs map[string]string) error {
	if t := b.lookupTopic(name); t != nil {
		if t.ID != id {
			return fmt.Errorf("cannot open topic %q: local topic id %s, cluster topic id %s", name, uuid.UUID(t.ID), uuid.UUID(id))
		}
		if n := t.numPartitions(); n < partitions {
			return b.createPartitions(t, partitions, false)
		}
		return nil
	}
	_, err := b.createTopicWithID(name, id, partitions, configs)
	return err
}

// DropTopic deletes the local copy of a topic the image no longer holds (or holds under
// another id).
func (b *Broker) DropTopic(name string, id [16]byte) error {
	t := b.lookupTopic(name)
	if t == nil || t.ID != id {
		return nil
	}
	return b.deleteTopic(t)
}

// clusterMetadata is Metadata in clustered mode: brokers, controller and partition state
// from the image; requested topics the image lacks are created through the controller
// when auto-creation applies (and are LEADER_NOT_AVAILABLE until the image has them).
func (b *Broker) clusterMetadata(ctx context.Context, c *clusterSeam, req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse) (kmsg.Response, error) {
	s := c.state
	s.fillMetadata(resp)
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, name := range sortedKeys(s.Topics) {
			resp.Topics = append(resp.Topics, s.metadataTopic(name, s.Topics[name]))
		}
		for _, t := range b.allTopicsWithInternal() { // local topics the image does not hold
			if _, ok := s.Topics[t.Name]; !ok {
				resp.Topics = append(resp.Topics, b.metadataTopic(t))
			}
		}
		return resp, nil
	}
	autoCreate := (req.Version < 4 || req.AllowAutoTopicCreation) && b.cfg.AutoCreateTopics
	for _, rt := range req.Topics {
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		} else {
			for n, t := range s.Topics {
				if t.ID == rt.TopicID {
					name = n
				}
			}
			if name == "" {
				if t := b.lookupTopicID(rt.TopicID); t != nil {
					resp.Topics = append(resp.Topics, b.metadataTopic(t))
					continue
				}
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = errorCode(errUnknownTopicID)
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		if t, ok := s.Topics[name]; ok {
			resp.Topics = append(resp.Topics, s.metadataTopic(name, t))
			continue
		}
		if t := b.lookupTopic(name); t != nil {
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
			continue
		}
		if t := b.internalTopic(name); t != nil {
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(name)
		err := validateTopicName(name)
		switch {
		case err != nil:
		case !autoCreate || c.admin == nil:
			err = errUnknownTopic
		default:
			err = c.admin.CreateTopic(ctx, name, b.cfg.NumPartitions, -1, nil, nil)
			if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
				err = kerr.LeaderNotAvailable // the client retries once the image has it
			}
		}
		mt.ErrorCode = errorCode(err)
		resp.Topics = append(resp.Topics, mt)
	}
	return resp, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// clusterCreateTopics forwards CreateTopics to the controller. ValidateOnly checks the
// request here and creates nothing.
func (b *Broker) clusterCreateTopics(ctx context.Context, c *clusterSeam, req *kmsg.CreateTopicsRequest, resp *kmsg.CreateTopicsResponse) (kmsg.Response, error) {
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = rt.NumPartitions, rt.ReplicationFactor
		np := rt.NumPartitions
		if np == -1 && len(rt.ReplicaAssignment) == 0 {
			np = b.cfg.NumPartitions
		}
		var assign [][]int32
		for _, a := range rt.ReplicaAssignment {
			for int(a.Partition) >= len(assign) {
				assign = append(assign, nil)
			}
			assign[a.Partition] = a.Replicas
		}
		configs := map[string]string{}
		for _, kv := range rt.Configs {
			if kv.Value != nil {
				configs[kv.Name] = normalizeTopicConfig(*kv.Value)
			}
		}
		err := validateTopicName(rt.Topic)
		if err == nil && seen[rt.Topic] > 1 {
			err = fmt.Errorf("%w: topic %q appears more than once in the request", errInvalidRequest, rt.Topic)
		}
		if err == nil {
			err = validateTopicConfigs(&b.cfg, nil, configs)
		}
		if err == nil && !req.ValidateOnly {
			if c.admin == nil {
				err = kerr.NotController
			} else {
				err = c.admin.CreateTopic(ctx, rt.Topic, np, rt.ReplicationFactor, assign, configs)
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			st.NumPartitions, st.ReplicationFactor = -1, -1
		} else {
			st.NumPartitions = np
			if len(assign) > 0 {
				st.NumPartitions, st.ReplicationFactor = int32(len(assign)), int16(len(assign[0]))
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// clusterAutoCreate is auto-creation in clustered mode for a topic this broker has not
// opened: a topic the image holds is led elsewhere (or not opened here yet), so the
// client must refresh its metadata; otherwise the controller creates it.
func (b *Broker) clusterAutoCreate(ctx context.Context, c *clusterSeam, name string) error {
	if _, ok := c.state.Topics[name]; ok {
		return kerr.NotLeaderForPartition
	}
	if c.admin == nil {
		return errUnknownTopic
	}
	err := c.admin.CreateTopic(ctx, name, b.cfg.NumPartitions, -1, nil, nil)
	if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
		return kerr.LeaderNotAvailable
	}
	return err
}

// placeCoordinators rewrites a FindCoordinator answer in clustered mode: the coordinator
// of a key is the unfenced broker with the highest hash of (key, node id) (rendezvous
// hashing), so every broker names the same one and a fenced broker moves only its own
// keys. Group and transaction state still live in the coordinator's local files, so a
// key that moves starts from nothing on its new coordinator (committed offsets do not
// follow yet; see the package notes of issue 20).
func (s *ClusterState) placeCoordinators(v3key string, resp kmsg.Response) {
	r, ok := resp.(*kmsg.FindCoordinatorResponse)
	if !ok || len(s.Brokers) == 0 {
		return
	}
	if r.Version < 4 {
		if r.ErrorCode == 0 {
			br := s.coordinatorOf(v3key)
			r.NodeID, r.Host, r.Port = br.NodeID, br.Host, br.Port
		}
		return
	}
	for i := range r.Coordinators {
		c := &r.Coordinators[i]
		if c.ErrorCode == 0 {
			br := s.coordinatorOf(c.Key)
			c.NodeID, c.Host, c.Port = br.NodeID, br.Host, br.Port
		}
	}
}

func (s *ClusterState) coordinatorOf(key string) ClusterBroker {
	var best ClusterBroker
	var top uint32
	for i, br := range s.Brokers {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s\x00%d", key, br.NodeID)
		if v := h.Sum32(); i == 0 || v > top {
			best, top = br, v
		}
	}
	return best
}

// servedClusterID is the cluster id clients see: the quorum's in clustered mode (once it
// named one), else this broker's own. The broker's meta files and bucket ownership keep
// its own id (adopting the quorum's there is not built yet).
func (b *Broker) servedClusterID() string {
	if c := b.cluster(); c != nil && c.state.ClusterID != "" {
		return c.state.ClusterID
	}
	return b.clusterID
}

// clusterDeleteTopic forwards one DeleteTopics entry (st holds the request's name or id)
// to the controller; the replicas drop their copies when the image no longer has it.
func (b *Broker) clusterDeleteTopic(ctx context.Context, c *clusterSeam, st *kmsg.DeleteTopicsResponseTopic) error {
	s := c.state
	switch {
	case st.Topic != nil && st.TopicID != [16]byte{}:
		return fmt.Errorf("%w: give a topic name or a topic ID, not both", errInvalidRequest)
	case st.Topic != nil:
		t, ok := s.Topics[*st.Topic]
		if !ok {
			return errUnknownTopic
		}
		st.TopicID = t.ID
	case st.TopicID != [16]byte{}:
		for name, t := range s.Topics {
			if t.ID == st.TopicID {
				st.Topic = kmsg.StringPtr(name)
			}
		}
		if st.Topic == nil {
			return errUnknownTopicID
		}
	default:
		return fmt.Errorf("%w: neither topic name nor topic ID given", errInvalidRequest)
	}
	if c.admin == nil {
		return kerr.NotController
	}
	return c.admin.DeleteTopic(ctx, *st.Topic)
}

// clusterCreatePartitions forwards one CreatePartitions entry to the controller after
// Kafka's checks against the image; the replicas open the new partitions when the image
// has them.
func (b *Broker) clusterCreatePartitions(ctx context.Context, c *clusterSeam, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t, ok := c.state.Topics[rt.Topic]
	if !ok {
		return errUnknownTopic
	}
	cur := int32(len(t.Partitions))
	if rt.Count <= cur {
		return fmt.Errorf("%w: topic %q has %d partitions, cannot grow it to %d", errInvalidPartitions, rt.Topic, cur, rt.Count)
	}
	var assign [][]int32
	if rt.Assignment != nil {
		if n := rt.Count - cur; int32(len(rt.Assignment)) != n {
			return fmt.Errorf("%w: %d assignments for %d new partitions", kerr.InvalidReplicaAssignment, len(rt.Assignment), n)
		}
		for _, a := range rt.Assignment {
			assign = append(assign, a.Replicas)
		}
	}
	if validateOnly {
		return nil
	}
	if c.admin == nil {
		return kerr.NotController
	}
	return c.admin.CreatePartitions(ctx, rt.Topic, rt.Count, assign)
}

// clusterElsewhere is NOT_LEADER_OR_FOLLOWER for a topic the image holds but this broker
// has not opened (it holds no replica of it, or has not applied the image yet).
func (b *Broker) clusterElsewhere(name string) error {
	if c := b.cluster(); c != nil {
		if _, ok := c.state.Topics[name]; ok {
			return kerr.NotLeaderForPartition
		}
	}
	return nil
}
