package broker

// Fetch sessions (KIP-227), as Kafka's FetchManager keeps them.
//
// A session remembers, per partition, what a client last asked for (fetch offset, partition
// max bytes, ...) and what it was last told (high watermark, log start offset), so that an
// idle consumer of many partitions sends and receives almost nothing per poll:
//
//   - A full fetch (Fetch v7+, session epoch 0) is answered in full and, when the cache has
//     a free slot or may evict a session (below), creates a session holding every partition
//     it named; the response carries the new session id (0 when none was created). A full
//     fetch naming a session id closes that session first. Epoch -1 (the final epoch)
//     closes the named session and answers without one (session id 0). Fetch v4-v6 has no
//     sessions.
//   - An incremental fetch (epoch > 0) names a session and its next epoch. Its partitions
//     are added to the session or update the request parameters of those in it; its
//     ForgottenTopicsData removes partitions. Every partition of the session is then read,
//     in session order, and the response holds only partitions with records, a changed high
//     watermark or log start offset, or an error (an error also resets the remembered high
//     watermark, so the partition is sent again once the error is gone). Partitions that
//     returned records move to the end of the session order, so that a response's byte
//     limit does not starve the partitions behind them. A session left empty is closed
//     and the fetch is answered without one.
//   - Errors, answered at the top level with no partitions and session id 0, exactly where
//     Kafka answers them: an unknown session id is FETCH_SESSION_ID_NOT_FOUND; a known
//     session with another epoch is INVALID_FETCH_SESSION_EPOCH (the session stays);
//     a session created with topic ids (v13+) used at v12 or below, or the reverse, is
//     FETCH_SESSION_TOPIC_ID_ERROR. Two fetches racing on one epoch: the second is
//     INVALID_FETCH_SESSION_EPOCH, and so is the first if the session moved on while it
//     waited.
//   - The cache holds at most max.incremental.fetch.session.cache.slots sessions (default
//     1000; 0 turns sessions off). To make room, the least recently used session is evicted
//     if it was idle for longer than min.incremental.fetch.session.eviction.ms (default
//     120000); otherwise the session with the fewest partitions among those older than that
//     (as of their last use) is evicted if the new session has more partitions. Otherwise no
//     session is created. Sessions are never closed by a timer: only by a client or by
//     eviction. Strata has no follower fetches, so no session is privileged. Unlike Kafka
//     4.x the cache is not sharded: one mutex, held only to look sessions up and insert
//     them.
//   - With an authorizer, the partitions of an incremental fetch that the principal may no
//     longer read are answered TOPIC_AUTHORIZATION_FAILED and not read. Topics denied in a
//     full fetch are answered so and kept out of the session.

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults of the session cache keys.
const (
	defaultFetchSessionSlots      = 1000
	defaultFetchSessionEvictionMs = 120000
)

// fetchSessionCache holds the broker's fetch sessions. The zero value has no slots.
type fetchSessionCache struct {
	slots    int
	eviction time.Duration
	now      func() time.Time // time.Now; a seam for eviction tests

	mu       sync.Mutex
	sessions map[int32]*fetchSession
	parts    int // sum of the sessions' sizes

	// Kafka's NumIncrementalFetchSessions, NumIncrementalFetchPartitionsCached,
	// IncrementalFetchSessionEvictionsPerSec, and fetches by kind.
	mSessions, mParts prometheus.Gauge
	mEvictions        prometheus.Counter
	mFetches          *prometheus.CounterVec // kind=full|incremental|sessionless|error
}

