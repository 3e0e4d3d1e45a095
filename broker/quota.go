package broker

// Client quotas (KIP-13 byte rates, KIP-124 request rates, KIP-55 user and client-id
// entities, KIP-546 DescribeClientQuotas/AlterClientQuotas), as Kafka enforces them.
//
// A quota entity is a user, a client-id, or a user and a client-id; each component is a
// name or the default (<default>: every user or client without a quota of its own). The
// quota keys are producer_byte_rate and consumer_byte_rate (bytes per second) and
// request_percentage (percent of one thread's time per second, e.g. 200 = two threads).
// For a request from user U (the principal's name: ANONYMOUS without authentication)
// with client id C, each key's limit is taken from the first of these entities that sets
// it (Kafka's precedence): U+C, U+<default>, U, <default>+C, <default>+<default>,
// <default>, C, <default client>. The limit is shared by the clients the matched entity
// names: a quota set on user U alone is shared by all of U's clients, one set on
// U+<default> applies to each of U's client ids separately.
//
// Measurement and throttling (quota_conn.go): produce records the request's size, fetch
// the response's size, every request its handler time (without a fetch's long-poll wait)
// against request_percentage, each in a sampled rate of quota.window.num windows of
// quota.window.size.seconds. When a rate is over its limit, the response carries
// throttle_time_ms = (rate - limit) / limit x the measured span (Kafka's formula) and the
// broker handles no further request from that connection until that time has passed
// (KIP-219: answer at once, then mute the connection; a request version from before
// KIP-219, whose client does not wait by itself, gets its response delayed by the throttle
// time instead, as Kafka does). A fetch from a client that was already over its fetch
// quota is answered without records, which are not counted, as Kafka does; unlike Kafka,
// a fetch that only this response puts over the quota keeps its records (and the
// throttle), so that a first batch larger than a window's quota (always returned whole,
// KIP-74) is not refused forever. A fetch's max bytes is capped at what the quota allows
// in (samples-1) windows.
//
// Persistence: <data-dir>/meta/quotas.json (segment.WriteFileAtomic), and with a remote
// tier the same bytes at <remote.log.prefix>/_quotas/quotas.json (tiering.QuotasKey),
// written on every change; a broker restored onto an empty data dir reads it back.
//
// Not supported, and refused with INVALID_REQUEST by AlterClientQuotas: ip entities
// (connection_creation_rate) and controller_mutation_rate.
//
// Metrics per quota entity (the matched entity's user and client-id labels, "" where it
// has none): strata_quota_bytes_total and strata_quota_request_seconds_total (what was
// counted), strata_quota_throttle_seconds_total and strata_quota_throttled_responses_total.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Quota keys (Kafka's names).
const (
	quotaProduce = "producer_byte_rate"
	quotaFetch   = "consumer_byte_rate"
	quotaRequest = "request_percentage"
)

const quotasFileName = "quotas.json"

// quotaEntity is an entity: each component is absent (has=false), the default, or a name.
type quotaEntity struct {
	HasUser, UserDefault     bool
	User                     string
	HasClient, ClientDefault bool
	Client                   string
}

func (e quotaEntity) String() string {
	part := func(typ string, def bool, name string) string {
		if def {
			return typ + "=<default>"
		}
		return typ + "=" + name
	}
	var ps []string
	if e.HasUser {
		ps = append(ps, part("user", e.UserDefault, e.User))
	}
	if e.HasClient {
		ps = append(ps, part("client-id", e.ClientDefault, e.Client))
	}
	return strings.Join(ps, ",")
}

// quotaConfigs is an immutable snapshot of every entity's quotas.
type quotaConfigs map[quotaEntity]map[string]float64

// quotaSensorKey names a sensor: a quota key and the matched entity's user and client-id
// ("" where the entity has no such component).
type quotaSensorKey struct {
	key, user, client string
}

// quotaManager holds the configured quotas and the sensors of the clients they apply to.
type quotaManager struct {
	b       *Broker
	samples int
	window  time.Duration

	mu      sync.Mutex // serialises changes and the file writes
	configs atomic.Pointer[quotaConfigs]
	sensors sync.Map     // quotaSensorKey -> *quotaRate
	swept   atomic.Int64 // unix nanos of the last sweep of idle sensors

	bytes     *prometheus.CounterVec
	reqTime   *prometheus.CounterVec
	throttled *prometheus.CounterVec
	throttle  *prometheus.CounterVec
}

