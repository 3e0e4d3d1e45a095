package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerGroupHeartbeatACLs: ConsumerGroupHeartbeat needs READ on the group, and a
// regex subscription matches only topics the principal may DESCRIBE (as in Kafka).
func TestConsumerGroupHeartbeatACLs(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	p := newTestPKI(t)
	s := startSecureBroker(t, p, t.TempDir(), nil)
	adm, _ := adminClient(t, p, s)
	for _, topic := range []string{"acl-open", "acl-secret"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	td, err := adm.ListTopics(ctx, "acl-open")
	if err != nil {
		t.Fatal(err)
	}
	openID := td["acl-open"].ID
	acls := kadm.NewACLs().Allow("User:ANONYMOUS").Topics("acl-open").Operations(kadm.OpDescribe, kadm.OpRead).AllowHosts("*").
		Groups("g848").ResourcePatternType(kadm.ACLPatternLiteral)
	if r, err := adm.CreateACLs(ctx, acls); err != nil || r[0].Err != nil {
		t.Fatalf("create acls: %v %+v", err, r)
	}
	descOnly := kadm.NewACLs().Allow("User:ANONYMOUS").Groups("desc-only").Operations(kadm.OpDescribe).AllowHosts("*")
	if r, err := adm.CreateACLs(ctx, descOnly); err != nil || r[0].Err != nil {
		t.Fatalf("create acls: %v %+v", err, r)
	}
	cl := newKgo(t, s.addr("PLAINTEXT")) // User:ANONYMOUS
	hb := func(group string) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		re := "acl-.*"
		req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = group, "m1-"+group, 0, 10000
		req.SubscribedTopicRegex, req.Topics = &re, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return req.RequestWith(ctx, cl)
	}
	// Without rights on the group, FindCoordinator (DESCRIBE) already refuses it; the
	// heartbeat itself answers GROUP_AUTHORIZATION_FAILED.
	if r, err := hb("other-group"); !errors.Is(err, kerr.GroupAuthorizationFailed) && (err != nil || r.ErrorCode != kerr.GroupAuthorizationFailed.Code) {
		t.Fatalf("heartbeat without rights on the group: %v %v", err, r)
	}
	if r, err := hb("desc-only"); err != nil || r.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("heartbeat with DESCRIBE but not READ on the group: %v %v", err, r)
	}
	r, err := hb("g848")
	if err != nil {
		t.Fatal(err)
	}
	if r.ErrorCode != 0 || r.Assignment == nil || len(r.Assignment.Topics) != 1 || r.Assignment.Topics[0].TopicID != openID {
		t.Fatalf("regex under ACLs: %v %+v", kerr.ErrorForCode(r.ErrorCode), r.Assignment)
	}
}
