package partition

import (
	"sync"
	"sync/atomic"
)

// appendNotifier wakes long-polling fetches when a partition's high watermark moves.
//
// A fetch that has to wait creates one wake channel (capacity 1), subscribes it to every
// partition it reads, re-reads once (so that an append between its first read and the
// subscription is not missed), and then blocks on the channel, its max-wait timer and its
// context. An append calls broadcast, which does a non-blocking send to every subscriber:
// the fetch needs to know that something changed, not how often. Nothing here sleeps or
// polls, and no partition lock is held while a fetch waits.
type appendNotifier struct {
	n    atomic.Int32 // number of subscribers; lets broadcast skip the mutex when nobody waits
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// subscribe registers ch; every later broadcast makes ch readable.
func (a *appendNotifier) subscribe(ch chan struct{}) {
	a.mu.Lock()
	if a.subs == nil {
		a.subs = make(map[chan struct{}]struct{})
	}
	if _, ok := a.subs[ch]; !ok {
		a.subs[ch] = struct{}{}
		a.n.Add(1)
	}
	a.mu.Unlock()
}

// unsubscribe removes ch; it is safe to call for a channel that is not subscribed.
func (a *appendNotifier) unsubscribe(ch chan struct{}) {
	a.mu.Lock()
	if _, ok := a.subs[ch]; ok {
		delete(a.subs, ch)
		a.n.Add(-1)
	}
	a.mu.Unlock()
}

// broadcast wakes every subscriber without blocking.
func (a *appendNotifier) broadcast() {
	if a.n.Load() == 0 {
		return
	}
	a.mu.Lock()
	for ch := range a.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	a.mu.Unlock()
}
