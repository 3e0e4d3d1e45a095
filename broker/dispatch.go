package broker

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc handles one decoded request. A nil response sends nothing (acks=0 produce);
// an error closes the connection.
type handlerFunc func(b *Broker, ctx context.Context, req kmsg.Request) (kmsg.Response, error)

// apiEntry is one implemented API: its key, the version range served, its handler and
// its authorization rule. Each API's NN_name.go file registers its entry (register, from
// init), so the file is the one place that says what the API serves and who may call it.
// ApiVersions advertises exactly the registered entries.
type apiEntry struct {
	key      kmsg.Key
	min, max int16
	handle   handlerFunc
	// authz runs the handler behind the API's authorization (authorizer.go) when an
	// authorizer is configured: hook(authzX) for a typed hook, noHook for APIs that need
	// none or authorize inside their handler. nil fails closed (CLUSTER_ACTION needed).
	authz authzHook
}

// h adapts a typed handler method to handlerFunc.
func h[R kmsg.Request](f func(*Broker, context.Context, R) (kmsg.Response, error)) handlerFunc {
	return func(b *Broker, ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
		r, ok := req.(R)
		if !ok {
			return nil, fmt.Errorf("%w: request type %T for key %d", errProtocol, req, req.Key())
		}
		return f(b, ctx, r)
	}
}

// The registered APIs. Entries arrive from the init functions of the NN_name.go files;
// the table is built on first use, after every init has run. Version floors follow Kafka
// 4.0 (KIP-896) where older versions need message formats Strata does not store.
var apis struct {
	registered []apiEntry
	once       sync.Once
	table      []apiEntry  // by key
	byKey      []*apiEntry // indexed by key; nil for a key the broker does not serve
}

// register adds an API; only init functions call it.
func register(e apiEntry) { apis.registered = append(apis.registered, e) }

func buildAPITable() {
	t := slices.Clone(apis.registered)
	slices.SortFunc(t, func(x, y apiEntry) int { return int(x.key) - int(y.key) })
	idx := make([]*apiEntry, kmsg.MaxKey+1)
	for i := range t {
		e := &t[i]
		if idx[e.key] != nil {
			panic(fmt.Sprintf("broker: api key %d registered twice", e.key))
		}
		if e.max > kmsg.RequestForKey(int16(e.key)).MaxVersion() {
			panic(fmt.Sprintf("broker: %s v%d is beyond kmsg", e.key.Name(), e.max))
		}
		if e.min > e.max {
			panic(fmt.Sprintf("broker: %s versions %d-%d", e.key.Name(), e.min, e.max))
		}
		idx[e.key] = e
	}
	apis.table, apis.byKey = t, idx
}

// apiTable returns every API the broker serves, by key.
func apiTable() []apiEntry {
	apis.once.Do(buildAPITable)
	return apis.table
}

// lookupAPI returns the entry for key, or nil if the key is not implemented.
func lookupAPI(key int16) *apiEntry {
	apis.once.Do(buildAPITable)
	if key < 0 || int(key) >= len(apis.byKey) {
		return nil
	}
	return apis.byKey[key]
}
