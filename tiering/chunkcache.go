package tiering

// Local copies of spilled manifest chunks.
//
// A partition with a long history has one spilled chunk per ManifestChunkEntries uploads
// (782 chunks for 100,000 segments). So that start-up does not GET and decode every live
// chunk from the bucket, the partition directory keeps a local copy of each, <dir>/<chunk
// key's base name without .json>.chunk, and loadManifest reads those first; only chunks
// without a good local copy are fetched (and then copied). A copy can never be stale:
// chunks are immutable (every chunk key holds a fresh UUID and is never rewritten).
//
// File layout: "SCHUNK05" (8 bytes), CRC-32C (Castagnoli) of the rest (4 bytes, big-endian),
// then the chunk in the binary layout of encodeChunk (varints and length-prefixed strings; a
// third of the CPU of encoding/gob, which "SCHUNK01" copies used; "SCHUNK02" copies lack
// the entries' leader epochs, "SCHUNK03" their hashes and chain links, "SCHUNK04" (development
// builds only) either those or the aborted transactions: these no longer verify and are
// replaced on first use). A copy that does not verify or decode is removed and the
// chunk fetched again, so copies are written without fsync (tmp file, rename): a crash can
// only cost a GET. The copies are not part of the partition's durable state: deleting them
// is always safe. Remote retention removes the copies of the chunks it drops; a copy left
// behind otherwise (a chunk dropped by another broker) is never read and goes with the
// partition directory.

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

const (
	chunkCacheMagic  = "SCHUNK05"
	chunkCacheSuffix = ".chunk"
)

// chunkCache is the directory of one partition's local chunk copies. A nil *chunkCache
// caches nothing.
type chunkCache struct {
	dir string
}

// newChunkCache returns the cache in the local log's directory, or nil when there is no
// local log or its directory is not one of the operating system (tests' in-memory logs).
func newChunkCache(log localLog) *chunkCache {
	if log == nil || log.Dir() == "" {
		return nil
	}
	if st, err := os.Stat(log.Dir()); err != nil || !st.IsDir() {
		return nil
	}
	return &chunkCache{dir: log.Dir()}
}

func (c *chunkCache) path(key string) string {
	name := key[strings.LastIndexByte(key, '/')+1:]
	return filepath.Join(c.dir, strings.TrimSuffix(name, ".json")+chunkCacheSuffix)
}

// get returns the local copy of the chunk ref names, or nil.
func (c *chunkCache) get(ref *ChunkRef) *ManifestChunk {
	if c == nil {
		return nil
	}
	p := c.path(ref.Key)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	if len(b) < len(chunkCacheMagic)+4 || string(b[:len(chunkCacheMagic)]) != chunkCacheMagic ||
		binary.BigEndian.Uint32(b[len(chunkCacheMagic):]) != crc32c(b[len(chunkCacheMagic)+4:]) {
		os.Remove(p)
		return nil
	}
	ch, err := decodeChunk(b[len(chunkCacheMagic)+4:])
	if err != nil ||
		len(ch.Segments) == 0 || ch.Segments[0].BaseOffset != ref.FirstBase || checkEntries(ch.Segments) != nil {
		os.Remove(p)
		return nil
	}
	return ch
}

// put stores a local copy of the chunk under key (best effort).
func (c *chunkCache) put(key string, ch *ManifestChunk) {
	if c == nil {
		return
	}
	b := make([]byte, len(chunkCacheMagic)+4, 4096)
	copy(b, chunkCacheMagic)
	b = encodeChunk(b, ch)
	binary.BigEndian.PutUint32(b[len(chunkCacheMagic):], crc32c(b[len(chunkCacheMagic)+4:]))
	p := c.path(key)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
	}
}

