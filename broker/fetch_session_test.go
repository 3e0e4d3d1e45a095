package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestFetchSessionlessFullFetch: a full fetch is answered with the data whatever session
// id it names (issue 19: SessionID=-1 with SessionEpoch=-1, as some clients send it, got
// FETCH_SESSION_ID_NOT_FOUND and no topics), and an incremental fetch of a session the
// broker does not have is FETCH_SESSION_ID_NOT_FOUND, as in Kafka's FetchManager.
func TestFetchSessionlessFullFetch(t *testing.T) {
	b := startCoreBroker(t, nil)
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr("PLAINTEXT").String()), kgo.AllowAutoTopicCreation(),
		kgo.MaxVersions(kversion.V3_0_0())) // Fetch v12: topics by name, as the client sent it
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sessions", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetch := func(version int16, sessionID, epoch int32) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version = version
		req.MaxBytes = 1 << 20
		req.SessionID, req.SessionEpoch = sessionID, epoch
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "sessions"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, c := range []struct{ id, epoch int32 }{{-1, -1}, {0, -1}, {0, 0}, {12345, -1}, {12345, 0}} {
		resp := fetch(12, c.id, c.epoch)
		if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("session %d epoch %d: error %d, session %d, %d topics", c.id, c.epoch, resp.ErrorCode, resp.SessionID, len(resp.Topics))
		}
		if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.HighWatermark != 1 || len(sp.RecordBatches) == 0 {
			t.Fatalf("session %d epoch %d: partition error %d, hw %d, %d bytes", c.id, c.epoch, sp.ErrorCode, sp.HighWatermark, len(sp.RecordBatches))
		}
	}
	for _, c := range []struct{ id, epoch int32 }{{12345, 1}, {0, 1}} {
		if resp := fetch(12, c.id, c.epoch); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
			t.Fatalf("incremental session %d epoch %d: error %d, %d topics", c.id, c.epoch, resp.ErrorCode, len(resp.Topics))
		}
	}
}