// fetchSession is one session. The cache's mu guards lastUsed, evictable and size (the
// fields eviction reads); the session's mu guards the rest.
type fetchSession struct {
	id           int32
	usesTopicIDs bool
	created      time.Time

	lastUsed  time.Time
	evictable bool // older than the eviction time as of its last use
	size      int  // partitions, as of its last use

	mu    sync.Mutex
	epoch int32 // the epoch the next incremental fetch must carry
	parts []*sessionPart
	index map[sessionKey]*sessionPart
	// eff and effOrder are the read list of parts (readList) while it has not changed;
	// nil: build it again. Replaced, never modified: fetches running at once share it.
	eff      []kmsg.FetchRequestTopic
	effOrder []*sessionPart
}

// sessionKey names a partition in a session: by topic id in sessions of Fetch v13+, by
// name below.
type sessionKey struct {
	id        [16]byte
	topic     string
	partition int32
}

// sessionPart is one partition of a session: the request parameters last sent for it and
// the high watermark and log start offset last answered.
type sessionPart struct {
	key sessionKey
	req kmsg.FetchRequestTopicPartition
	hw  int64 // -1: not answered yet, or last answered with an error
	lso int64 // log start offset last answered; -1: none
}

// newFetchSessionCache returns a cache of slots sessions; reg (nil: none) gets its metrics.
func newFetchSessionCache(slots int, eviction time.Duration, reg prometheus.Registerer) *fetchSessionCache {
	c := &fetchSessionCache{slots: slots, eviction: eviction, now: time.Now, sessions: make(map[int32]*fetchSession),
		mSessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_fetch_sessions",
			Help: "Fetch sessions in the cache (Kafka: NumIncrementalFetchSessions).",
		}),
		mParts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_fetch_session_partitions",
			Help: "Partitions in all fetch sessions (Kafka: NumIncrementalFetchPartitionsCached).",
		}),
		mEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_fetch_session_evictions_total",
			Help: "Fetch sessions evicted to make room for new ones (Kafka: IncrementalFetchSessionEvictionsPerSec).",
		}),
		mFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_fetch_requests_by_session_total",
			Help: "Fetch requests (v7+) by session use: full (may create a session), incremental, sessionless (epoch -1), error (a session error answered).",
		}, []string{"kind"}),
	}
	if reg != nil {
		c.mSessions = registerOrExisting(reg, c.mSessions)
		c.mParts = registerOrExisting(reg, c.mParts)
		c.mEvictions = registerOrExisting(reg, c.mEvictions)
		c.mFetches = registerOrExisting(reg, c.mFetches)
	}
	c.mSessions.Set(0)
	c.mParts.Set(0)
	return c
}

// gaugesLocked sets the gauges from the cache.
func (c *fetchSessionCache) gaugesLocked() {
	c.mSessions.Set(float64(len(c.sessions)))
	c.mParts.Set(float64(c.parts))
}

// nextFetchEpoch is the epoch that follows e (Kafka's FetchMetadata.nextEpoch).
func nextFetchEpoch(e int32) int32 {
	switch {
	case e < 0:
		return -1
	case e == math.MaxInt32:
		return 1
	}
	return e + 1
}

// fetchCtx is what one fetch does with sessions: begin turns the request into the one to
// read, finish turns the answer into the response to send.
type fetchCtx struct {
	c       *fetchSessionCache
	version int16
	full    bool          // a full fetch that may create a session
	sess    *fetchSession // the session of an incremental fetch
	epoch   int32         // the incremental fetch's epoch
	order   []*sessionPart
	denied  []kmsg.FetchRequestTopic // session partitions the principal may not read
}

