package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// recordFormat is a compiled --format string.
//
// Placeholders: %k key, %v (or %s) value, %o offset, %p partition, %t timestamp (Unix ms),
// %T topic, %h headers as k=v joined by ',', %K key length, %V value length, %% a percent
// sign. Escapes: \n \t \r \\ and \0.
type recordFormat []formatPart

type formatPart struct {
	lit  string
	verb byte // 0 for a literal
}

func parseRecordFormat(f string) (recordFormat, error) {
	var out recordFormat
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, formatPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch c {
		case '\\':
			if i+1 >= len(f) {
				lit.WriteByte('\\')
				continue
			}
			i++
			switch f[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '0':
				lit.WriteByte(0)
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(f[i])
			}
		case '%':
			if i+1 >= len(f) {
				return nil, fmt.Errorf("format %q ends with a lone %%", f)
			}
			i++
			v := f[i]
			switch v {
			case '%':
				lit.WriteByte('%')
			case 'k', 'v', 's', 'o', 'p', 't', 'T', 'h', 'K', 'V':
				flush()
				out = append(out, formatPart{verb: v})
			default:
				return nil, fmt.Errorf("format %q: unknown placeholder %%%c", f, v)
			}
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out, nil
}

func (rf recordFormat) write(w *bufio.Writer, r *kgo.Record) {
	for _, p := range rf {
		switch p.verb {
		case 0:
			w.WriteString(p.lit)
		case 'k':
			w.Write(r.Key)
		case 'v', 's':
			w.Write(r.Value)
		case 'o':
			w.WriteString(strconv.FormatInt(r.Offset, 10))
		case 'p':
			w.WriteString(strconv.FormatInt(int64(r.Partition), 10))
		case 't':
			w.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		case 'T':
			w.WriteString(r.Topic)
		case 'K':
			if r.Key == nil {
				w.WriteString("-1")
			} else {
				w.WriteString(strconv.Itoa(len(r.Key)))
			}
		case 'V':
			if r.Value == nil {
				w.WriteString("-1")
			} else {
				w.WriteString(strconv.Itoa(len(r.Value)))
			}
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(h.Key)
				w.WriteByte('=')
				w.Write(h.Value)
			}
		}
	}
}

// consumeOptions are the parsed flags of `strata consume`.
type consumeOptions struct {
	topic         string
	partition     int
	fromBeginning bool
	offset        int64 // -1: not given
	timestamp     int64 // -1: not given
	format        recordFormat
	count         int // 0: unlimited
	exitAtEnd     bool
	progress      io.Writer // progress bar (progress.go) when non-nil; only with -e, which knows the end
}

func runConsume(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "consume", "consume TOPIC [flags]")
	var cf clientFlags
	cf.register(fs)
	var o consumeOptions
	fs.IntVar(&o.partition, "partition", -1, "consume only this partition (-1: all)")
	fs.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the log start offset")
	fs.Int64Var(&o.offset, "offset", -1, "start at this offset (with or without --partition)")
	fs.Int64Var(&o.timestamp, "timestamp", -1, "start at the first record with timestamp >= this (Unix ms)")
	format := fs.String("format", `%v\n`, `output format: %k key, %v value, %o offset, %p partition, %t timestamp ms, %T topic, %h headers, %K/%V key/value length, %%; escapes \n \t`)
	fs.IntVar(&o.count, "n", 0, "exit after this many records (0: no limit)")
	fs.BoolVar(&o.exitAtEnd, "e", false, "exit once every partition reached the end offset it had at start")
	progressMode := fs.String("progress", "auto", "with -e, progress on stderr: auto (stderr is a terminal, stdout is not), always, never")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("consume: want exactly one TOPIC")
	}
	o.topic = pos[0]
	starts := 0
	for _, b := range []bool{o.fromBeginning, o.offset >= 0, o.timestamp >= 0} {
		if b {
			starts++
		}
	}
	if starts > 1 {
		return usageErrorf("consume: --from-beginning, --offset and --timestamp are exclusive")
	}
	if o.format, err = parseRecordFormat(*format); err != nil {
		return usageErrorf("%v", err)
	}
	if show, err := progressEnabled(*progressMode, s); err != nil {
		return err
	} else if show {
		o.progress = s.err
	}
	return consume(ctx, &cf, o, s.out)
}

