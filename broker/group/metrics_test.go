package group

import (
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		m := NewMetrics(reg)
		c := newTestCoordinator(t, NewMemStore(), Config{Metrics: m})
		stableGroup(t, c, "a", joinOpts{}, joinOpts{})
		commit(c, "b", "", -1, "t", 0, 1)
		commit(c, "b", "", -1, "t", 1, 1)
		f := func(name string, got, want float64) {
			t.Helper()
			if got != want {
				t.Fatalf("%s = %v, want %v", name, got, want)
			}
		}
		f("stable groups", testutil.ToFloat64(m.groups.WithLabelValues("Stable")), 1)
		f("empty groups", testutil.ToFloat64(m.groups.WithLabelValues("Empty")), 1)
		f("preparing groups", testutil.ToFloat64(m.groups.WithLabelValues("PreparingRebalance")), 0)
		f("rebalances", testutil.ToFloat64(m.rebalances), 1)
		f("commits", testutil.ToFloat64(m.commits), 2)
		c.DeleteGroups(t.Context(), deleteReq("b"))
		f("empty groups after delete", testutil.ToFloat64(m.groups.WithLabelValues("Empty")), 0)
	})
}

func deleteReq(groups ...string) *kmsg.DeleteGroupsRequest {
	r := kmsg.NewPtrDeleteGroupsRequest()
	r.Version, r.Groups = 2, groups
	return r
}