// beginFetch applies the request's session fields. It returns the request to answer (for
// an incremental fetch: every partition of the session, in session order) or a top-level
// error code. b and ctx are used only to authorize the partitions of an incremental fetch.
func (c *fetchSessionCache) beginFetch(b *Broker, ctx context.Context, req *kmsg.FetchRequest) (fc *fetchCtx, _ *kmsg.FetchRequest, code int16) {
	fc = &fetchCtx{c: c, version: req.Version}
	if req.Version < 7 {
		return fc, req, 0 // no sessions before v7
	}
	if req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		if req.SessionID != 0 {
			c.remove(req.SessionID)
		}
		fc.full = req.SessionEpoch == 0
		if c != nil {
			kind := "sessionless"
			if fc.full {
				kind = "full"
			}
			c.mFetches.WithLabelValues(kind).Inc()
		}
		return fc, req, 0
	}
	if c == nil {
		return fc, nil, kerr.FetchSessionIDNotFound.Code
	}
	fc.c.mFetches.WithLabelValues("incremental").Inc()
	defer func() {
		if code != 0 {
			c.mFetches.WithLabelValues("error").Inc()
		}
	}()

	c.mu.Lock()
	s := c.sessions[req.SessionID]
	if s == nil {
		c.mu.Unlock()
		return fc, nil, kerr.FetchSessionIDNotFound.Code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.epoch != req.SessionEpoch:
		c.mu.Unlock()
		return fc, nil, kerr.InvalidFetchSessionEpoch.Code
	case s.usesTopicIDs != (req.Version >= 13):
		c.mu.Unlock()
		return fc, nil, kerr.FetchSessionTopicIDError.Code
	}
	s.update(req)
	if len(s.parts) == 0 {
		c.removeLocked(s.id)
		c.mu.Unlock()
		return fc, req, 0 // answered without a session, as Kafka does
	}
	c.touchLocked(s, len(s.parts))
	c.gaugesLocked()
	c.mu.Unlock()
	s.epoch = nextFetchEpoch(s.epoch)
	fc.sess, fc.epoch = s, req.SessionEpoch

	eff := *req
	eff.ForgottenTopics = nil
	if b != nil && b.authz != nil {
		// Authorized on every fetch (ACLs change): built for this fetch alone.
		eff.Topics, fc.order, fc.denied = s.readList(func(name string) bool {
			return b.topicAllowed(ctx, kmsg.ACLOperationRead, name)
		}, b.topicNameOrID)
		return fc, &eff, 0
	}
	if s.eff == nil {
		s.eff, s.effOrder, _ = s.readList(nil, nil)
	}
	eff.Topics, fc.order = s.eff, s.effOrder
	return fc, &eff, 0
}

// readList returns the request to read for the session: every partition, in session
// order, consecutive partitions of one topic under one topic entry, and the partitions
// in that order. With allowed, partitions of topics it refuses are returned apart. The
// topics returned may be shared by fetches running at once: a handler must not modify
// them.
func (s *fetchSession) readList(allowed func(name string) bool, nameOf func(string, [16]byte) (string, bool)) (
	topics []kmsg.FetchRequestTopic, order []*sessionPart, denied []kmsg.FetchRequestTopic) {
	all := make([]kmsg.FetchRequestTopicPartition, 0, len(s.parts))
	order = make([]*sessionPart, 0, len(s.parts))
	deniedIdx := make(map[sessionKey]int) // topic (partition -1) -> index in denied
	for _, sp := range s.parts {
		if allowed != nil {
			if name, ok := nameOf(sp.key.topic, sp.key.id); ok && !allowed(name) {
				tk := sessionKey{id: sp.key.id, topic: sp.key.topic, partition: -1}
				i, seen := deniedIdx[tk]
				if !seen {
					i = len(denied)
					deniedIdx[tk] = i
					rt := kmsg.NewFetchRequestTopic()
					rt.Topic, rt.TopicID = sp.key.topic, sp.key.id
					denied = append(denied, rt)
				}
				denied[i].Partitions = append(denied[i].Partitions, sp.req)
				continue
			}
		}
		if n := len(topics); n == 0 || topics[n-1].Topic != sp.key.topic || topics[n-1].TopicID != sp.key.id {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = sp.key.topic, sp.key.id
			topics = append(topics, rt)
		}
		all = append(all, sp.req)
		order = append(order, sp)
	}
	// The topics' partitions are consecutive runs of all.
	i := 0
	for t := range topics {
		n := 0
		for i+n < len(order) && order[i+n].key.topic == topics[t].Topic && order[i+n].key.id == topics[t].TopicID {
			n++
		}
		topics[t].Partitions = all[i : i+n : i+n]
		i += n
	}
	return topics, order, denied
}

