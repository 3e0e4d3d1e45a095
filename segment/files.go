package segment

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// defaultMaxOpenSealedFiles is Config.MaxOpenSealedFiles when it is 0.
const defaultMaxOpenSealedFiles = 128

// fileCache bounds the open .log files of the segments a Log found sealed at Open.
//
// Open does not keep a file descriptor per sealed segment (100,000 segments would exceed
// any sane `ulimit -n`): such a segment opens its .log on first read, and the cache keeps
// at most max of them open. Eviction picks a segment not read since the clock hand last
// passed (CLOCK, a cheap approximation of least recently used: a read only sets a flag).
// An evicted file is not closed at once: a ReadResult handed out earlier may still be
// sent from it (sendfile) or read by the uploader, so it is retired and closed retireDelay
// later, exactly like the file of a segment deleted by retention; at most max files wait so
// (the oldest is closed early beyond that), so a log holds at most 2*max of these files.
// During Open there are no readers yet, so evicted files are closed at once.
//
// The active segment keeps the file it is written through; when Roll seals it, that file is
// handed to the cache (adopt) and managed like the others from then on.
type fileCache struct {
	fs  FS
	max int

	mu      sync.Mutex
	open    []*segment // segments whose lazy file is open, in clock order
	hand    int
	retired []retiredFile
	opening bool // Open is running: no reader can hold an evicted file
	closed  bool
}

type retiredFile struct {
	f  File
	at time.Time
}

func newFileCache(fsys FS, max int) *fileCache {
	if max <= 0 {
		max = defaultMaxOpenSealedFiles
	}
	return &fileCache{fs: fsys, max: max, opening: true}
}

// reader returns the segment's open .log file, opening it through the cache if the
// segment was found sealed at Open and its file is not open now.
func (s *segment) reader() (File, error) {
	if p := s.lazy.Load(); p != nil {
		if !s.used.Load() {
			s.used.Store(true)
		}
		return *p, nil
	}
	if s.log != nil && !s.adopted.Load() {
		return s.log, nil // written through by this process, not handed to the cache
	}
	if s.files == nil {
		return nil, fmt.Errorf("segment %s: no open file: %w", s.logPath, ErrClosed)
	}
	return s.files.get(s)
}

// get opens s's .log (or returns the file another reader just opened).
func (c *fileCache) get(s *segment) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if p := s.lazy.Load(); p != nil {
		s.used.Store(true)
		return *p, nil
	}
	if s.gone {
		return nil, fmt.Errorf("segment %s: deleted: %w", s.logPath, os.ErrNotExist)
	}
	f, err := c.fs.OpenFile(s.logPath, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("segment: cannot open %q: %w", s.logPath, err)
	}
	now := time.Now()
	c.reapLocked(now, false)
	for len(c.open) >= c.max {
		c.evictLocked(now)
	}
	s.lazy.Store(&f)
	s.used.Store(true)
	c.open = append(c.open, s)
	return f, nil
}

// adopt hands a segment this process just sealed (Roll) to the cache: the file it was
// written through is then closed like any other when the cap needs room, and reopened on a
// later read, so that a long-running log does not keep one file per segment it ever rolled.
func (c *fileCache) adopt(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || s.log == nil || s.adopted.Load() {
		return
	}
	now := time.Now()
	c.reapLocked(now, false)
	for len(c.open) >= c.max {
		c.evictLocked(now)
	}
	f := s.log
	s.files = c
	s.lazy.Store(&f)
	s.used.Store(true)
	c.open = append(c.open, s)
	s.adopted.Store(true) // after files and lazy: a reader that sees it finds both
}

// evictLocked closes (retires) the file of one segment not read since the hand last passed.
func (c *fileCache) evictLocked(now time.Time) {
	for {
		if c.hand >= len(c.open) {
			c.hand = 0
		}
		s := c.open[c.hand]
		if s.used.Load() {
			s.used.Store(false)
			c.hand++
			continue
		}
		c.dropLocked(c.hand)
		if p := s.lazy.Swap(nil); p != nil {
			c.retireLocked(*p, now)
		}
		return
	}
}

func (c *fileCache) dropLocked(i int) {
	last := len(c.open) - 1
	c.open[i] = c.open[last]
	c.open[last] = nil
	c.open = c.open[:last]
}

func (c *fileCache) retireLocked(f File, now time.Time) {
	if c.opening {
		f.Close()
		return
	}
	c.retired = append(c.retired, retiredFile{f: f, at: now})
	if len(c.retired) > c.max {
		// More evictions within retireDelay than the cap (a reader racing through the
		// history, e.g. a producer-state replay at start-up): close the oldest early, so
		// that the log never holds more than 2*max files. A reader still holding that
		// file gets os.ErrClosed (never another file's bytes: os.File defers the close
		// past running calls) and retries.
		c.retired[0].f.Close()
		n := copy(c.retired, c.retired[1:])
		c.retired[n] = retiredFile{}
		c.retired = c.retired[:n]
	}
}

// reapLocked closes retired files older than retireDelay (all if all).
func (c *fileCache) reapLocked(now time.Time, all bool) {
	keep := c.retired[:0]
	for _, r := range c.retired {
		if all || now.Sub(r.at) >= retireDelay {
			r.f.Close()
			continue
		}
		keep = append(keep, r)
	}
	clear(c.retired[len(keep):])
	c.retired = keep
}

// forget closes s's lazy file at once and makes later reads of s fail as deleted. The
// segment's retire delay has passed (or the log is closing) when this is called.
func (c *fileCache) forget(s *segment) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.gone = true
	p := s.lazy.Swap(nil)
	if p == nil {
		return nil
	}
	for i, x := range c.open {
		if x == s {
			c.dropLocked(i)
			break
		}
	}
	return (*p).Close()
}

// opened ends Open's phase in which evicted files are closed at once.
func (c *fileCache) opened() {
	c.mu.Lock()
	c.opening = false
	c.mu.Unlock()
}

// close closes every file the cache still holds; later gets fail with ErrClosed.
func (c *fileCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, s := range c.open {
		if p := s.lazy.Swap(nil); p != nil {
			(*p).Close()
		}
	}
	c.open = nil
	c.reapLocked(time.Time{}, true)
}

// openFiles reports how many lazy files are open and how many evicted ones wait to be
// closed (for tests).
func (c *fileCache) openFiles() (open, retired int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open), len(c.retired)
}
