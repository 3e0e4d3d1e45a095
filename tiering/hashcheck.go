package tiering

// SHA-256 checks of remote reads and uploads (format: doc.go, "Tamper evidence").
//
// Reads check every chunk of a .log object as it arrives from the bucket (verifyChunk,
// called where the chunk loaders get their bytes; prefetches are not started for refused
// entries), before it enters the cache: a chunk
// that does not match its blocks' hashes is never cached or served, and the read fails
// with an error wrapping segment.ErrCorrupt (KAFKA_STORAGE_ERROR, retriable), counted in
// strata_remote_integrity_failures_total and logged by logReadError. Entries that the
// manifest's hash chain no longer vouches for, and every entry of a partition whose
// manifest was rolled back, are refused the same way.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/strata-io/strata/segment"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// blockHasher is an io.Writer computing the SHA-256 of everything written and of every
// block of block bytes (the last one may be shorter).
type blockHasher struct {
	block int64
	whole hash.Hash
	cur   hash.Hash
	n     int64 // bytes in cur
	sums  []byte
}

func newBlockHasher(block int64) *blockHasher {
	return &blockHasher{block: block, whole: sha256.New(), cur: sha256.New()}
}

func (h *blockHasher) Write(p []byte) (int, error) {
	h.whole.Write(p)
	n := len(p)
	for len(p) > 0 {
		k := int(min(int64(len(p)), h.block-h.n))
		h.cur.Write(p[:k])
		h.n += int64(k)
		p = p[k:]
		if h.n == h.block {
			h.sums = h.cur.Sum(h.sums)
			h.cur.Reset()
			h.n = 0
		}
	}
	return n, nil
}

// finish returns the whole SHA-256 (hex) and the block hashes.
func (h *blockHasher) finish() (string, []byte) {
	if h.n > 0 {
		h.sums = h.cur.Sum(h.sums)
		h.n = 0
	}
	return hex.EncodeToString(h.whole.Sum(nil)), h.sums
}

// tamperState is what the chain check at load found, for reads: all refuses every entry
// (a rolled-back manifest), bad the entries (by base offset) the chain no longer vouches for.
type tamperState struct {
	all error
	bad map[int64]error
}

func newTamperState(pm *partitionManifest) *tamperState {
	if pm.rollback == nil && len(pm.breaks) == 0 {
		return nil
	}
	t := &tamperState{all: pm.rollback, bad: map[int64]error{}}
	for _, b := range pm.breaks {
		for _, base := range b.BadEntries {
			if _, ok := t.bad[base]; !ok {
				t.bad[base] = b
			}
		}
	}
	return t
}

func (t *tamperState) refuse(e *SegmentEntry) error {
	if t == nil {
		return nil
	}
	if t.all != nil {
		return fmt.Errorf("%w: %w", segment.ErrCorrupt, t.all)
	}
	if err := t.bad[e.BaseOffset]; err != nil {
		return fmt.Errorf("%w: segment %d-%d: %w", segment.ErrCorrupt, e.BaseOffset, e.LastOffset, err)
	}
	return nil
}

// chainErr is the first problem the chain check at load found, or nil.
func (pm *partitionManifest) chainErr() error {
	if pm.rollback != nil {
		return pm.rollback
	}
	if len(pm.breaks) > 0 {
		return pm.breaks[0]
	}
	return nil
}

// reportChain logs and counts what the chain check of a loaded manifest found. A
// rolled-back manifest also stops the partition's writes (as a fence does): appending to
// it would bury the newer history that the bucket may still hold.
func (p *RemotePartition) reportChain(pm *partitionManifest) {
	if pm.rollback != nil {
		p.m.metrics.integrity.WithLabelValues("rollback").Inc()
		p.log.Error("remote manifest rolled back: remote reads of the partition are refused and uploads stopped", "err", pm.rollback)
		p.fenced.Store(true)
	}
	for _, b := range pm.breaks {
		p.m.metrics.integrity.WithLabelValues("chain").Inc()
		p.log.Error("remote manifest hash chain broken: the segments it no longer vouches for are not served",
			"link", b.Seq, "from", b.From, "to", b.To, "reason", b.Reason, "segments", b.BadEntries)
	}
}