// update adds or updates the request's partitions and removes the forgotten ones
// (Kafka's FetchSession.update).
func (s *fetchSession) update(req *kmsg.FetchRequest) {
	if len(req.Topics) > 0 || len(req.ForgottenTopics) > 0 {
		s.eff, s.effOrder = nil, nil // the read list changes
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := s.key(rt.Topic, rt.TopicID, rp.Partition)
			if sp := s.index[k]; sp != nil {
				sp.req = rp
				continue
			}
			sp := &sessionPart{key: k, req: rp, hw: -1, lso: -1}
			s.index[k] = sp
			s.parts = append(s.parts, sp)
		}
	}
	if len(req.ForgottenTopics) == 0 {
		return
	}
	gone := make(map[*sessionPart]bool)
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := s.key(ft.Topic, ft.TopicID, p)
			if sp := s.index[k]; sp != nil {
				delete(s.index, k)
				gone[sp] = true
			}
		}
	}
	kept := s.parts[:0]
	for _, sp := range s.parts {
		if !gone[sp] {
			kept = append(kept, sp)
		}
	}
	clear(s.parts[len(kept):])
	s.parts = kept
}

func (s *fetchSession) key(topic string, id [16]byte, partition int32) sessionKey {
	if s.usesTopicIDs {
		return sessionKey{id: id, partition: partition}
	}
	return sessionKey{topic: topic, partition: partition}
}

// finish completes resp, the answer to the request beginFetch returned: for a full fetch
// it creates the session; for an incremental one it remembers what was answered and keeps
// only the partitions that must be sent.
func (fc *fetchCtx) finish(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
	resp.SessionID = 0
	switch {
	case fc.full:
		if resp.ErrorCode == 0 {
			resp.SessionID = fc.c.create(req, resp)
		}
	case fc.sess != nil:
		fc.finishIncremental(resp)
	}
}