// consume prints records of o.topic to out until the count is reached, every partition
// reached its end (exitAtEnd) or ctx is done (a clean exit: Ctrl-C ends a tail).
func consume(ctx context.Context, cf *clientFlags, o consumeOptions, out io.Writer) error {
	adm, admCl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer admCl.Close()

	actx, cancel := context.WithTimeout(ctx, cf.timeout)
	details, err := adm.ListTopics(actx, o.topic)
	if err == nil {
		if d, ok := details[o.topic]; !ok {
			err = fmt.Errorf("topic %q does not exist", o.topic)
		} else if d.Err != nil {
			err = fmt.Errorf("topic %q: %w", o.topic, d.Err)
		}
	}
	if err != nil {
		cancel()
		return fmt.Errorf("cannot describe topic: %w", err)
	}
	parts := details[o.topic].Partitions.Numbers()
	if o.partition >= 0 {
		if _, ok := details[o.topic].Partitions[int32(o.partition)]; !ok {
			cancel()
			return fmt.Errorf("topic %q has no partition %d", o.topic, o.partition)
		}
		parts = []int32{int32(o.partition)}
	}

	// Where each partition starts, as a kgo offset, and (for -e) as a number.
	var spec kgo.Offset
	switch {
	case o.fromBeginning:
		spec = kgo.NewOffset().AtStart()
	case o.offset >= 0:
		spec = kgo.NewOffset().At(o.offset)
	case o.timestamp >= 0:
		spec = kgo.NewOffset().AfterMilli(o.timestamp)
	default:
		spec = kgo.NewOffset().AtEnd()
	}
	position := map[int32]int64{}
	end := map[int32]int64{}
	if o.exitAtEnd {
		ends, err := adm.ListEndOffsets(actx, o.topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			cancel()
			return fmt.Errorf("cannot list end offsets: %w", err)
		}
		var startList kadm.ListedOffsets
		switch {
		case o.fromBeginning:
			startList, err = adm.ListStartOffsets(actx, o.topic)
		case o.timestamp >= 0:
			startList, err = adm.ListOffsetsAfterMilli(actx, o.timestamp, o.topic)
		}
		if err == nil && startList != nil {
			err = startList.Error()
		}
		if err != nil {
			cancel()
			return fmt.Errorf("cannot list start offsets: %w", err)
		}
		for _, p := range parts {
			e, _ := ends.Lookup(o.topic, p)
			end[p] = e.Offset
			switch {
			case startList != nil:
				st, _ := startList.Lookup(o.topic, p)
				position[p] = st.Offset
				if st.Offset < 0 {
					position[p] = e.Offset
				}
			case o.offset >= 0:
				position[p] = o.offset
			default:
				position[p] = e.Offset
			}
		}
	}
	cancel()

	offsets := map[int32]kgo.Offset{}
	for _, p := range parts {
		offsets[p] = spec
	}
	cl, err := cf.newClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: offsets}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Transaction markers are not printed, but they occupy offsets: seeing them is how
		// -e knows that a partition ending in a marker is at its end.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return err
	}
	defer cl.Close()

	pending := 0 // partitions not yet at their end (with -e)
	if o.exitAtEnd {
		for _, p := range parts {
			if position[p] < end[p] {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
	}
	var prog *progress
	if o.exitAtEnd && o.progress != nil {
		var total int64
		for _, p := range parts {
			total += max(0, end[p]-position[p])
		}
		prog = newProgress(o.progress, true, total, "consuming "+o.topic)
		defer prog.finish()
	}
	w := bufio.NewWriterSize(out, 64*1024)
	defer w.Flush()
	printed := 0
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("cannot fetch %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		done := false
		fetches.EachRecord(func(r *kgo.Record) {
			if done {
				return
			}
			if !r.Attrs.IsControl() {
				o.format.write(w, r)
				printed++
				if o.count > 0 && printed >= o.count {
					done = true
				}
			}
			if o.exitAtEnd {
				prog.add(max(0, r.Offset+1-position[r.Partition]), int64(len(r.Key)+len(r.Value)))
				before := position[r.Partition]
				position[r.Partition] = r.Offset + 1
				if before < end[r.Partition] && r.Offset+1 >= end[r.Partition] {
					pending--
					if pending == 0 {
						done = true
					}
				}
			}
		})
		if err := w.Flush(); err != nil {
			return fmt.Errorf("cannot write output: %w", err)
		}
		if done {
			return nil
		}
	}
}
