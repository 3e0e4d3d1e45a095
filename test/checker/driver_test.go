package checker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestRunKfake runs the whole workload against franz-go's in-memory broker, which is
// assumed correct: the report must be clean and show real traffic.
func TestRunKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := Run(t.Context(), Config{
		Brokers:  c.ListenAddrs(),
		Topic:    "checker-self-test",
		Duration: 4 * time.Second,
		Rate:     300,
		Logf:     t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := Check(h)
	r.Scenario = "kfake"
	t.Logf("\n%s", r.Details())
	if !r.OK() {
		t.Fatalf("anomalies against kfake:\n%s", r.Details())
	}
	if r.Acked < 1000 || r.FinalReads < r.Acked || r.Reads <= r.FinalReads {
		t.Fatalf("too little traffic: %+v", r)
	}
	kinds := map[Kind]int{}
	for _, op := range h.Ops() {
		kinds[op.Kind]++
	}
	for _, k := range []Kind{KindCommit, KindCommitted, KindEnd, KindAssign} {
		if kinds[k] == 0 {
			t.Errorf("no %s ops recorded: %v", k, kinds)
		}
	}
	if t.Failed() {
		path := t.TempDir() + "/history.jsonl"
		_ = h.SaveFile(path)
	}
}
