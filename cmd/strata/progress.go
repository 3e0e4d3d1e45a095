package main

import (
	"io"
	"os"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress of long replays (strata consume -e, strata tier cat). It is drawn on stderr,
// and only when stderr is a terminal and stdout is not: with records going to the same
// terminal a bar would be torn apart by them, and a pipe or log file must never receive
// control characters. --progress=always|never overrides the detection.

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressMode is the --progress flag: auto, always or never.
func progressEnabled(mode string, s streams) (bool, error) {
	switch mode {
	case "", "auto":
		return isTerminal(s.err) && !isTerminal(s.out), nil
	case "always":
		return true, nil
	case "never":
		return false, nil
	}
	return false, usageErrorf("--progress: want auto, always or never, got %q", mode)
}

// progress counts records and bytes toward total offsets (0: unknown) and shows records,
// bytes, rate and the ETA to the end when enabled. A nil *progress does nothing.
type progress struct {
	bar     *progressbar.ProgressBar
	records int64
	bytes   int64
	total   int64
	start   time.Time
}

func newProgress(w io.Writer, enabled bool, total int64, what string) *progress {
	if !enabled {
		return nil
	}
	max := total
	if max <= 0 {
		max = -1 // spinner
	}
	bar := progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		// The rate is ours (describe): the bar's own switches to "rec/hr" at a slow
		// start and showed "0 rec/hr" before the first record.
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
	)
	return &progress{bar: bar, total: total, start: time.Now()}
}

// add records n more offsets (records, control records included) and b bytes.
func (p *progress) add(n, b int64) {
	if p == nil {
		return
	}
	p.records += n
	p.bytes += b
	p.bar.Describe(p.describe(time.Since(p.start), false))
	_ = p.bar.Add64(n)
}

// describe is the text before the bar: bytes so far, and the record rate once there is one
// worth showing (after the first records and half a second, or at the end).
func (p *progress) describe(elapsed time.Duration, final bool) string {
	d := humanBytes(p.bytes)
	if p.records > 0 && elapsed > 0 && (final || elapsed >= 500*time.Millisecond) {
		d += ", " + humanRate(float64(p.records)/elapsed.Seconds()) + " rec/s"
	}
	return d
}

// humanRate is r with k/M suffixes: 950, 12.3k, 1.2M.
func humanRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmtFloat(r/1e6) + "M"
	case r >= 1e3:
		return fmtFloat(r/1e3) + "k"
	case r >= 10:
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return fmtFloat(r)
}

func (p *progress) finish() {
	if p == nil {
		return
	}
	p.bar.Describe(p.describe(time.Since(p.start), true))
	_ = p.bar.Finish()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmtInt(n) + " B"
	}
	units := "KMGTPE"
	f := float64(n)
	i := -1
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	return fmtFloat(f) + " " + string(units[i]) + "iB"
}

func fmtInt(n int64) string     { return strconv.FormatInt(n, 10) }
func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
