package cache

import (
	"container/list"
	"sync"
)

// window is a small strict-LRU admission window in front of a ristretto cache (the "W" of
// W-TinyLFU, which ristretto lacks). Every loaded entry enters the window, so the reader
// that asked for it, and a chunk loaded in the background for a reader (Prefetch), find it
// again even when ristretto's TinyLFU admission would reject a newcomer in a full cache
// (ristretto rejects entries seen less often than its victims, and without the window a
// chunk read piecewise by one consumer could be fetched dozens of times). A caller that
// loads ahead keeps what it loads within the window's size (tiering/readahead.go). Entries leaving the window
// are offered to ristretto, which admits them by frequency; lookups that hit the window
// first touch ristretto so that its frequency sketch learns about them.
type window struct {
	mu     sync.Mutex
	budget int64
	bytes  int64
	ll     *list.List // front = most recent
	items  map[string]*list.Element
}

type windowItem struct {
	key string
	val []byte
}

func newWindow(budget int64) *window {
	return &window{budget: budget, ll: list.New(), items: make(map[string]*list.Element)}
}

func (w *window) get(k string) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.items[k]; ok {
		w.ll.MoveToFront(e)
		return e.Value.(*windowItem).val, true
	}
	return nil, false
}

// put inserts k and returns the entries pushed out to stay within budget (the newest entry
// always stays, even if it alone exceeds the budget).
func (w *window) put(k string, v []byte) (evicted []windowItem) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.items[k]; ok {
		w.ll.MoveToFront(e)
		return nil
	}
	w.items[k] = w.ll.PushFront(&windowItem{key: k, val: v})
	w.bytes += int64(len(v))
	for w.bytes > w.budget && w.ll.Len() > 1 {
		e := w.ll.Back()
		it := e.Value.(*windowItem)
		w.ll.Remove(e)
		delete(w.items, it.key)
		w.bytes -= int64(len(it.val))
		evicted = append(evicted, *it)
	}
	return evicted
}

func (w *window) used() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bytes
}

// recentSet remembers the last n keys loaded, so that a prefetch that only gets to run
// after its reader already loaded (and maybe evicted) the chunk does not fetch it again.
type recentSet struct {
	mu   sync.Mutex
	ring []string
	next int
	keys map[string]int
}

func newRecentSet(n int) *recentSet {
	return &recentSet{ring: make([]string, n), keys: make(map[string]int, n)}
}

func (r *recentSet) add(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.ring[r.next]; old != "" {
		if r.keys[old]--; r.keys[old] <= 0 {
			delete(r.keys, old)
		}
	}
	r.ring[r.next] = k
	r.keys[k]++
	r.next = (r.next + 1) % len(r.ring)
}

func (r *recentSet) has(k string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys[k] > 0
}
