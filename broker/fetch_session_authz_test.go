package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchSessionAuthorization: a session does not outlive the right to read. A
// partition whose READ is revoked after the session was created is answered
// TOPIC_AUTHORIZATION_FAILED by the next incremental fetch, without records.
func TestFetchSessionAuthorization(t *testing.T) {
	p := newTestPKI(t)
	s := startSecureBroker(t, p, t.TempDir(), nil)
	adm, admCl := adminClient(t, p, s)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "guarded"); err != nil {
		t.Fatal(err)
	}
	if err := admCl.ProduceSync(ctx, &kgo.Record{Topic: "guarded", Value: []byte("secret")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	acl := kadm.NewACLs().Allow("User:ANONYMOUS").Topics("guarded").Operations(kadm.OpRead, kadm.OpDescribe).AllowHosts("*")
	if r, err := adm.CreateACLs(ctx, acl); err != nil || r[0].Err != nil {
		t.Fatalf("create acl: %v %+v", err, r)
	}
	anon := newKgo(t, s.addr("PLAINTEXT"))
	id := s.b.lookupTopic("guarded").ID
	fetch := func(sessionID, epoch int32, withPart bool) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.SessionID, req.SessionEpoch = 1<<20, sessionID, epoch
		if withPart {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "guarded", id
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, anon)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	full := fetch(0, 0, true)
	if full.SessionID == 0 || len(full.Topics) != 1 || len(full.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("full fetch: %+v", full)
	}
	if r, err := adm.DeleteACLs(ctx, kadm.NewACLs().Allow("User:ANONYMOUS").Topics("guarded").Operations(kadm.OpRead, kadm.OpDescribe).AllowHosts("*")); err != nil || r[0].Err != nil {
		t.Fatalf("delete acl: %v %+v", err, r)
	}
	deadline := time.Now().Add(10 * time.Second) // ACL changes apply at once; bound generously
	for epoch := int32(1); ; epoch++ {
		resp := fetch(full.SessionID, epoch, false)
		if resp.ErrorCode != 0 {
			t.Fatalf("incremental: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		if len(resp.Topics) == 1 && resp.Topics[0].Partitions[0].ErrorCode == kerr.TopicAuthorizationFailed.Code {
			if n := len(resp.Topics[0].Partitions[0].RecordBatches); n != 0 {
				t.Fatalf("denied partition carried %d record bytes", n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked READ still served: %+v", resp.Topics)
		}
	}
}