// The chain record: the partition directory also keeps chunkChainName, the refs of the
// live chunks oldest first, as the last load found them. A chunk's prev ref is inside the
// chunk, so without it loading a manifest reads the copies one after the other along the
// chain (782 file reads for 100,000 segments); with it loadManifest walks from the head only
// to the newest recorded chunk and reads the rest concurrently, checking every chunk's prev
// ref against the record (a mismatch: the plain walk). The chain ending at a given chunk
// never changes (chunks are immutable), so a record can only be short of newer chunks
// (found by the walk) or name chunks retention dropped since (below the head's log start,
// skipped). Layout: "SCHAIN01", CRC-32C of the rest (big-endian), uvarint count, then per
// ref its key (uvarint length and bytes) and FirstBase, LastOffset, Count, Bytes (varints).
// Written like the copies: tmp file and rename, no fsync (a lost record costs a walk).
const (
	chunkChainName  = "manifest-chain.idx"
	chunkChainMagic = "SCHAIN01"
)

// chain returns the recorded chain (oldest first), nil if there is none or it does not
// verify.
func (c *chunkCache) chain() []ChunkRef {
	if c == nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.dir, chunkChainName))
	if err != nil || len(b) < len(chunkChainMagic)+4 || string(b[:len(chunkChainMagic)]) != chunkChainMagic ||
		binary.BigEndian.Uint32(b[len(chunkChainMagic):]) != crc32c(b[len(chunkChainMagic)+4:]) {
		return nil
	}
	return decodeChain(b[len(chunkChainMagic)+4:])
}

func decodeChain(b []byte) []ChunkRef {
	d := &chunkDecoder{b: b, all: string(b)}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)) {
		return nil
	}
	d.b = d.b[k:]
	refs := make([]ChunkRef, n)
	for i := range refs {
		refs[i] = ChunkRef{Key: d.string(), FirstBase: d.varint(), LastOffset: d.varint(), Count: int(d.varint()), Bytes: d.varint()}
		if d.err != nil || refs[i].Key == "" || refs[i].LastOffset < refs[i].FirstBase ||
			(i > 0 && refs[i].FirstBase <= refs[i-1].LastOffset) {
			return nil
		}
	}
	if len(d.b) != 0 {
		return nil
	}
	return refs
}

// putChain records refs (the live chain, oldest first), best effort.
func (c *chunkCache) putChain(refs []ChunkRef) {
	if c == nil {
		return
	}
	b := make([]byte, len(chunkChainMagic)+4, len(chunkChainMagic)+4+len(refs)*128)
	copy(b, chunkChainMagic)
	b = binary.AppendUvarint(b, uint64(len(refs)))
	for i := range refs {
		r := &refs[i]
		b = appendString(b, r.Key)
		for _, v := range [...]int64{r.FirstBase, r.LastOffset, int64(r.Count), r.Bytes} {
			b = binary.AppendVarint(b, v)
		}
	}
	binary.BigEndian.PutUint32(b[len(chunkChainMagic):], crc32c(b[len(chunkChainMagic)+4:]))
	p := filepath.Join(c.dir, chunkChainName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
	}
}

// remove deletes the local copy of the chunk under key (best effort).
func (c *chunkCache) remove(key string) {
	if c != nil {
		os.Remove(c.path(key))
	}
}

