package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestShareFetchACLs: ShareFetch and ShareAcknowledge need READ on the group and on each
// topic; partitions of other topics are TOPIC_AUTHORIZATION_FAILED.
func TestShareFetchACLs(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	p := newTestPKI(t)
	s := startSecureBroker(t, p, t.TempDir(), nil)
	adm, _ := adminClient(t, p, s)
	for _, topic := range []string{"share-open", "share-secret"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	td, err := adm.ListTopics(ctx, "share-open", "share-secret")
	if err != nil {
		t.Fatal(err)
	}
	acls := kadm.NewACLs().Allow("User:ANONYMOUS").Topics("share-open").Groups("sg-acl").
		Operations(kadm.OpDescribe, kadm.OpRead).AllowHosts("*").ResourcePatternType(kadm.ACLPatternLiteral)
	if r, err := adm.CreateACLs(ctx, acls); err != nil || r[0].Err != nil {
		t.Fatalf("create acls: %v %+v", err, r)
	}
	cl := newKgo(t, s.addr("PLAINTEXT")) // User:ANONYMOUS
	fetch := func(group string) *kmsg.ShareFetchResponse {
		t.Helper()
		req := kmsg.NewPtrShareFetchRequest()
		member := "m"
		req.GroupID, req.MemberID, req.MaxRecords, req.MaxBytes = &group, &member, 10, 1<<20
		for _, name := range []string{"share-open", "share-secret"} {
			rt := kmsg.NewShareFetchRequestTopic()
			rt.TopicID = td[name].ID
			rp := kmsg.NewShareFetchRequestTopicPartition()
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := fetch("other"); r.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("group without rights: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	r := fetch("sg-acl")
	if r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	codes := map[[16]byte]int16{}
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			codes[rt.TopicID] = rp.ErrorCode
		}
	}
	if c, ok := codes[td["share-open"].ID]; !ok || c != 0 {
		t.Fatalf("open topic: present %v, %v", ok, kerr.ErrorForCode(c))
	}
	if c := codes[td["share-secret"].ID]; c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("secret topic: %v", kerr.ErrorForCode(c))
	}
}
