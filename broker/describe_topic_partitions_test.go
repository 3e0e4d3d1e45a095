package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeTopicPartitions(t *testing.T) {
	b := newAdminBroker(t, map[string]string{"offsets.topic.num.partitions": "2"})
	for name, n := range map[string]int32{"a": 3, "b": 2, "c": 1} {
		if _, err := b.createTopic(name, n, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	// describe returns "topic:partitions..." per topic (error codes as "topic!code") and the cursor.
	describe := func(topics []string, limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor) (string, string) {
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		for _, tn := range topics {
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = tn
			req.Topics = append(req.Topics, rt)
		}
		req.ResponsePartitionLimit, req.Cursor = limit, cursor
		r, err := b.handleDescribeTopicPartitions(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		resp := r.(*kmsg.DescribeTopicPartitionsResponse)
		got := ""
		for _, rt := range resp.Topics {
			if rt.ErrorCode != 0 {
				got += fmt.Sprintf("%s!%d ", *rt.Topic, rt.ErrorCode)
				continue
			}
			got += *rt.Topic + ":"
			for _, p := range rt.Partitions {
				if p.LeaderID != 0 || len(p.ISR) != 1 || p.EligibleLeaderReplicas == nil || len(p.EligibleLeaderReplicas) != 0 {
					t.Errorf("%s/%d: %+v", *rt.Topic, p.Partition, p)
				}
				got += fmt.Sprint(p.Partition)
			}
			got += " "
		}
		next := ""
		if resp.NextCursor != nil {
			next = fmt.Sprintf("%s/%d", resp.NextCursor.Topic, resp.NextCursor.Partition)
		}
		return got, next
	}
	for _, c := range []struct {
		name         string
		topics       []string
		limit        int32
		cursor       *kmsg.DescribeTopicPartitionsRequestCursor
		want, wantNx string
	}{
		{"all", nil, 0, nil, "__consumer_offsets:01 a:012 b:01 c:0 ", ""}, // the internal topic too (internaltopics.go)
		{"named, sorted, unknown", []string{"c", "nosuch", "a"}, 0, nil, fmt.Sprintf("a:012 c:0 nosuch!%d ", kerr.UnknownTopicOrPartition.Code), ""},
		{"limit inside a topic", nil, 1, nil, "__consumer_offsets:0 ", "__consumer_offsets/1"},
		{"limit at a topic's end", nil, 2, nil, "__consumer_offsets:01 ", "a/0"},
		{"limit inside a topic from a cursor", nil, 2, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "a"}, "a:01 ", "a/2"},
		{"limit at a topic's end from a cursor", nil, 3, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "a"}, "a:012 ", "b/0"},
		{"from a cursor", nil, 2, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "a", Partition: 2}, "a:2 b:0 ", "b/1"},
		{"cursor topic not requested", []string{"b"}, 0, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "a"}, fmt.Sprintf("b!%d ", kerr.InvalidRequest.Code), ""},
	} {
		got, next := describe(c.topics, c.limit, c.cursor)
		if got != c.want || next != c.wantNx {
			t.Errorf("%s: got %q next %q, want %q next %q", c.name, got, next, c.want, c.wantNx)
		}
	}
}