func (fc *fetchCtx) finishIncremental(resp *kmsg.FetchResponse) {
	s := fc.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != nextFetchEpoch(fc.epoch) {
		// Another fetch of this session began while this one was being answered.
		resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
		resp.SessionID = s.id
		resp.Topics = nil
		return
	}
	resp.SessionID = s.id
	i := 0
	var moved []*sessionPart
	topics := resp.Topics[:0]
	for _, rt := range resp.Topics {
		parts := rt.Partitions[:0]
		for _, rp := range rt.Partitions {
			sp := fc.order[i]
			i++
			if sp.mustRespond(&rp) {
				parts = append(parts, rp)
				if len(rp.RecordBatches) > 0 {
					moved = append(moved, sp)
				}
			}
		}
		if len(parts) > 0 {
			rt.Partitions = parts
			topics = append(topics, rt)
		}
	}
	resp.Topics = topics
	for _, t := range fc.denied {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(moved) > 0 {
		// Partitions that returned records go to the back of the session order.
		isMoved := make(map[*sessionPart]bool, len(moved))
		for _, sp := range moved {
			isMoved[sp] = true
		}
		kept := make([]*sessionPart, 0, len(s.parts))
		for _, sp := range s.parts {
			if !isMoved[sp] {
				kept = append(kept, sp)
			}
		}
		for _, sp := range moved {
			if s.index[sp.key] == sp { // not forgotten meanwhile
				kept = append(kept, sp)
			}
		}
		s.parts = kept
		s.eff, s.effOrder = nil, nil // the read order changed
	}
}

// mustRespond reports whether an incremental response must include the partition, and
// remembers what it tells the client (Kafka's CachedPartition.maybeUpdateResponseData).
func (sp *sessionPart) mustRespond(rp *kmsg.FetchResponseTopicPartition) bool {
	must := len(rp.RecordBatches) > 0
	if sp.hw != rp.HighWatermark {
		must, sp.hw = true, rp.HighWatermark
	}
	if sp.lso != rp.LogStartOffset {
		must, sp.lso = true, rp.LogStartOffset
	}
	if rp.ErrorCode != 0 {
		must, sp.hw = true, -1
	}
	return must
}

// create makes a session of the full fetch's partitions, if the cache has or can make
// room, and returns its id (0: none).
func (c *fetchSessionCache) create(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) int32 {
	if c == nil || c.slots <= 0 {
		return 0
	}
	size := 0
	for _, rt := range req.Topics {
		size += len(rt.Partitions)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.sessions) >= c.slots && !c.evictLocked(size, now) {
		return 0
	}
	s := &fetchSession{usesTopicIDs: req.Version >= 13, created: now, epoch: nextFetchEpoch(0),
		index: make(map[sessionKey]*sessionPart, size), parts: make([]*sessionPart, 0, size)}
	// resp.Topics parallels req.Topics (handleFetch), except for topics the authorizer
	// denied, which it appends after them and which stay out of the session.
	for i, rt := range req.Topics {
		var answers []kmsg.FetchResponseTopicPartition
		if i < len(resp.Topics) {
			answers = resp.Topics[i].Partitions
		}
		for j, rp := range rt.Partitions {
			k := s.key(rt.Topic, rt.TopicID, rp.Partition)
			if s.index[k] != nil {
				continue
			}
			sp := &sessionPart{key: k, req: rp, hw: -1, lso: -1}
			if j < len(answers) {
				sp.hw, sp.lso = answers[j].HighWatermark, answers[j].LogStartOffset
			}
			s.index[k] = sp
			s.parts = append(s.parts, sp)
		}
	}
	for {
		s.id = rand.Int32N(math.MaxInt32-1) + 1
		if c.sessions[s.id] == nil {
			break
		}
	}
	c.sessions[s.id] = s
	c.touchLocked(s, len(s.parts))
	c.gaugesLocked()
	return s.id
}

// touchLocked records a use of s (Kafka's FetchSessionCache.touch).
func (c *fetchSessionCache) touchLocked(s *fetchSession, size int) {
	now := c.now()
	c.parts += size - s.size
	s.lastUsed, s.size = now, size
	s.evictable = now.Sub(s.created) > c.eviction
}

// evictLocked evicts a session to make room for a new one of size partitions, if Kafka's
// rules allow: the least recently used session if it is stale, else the evictable session
// with the fewest partitions (lowest id on a tie) if the new one has more.
func (c *fetchSessionCache) evictLocked(size int, now time.Time) bool {
	var lru, small *fetchSession
	for _, s := range c.sessions {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) || (s.lastUsed.Equal(lru.lastUsed) && s.id < lru.id) {
			lru = s
		}
		if s.evictable && (small == nil || s.size < small.size || (s.size == small.size && s.id < small.id)) {
			small = s
		}
	}
	switch {
	case lru == nil:
		return false
	case now.Sub(lru.lastUsed) > c.eviction:
		c.removeLocked(lru.id)
		c.mEvictions.Inc()
		return true
	case small != nil && size > small.size:
		c.removeLocked(small.id)
		c.mEvictions.Inc()
		return true
	}
	return false
}

func (c *fetchSessionCache) remove(id int32) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.removeLocked(id)
	c.mu.Unlock()
}

func (c *fetchSessionCache) removeLocked(id int32) {
	if s, ok := c.sessions[id]; ok {
		delete(c.sessions, id)
		c.parts -= s.size
		c.gaugesLocked()
	}
}

// len returns the number of sessions and of partitions in them, as of their last use.
func (c *fetchSessionCache) len() (sessions, partitions int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions), c.parts
}
