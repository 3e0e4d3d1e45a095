package checker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Kind names what an Op records.
type Kind string

const (
	KindSend      Kind = "send"      // producer invoked: Partition, Value
	KindAck       Kind = "ack"       // producer acknowledged: Partition, Offset, Value
	KindFail      Kind = "fail"      // producer failed: Partition, Value, Err (unknown outcome)
	KindAssign    Kind = "assign"    // a consumer stream starts for Partition (Offset = start, -1 unknown)
	KindRevoke    Kind = "revoke"    // a consumer stream ends for Partition
	KindRead      Kind = "read"      // a consumer read Value at (Partition, Offset)
	KindCommit    Kind = "commit"    // a group commit of Offset for Partition was acknowledged
	KindCommitted Kind = "committed" // the probe observed committed Offset for Partition (Time = request start)
	KindEnd       Kind = "end"       // the probe observed end Offset and LogStart (Time = request start)
	KindFinal     Kind = "final"     // the final read of Partition finished: Offset = end, LogStart, Complete
	KindNemesis   Kind = "nemesis"   // a fault was injected or healed: Value describes it
	KindInfo      Kind = "info"      // anything else worth keeping (client errors): Value, Err
)

// Op is one event of a history. Seq orders ops as they were recorded; Time is when the
// event happened (for probe ops, when the request started).
type Op struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Process   string    `json:"process"`
	Kind      Kind      `json:"kind"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Value     string    `json:"value,omitempty"`
	LogStart  int64     `json:"log_start,omitempty"`
	Group     string    `json:"group,omitempty"`
	Complete  bool      `json:"complete,omitempty"`
	Err       string    `json:"err,omitempty"`
}

// String renders the op as one excerpt line.
func (o Op) String() string {
	s := fmt.Sprintf("#%d %s %-8s %-9s p=%d", o.Seq, o.Time.Format("15:04:05.000"), o.Process, o.Kind, o.Partition)
	switch o.Kind {
	case KindSend, KindFail:
	default:
		s += fmt.Sprintf(" o=%d", o.Offset)
	}
	if o.Value != "" {
		s += " v=" + o.Value
	}
	if o.Kind == KindEnd || o.Kind == KindFinal {
		s += fmt.Sprintf(" logstart=%d", o.LogStart)
	}
	if o.Kind == KindFinal {
		s += fmt.Sprintf(" complete=%v", o.Complete)
	}
	if o.Group != "" {
		s += " group=" + o.Group
	}
	if o.Err != "" {
		s += " err=" + o.Err
	}
	return s
}

// History is an append-only, concurrency-safe list of ops.
type History struct {
	mu    sync.Mutex
	ops   []Op
	kinds map[Kind]int
}

// Add appends op, assigning its Seq and, if zero, its Time. It returns the stored op.
func (h *History) Add(op Op) Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Seq = int64(len(h.ops))
	if op.Time.IsZero() {
		op.Time = time.Now()
	}
	h.ops = append(h.ops, op)
	if h.kinds == nil {
		h.kinds = map[Kind]int{}
	}
	h.kinds[op.Kind]++
	return op
}

// Ops returns a copy of the ops in Seq order.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Len returns the number of ops.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// WriteJSONL writes one JSON object per op.
func (h *History) WriteJSONL(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, op := range h.Ops() {
		if err := enc.Encode(op); err != nil {
			return fmt.Errorf("checker: encode op %d: %w", op.Seq, err)
		}
	}
	return bw.Flush()
}

// SaveFile writes the history as JSON lines to path.
func (h *History) SaveFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create history file %q: %w", path, err)
	}
	if err := h.WriteJSONL(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadJSONL reads a history written by WriteJSONL. Ops keep their recorded Seq.
func ReadJSONL(r io.Reader) (*History, error) {
	h := &History{kinds: map[Kind]int{}}
	dec := json.NewDecoder(r)
	for {
		var op Op
		err := dec.Decode(&op)
		if err == io.EOF {
			return h, nil
		}
		if err != nil {
			return nil, fmt.Errorf("checker: decode op %d: %w", len(h.ops), err)
		}
		h.ops = append(h.ops, op)
		h.kinds[op.Kind]++
	}
}

// LoadFile reads a history saved by SaveFile.
func LoadFile(path string) (*History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open history file %q: %w", path, err)
	}
	defer f.Close()
	return ReadJSONL(f)
}

// Count returns the number of ops of kind k.
func (h *History) Count(k Kind) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.kinds[k]
}
