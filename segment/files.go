package segment

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// defaultMaxOpenSealedFiles is Config.MaxOpenSealedFiles when it is 0 and Config.Files is nil.
const defaultMaxOpenSealedFiles = 128

// FileCache bounds the open .log files of sealed segments, for one log or (passed to every
// log in Config.Files) for a whole broker, so that the number of partitions times their
// segments never meets `ulimit -n`. It is safe for concurrent use by any number of logs.
//
// A sealed segment does not keep a file descriptor: its .log is opened on first read (or
// handed over by Roll, which wrote it) and the cache keeps at most max of them open. Eviction
// picks a segment not read since the clock hand last passed (CLOCK, a cheap approximation of
// least recently used: a read only sets a flag), whichever log it belongs to. An evicted file
// is not closed at once: a ReadResult handed out earlier may still be sent from it (sendfile)
// or read by the uploader, so it is retired and closed retireDelay later, exactly like the
// file of a segment deleted by retention; at most max files wait so (the oldest is closed
// early beyond that: a reader still holding it gets os.ErrClosed, never another file's bytes,
// since os.File defers the close past running calls). So the cache holds at most 2*max
// files. While a log is being opened nobody reads its files yet, so its evicted files are
// closed at once.
//
// The active segment keeps the file it is written through; when Roll seals it, that file is
// handed to the cache (adopt) and managed like the others from then on.
type FileCache struct {
	max int

	mu      sync.Mutex // a leaf: nothing else is locked while it is held
	open    []*segment // segments whose lazy file is open, in clock order; segment.slot is the index
	hand    int
	retired []retiredFile // oldest first from head; entries closed early have f == nil
	head    int           // index of the oldest entry of retired
	waiting int           // entries of retired not closed yet
}

type retiredFile struct {
	f     File
	at    time.Time
	owner *logFiles
}

// NewFileCache returns a cache keeping at most max sealed segment files open (and at most
// max evicted ones waiting for readers). max <= 0 is the default of a single log, 128.
func NewFileCache(max int) *FileCache {
	if max <= 0 {
		max = defaultMaxOpenSealedFiles
	}
	return &FileCache{max: max}
}

// Max is the cap the cache was made with.
func (c *FileCache) Max() int { return c.max }

// Files reports how many sealed segment files the cache holds open for reads and how many
// evicted ones wait for the retire delay before they are closed.
func (c *FileCache) Files() (open, retired int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open), c.waiting
}

// logFiles is one log's handle on a FileCache. Its fields are guarded by the cache's mu.
type logFiles struct {
	c       *FileCache
	fs      FS
	opening bool // Open is running: no reader can hold an evicted file of this log
	closed  bool
	open    int // entries of c.open that are this log's
	retired int // entries of c.retired that are this log's and not closed
}

