package broker

// Client quotas on the connection: measuring, throttle_time_ms and muting (quota.go has
// the semantics).

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// quotaWaitKey carries a *atomic.Int64 of nanoseconds a handler spent waiting (a fetch's
// long poll), which request_percentage does not count.
type quotaWaitKey struct{}

// addQuotaWait adds d to the request's waiting time, if quotas measure it.
func addQuotaWait(ctx context.Context, d time.Duration) {
	if w, ok := ctx.Value(quotaWaitKey{}).(*atomic.Int64); ok {
		w.Add(int64(d))
	}
}

// quotaExempt are the requests Kafka never throttles: a client must always be able to
// negotiate versions and authenticate.
func quotaExempt(key int16) bool {
	return key == int16(kmsg.ApiVersions) || key == int16(kmsg.SASLHandshake) || key == int16(kmsg.SASLAuthenticate)
}

// quotaCheck is one request's quota state between before and after its handler.
type quotaCheck struct {
	cfgs   quotaConfigs
	user   string
	waited *atomic.Int64
	start  time.Time
}

// beforeQuota prepares the quota accounting of r (nil: no quotas configured) and caps a
// fetch's max bytes at what its consumer_byte_rate allows in (samples-1) windows, as Kafka
// does. It returns the handler context.
func (c *conn) beforeQuota(ctx context.Context, r *request) (context.Context, *quotaCheck) {
	q := c.b.quotas
	if q == nil || r.req == nil || quotaExempt(r.key) {
		return ctx, nil
	}
	cfgs := q.current()
	if len(cfgs) == 0 {
		return ctx, nil
	}
	qc := &quotaCheck{cfgs: cfgs, user: quotaUser(principalFrom(ctx)), waited: new(atomic.Int64), start: time.Now()}
	if fr, ok := r.req.(*kmsg.FetchRequest); ok && fr.ReplicaID < 0 {
		if limit, _, ok := cfgs.resolve(quotaFetch, qc.user, r.clientID); ok {
			maxWindow := limit * float64(q.samples-1) * q.window.Seconds()
			if maxWindow < float64(fr.MaxBytes) {
				fr.MaxBytes = int32(max(maxWindow, 1))
			}
		}
	}
	return context.WithValue(ctx, quotaWaitKey{}, qc.waited), qc
}

// afterQuota records r against its quotas and, when one is exceeded, sets the throttle
// time in resp (nil: acks=0 produce) and mutes the connection for it. A throttled fetch
// loses its records, which are then not counted (Kafka's unrecord).
func (c *conn) afterQuota(qc *quotaCheck, r *request, resp kmsg.Response) {
	if qc == nil {
		return
	}
	q := c.b.quotas
	now := time.Now()
	var throttle time.Duration
	apply := func(key string, v float64, counter func(quotaSensorKey, float64)) (time.Duration, *quotaRate, quotaSensorKey) {
		limit, sk, ok := qc.cfgs.resolve(key, qc.user, r.clientID)
		if !ok {
			return 0, nil, sk
		}
		s := q.sensor(sk, now)
		rate := s.record(v, now)
		counter(sk, v)
		t := s.throttle(rate, limit, now)
		if t > 0 {
			q.throttled.WithLabelValues(key, sk.user, sk.client).Inc()
			q.throttle.WithLabelValues(key, sk.user, sk.client).Add(t.Seconds())
		}
		return t, s, sk
	}
	countBytes := func(sk quotaSensorKey, v float64) { q.bytes.WithLabelValues(sk.key, sk.user, sk.client).Add(v) }
	handler := max(now.Sub(qc.start)-time.Duration(qc.waited.Load()), 0)
	t, _, _ := apply(quotaRequest, handler.Seconds()*100, func(sk quotaSensorKey, v float64) {
		q.reqTime.WithLabelValues(sk.key, sk.user, sk.client).Add(v / 100)
	})
	throttle = max(throttle, t)
	switch req := r.req.(type) {
	case *kmsg.ProduceRequest:
		t, _, _ := apply(quotaProduce, float64(r.size), countBytes)
		throttle = max(throttle, t)
	case *kmsg.FetchRequest:
		fr, ok := resp.(*kmsg.FetchResponse)
		if !ok || req.ReplicaID >= 0 {
			break
		}
		size := c.fetchResponseBytes(fr)
		var over bool // the client was over its fetch quota before this response
		if limit, sk, ok := qc.cfgs.resolve(quotaFetch, qc.user, r.clientID); ok {
			over = q.sensor(sk, now).rate(now) > limit
		}
		t, s, sk := apply(quotaFetch, float64(size), countBytes)
		throttle = max(throttle, t)
		if throttle > 0 && over {
			// Kafka answers a throttled fetch without data, which it does not count; the
			// client fetches the same offsets again after the throttle time. Only a client
			// already over its quota loses the data here: a first batch larger than the
			// quota allows in a window (always returned whole, KIP-74) would otherwise be
			// refused forever.
			s.record(-float64(size), now)
			q.bytes.WithLabelValues(sk.key, sk.user, sk.client).Add(-float64(size))
			fr.Topics = nil
			if c.rb != nil {
				c.rb.release()
			}
		}
	}
	if throttle <= 0 {
		return
	}
	ms := int32(min(throttle.Milliseconds()+1, 1<<31-1))
	after := true
	if tr, ok := resp.(kmsg.ThrottleResponse); ok {
		var cur int32
		cur, after = tr.Throttle()
		if cur < ms {
			resp.(kmsg.SetThrottleResponse).SetThrottle(ms)
		}
	}
	if until := now.Add(throttle); until.After(c.mutedUntil) {
		c.mutedUntil = until
	}
	if !after && c.ctx != nil {
		// A version from before KIP-219: the client does not wait after the response,
		// so Kafka delays the response itself by the throttle time.
		t := time.NewTimer(time.Until(c.mutedUntil))
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.ctx.Done():
		}
	}
}

// fetchResponseBytes is about the encoded size of fr: its record bytes (sections sent
// with sendfile counted at their length) and a fixed cost per topic and partition.
func (c *conn) fetchResponseBytes(fr *kmsg.FetchResponse) int {
	n := 16
	for i := range fr.Topics {
		t := &fr.Topics[i]
		n += 24 + len(t.Topic)
		for j := range t.Partitions {
			n += 48 + c.rb.recordLen(t.Partitions[j].RecordBatches)
		}
	}
	return n
}

// waitMuted holds the worker while the connection is muted by a throttle (KIP-219: the
// throttled response went out at once; no further request is handled until the throttle
// time has passed). Pending responses are written first. False: the connection closed.
func (c *conn) waitMuted() bool {
	d := time.Until(c.mutedUntil)
	if d <= 0 {
		return true
	}
	if !c.flushPending() {
		return false
	}
	t := time.NewTimer(time.Until(c.mutedUntil))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}