func (b *Broker) openQuotas() error {
	q := &quotaManager{b: b, samples: 11, window: time.Second}
	if n := b.cfg.QuotaWindowNum; n > 0 {
		q.samples = int(n)
	}
	if s := b.cfg.QuotaWindowSizeSeconds; s > 0 {
		q.window = time.Duration(s) * time.Second
	}
	labels := []string{"quota_type", "user", "client_id"}
	q.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_quota_bytes_total",
		Help: "Bytes counted against producer_byte_rate / consumer_byte_rate, per quota entity (Kafka's Produce/Fetch byte-rate)."}, labels)
	q.reqTime = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_quota_request_seconds_total",
		Help: "Handler time counted against request_percentage, per quota entity (Kafka's Request request-time)."}, labels)
	q.throttle = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_quota_throttle_seconds_total",
		Help: "Throttle time given to clients, per quota type and entity (Kafka's throttle-time)."}, labels)
	q.throttled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_quota_throttled_responses_total",
		Help: "Responses with a throttle time, per quota type and entity."}, labels)
	if r := b.cfg.Registerer; r != nil { // a restarted broker counts on (datametrics.go)
		q.bytes = registerOrExisting(r, q.bytes)
		q.reqTime = registerOrExisting(r, q.reqTime)
		q.throttle = registerOrExisting(r, q.throttle)
		q.throttled = registerOrExisting(r, q.throttled)
	}
	path := filepath.Join(b.metaDir(), quotasFileName)
	if err := b.restoreQuotasFile(path); err != nil {
		return err
	}
	cfgs, err := readQuotasFile(b.fs(), path)
	if err != nil {
		return err
	}
	q.configs.Store(&cfgs)
	b.quotas = q
	return nil
}

// restoreQuotasFile fetches quotas.json from the bucket onto a fresh data dir.
func (b *Broker) restoreQuotasFile(path string) error {
	if b.tier == nil || !b.freshDir {
		return nil
	}
	if _, err := b.fs().Stat(path); err == nil {
		return nil
	}
	data, ok, err := b.readRestoreObject(tiering.QuotasKey(b.cfg.RemotePrefix)) // groupbucket.go
	if err != nil || !ok {
		return err
	}
	if _, err := decodeQuotas(data); err != nil {
		return fmt.Errorf("cannot restore client quotas from the bucket: %w", err)
	}
	if err := segment.WriteFileAtomic(b.fs(), path, data, 0o644); err != nil {
		return err
	}
	b.logger.Info("client quotas restored from bucket")
	return nil
}

// quotasFile is the format of meta/quotas.json.
type quotasFile struct {
	Version  int               `json:"version"`
	Entities []quotasFileEntry `json:"entities"`
}

type quotasFileEntry struct {
	User          *string            `json:"user,omitempty"` // "" with userDefault
	UserDefault   bool               `json:"userDefault,omitempty"`
	Client        *string            `json:"clientId,omitempty"`
	ClientDefault bool               `json:"clientIdDefault,omitempty"`
	Quotas        map[string]float64 `json:"quotas"`
}

func readQuotasFile(fsys segment.FS, path string) (quotaConfigs, error) {
	data, err := segment.ReadFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return quotaConfigs{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	c, err := decodeQuotas(data)
	if err != nil {
		return nil, fmt.Errorf("cannot parse %q: %w", path, err)
	}
	return c, nil
}

func decodeQuotas(data []byte) (quotaConfigs, error) {
	var f quotasFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("unsupported quotas file version %d", f.Version)
	}
	c := quotaConfigs{}
	for _, e := range f.Entities {
		var ent quotaEntity
		if e.User != nil || e.UserDefault {
			ent.HasUser, ent.UserDefault = true, e.UserDefault
			if e.User != nil && !e.UserDefault {
				ent.User = *e.User
			}
		}
		if e.Client != nil || e.ClientDefault {
			ent.HasClient, ent.ClientDefault = true, e.ClientDefault
			if e.Client != nil && !e.ClientDefault {
				ent.Client = *e.Client
			}
		}
		if !ent.HasUser && !ent.HasClient {
			return nil, errors.New("an entity without user or client-id")
		}
		if len(e.Quotas) > 0 {
			c[ent] = e.Quotas
		}
	}
	return c, nil
}

func encodeQuotas(c quotaConfigs) ([]byte, error) {
	f := quotasFile{Version: 1, Entities: []quotasFileEntry{}}
	for ent, qs := range c {
		e := quotasFileEntry{UserDefault: ent.UserDefault, ClientDefault: ent.ClientDefault, Quotas: qs}
		if ent.HasUser && !ent.UserDefault {
			e.User = &ent.User
		}
		if ent.HasClient && !ent.ClientDefault {
			e.Client = &ent.Client
		}
		f.Entities = append(f.Entities, e)
	}
	slices.SortFunc(f.Entities, func(a, b quotasFileEntry) int {
		key := func(e quotasFileEntry) string {
			s := func(p *string, def bool) string {
				switch {
				case def:
					return "\x01"
				case p == nil:
					return "\x00"
				}
				return "\x02" + *p
			}
			return s(e.User, e.UserDefault) + "\xff" + s(e.Client, e.ClientDefault)
		}
		return strings.Compare(key(a), key(b))
	})
	return json.MarshalIndent(f, "", " ")
}

