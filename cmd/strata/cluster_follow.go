package main

// The clustered broker follows the metadata image (issue 20, step "the broker follows
// the image"): each image it applies opens the partitions this broker holds a replica
// of (under the image's topic id), drops topics the image deleted, and then hands the
// broker the state its Metadata, Produce and Fetch answer from (broker/clusterview.go).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/cluster"
)

// followImage runs until ctx ends: it applies every new image of c to b; topic changes
// go to ctl (a Client, which finds the active controller).
func followImage(ctx context.Context, c, ctl cluster.Controller, b *broker.Broker, nodeID int32, listener string, logger *slog.Logger) {
	admin := clusterAdmin{c: ctl}
	b.SetCluster(&broker.ClusterState{ControllerID: -1, Topics: map[string]broker.ClusterTopic{}}, admin)
	for ctx.Err() == nil {
		err := cluster.Follow(ctx, c, nodeID, 0, func(im *cluster.Image, changes []cluster.PartitionChange) error {
			applyImage(b, im, changes, logger)
			b.SetCluster(clusterState(im, nodeID, listener), admin)
			return nil
		})
		if ctx.Err() == nil {
			logger.Warn("cannot follow the metadata image; retrying", "err", err)
			sleepCtx(ctx, time.Second)
		}
	}
}

// applyImage opens and drops local topics as changes say. Failures are logged: the
// partition then stays unopened here and the broker answers it as unknown.
func applyImage(b *broker.Broker, im *cluster.Image, changes []cluster.PartitionChange, logger *slog.Logger) {
	done := map[string]bool{}
	for _, ch := range changes {
		key := ch.Topic + "/" + ch.TopicID.String()
		if done[key] {
			continue
		}
		t := im.Topics[ch.Topic]
		if t == nil || t.ID != ch.TopicID {
			done[key] = true
			if err := b.DropTopic(ch.Topic, ch.TopicID); err != nil {
				logger.Error("cannot drop a topic the cluster deleted", "topic", ch.Topic, "err", err)
			}
			continue
		}
		if ch.Role == cluster.RoleNone {
			continue // a replica moved away: its data stays until the topic goes (reassignment is not built)
		}
		done[key] = true
		if err := b.EnsureTopic(ch.Topic, t.ID, int32(len(t.Partitions)), t.Configs); err != nil {
			logger.Error("cannot open the partitions of a cluster topic", "topic", ch.Topic, "err", err)
		}
	}
}

// clusterState is the broker's view of im: unfenced brokers with their listener named
// listener (else their first), every topic's partitions.
func clusterState(im *cluster.Image, self int32, listener string) *broker.ClusterState {
	s := &broker.ClusterState{Version: im.Version, ClusterID: im.ClusterID, ControllerID: self, Topics: map[string]broker.ClusterTopic{}}
	for _, id := range im.BrokerIDs() {
		br := im.Brokers[id]
		if br.Fenced || len(br.Listeners) == 0 {
			continue
		}
		l := br.Listeners[0]
		for _, cand := range br.Listeners {
			if strings.EqualFold(cand.Name, listener) {
				l = cand
			}
		}
		s.Brokers = append(s.Brokers, broker.ClusterBroker{NodeID: id, Host: l.Host, Port: l.Port, Rack: br.Rack})
	}
	for name, t := range im.Topics {
		ct := broker.ClusterTopic{ID: t.ID, Configs: t.Configs}
		for _, p := range t.Partitions {
			ct.Partitions = append(ct.Partitions, broker.ClusterPartition{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR})
		}
		s.Topics[name] = ct
	}
	return s
}

// clusterAdmin forwards the broker's topic changes to the controller, with Kafka's
// error codes.
type clusterAdmin struct{ c cluster.Controller }

func (a clusterAdmin) CreateTopic(ctx context.Context, name string, partitions int32, rf int16, assignments [][]int32, configs map[string]string) error {
	res, err := a.c.CreateTopics(ctx, []cluster.TopicSpec{{Name: name, NumPartitions: partitions, ReplicationFactor: rf, Assignments: assignments, Configs: configs}})
	if err != nil {
		return kafkaError(err)
	}
	if len(res) != 1 {
		return fmt.Errorf("%w: controller answered %d results for one topic", kerr.UnknownServerError, len(res))
	}
	return kafkaError(res[0].Err)
}

func (a clusterAdmin) DeleteTopic(ctx context.Context, name string) error {
	res, err := a.c.DeleteTopics(ctx, []string{name})
	if err != nil {
		return kafkaError(err)
	}
	return kafkaError(res[name])
}

// kafkaError wraps a controller error with the Kafka error it stands for.
func kafkaError(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct {
		sentinel error
		ke       *kerr.Error
	}{
		{cluster.ErrTopicExists, kerr.TopicAlreadyExists},
		{cluster.ErrInvalidTopic, kerr.InvalidTopicException},
		{cluster.ErrInvalidPartitions, kerr.InvalidPartitions},
		{cluster.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
		{cluster.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
		{cluster.ErrUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
		{cluster.ErrInvalidRequest, kerr.InvalidRequest},
		{cluster.ErrNotController, kerr.NotController},
	} {
		if errors.Is(err, m.sentinel) {
			return fmt.Errorf("%w: %v", m.ke, err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %v", kerr.RequestTimedOut, err)
	}
	return fmt.Errorf("%w: %v", kerr.UnknownServerError, err)
}

func (a clusterAdmin) CreatePartitions(ctx context.Context, topic string, total int32, assignments [][]int32) error {
	return kafkaError(a.c.CreatePartitions(ctx, topic, total, assignments))
}
