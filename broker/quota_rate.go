package broker

import (
	"sync"
	"time"
)

// quotaRate is Kafka's sampled Rate (org.apache.kafka.common.metrics.stats.Rate over
// SampledStat), which client quotas are measured with: `samples` windows of `window`
// each; a value is added to the current window, a new window starts when the current one
// is `window` old, and windows older than samples*window are forgotten. The rate is the
// sum of the kept windows divided by the time they span, counted as at least
// (samples-1) windows, so that a first burst is spread over the whole span instead of
// measuring as an enormous rate.
type quotaRate struct {
	mu      sync.Mutex
	samples []quotaSample
	cur     int
	window  time.Duration
	used    time.Time // last record
}

type quotaSample struct {
	start time.Time
	value float64
}

func newQuotaRate(samples int, window time.Duration, now time.Time) *quotaRate {
	r := &quotaRate{samples: make([]quotaSample, samples), window: window, used: now}
	for i := range r.samples {
		r.samples[i].start = now
	}
	return r
}

// record adds v (negative: takes back an earlier record) and returns the rate after it.
func (r *quotaRate) record(v float64, now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.samples[r.cur]
	if now.Sub(s.start) >= r.window {
		r.cur = (r.cur + 1) % len(r.samples)
		s = &r.samples[r.cur]
		*s = quotaSample{start: now}
	}
	s.value += v
	r.used = now
	return r.rateLocked(now)
}

// idleSince reports whether nothing was recorded since t.
func (r *quotaRate) idleSince(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used.Before(t)
}

// rate returns the current rate per second.
func (r *quotaRate) rate(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rateLocked(now)
}

func (r *quotaRate) rateLocked(now time.Time) float64 {
	span := r.spanLocked(now)
	var total float64
	for i := range r.samples {
		total += r.samples[i].value
	}
	return total / span.Seconds()
}

// spanLocked forgets obsolete windows and returns the time the kept ones span (Kafka's
// Rate.windowSize).
func (r *quotaRate) spanLocked(now time.Time) time.Duration {
	expire := time.Duration(len(r.samples)) * r.window
	oldest := now
	for i := range r.samples {
		s := &r.samples[i]
		if now.Sub(s.start) >= expire {
			*s = quotaSample{start: now}
		}
		if s.start.Before(oldest) {
			oldest = s.start
		}
	}
	span := now.Sub(oldest)
	if full := time.Duration(len(r.samples)-1) * r.window; span < full {
		span = full
	}
	return span
}

// throttle is Kafka's ClientQuotaManager.throttleTime: how long the client must stay
// quiet for its rate to come back to limit, (rate - limit) / limit x the measured span,
// at most the span of all windows; 0 when the rate is within the limit.
func (r *quotaRate) throttle(rate, limit float64, now time.Time) time.Duration {
	if rate <= limit || limit <= 0 {
		return 0
	}
	r.mu.Lock()
	span := r.spanLocked(now)
	r.mu.Unlock()
	d := time.Duration((rate - limit) / limit * float64(span))
	return min(d, time.Duration(len(r.samples))*r.window)
}