// encodeChunk appends ch to b: Version, Kind, Topic, TopicID, Partition, the segment
// count, each segment (encodeEntry: its fields in order, a presence byte before each
// optional one), then Prev (a presence byte and its five fields).
// Integers are varints, strings a uvarint length and their bytes, times their MarshalBinary
// form length-prefixed. A field added to ManifestChunk, SegmentEntry, ObjectRef or ChunkRef
// must be added here (TestChunkCacheCodec counts them).
func encodeChunk(b []byte, ch *ManifestChunk) []byte {
	b = binary.AppendVarint(b, int64(ch.Version))
	b = appendString(b, ch.Kind)
	b = appendString(b, ch.Topic)
	b = appendString(b, ch.TopicID)
	b = binary.AppendVarint(b, int64(ch.Partition))
	b = binary.AppendUvarint(b, uint64(len(ch.Segments)))
	for i := range ch.Segments {
		b = encodeEntry(b, &ch.Segments[i])
	}
	if ch.Prev == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendString(b, ch.Prev.Key)
	for _, v := range [...]int64{ch.Prev.FirstBase, ch.Prev.LastOffset, int64(ch.Prev.Count), ch.Prev.Bytes} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

func encodeEntry(b []byte, e *SegmentEntry) []byte {
	b = appendString(b, e.ID)
	for _, v := range [...]int64{e.BaseOffset, e.LastOffset, e.FirstTimestamp, e.MaxTimestamp, e.Size, e.Batches} {
		b = binary.AppendVarint(b, v)
	}
	t, err := e.UploadTime.MarshalBinary()
	if err != nil { // a zone offset that is not whole minutes: keep the instant
		t, _ = e.UploadTime.UTC().MarshalBinary()
	}
	b = binary.AppendUvarint(b, uint64(len(t)))
	b = append(b, t...)
	for _, r := range [...]*ObjectRef{&e.Log, &e.Index, &e.TimeIndex} {
		b = appendObjectRef(b, r)
	}
	if e.ProducerSnapshot == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendObjectRef(b, e.ProducerSnapshot)
	}
	b = binary.AppendVarint(b, e.ProducerSnapshotOffset)
	if e.LeaderEpochs == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, int64(e.LeaderEpochs.Min))
		b = binary.AppendVarint(b, int64(e.LeaderEpochs.Max))
	}
	if e.Hashes == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendObjectRef(b, e.Hashes)
	}
	b = binary.AppendVarint(b, e.HashBlock)
	b = binary.AppendVarint(b, e.ChainSeq)
	b = appendString(b, e.ChainPrev)
	if e.Deletions == nil {
		b = append(b, 0)
	} else {
		b = appendDeletions(append(b, 1), *e.Deletions)
	}
	if e.AbortedTxns == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(len(*e.AbortedTxns)))
	for _, a := range *e.AbortedTxns {
		for _, v := range [...]int64{a.ProducerID, a.FirstOffset, a.LastOffset, a.LastStableOffset} {
			b = binary.AppendVarint(b, v)
		}
	}
	return b
}

// appendDeletions appends a count and each record's fields in declaration order.
func appendDeletions(b []byte, ds []DeletionRecord) []byte {
	b = binary.AppendUvarint(b, uint64(len(ds)))
	for i := range ds {
		d := &ds[i]
		b = binary.AppendVarint(b, d.Seq)
		b = appendString(b, d.Prev)
		b = binary.AppendVarint(b, d.Time)
		b = appendString(b, d.Reason)
		for _, v := range [...]int64{d.FromOffset, d.LogStartOffset, d.Segments, d.Bytes, d.LastDroppedSeq} {
			b = binary.AppendVarint(b, v)
		}
		b = appendString(b, d.LastDroppedHash)
	}
	return b
}

func (d *chunkDecoder) deletions() []DeletionRecord {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	d.b = d.b[k:]
	if n == 0 {
		return nil
	}
	ds := make([]DeletionRecord, n)
	for i := range ds {
		ds[i] = DeletionRecord{Seq: d.varint(), Prev: d.string(), Time: d.varint(), Reason: d.string(),
			FromOffset: d.varint(), LogStartOffset: d.varint(), Segments: d.varint(), Bytes: d.varint(),
			LastDroppedSeq: d.varint(), LastDroppedHash: d.string()}
	}
	return ds
}

