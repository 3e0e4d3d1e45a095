package partition

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// TestCleanerCrashAtEveryStep runs one clean on segmenttest.MemFS and simulates a power
// loss at each filesystem operation it makes in turn (the operation fails, and so does
// every later one, then only what was fsynced survives): writing the .cleaned files,
// renaming them to .swap, the commit record, the renames of the swap, the removals, the
// checkpoint. After each, the partition is reopened on what survived: the records of each
// cleaned segment's offset range must be exactly those before the clean or exactly those
// after it (never a mix; a clean swaps group after group, each atomically), and the
// latest record of every key is the one acknowledged last. A second power loss during
// the recovery of every fifth case checks that recovery recovers itself.
func TestCleanerCrashAtEveryStep(t *testing.T) {
	const dir = "/data/c-0"
	cfg := compactConfig(t, "compact")
	cfg.SegmentBytes = 600
	now := time.UnixMilli(5_000_000)
	build := func() *segmenttest.MemFS {
		fs := segmenttest.NewMemFS()
		p := openCompacted(t, fs, dir, cfg)
		for i := range 60 {
			appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0,
				rec(fmt.Sprintf("k%d", i%9), fmt.Sprintf("v%d", i)), rec(fmt.Sprintf("j%d", i%4), fmt.Sprintf("w%d", i))), now)
			if i == 40 {
				appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, tomb("k3")), now)
			}
		}
		if err := p.Roll(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		return fs
	}

	// The reference: the records before and after an uninterrupted clean, and how many
	// filesystem operations the clean makes.
	// The operations are counted on a partition opened as the crash runs below open it
	// (reading it first would open its segment files before the clean and count fewer).
	ops := 0
	{
		fs := build()
		p := openCompacted(t, fs, dir, cfg)
		fs.SetFault(func(op, name string) error { ops++; return nil })
		clean(t, p, now, 1<<20)
		fs.SetFault(nil)
		p.Close()
	}
	fs := build()
	p := openCompacted(t, fs, dir, cfg)
	before := readRecords(t, p)
	if st := clean(t, p, now, 1<<20); !st.Cleaned || st.Segments < 3 {
		t.Fatalf("reference clean: %+v", st)
	}
	after := readRecords(t, p)
	var bounds []int64 // the cleaned segments: each is swapped in whole or not at all
	for _, sg := range p.log.Segments() {
		bounds = append(bounds, sg.BaseOffset)
	}
	p.Close()
	inRange := func(rs []logRecord, lo, hi int64) []logRecord {
		var out []logRecord
		for _, r := range rs {
			if r.offset >= lo && r.offset < hi {
				out = append(out, r)
			}
		}
		return out
	}
	if len(after) >= len(before) || ops < 20 {
		t.Fatalf("reference: %d records before, %d after, %d operations", len(before), len(after), ops)
	}
	model := latest(before)

	outcomes := map[string]int{}
	for k := 1; k <= ops+1; k++ {
		fs := build()
		p := openCompacted(t, fs, dir, cfg)
		n := 0
		fs.SetFault(func(op, name string) error {
			n++
			if n >= k {
				return fmt.Errorf("power lost at %s %s: %w", op, name, errors.ErrUnsupported)
			}
			return nil
		})
		_, cerr := p.Clean(t.Context(), now, cleanIO{m: newOffsetMap(1 << 20)})
		if k <= ops && cerr == nil {
			// The operations after the swap (checkpoint) may fail without failing the
			// clean; that is fine.
			_ = cerr
		}
		survivor := fs.Crash()
		if k%5 == 0 {
			// Lose power again during the recovery, at its third operation.
			m := 0
			survivor.SetFault(func(op, name string) error {
				m++
				if m >= 3 {
					return errors.ErrUnsupported
				}
				return nil
			})
			if q, err := Open(Options{Topic: "c", Dir: dir, Config: cfg, FS: survivor}); err == nil {
				_ = q // abandoned: its files fail from now on
			}
			survivor = survivor.Crash()
		}
		q := openCompacted(t, survivor, dir, cfg)
		got := readRecords(t, q)
		switch {
		case slices.Equal(got, before):
			outcomes["old"]++
		case slices.Equal(got, after):
			outcomes["new"]++
		default:
			outcomes["some groups swapped"]++
		}
		for i := range bounds {
			lo, hi := bounds[i], int64(1<<62)
			if i+1 < len(bounds) {
				hi = bounds[i+1]
			}
			g := inRange(got, lo, hi)
			if !slices.Equal(g, inRange(before, lo, hi)) && !slices.Equal(g, inRange(after, lo, hi)) {
				t.Fatalf("power loss at operation %d of %d: offsets [%d, %d) hold %d records, neither the %d before nor the %d after the clean: a mix", k, ops, lo, hi, len(g), len(inRange(before, lo, hi)), len(inRange(after, lo, hi)))
			}
		}
		if l := latest(got); len(l) != len(model) {
			t.Fatalf("power loss at operation %d: %d keys, want %d", k, len(l), len(model))
		} else {
			for key, w := range model {
				if l[key] != w {
					t.Fatalf("power loss at operation %d: key %s is %+v, want %+v", k, key, l[key], w)
				}
			}
		}
		// The recovered log cleans to the same result.
		clean(t, q, now, 1<<20)
		if again := readRecords(t, q); !slices.Equal(again, after) {
			t.Fatalf("power loss at operation %d: cleaning the recovered log gives %d records, want %d", k, len(again), len(after))
		}
		q.Close()
	}
	if outcomes["old"] == 0 || outcomes["new"] == 0 {
		t.Fatalf("outcomes %v: both the old and the new segments should be seen", outcomes)
	}
	t.Logf("%d crash points: %v", ops+1, outcomes)
}

// TestCleanerSwapHookSteps stops a swap at each named step without a crash (the broker
// process goes on): the log is fenced or unchanged, and a reopen recovers the old or new.
func TestCleanerSwapHookSteps(t *testing.T) {
	for _, step := range []string{"swap", "commit", "rename", "done"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			cfg := compactConfig(t, "compact")
			p := openCompacted(t, nil, dir, cfg)
			now := time.UnixMilli(5_000_000)
			for i := range 30 {
				appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec(fmt.Sprintf("k%d", i%5), fmt.Sprint(i))), now)
			}
			p.Roll()
			before := readRecords(t, p)
			segment.CleanHook = func(s string) error {
				if s == step {
					return errors.ErrUnsupported
				}
				return nil
			}
			defer func() { segment.CleanHook = nil }()
			if _, err := p.Clean(t.Context(), now, cleanIO{m: newOffsetMap(1 << 20)}); err == nil {
				t.Fatal("clean stopped by the hook returned no error")
			}
			segment.CleanHook = nil
			p.close() // abandoned as after a crash: no clean-shutdown marker for a fenced log
			q := openCompacted(t, nil, dir, cfg)
			defer q.Close()
			got := readRecords(t, q)
			if l, w := latest(got), latest(before); len(l) != len(w) {
				t.Fatalf("keys %d, want %d", len(l), len(w))
			} else {
				for k := range w {
					if l[k] != w[k] {
						t.Fatalf("key %s: %+v, want %+v", k, l[k], w[k])
					}
				}
			}
			if step == "rename" || step == "done" {
				if len(got) >= len(before) {
					t.Fatalf("after the commit point: %d records, the %d before the clean", len(got), len(before))
				}
			} else if len(got) != len(before) {
				t.Fatalf("before the commit point: %d records, want %d", len(got), len(before))
			}
		})
	}
}
