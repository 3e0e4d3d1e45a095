package tiering

// Local copies of spilled manifest chunks.
//
// A partition with a long history has one spilled chunk per ManifestChunkEntries uploads
// (782 chunks for 100,000 segments). Loading the manifest at start-up fetched and decoded
// every live chunk from the bucket: hundreds of GETs and ~0.6 ms of JSON decoding per chunk
// on every start. Chunks are immutable (every chunk key holds a fresh UUID and is never
// rewritten), so a local copy can never be stale: the partition directory keeps one file per
// live chunk, <dir>/<chunk key's base name without .json>.chunk, and loadManifest reads
// those first; only chunks without a good local copy are fetched (and then copied).
//
// File layout: "SCHUNK01" (8 bytes), CRC-32C (Castagnoli) of the rest (4 bytes, big-endian),
// then the chunk as encoding/gob. A copy that does not verify or decode is removed and the
// chunk fetched again, so copies are written without fsync (tmp file, rename): a crash can
// only cost a GET. The copies are not part of the partition's durable state: deleting them
// is always safe. Remote retention removes the copies of the chunks it drops; a copy left
// behind otherwise (a chunk dropped by another broker) is never read and goes with the
// partition directory.

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"os"
	"path/filepath"
	"strings"
)

const (
	chunkCacheMagic  = "SCHUNK01"
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
	d, ok := log.(interface{ Dir() string })
	if !ok || d.Dir() == "" {
		return nil
	}
	if st, err := os.Stat(d.Dir()); err != nil || !st.IsDir() {
		return nil
	}
	return &chunkCache{dir: d.Dir()}
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
	var ch ManifestChunk
	if err := gob.NewDecoder(bytes.NewReader(b[len(chunkCacheMagic)+4:])).Decode(&ch); err != nil ||
		len(ch.Segments) == 0 || ch.Segments[0].BaseOffset != ref.FirstBase || checkEntries(ch.Segments) != nil {
		os.Remove(p)
		return nil
	}
	return &ch
}

// put stores a local copy of the chunk under key (best effort).
func (c *chunkCache) put(key string, ch *ManifestChunk) {
	if c == nil {
		return
	}
	var buf bytes.Buffer
	buf.WriteString(chunkCacheMagic)
	buf.Write(make([]byte, 4))
	if err := gob.NewEncoder(&buf).Encode(ch); err != nil {
		return
	}
	b := buf.Bytes()
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

// remove deletes the local copy of the chunk under key (best effort).
func (c *chunkCache) remove(key string) {
	if c != nil {
		os.Remove(c.path(key))
	}
}