func appendObjectRef(b []byte, r *ObjectRef) []byte {
	b = appendString(b, r.Key)
	b = binary.AppendVarint(b, r.Size)
	b = binary.BigEndian.AppendUint32(b, r.CRC32C)
	return appendString(b, r.SHA256)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errChunkCopy = errors.New("malformed local chunk copy")

// chunkDecoder reads what encodeChunk wrote; the first error sticks. Strings are slices of
// one copy of the whole input (all, string): five strings per entry were most of the
// decoder's allocations, and they live exactly as long as the manifest that holds them.
type chunkDecoder struct {
	b   []byte
	all string
	err error
}

func (d *chunkDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *chunkDecoder) bytes() []byte {
	l, n := binary.Uvarint(d.b)
	if n <= 0 || l > uint64(len(d.b)-n) {
		d.fail()
		return nil
	}
	v := d.b[n : n+int(l)]
	d.b = d.b[n+int(l):]
	return v
}

func (d *chunkDecoder) string() string {
	v := d.bytes()
	if d.err != nil {
		return ""
	}
	end := len(d.all) - len(d.b) // v ends where the rest begins
	return d.all[end-len(v) : end]
}

func (d *chunkDecoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *chunkDecoder) uint32() uint32 {
	if len(d.b) < 4 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *chunkDecoder) fail() {
	if d.err == nil {
		d.err = errChunkCopy
	}
	d.b = nil
}

func (d *chunkDecoder) objectRef() ObjectRef {
	return ObjectRef{Key: d.string(), Size: d.varint(), CRC32C: d.uint32(), SHA256: d.string()}
}

func (d *chunkDecoder) presence() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

// decodeChunk decodes what encodeChunk wrote (the whole of b).
func decodeChunk(b []byte) (*ManifestChunk, error) {
	d := &chunkDecoder{b: b, all: string(b)}
	ch := &ManifestChunk{Version: int(d.varint()), Kind: d.string(), Topic: d.string(), TopicID: d.string(), Partition: int32(d.varint())}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)) { // an entry takes more than one byte
		return nil, errChunkCopy
	}
	d.b = d.b[k:]
	ch.Segments = make([]SegmentEntry, n)
	for i := range ch.Segments {
		e := &ch.Segments[i]
		e.ID = d.string()
		e.BaseOffset, e.LastOffset, e.FirstTimestamp = d.varint(), d.varint(), d.varint()
		e.MaxTimestamp, e.Size, e.Batches = d.varint(), d.varint(), d.varint()
		if t := d.bytes(); d.err == nil {
			if err := e.UploadTime.UnmarshalBinary(t); err != nil {
				d.fail()
			}
		}
		e.Log, e.Index, e.TimeIndex = d.objectRef(), d.objectRef(), d.objectRef()
		if d.presence() {
			r := d.objectRef()
			e.ProducerSnapshot = &r
		}
		e.ProducerSnapshotOffset = d.varint()
		if d.presence() {
			e.LeaderEpochs = &EpochRange{Min: int32(d.varint()), Max: int32(d.varint())}
		}
		if d.presence() {
			r := d.objectRef()
			e.Hashes = &r
		}
		e.HashBlock, e.ChainSeq, e.ChainPrev = d.varint(), d.varint(), d.string()
		if d.presence() {
			ds := DeletionRecords(d.deletions())
			e.Deletions = &ds
		}
		if d.presence() {
			n, k := binary.Uvarint(d.b)
			if k <= 0 || n > uint64(len(d.b)) {
				return nil, errChunkCopy
			}
			d.b = d.b[k:]
			l := make(AbortedTxnList, n)
			for j := range l {
				l[j] = AbortedTxn{ProducerID: d.varint(), FirstOffset: d.varint(), LastOffset: d.varint(), LastStableOffset: d.varint()}
			}
			e.AbortedTxns = &l
		}
		if d.err != nil {
			return nil, d.err
		}
	}
	if d.presence() {
		ch.Prev = &ChunkRef{Key: d.string(), FirstBase: d.varint(), LastOffset: d.varint(), Count: int(d.varint()), Bytes: d.varint()}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errChunkCopy
	}
	return ch, nil
}
