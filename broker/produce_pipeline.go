package broker

// Produce pipelining. A connection worker handles one request at a time and answers in
// request order. An acks=-1 produce spends most of its time waiting for its fsync, and
// a producer keeps several requests in flight (franz-go: up to five per broker when
// idempotent), so the worker does not sit in that wait: handleProduce appends the batches
// and leaves the durability waits running in a goroutine (pendingProduce), and the worker
// goes on to append the next produce requests of the connection, whose fsyncs then follow
// (or share) the running one (group commit in segment). Responses are still written in
// request order: a pending response is written once its waits are over and every earlier
// one is written; any request other than a deferrable Produce first waits until every
// pending response is written, so nothing changes for it (a long-polling Fetch never
// holds back a produce acknowledgement, and no request sees the connection's earlier
// produce requests unanswered).
//
// A produce request is deferred only when there is something to overlap its wait with: a
// request already queued behind it, or pending responses. A request that comes alone is
// waited for by the worker itself: handing the wait to a goroutine and the response back
// adds a goroutine switch each way to the latency of a lone request (BenchmarkProduceLatency
// measures it), and a low-rate producer sends nothing but lone requests.
//
// A pending request keeps its frame bytes counted against the connection's queue budget
// until its response is written, so pipelining holds no more memory than queueing did.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxPendingProduces bounds the acks=-1 produce responses a connection keeps waiting for
// their fsyncs while its worker handles the next requests.
const maxPendingProduces = requestQueue

// pendingProduce is a produce response whose durability waits are still running.
type pendingProduce struct {
	done chan struct{} // closed when every wait of the request returned
	// finish applies the waits' outcomes to the response (and records the request's
	// metrics). Only the connection worker calls it, once, after done is closed.
	finish func()
}

// produceDeferral is put in a Produce request's context by a connection worker that can
// write the response later: handleProduce then sets pending instead of waiting for
// durability itself. Without one in the context, handleProduce waits.
type produceDeferral struct{ pending *pendingProduce }

type produceDeferralKey struct{}

func withProduceDeferral(ctx context.Context, d *produceDeferral) context.Context {
	return context.WithValue(ctx, produceDeferralKey{}, d)
}

func produceDeferralFrom(ctx context.Context) *produceDeferral {
	d, _ := ctx.Value(produceDeferralKey{}).(*produceDeferral)
	return d
}

// pendingResponse is a request whose response the worker writes once wait is done.
type pendingResponse struct {
	r    *request
	resp kmsg.Response
	wait *pendingProduce
}

// deferProduce decides how handleProduce completes its durability waits: run performs
// the waits (it may block for the produce timeout), apply writes their outcomes into the
// response. With a deferral in ctx, run goes to a goroutine and the worker calls apply
// later (produce_pipeline.go); otherwise both run now.
func deferProduce(ctx context.Context, run, apply func()) {
	d := produceDeferralFrom(ctx)
	if d == nil {
		run()
		apply()
		return
	}
	p := &pendingProduce{done: make(chan struct{}), finish: apply}
	go func() {
		defer close(p.done)
		run()
	}()
	d.pending = p
}

// observeDeferred wraps the finish of a deferred request so that its metrics are taken
// when its response is complete: error codes from the durability waits count, and the
// latency covers the waits, as for a request handled in one go.
func (b *Broker) observeDeferred(p *pendingProduce, r *request, resp kmsg.Response, start time.Time) {
	finish := p.finish
	p.finish = func() {
		finish()
		b.observeRequest(r.key, r.req, resp, nil, time.Since(start), nil) // opsmetrics.go
	}
}
