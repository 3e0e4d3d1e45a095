package test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/test/brokertest"
)

// Issue 19 "Client quotas", a second client family: librdkafka (confluent-kafka-python)
// producing under a producer_byte_rate quota set for its client id sees throttle events
// and its acknowledged bytes arrive at the configured rate (±20%), measured from its first
// throttle on.
func TestClientQuotaThrottlesLibrdkafkaProducer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: measures a rate for seconds with a Python client; make test runs it (never -short)")
	}
	tb := brokertest.Start(t, brokertest.Config{
		Props: map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"},
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(t.Context(), 1, 1, nil, "q-rd"); err != nil {
		t.Fatal(err)
	}
	const rate = 40 << 10
	name := "rd-slow"
	res, err := adm.AlterClientQuotas(t.Context(), []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &name}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: rate}},
	}})
	if err == nil && res[0].Err != nil {
		err = res[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", rdkafkaThrottled, tb.Addr(), "q-rd", name, "8").CombinedOutput()
	if err != nil {
		t.Fatalf("librdkafka producer (needs python3-confluent-kafka: make tools): %v\n%s", err, out)
	}
	var got float64
	var throttles int
	for _, f := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "rate":
			got, _ = strconv.ParseFloat(v, 64)
		case "throttles":
			throttles, _ = strconv.Atoi(v)
		}
	}
	t.Logf("librdkafka producer: %s", strings.TrimSpace(string(out)))
	if throttles == 0 {
		t.Fatalf("librdkafka saw no throttle event: %s", out)
	}
	want := rate * 0.97 // record values are ~97% of the produce requests' bytes
	if got < 0.8*want || got > 1.2*want {
		t.Fatalf("librdkafka produced %.0f B/s, want %.0f ±20%%", got, want)
	}
}

// rdkafkaThrottled produces 1000-byte records to argv[2] as client id argv[3] until it has
// measured argv[4] seconds after its first throttle event, and prints the acknowledged
// value bytes per second over them and the number of throttle events.
const rdkafkaThrottled = `
import sys, time
from confluent_kafka import Producer
bs, topic, client, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
state = {"throttles": 0, "start": None, "bytes": 0, "last": None}
def on_throttle(ev):
    if ev.throttle_time > 0:
        state["throttles"] += 1
def on_delivery(err, msg):
    if err is not None:
        print("delivery error", err, file=sys.stderr)
        sys.exit(1)
    now = time.monotonic()
    if state["start"] is None:
        if state["throttles"] > 0:
            state["start"] = now
        return
    state["bytes"] += len(msg.value())
    state["last"] = now
p = Producer({"bootstrap.servers": bs, "client.id": client, "compression.type": "none", "linger.ms": 5,
              "batch.size": 16384, "queue.buffering.max.messages": 64, "throttle_cb": on_throttle})
value = b"x" * 1000
deadline = time.monotonic() + 100
while state["start"] is None or state["last"] is None or state["last"] - state["start"] < secs:
    if time.monotonic() > deadline:
        print("timed out", state, file=sys.stderr)
        sys.exit(1)
    try:
        p.produce(topic, value, on_delivery=on_delivery)
    except BufferError:
        p.poll(0.01)
    p.poll(0)
p.flush(30)
print("rate=%.0f throttles=%d" % (state["bytes"] / (state["last"] - state["start"]), state["throttles"]))
`