// newLogFiles attaches a log being opened to cfg.Files, or to a cache of its own.
func newLogFiles(fsys FS, cfg Config) *logFiles {
	c := cfg.Files
	if c == nil {
		c = NewFileCache(cfg.MaxOpenSealedFiles)
	}
	return &logFiles{c: c, fs: fsys, opening: true}
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

// get opens s's .log (or returns the file another reader just opened). The file is opened
// without the cache's lock, which all logs share.
func (lf *logFiles) get(s *segment) (File, error) {
	c := lf.c
	c.mu.Lock()
	f, err := lf.heldLocked(s)
	c.mu.Unlock()
	if f != nil || err != nil {
		return f, err
	}
	f, err = lf.fs.OpenFile(s.logPath, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("segment: cannot open %q: %w", s.logPath, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if held, err := lf.heldLocked(s); held != nil || err != nil {
		f.Close() // another reader was faster, or the segment went meanwhile
		return held, err
	}
	lf.insertLocked(s, f)
	return f, nil
}

// heldLocked returns s's open lazy file, or an error if s cannot be opened (any more);
// nil, nil means that it is to be opened.
func (lf *logFiles) heldLocked(s *segment) (File, error) {
	if lf.closed {
		return nil, ErrClosed
	}
	if p := s.lazy.Load(); p != nil {
		s.used.Store(true)
		return *p, nil
	}
	if s.gone {
		return nil, fmt.Errorf("segment %s: deleted: %w", s.logPath, os.ErrNotExist)
	}
	return nil, nil
}

// insertLocked makes f s's lazy file, evicting another one if the cache is full.
func (lf *logFiles) insertLocked(s *segment, f File) {
	c := lf.c
	now := time.Now()
	c.reapLocked(now)
	for len(c.open) >= c.max {
		c.evictLocked(now)
	}
	s.lazy.Store(&f)
	s.used.Store(true)
	s.slot = len(c.open)
	c.open = append(c.open, s)
	lf.open++
}

// adopt hands a segment this process just sealed (Roll) to the cache: the file it was
// written through is then closed like any other when the cap needs room, and reopened on a
// later read, so that a long-running log does not keep one file per segment it ever rolled.
func (lf *logFiles) adopt(s *segment) {
	lf.c.mu.Lock()
	defer lf.c.mu.Unlock()
	if lf.closed || s.log == nil || s.adopted.Load() {
		return
	}
	s.files = lf
	lf.insertLocked(s, s.log)
	s.adopted.Store(true) // after files and lazy: a reader that sees it finds both
}

// evictLocked closes (retires) the file of one segment not read since the hand last passed.
func (c *FileCache) evictLocked(now time.Time) {
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
		c.dropLocked(s)
		if p := s.lazy.Swap(nil); p != nil {
			c.retireLocked(*p, s.files, now)
		}
		return
	}
}

// dropLocked removes s from the open files (s.slot is its index there).
func (c *FileCache) dropLocked(s *segment) {
	i, last := s.slot, len(c.open)-1
	if i < 0 || i > last || c.open[i] != s {
		return
	}
	c.open[i] = c.open[last]
	c.open[i].slot = i
	c.open[last] = nil
	c.open = c.open[:last]
	s.slot = -1
	s.files.open--
}

func (c *FileCache) retireLocked(f File, owner *logFiles, now time.Time) {
	if owner.opening {
		f.Close()
		return
	}
	c.retired = append(c.retired, retiredFile{f: f, at: now, owner: owner})
	c.waiting++
	owner.retired++
	for c.waiting > c.max && c.head < len(c.retired) {
		// More evictions within retireDelay than the cap (a reader racing through the
		// history, e.g. a producer-state replay at start-up): close the oldest early, so
		// that the cache never holds more than 2*max files. A reader still holding that
		// file gets os.ErrClosed (never another file's bytes: os.File defers the close
		// past running calls) and retries.
		c.popLocked()
	}
}

// popLocked removes the oldest entry of retired, closing its file if still open.
func (c *FileCache) popLocked() {
	if c.head >= len(c.retired) {
		return
	}
	r := c.retired[c.head]
	c.retired[c.head] = retiredFile{}
	c.head++
	if r.f != nil {
		r.f.Close()
		c.waiting--
		r.owner.retired--
	}
	if c.head == len(c.retired) {
		c.retired, c.head = c.retired[:0], 0
	} else if c.head > 64 && c.head > len(c.retired)/2 {
		n := copy(c.retired, c.retired[c.head:])
		clear(c.retired[n:])
		c.retired, c.head = c.retired[:n], 0
	}
}

// reapLocked closes the retired files older than retireDelay.
func (c *FileCache) reapLocked(now time.Time) {
	for c.head < len(c.retired) {
		r := c.retired[c.head]
		if r.f != nil && now.Sub(r.at) < retireDelay {
			return
		}
		c.popLocked()
	}
}

// forget closes s's lazy file at once and makes later reads of s fail as deleted. The
// segment's retire delay has passed (or the log is closing) when this is called.
func (lf *logFiles) forget(s *segment) error {
	c := lf.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s.gone = true
	p := s.lazy.Swap(nil)
	if p == nil {
		return nil
	}
	c.dropLocked(s)
	return (*p).Close()
}

// opened ends Open's phase in which evicted files are closed at once.
func (lf *logFiles) opened() {
	lf.c.mu.Lock()
	lf.opening = false
	lf.c.mu.Unlock()
}

// close closes every file the cache still holds for this log; later gets fail with
// ErrClosed. The log forgot its segments before, so normally nothing is left to find; the
// scans are a safety net that costs nothing then.
func (lf *logFiles) close() {
	c := lf.c
	c.mu.Lock()
	defer c.mu.Unlock()
	lf.closed = true
	for i := 0; lf.open > 0 && i < len(c.open); {
		s := c.open[i]
		if s.files != lf {
			i++
			continue
		}
		c.dropLocked(s) // moves the last entry to i
		if p := s.lazy.Swap(nil); p != nil {
			(*p).Close()
		}
	}
	for i := c.head; lf.retired > 0 && i < len(c.retired); i++ {
		if r := &c.retired[i]; r.f != nil && r.owner == lf {
			r.f.Close()
			r.f = nil
			c.waiting--
			lf.retired--
		}
	}
	c.reapLocked(time.Now())
}

// openFiles reports how many of this log's lazy files are open and how many of its evicted ones
// wait to be closed (for tests).
func (lf *logFiles) openFiles() (open, retired int) {
	lf.c.mu.Lock()
	defer lf.c.mu.Unlock()
	return lf.open, lf.retired
}
