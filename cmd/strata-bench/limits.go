package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Limits of this machine: what no broker on it can beat.

// diskLimit writes total bytes sequentially to a new file in dir with an fdatasync after every
// MiB, and returns MB/s.
func diskLimit(dir string, total int64) (float64, error) {
	f, err := os.CreateTemp(dir, "disk-limit-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := bytes.Repeat([]byte{0xa5}, 1<<20)
	start := time.Now()
	for written := int64(0); written < total; written += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if err := fdatasync(f); err != nil {
			return 0, err
		}
	}
	return float64(total) / 1e6 / time.Since(start).Seconds(), nil
}

// fsyncLatency appends size bytes and fsyncs, rate times a second for dur, and returns the
// p50/p99/p999 of one append+fsync in ms: the floor under any fsynced acknowledgement.
func fsyncLatency(dir string, size int, rate float64, dur time.Duration) (p50, p99, p999 float64, err error) {
	f, err := os.CreateTemp(dir, "fsync-latency-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := bytes.Repeat([]byte{0x3c}, size)
	n := int(rate * dur.Seconds())
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return 0, 0, 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, 0, 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), ms(percentile(lat, 0.999)), nil
}

// tcpLimit sends total bytes over one loopback TCP connection between two goroutines (1 MiB
// writes, 1 MiB reads) and returns MB/s.
func tcpLimit(total int64) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		var n int64
		for n < total {
			k, err := c.Read(buf)
			n += int64(k)
			if err != nil {
				got <- err
				return
			}
		}
		got <- nil
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := bytes.Repeat([]byte{0x5a}, 1<<20)
	start := time.Now()
	for sent := int64(0); sent < total; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := <-got; err != nil {
		return 0, err
	}
	return float64(total) / 1e6 / time.Since(start).Seconds(), nil
}

// s3Limits PUTs then GETs one object of each size (single stream, one request per object) and
// returns the MB/s of all PUTs and of all GETs.
func s3Limits(ctx context.Context, cl *minio.Client, bucket string, sizes []int64) (put, get float64, err error) {
	var total int64
	var putDur, getDur time.Duration
	for i, size := range sizes {
		body := make([]byte, size)
		for j := 0; j < len(body); j += 4096 {
			body[j] = byte(i + j/4096)
		}
		key := fmt.Sprintf("limits/%d-%d", time.Now().UnixNano(), size)
		start := time.Now()
		if _, err := cl.PutObject(ctx, bucket, key, bytes.NewReader(body), size,
			minio.PutObjectOptions{PartSize: uint64(max(size, 16<<20)), DisableContentSha256: true}); err != nil {
			return 0, 0, fmt.Errorf("put %s: %w", key, err)
		}
		putDur += time.Since(start)
		start = time.Now()
		n, err := getObject(ctx, cl, bucket, key)
		if err != nil {
			return 0, 0, err
		}
		getDur += time.Since(start)
		if n != size {
			return 0, 0, fmt.Errorf("get %s: %d bytes, want %d", key, n, size)
		}
		total += size
		cl.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
	}
	return float64(total) / 1e6 / putDur.Seconds(), float64(total) / 1e6 / getDur.Seconds(), nil
}

func getObject(ctx context.Context, cl *minio.Client, bucket, key string) (int64, error) {
	obj, err := cl.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Close()
	n, err := io.Copy(io.Discard, obj)
	if err != nil {
		return n, fmt.Errorf("get %s: %w", key, err)
	}
	return n, nil
}

// rawGetTopic GETs, one after the other (single stream), every segment data object (.log) the
// broker uploaded for topic, and returns bytes and MB/s: the same bytes a cold consumer needs.
func rawGetTopic(ctx context.Context, cl *minio.Client, bucket, topic string) (int64, float64, error) {
	var keys []string
	for obj := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			return 0, 0, obj.Err
		}
		if strings.HasSuffix(obj.Key, ".log") && strings.Contains(obj.Key, topic+"-") {
			keys = append(keys, obj.Key)
		}
	}
	if len(keys) == 0 {
		return 0, 0, fmt.Errorf("no segment objects of %s in bucket %s", topic, bucket)
	}
	var total int64
	start := time.Now()
	for _, k := range keys {
		n, err := getObject(ctx, cl, bucket, k)
		if err != nil {
			return 0, 0, err
		}
		total += n
	}
	return total, float64(total) / 1e6 / time.Since(start).Seconds(), nil
}

func tempDirIn(parent, pattern string) (string, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	d, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", err
	}
	return filepath.Clean(d), nil
}
