package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producerOpts turns the shared --acks and --compression flag values into client options.
func producerOpts(acks, compression string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch strings.ToLower(acks) {
	case "-1", "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1", "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0", "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, usageErrorf("--acks must be -1 (all), 1 or 0, got %q", acks)
	}
	codec, err := compressionCodec(compression)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	return opts, nil
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, usageErrorf("--compression must be none, gzip, snappy, lz4 or zstd, got %q", name)
}

func runProduce(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "produce", "produce TOPIC [flags] < lines")
	var cf clientFlags
	cf.register(fs)
	keySep := fs.String("key-separator", "", "split each line at the first occurrence into key and value (no separator in a line: null key)")
	var headers listFlag
	fs.Var(&headers, "header", "add header key=value to every record (repeatable)")
	partition := fs.Int("partition", -1, "produce to this partition (-1: hash of the key, sticky for null keys)")
	acks := fs.String("acks", "all", "required acks: all (-1), 1 or 0")
	compression := fs.String("compression", "none", "batch compression: none, gzip, snappy, lz4, zstd")
	maxLine := fs.Int("max-line-bytes", 16<<20, "longest accepted input line")
	quiet := fs.Bool("q", false, "do not print the summary line on stderr")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("produce: want exactly one TOPIC")
	}
	topic := pos[0]
	var hdrs []kgo.RecordHeader
	for _, h := range headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return usageErrorf("--header wants key=value, got %q", h)
		}
		hdrs = append(hdrs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	opts, err := producerOpts(*acks, *compression)
	if err != nil {
		return err
	}
	// As with Kafka's console producer, a missing topic is created if the broker allows it
	// (auto.create.topics.enable).
	opts = append(opts, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if *partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := cf.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	var (
		mu       sync.Mutex
		firstErr error
		failed   int
		wg       sync.WaitGroup
	)
	promise := func(r *kgo.Record, err error) {
		defer wg.Done()
		if err != nil {
			mu.Lock()
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("cannot produce to %s: %w", topic, err)
			}
			mu.Unlock()
		}
	}
	sep := []byte(*keySep)
	sc := bufio.NewScanner(s.in)
	sc.Buffer(make([]byte, 64*1024), *maxLine)
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		r := &kgo.Record{Topic: topic, Headers: hdrs}
		if *partition >= 0 {
			r.Partition = int32(*partition)
		}
		if *keySep != "" {
			if i := bytes.Index(line, sep); i >= 0 {
				r.Key = append([]byte{}, line[:i]...)
				line = line[i+len(sep):]
			}
		}
		r.Value = append([]byte{}, line...)
		wg.Add(1)
		cl.Produce(ctx, r, promise)
		n++
	}
	scanErr := sc.Err()
	if err := cl.Flush(ctx); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("cannot flush: %w", err)
	}
	wg.Wait()
	if scanErr != nil {
		return fmt.Errorf("cannot read stdin: %w", scanErr)
	}
	if !*quiet {
		fmt.Fprintf(s.err, "produced %s records to %s (%d failed)\n", strconv.Itoa(n-failed), topic, failed)
	}
	return firstErr
}
