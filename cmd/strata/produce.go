package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
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
	maxMsg := fs.Int("max-message-bytes", 0, "largest record batch the producer sends (0: the topic's max.message.bytes, else the broker's message.max.bytes, else 1000012)")
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
	if *maxMsg < 0 {
		return usageErrorf("--max-message-bytes must be >= 0, got %d", *maxMsg)
	}
	// As with Kafka's console producer, a missing topic is created if the broker allows it
	// (auto.create.topics.enable). Records that cannot be delivered within --timeout fail
	// (franz-go would otherwise retry for ever against an unreachable broker).
	opts = append(opts, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.RecordDeliveryTimeout(cf.timeout))
	if *partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	// One bounded look at the cluster first: an unreachable broker is one clear line, and
	// the topic's max.message.bytes sets the producer's batch limit.
	limit, limitFrom, err := produceLimit(ctx, &cf, topic, *maxMsg)
	if err != nil {
		return err
	}
	opts = append(opts, kgo.ProducerBatchMaxBytes(int32(limit)), kgo.BrokerMaxWriteBytes(max(int32(limit)+(1<<20), 100<<20)))
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
				firstErr = produceError(topic, r, err, limit, limitFrom)
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
		firstErr = fmt.Errorf("cannot produce to %s: interrupted: %w", topic, err)
	}
	wg.Wait()
	if scanErr != nil {
		return fmt.Errorf("cannot read stdin: %w", scanErr)
	}
	if firstErr != nil { // one line: what failed, how many, and why
		return fmt.Errorf("%w (%d of %d records not produced)", firstErr, failed, n)
	}
	if !*quiet {
		fmt.Fprintf(s.err, "produced %s %s to %s\n", strconv.Itoa(n), plural(n, "record", "records"), topic)
	}
	return nil
}

// produceLimit returns the largest batch the producer may send and where that limit came
// from: --max-message-bytes when set, else the topic's max.message.bytes, else the broker
// default. It also checks, within --timeout, that a broker answers.
func produceLimit(ctx context.Context, cf *clientFlags, topic string, flagLimit int) (int, string, error) {
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return 0, "", err
	}
	defer cl.Close()
	actx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	if _, err := adm.BrokerMetadata(actx); err != nil {
		return 0, "", fmt.Errorf("cannot produce to %s: %w", topic, brokerUnreachable(cf, err))
	}
	if flagLimit > 0 {
		return flagLimit, "--max-message-bytes", nil
	}
	const kgoDefault = 1000012 // franz-go's (and the Java producer's) default
	rcs, err := adm.DescribeTopicConfigs(actx, topic)
	if err != nil {
		return kgoDefault, "the producer default", nil
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return kgoDefault, "the producer default", nil // e.g. a topic to be auto-created
	}
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" {
			if n, err := strconv.Atoi(c.MaybeValue()); err == nil && n > 0 {
				return n, fmt.Sprintf("topic %s's max.message.bytes", topic), nil
			}
		}
	}
	return kgoDefault, "the producer default", nil
}

// produceError words a failed record: a record over the producer's own limit is the
// client's doing (franz-go reports it with the broker's MESSAGE_TOO_LARGE code).
func produceError(topic string, r *kgo.Record, err error, limit int, limitFrom string) error {
	if errors.Is(err, kerr.MessageTooLarge) {
		size := len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			size += len(h.Key) + len(h.Value)
		}
		if size+100 >= limit { // record overhead: the batch header is 61 bytes, a record's a few more
			return fmt.Errorf("cannot produce to %s: a record of %d bytes does not fit in the %d bytes allowed by %s (raise it with --max-message-bytes; the topic's limit is max.message.bytes)",
				topic, size, limit, limitFrom)
		}
		return fmt.Errorf("cannot produce to %s: the broker rejected a batch as larger than the topic's max.message.bytes", topic)
	}
	if errors.Is(err, kgo.ErrRecordTimeout) {
		return fmt.Errorf("cannot produce to %s: records not acknowledged within --timeout: %v", topic, err)
	}
	return fmt.Errorf("cannot produce to %s: %w", topic, err)
}

// plural returns one or many by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
