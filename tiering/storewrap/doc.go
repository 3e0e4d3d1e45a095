// Package storewrap holds decorators around a tiering.ObjectStore, in the manner of
// thanos-io/objstore: Prefix (a key namespace inside a shared bucket), Metrics (Prometheus
// request, latency and byte counters) and Faulty (seeded, reproducible fault injection for
// tests of the uploader, the remote reader and the broker's behaviour during an outage).
//
// Decorators keep optional capabilities: Prefix and Metrics return a value implementing
// tiering.ConditionalPutter (and tiering.RetainingPutter) exactly when the wrapped store does. They compose; the usual
// order is Metrics(Prefix(store)), so that metrics count what the broker asked for.
package storewrap

import "github.com/strata-io/strata/tiering"

// Op names an ObjectStore operation, in metric labels and fault configuration.
type Op string

// Operations.
const (
	OpPut    Op = "put"
	OpPutIf  Op = "put_if"
	OpGet    Op = "get"
	OpStat   Op = "stat"
	OpList   Op = "list"
	OpDelete Op = "delete"
)

// Ops lists every Op.
var Ops = []Op{OpPut, OpPutIf, OpGet, OpStat, OpList, OpDelete}

// withCaps returns base extended with the optional capabilities inner has:
// ConditionalPutter (through putIf) and RetainingPutter (through retain).
func withCaps[T tiering.ObjectStore](base T, inner tiering.ObjectStore,
	putIf func(cp tiering.ConditionalPutter) tiering.ConditionalPutter,
	retain func(rp tiering.RetainingPutter) tiering.RetainingPutter) tiering.ObjectStore {
	rp, ok := inner.(tiering.RetainingPutter)
	if !ok {
		return withCond(base, inner, putIf)
	}
	if cp, ok := inner.(tiering.ConditionalPutter); ok {
		return struct {
			tiering.ObjectStore
			tiering.ConditionalPutter
			tiering.RetainingPutter
		}{base, putIf(cp), retain(rp)}
	}
	return struct {
		tiering.ObjectStore
		tiering.RetainingPutter
	}{base, retain(rp)}
}

// withCond returns base, or base extended with inner's PutIf when inner has one.
func withCond[T tiering.ObjectStore](base T, inner tiering.ObjectStore, putIf func(cp tiering.ConditionalPutter) tiering.ConditionalPutter) tiering.ObjectStore {
	if cp, ok := inner.(tiering.ConditionalPutter); ok {
		return struct {
			tiering.ObjectStore
			tiering.ConditionalPutter
		}{base, putIf(cp)}
	}
	return base
}