// verifyChunk checks b, the bytes of e's data object from off as they arrived from the
// bucket, against the entry's block hashes. Entries of older brokers (no SHA-256) pass.
// A chunk not aligned to the entry's hash blocks (ChunkBytes changed since the upload)
// is checked with the whole blocks around it, read again.
func (p *RemotePartition) verifyChunk(ctx context.Context, e *SegmentEntry, off int64, b []byte) error {
	if e.Log.SHA256 == "" || e.HashBlock <= 0 || p.m.cfg.SkipHashCheck {
		return nil
	}
	bs := e.HashBlock
	end := off + int64(len(b))
	if off%bs == 0 && (end%bs == 0 || end == e.Size) {
		return p.verifyBlocks(ctx, e, off, b)
	}
	lo, hi := off/bs*bs, min((end+bs-1)/bs*bs, e.Size)
	whole, err := p.getRange(ctx, e.Log.Key, lo, hi-lo)
	if err != nil {
		return err
	}
	if !bytes.Equal(whole[off-lo:end-lo], b) {
		p.m.metrics.integrity.WithLabelValues("chunk").Inc()
		return fmt.Errorf("%w: remote segment %q: bytes %d-%d changed between two reads", segment.ErrCorrupt, e.Log.Key, off, end-1)
	}
	return p.verifyBlocks(ctx, e, lo, whole)
}

// hashBlockFor is the hash block of uploads by a broker reading chunks of chunkBytes: a
// quarter chunk when that divides it and is at least 256 KiB (the blocks of a chunk are
// hashed in parallel when it arrives), else the chunk.
func hashBlockFor(chunkBytes int64) int64 {
	if chunkBytes%4 == 0 && chunkBytes/4 >= 256<<10 {
		return chunkBytes / 4
	}
	return chunkBytes
}

// verifyBlocks checks b, whole hash blocks of e's data object from off; the blocks are
// hashed concurrently.
func (p *RemotePartition) verifyBlocks(ctx context.Context, e *SegmentEntry, off int64, b []byte) error {
	bs := e.HashBlock
	blocks := (e.Size + bs - 1) / bs
	var list []byte
	if blocks > 1 {
		var err error
		if list, err = p.hashList(ctx, e); err != nil {
			return err
		}
	}
	n := (int64(len(b)) + bs - 1) / bs
	sums := make([][sha256.Size]byte, n)
	var wg sync.WaitGroup
	for i := int64(1); i < n; i++ {
		wg.Go(func() { sums[i] = sha256.Sum256(b[i*bs : min((i+1)*bs, int64(len(b)))]) })
	}
	sums[0] = sha256.Sum256(b[:min(bs, int64(len(b)))])
	wg.Wait()
	for i := range n {
		k := off/bs + i
		var want []byte
		if blocks == 1 {
			want, _ = hex.DecodeString(e.Log.SHA256)
		} else {
			want = list[k*sha256.Size : (k+1)*sha256.Size]
		}
		if got := sums[i]; !bytes.Equal(got[:], want) {
			p.m.metrics.integrity.WithLabelValues("chunk").Inc()
			return fmt.Errorf("%w: remote segment %q: block %d (bytes %d-%d) has sha256 %x, the manifest says %x",
				segment.ErrCorrupt, e.Log.Key, k, k*bs, min((k+1)*bs, e.Size)-1, got[:8], want[:min(8, len(want))])
		}
	}
	return nil
}

// hashList returns e's .hashes object, cached with the indexes, checked against its size
// and SHA-256 and against the number of blocks of the .log.
func (p *RemotePartition) hashList(ctx context.Context, e *SegmentEntry) ([]byte, error) {
	if e.Hashes == nil {
		p.m.metrics.integrity.WithLabelValues("chunk").Inc()
		return nil, fmt.Errorf("%w: remote segment %q: %d hash blocks and no hash list", segment.ErrCorrupt, e.Log.Key, (e.Size+e.HashBlock-1)/e.HashBlock)
	}
	ref, want := *e.Hashes, (e.Size+e.HashBlock-1)/e.HashBlock*sha256.Size
	return p.m.cache.Index(ctx, ref.Key, func(ctx context.Context) ([]byte, error) {
		b, err := p.getRange(ctx, ref.Key, 0, ref.Size)
		if err != nil {
			return nil, err
		}
		if err := checkObject(&ref, b); err != nil {
			p.m.metrics.integrity.WithLabelValues("index").Inc()
			return nil, err
		}
		if int64(len(b)) != want {
			return nil, fmt.Errorf("%w: hash list %q has %d bytes, the segment needs %d", segment.ErrCorrupt, ref.Key, len(b), want)
		}
		return b, nil
	})
}

