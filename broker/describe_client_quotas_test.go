package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeClientQuotas(t *testing.T) {
	b := newTestBroker(t)
	str := func(s string) *string { return &s }
	for _, c := range []struct {
		name  string
		comps []kmsg.DescribeClientQuotasRequestComponent
		code  int16
		msg   string
	}{
		{"all", nil, 0, ""},
		{"user exact", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 0, Match: str("alice")}}, 0, ""},
		{"user and client default", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 2}, {EntityType: "client-id", MatchType: 1}}, 0, ""},
		{"custom type", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "team", MatchType: 2}}, kerr.InvalidRequest.Code, "Custom entity type 'team' not supported"},
		{"duplicate", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "ip", MatchType: 2}, {EntityType: "ip", MatchType: 1}}, kerr.InvalidRequest.Code, "Duplicate ip filter component entity type"},
		{"exact without match", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 0}}, kerr.InvalidRequest.Code, "Unexpected null match for entity type user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := kmsg.NewPtrDescribeClientQuotasRequest()
			req.Version, req.Components = 1, c.comps
			r, err := b.handleDescribeClientQuotas(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			resp := r.(*kmsg.DescribeClientQuotasResponse)
			msg := ""
			if resp.ErrorMessage != nil {
				msg = *resp.ErrorMessage
			}
			if resp.ErrorCode != c.code || msg != c.msg || len(resp.Entries) != 0 {
				t.Fatalf("got code %d %q, %d entries; want code %d %q, none", resp.ErrorCode, msg, len(resp.Entries), c.code, c.msg)
			}
		})
	}
}