// current returns the configured quotas (never nil).
func (q *quotaManager) current() quotaConfigs {
	if p := q.configs.Load(); p != nil {
		return *p
	}
	return nil
}

// update applies fn to a copy of the quotas and, unless validateOnly, persists it (file,
// then bucket) and makes it current.
func (q *quotaManager) update(fn func(quotaConfigs) error, validateOnly bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	next := quotaConfigs{}
	for e, qs := range q.current() {
		next[e] = maps.Clone(qs)
	}
	if err := fn(next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	for e, qs := range next {
		if len(qs) == 0 {
			delete(next, e)
		}
	}
	data, err := encodeQuotas(next)
	if err != nil {
		return err
	}
	b := q.b
	if err := segment.WriteFileAtomic(b.fs(), filepath.Join(b.metaDir(), quotasFileName), data, 0o644); err != nil {
		return err
	}
	q.configs.Store(&next)
	if b.tier != nil {
		ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
		defer cancel()
		if err := b.cfg.RemoteStore.Put(ctx, tiering.QuotasKey(b.cfg.RemotePrefix), bytes.NewReader(data), int64(len(data))); err != nil {
			b.logger.Warn("cannot copy client quotas to the bucket; a restore would miss this change until the next one", "err", err)
		}
	}
	return nil
}

// resolve returns the limit of key for user and client (Kafka's precedence) and the
// sensor it is measured in; ok=false: no limit.
func (c quotaConfigs) resolve(key, user, client string) (limit float64, sk quotaSensorKey, ok bool) {
	order := [...]quotaEntity{
		{HasUser: true, User: user, HasClient: true, Client: client},
		{HasUser: true, User: user, HasClient: true, ClientDefault: true},
		{HasUser: true, User: user},
		{HasUser: true, UserDefault: true, HasClient: true, Client: client},
		{HasUser: true, UserDefault: true, HasClient: true, ClientDefault: true},
		{HasUser: true, UserDefault: true},
		{HasClient: true, Client: client},
		{HasClient: true, ClientDefault: true},
	}
	for _, e := range order {
		if v, found := c[e][key]; found {
			sk = quotaSensorKey{key: key}
			if e.HasUser {
				sk.user = user
			}
			if e.HasClient {
				sk.client = client
			}
			return v, sk, true
		}
	}
	return 0, quotaSensorKey{}, false
}

// quotaSensorIdle is how long a sensor (and its metric series) lives without records,
// as Kafka's quota sensors (an hour).
const quotaSensorIdle = time.Hour

// sensor returns the rate of sk, creating it. At most once a minute, creating one first
// drops the sensors idle for quotaSensorIdle, so that many short-lived client ids do not
// accumulate.
func (q *quotaManager) sensor(sk quotaSensorKey, now time.Time) *quotaRate {
	if r, ok := q.sensors.Load(sk); ok {
		return r.(*quotaRate)
	}
	if last := q.swept.Load(); now.UnixNano()-last > int64(time.Minute) && q.swept.CompareAndSwap(last, now.UnixNano()) {
		q.sensors.Range(func(k, v any) bool {
			if v.(*quotaRate).idleSince(now.Add(-quotaSensorIdle)) {
				q.sensors.Delete(k)
				sk := k.(quotaSensorKey)
				for _, m := range []*prometheus.CounterVec{q.bytes, q.reqTime, q.throttle, q.throttled} {
					m.DeleteLabelValues(sk.key, sk.user, sk.client)
				}
			}
			return true
		})
	}
	r, _ := q.sensors.LoadOrStore(sk, newQuotaRate(q.samples, q.window, now))
	return r.(*quotaRate)
}

// quotaUser is the user a quota sees for a principal: its name without the type.
func quotaUser(principal string) string {
	if _, name, ok := strings.Cut(principal, ":"); ok {
		return name
	}
	return principal
}

// validQuotaValue checks a value for key as Kafka does.
func validQuotaValue(key string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return fmt.Errorf("quota %s must be positive, got %v", key, v)
	}
	if key != quotaRequest && v != math.Trunc(v) {
		return fmt.Errorf("quota %s must be an integer, got %v", key, v)
	}
	return nil
}