// checkObject checks a whole object's size, CRC-32C and (when recorded) SHA-256.
func checkObject(r *ObjectRef, b []byte) error {
	if int64(len(b)) != r.Size {
		return fmt.Errorf("%w: %q has %d bytes, manifest says %d", segment.ErrCorrupt, r.Key, len(b), r.Size)
	}
	if r.SHA256 != "" { // first: a CRC-32C can be forged, so its mismatch says less
		if got := sha256Hex(b); got != r.SHA256 {
			return fmt.Errorf("%w: %q sha256 %.16s…, manifest says %.16s…", segment.ErrCorrupt, r.Key, got, r.SHA256)
		}
	}
	if got := crc32c(b); got != r.CRC32C {
		return fmt.Errorf("%w: %q crc32c %08x, manifest says %08x", segment.ErrCorrupt, r.Key, got, r.CRC32C)
	}
	return nil
}

const sha256Size = sha256.Size

// OpenVerified opens e's data object for one sequential read of the whole of it (`strata
// tier cat`, `tier restore`): the reader hands out the bytes of a hash block only once the
// block matched the manifest, so a tool never emits records of a changed block; a
// mismatch is an error wrapping segment.ErrCorrupt. Entries without hashes (older
// brokers) are read unchecked. The caller closes the reader.
func OpenVerified(ctx context.Context, store ObjectStore, e *SegmentEntry) (io.ReadCloser, error) {
	var list []byte
	if e.Log.SHA256 != "" && e.HashBlock > 0 && (e.Size+e.HashBlock-1)/e.HashBlock > 1 {
		if e.Hashes == nil {
			return nil, fmt.Errorf("%w: remote segment %q: several hash blocks and no hash list", segment.ErrCorrupt, e.Log.Key)
		}
		b, err := readAll(ctx, store, e.Hashes.Key)
		if err != nil {
			return nil, fmt.Errorf("cannot read %q: %w", e.Hashes.Key, err)
		}
		if err := checkObject(e.Hashes, b); err != nil {
			return nil, err
		}
		if int64(len(b)) != (e.Size+e.HashBlock-1)/e.HashBlock*sha256Size {
			return nil, fmt.Errorf("%w: hash list %q has %d bytes for a %d-byte segment", segment.ErrCorrupt, e.Hashes.Key, len(b), e.Size)
		}
		list = b
	}
	rc, err := store.GetRange(ctx, e.Log.Key, 0, -1)
	if err != nil || e.Log.SHA256 == "" || e.HashBlock <= 0 {
		return rc, err
	}
	return &verifiedReader{rc: rc, e: e, list: list}, nil
}

type verifiedReader struct {
	rc    io.ReadCloser
	e     *SegmentEntry
	list  []byte
	buf   []byte // verified bytes not yet handed out
	block int64  // next block to read
	err   error
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	for len(v.buf) == 0 {
		if v.err != nil {
			return 0, v.err
		}
		bs := v.e.HashBlock
		n := min(bs, v.e.Size-v.block*bs)
		if n <= 0 {
			v.err = io.EOF
			continue
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(v.rc, b); err != nil {
			v.err = fmt.Errorf("%w: %q ends inside hash block %d: %v", segment.ErrCorrupt, v.e.Log.Key, v.block, err)
			continue
		}
		got := sha256.Sum256(b)
		want, _ := hex.DecodeString(v.e.Log.SHA256)
		if v.list != nil {
			want = v.list[v.block*sha256Size : (v.block+1)*sha256Size]
		}
		if !bytes.Equal(got[:], want) {
			v.err = fmt.Errorf("%w: %q: block %d (bytes %d-%d) does not match its sha256 in the manifest", segment.ErrCorrupt, v.e.Log.Key, v.block, v.block*bs, v.block*bs+n-1)
			continue
		}
		v.buf, v.block = b, v.block+1
	}
	n := copy(p, v.buf)
	v.buf = v.buf[n:]
	return n, nil
}

func (v *verifiedReader) Close() error { return v.rc.Close() }
