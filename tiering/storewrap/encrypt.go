package storewrap

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Client-side envelope encryption of every object (Encrypt).
//
// Object format (version 1). A header of EncHeaderBytes, then the plaintext in blocks of
// EncBlockBytes (the last one shorter), each sealed on its own with AES-256-GCM:
//
//	header  = "STRATAE1" | blockBytes u32 | plainSize u64 | dekID [16] |
//	          kekIDLen u8 | kekID [32] | wrappedLen u8 | wrappedDEK [60] | zeros (to 160 bytes)
//	block k = nonce [12] | ciphertext | tag [16]       (k = 0, 1, ...; integers big-endian)
//
// wrappedDEK = nonce [12] | AES-256-GCM(KEK kekID, DEK, AAD "strata.dek.v1" kekID dekID scope):
// the data key, sealed by the key-encryption key the header names. A block's AAD is
// SHA-256("strata.enc.v1" | object key | header bytes 0-35) | u64be(k), so a block cannot
// move to another position or object, and neither the sizes, the data key's id nor the
// object's length can change without every block failing its tag. The wrapping (kekID,
// wrappedDEK) is left out of the AAD so that a data key can be re-wrapped under another KEK
// by rewriting the header alone; it is authenticated by its own tag, whose AAD binds it to
// the data key's id and the partition. Nonces are random (96 bits) and a data key seals at
// most 2^30 blocks (64 TiB) before a new one is drawn.
//
// Data keys are per partition: objects whose parent "directory" is a partition number
// // ("[<prefix>/]<topic>-<topicID>/<partition>/<name>") share their partition's current data
// key; every other object (topic.json, markers, group offsets, quotas, security) shares the
// bucket-wide one. A broker draws a partition's data key when it
// first writes one of its objects, and draws new ones when the primary KEK changes; the data
// key itself is never stored unwrapped. Plaintext block i is ciphertext bytes
// [EncHeaderBytes + i*(EncBlockBytes+28), ...), so a ranged read of any plaintext range is
// one ranged GET of the blocks it touches; reads from offset 0 parse the header inline, other
// reads use a cached header (fetched once per object; objects but the manifests are immutable).
const (
	EncBlockBytes  = 64 << 10
	EncHeaderBytes = 160

	encMagic     = "STRATAE1"
	encNonce     = 12
	encTag       = 16
	encOverhead  = encNonce + encTag
	encFullBlock = EncBlockBytes + encOverhead
	encWrapped   = encNonce + 32 + encTag
	encMaxBlocks = 1 << 30
	headerCache  = 16384
)

// Errors of Encrypt and RefuseEncrypted, wrapped with the object's key; match with errors.Is.
// A block that fails its tag (changed, moved or truncated ciphertext) is segment.ErrCorrupt.
var (
	ErrEncrypted    = errors.New("object is encrypted and no key file is configured (strata.tier.encryption.key.file)")
	ErrNotEncrypted = errors.New("object is not encrypted, but encryption is configured")
	ErrUnknownKey   = errors.New("object's data key was wrapped by a key that the key file does not list")
	ErrWrongKey     = errors.New("the key file's key cannot unwrap the object's data key (wrong key)")
)

// EncryptedSize is the stored size of a plaintext of n bytes.
func EncryptedSize(n int64) int64 {
	return EncHeaderBytes + n + encOverhead*((n+EncBlockBytes-1)/EncBlockBytes)
}

// plainSizeOf inverts EncryptedSize; ok is false for a size no encrypted object has.
func plainSizeOf(c int64) (int64, bool) {
	r := c - EncHeaderBytes
	if r < 0 {
		return 0, false
	}
	n := (r + encFullBlock - 1) / encFullBlock
	p := r - encOverhead*n
	return p, p >= 0 && EncryptedSize(p) == c
}

// Encrypt returns a view of s in which every object is stored encrypted (format above) with
// data keys wrapped by kr's keys. Each object is bound to its key (prefix included): bytes
// copied to another key do not decrypt. Stat and List report plaintext sizes.
// Reading an object that is not encrypted fails with ErrNotEncrypted; one whose data key was
// wrapped by a key kr lacks with ErrUnknownKey, or ErrWrongKey when kr has a different key
// under that id. Encrypt keeps s's optional capabilities (ConditionalPutter: the ETag is the
// stored object's; RetainingPutter).
func Encrypt(s tiering.ObjectStore, kr *Keyring) tiering.ObjectStore {
	e := &encrypted{s: s, kr: kr, current: map[string]*dataKey{},
		unwrapped: map[[16]byte]cipher.AEAD{}, headers: map[string]*encHeader{}}
	return withCaps(e, s, func(cp tiering.ConditionalPutter) tiering.ConditionalPutter {
		return encCond{e: e, cp: cp}
	}, func(rp tiering.RetainingPutter) tiering.RetainingPutter {
		return encRetain{e: e, rp: rp}
	})
}

type encrypted struct {
	s  tiering.ObjectStore
	kr *Keyring

	mu        sync.Mutex
	current   map[string]*dataKey      // scope -> data key for new objects
	unwrapped map[[16]byte]cipher.AEAD // dekID -> data key, unwrapped
	headers   map[string]*encHeader    // key -> header, for ranged reads not at 0
}

type dataKey struct {
	id      [16]byte
	kekID   string
	wrapped []byte
	aead    cipher.AEAD
	blocks  atomic.Int64
}

type encHeader struct {
	raw       []byte
	plainSize int64
	dekID     [16]byte
	kekID     string
	wrapped   []byte
	aad       [32]byte // block AAD prefix (depends on the key too)
	aead      cipher.AEAD
}

// scope names the data key's owner: "[<prefix>/]<topic>-<topicID>/<partition>" or ""
// (bucket-wide).
func scope(key string) string {
	dir, _ := path.Split(key)
	dir = strings.TrimSuffix(dir, "/")
	if p := path.Base(dir); dir != "" && p != "" && strings.Trim(p, "0123456789") == "" && strings.Contains(dir, "/") {
		return dir
	}
	return ""
}

func wrapAAD(kekID string, dekID [16]byte, scope string) []byte {
	b := []byte("strata.dek.v1\x00" + kekID + "\x00")
	b = append(b, dekID[:]...)
	return append(b, scope...)
}

// keyFor returns the data key new objects under scope are sealed with, drawing one when
// there is none yet, the primary KEK changed or the key sealed its share of blocks.
func (e *encrypted) keyFor(scope string, blocks int64) (*dataKey, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.current[scope]
	if d == nil || d.kekID != e.kr.primary || d.blocks.Load()+blocks > encMaxBlocks {
		d = &dataKey{kekID: e.kr.primary}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		if _, err := rand.Read(d.id[:]); err != nil {
			return nil, err
		}
		aead, err := newGCM(raw)
		if err != nil {
			return nil, err
		}
		d.aead = aead
		nonce := make([]byte, encNonce, encWrapped)
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		d.wrapped = e.kr.keks[d.kekID].Seal(nonce, nonce, raw, wrapAAD(d.kekID, d.id, scope))
		e.current[scope] = d
		e.unwrapped[d.id] = aead
	}
	d.blocks.Add(blocks)
	return d, nil
}

// seal returns the encrypted stream of the size bytes r yields, and its size.
func (e *encrypted) seal(key string, r io.Reader, size int64) (io.Reader, int64, error) {
	if size < 0 {
		return nil, 0, fmt.Errorf("cannot encrypt %q: negative size %d", key, size)
	}
	rel := key
	nblocks := (size + EncBlockBytes - 1) / EncBlockBytes
	d, err := e.keyFor(scope(rel), nblocks)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot draw a data key for %q: %w", key, err)
	}
	raw := make([]byte, EncHeaderBytes)
	copy(raw, encMagic)
	binary.BigEndian.PutUint32(raw[8:], EncBlockBytes)
	binary.BigEndian.PutUint64(raw[12:], uint64(size))
	copy(raw[20:36], d.id[:])
	raw[36] = byte(len(d.kekID))
	copy(raw[37:69], d.kekID)
	raw[69] = byte(len(d.wrapped))
	copy(raw[70:130], d.wrapped)
	h := &encHeader{raw: raw, plainSize: size, aead: d.aead}
	h.aad = blockAADPrefix(rel, raw)
	return &sealer{r: r, h: h, remain: size, pending: raw}, EncryptedSize(size), nil
}

func blockAADPrefix(rel string, raw []byte) [32]byte {
	hs := sha256.New()
	hs.Write([]byte("strata.enc.v1\x00"))
	hs.Write([]byte(rel))
	hs.Write([]byte{0})
	hs.Write(raw[:36]) // magic, block size, plaintext size, data key id
	var out [32]byte
	hs.Sum(out[:0])
	return out
}

func blockAAD(h *encHeader, k int64) []byte {
	b := make([]byte, 0, 40)
	b = append(b, h.aad[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(k))
}

// sealer is the encrypted stream: the header, then block after block as they are read.
type sealer struct {
	r       io.Reader
	h       *encHeader
	remain  int64 // plaintext bytes still to read from r
	k       int64
	pending []byte
	pt, ct  []byte
	err     error
}

func (s *sealer) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.remain == 0 {
			var one [1]byte
			if n, _ := io.ReadFull(s.r, one[:]); n > 0 {
				s.err = errors.New("reader yielded more bytes than the size given")
				continue
			}
			s.err = io.EOF
			continue
		}
		if s.pt == nil {
			s.pt = make([]byte, EncBlockBytes)
			s.ct = make([]byte, 0, encFullBlock)
		}
		n := min(s.remain, EncBlockBytes)
		if _, err := io.ReadFull(s.r, s.pt[:n]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = errors.New("reader yielded fewer bytes than the size given")
			}
			s.err = err
			continue
		}
		nonce := s.ct[:encNonce]
		if _, err := rand.Read(nonce); err != nil {
			s.err = err
			continue
		}
		s.pending = s.h.aead.Seal(nonce, nonce, s.pt[:n], blockAAD(s.h, s.k))
		s.remain -= n
		s.k++
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

func (e *encrypted) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	sr, n, err := e.seal(key, r, size)
	if err != nil {
		return err
	}
	return e.s.Put(ctx, key, sr, n)
}

type encCond struct {
	e  *encrypted
	cp tiering.ConditionalPutter
}

func (c encCond) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	sr, n, err := c.e.seal(key, r, size)
	if err != nil {
		return "", err
	}
	return c.cp.PutIf(ctx, key, sr, n, ifMatch)
}

type encRetain struct {
	e  *encrypted
	rp tiering.RetainingPutter
}

func (c encRetain) PutRetained(ctx context.Context, key string, r io.Reader, size int64, lock tiering.ObjectLock) error {
	sr, n, err := c.e.seal(key, r, size)
	if err != nil {
		return err
	}
	return c.rp.PutRetained(ctx, key, sr, n, lock)
}

func (e *encrypted) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	oi, err := e.s.Stat(ctx, key)
	if err == nil {
		if p, ok := plainSizeOf(oi.Size); ok {
			oi.Size = p
		}
	}
	return oi, err
}

func (e *encrypted) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	return e.s.List(ctx, prefix, func(oi tiering.ObjectInfo) error {
		if p, ok := plainSizeOf(oi.Size); ok {
			oi.Size = p
		}
		return fn(oi)
	})
}

func (e *encrypted) Delete(ctx context.Context, key string) error {
	e.mu.Lock()
	delete(e.headers, key)
	e.mu.Unlock()
	return e.s.Delete(ctx, key)
}

// parseHeader checks raw and unwraps its data key.
func (e *encrypted) parseHeader(key string, raw []byte) (*encHeader, error) {
	if len(raw) < len(encMagic) || string(raw[:len(encMagic)]) != encMagic {
		return nil, fmt.Errorf("cannot decrypt %q: %w", key, ErrNotEncrypted)
	}
	if len(raw) < EncHeaderBytes {
		return nil, fmt.Errorf("%w: cannot decrypt %q: header cut at %d bytes", segment.ErrCorrupt, key, len(raw))
	}
	raw = raw[:EncHeaderBytes:EncHeaderBytes]
	h := &encHeader{raw: raw, plainSize: int64(binary.BigEndian.Uint64(raw[12:]))}
	copy(h.dekID[:], raw[20:36])
	kl, wl := int(raw[36]), int(raw[69])
	if bs := binary.BigEndian.Uint32(raw[8:]); bs != EncBlockBytes || kl == 0 || kl > 32 || wl != encWrapped ||
		h.plainSize < 0 || h.plainSize > 1<<50 || !bytes.Equal(raw[130:], make([]byte, EncHeaderBytes-130)) {
		return nil, fmt.Errorf("%w: cannot decrypt %q: malformed encryption header", segment.ErrCorrupt, key)
	}
	h.kekID, h.wrapped = string(raw[37:37+kl]), raw[70:70+wl]
	rel := key
	h.aad = blockAADPrefix(rel, raw)
	e.mu.Lock()
	aead := e.unwrapped[h.dekID]
	e.mu.Unlock()
	if aead == nil {
		kek := e.kr.keks[h.kekID]
		if kek == nil {
			return nil, fmt.Errorf("cannot decrypt %q (key id %q): %w", key, h.kekID, ErrUnknownKey)
		}
		dek, err := kek.Open(nil, h.wrapped[:encNonce], h.wrapped[encNonce:], wrapAAD(h.kekID, h.dekID, scope(rel)))
		if err != nil {
			return nil, fmt.Errorf("cannot decrypt %q (key id %q): %w", key, h.kekID, ErrWrongKey)
		}
		if aead, err = newGCM(dek); err != nil {
			return nil, err
		}
		e.mu.Lock()
		if len(e.unwrapped) > 1<<20 {
			clear(e.unwrapped)
		}
		e.unwrapped[h.dekID] = aead
		e.mu.Unlock()
	}
	h.aead = aead
	return h, nil
}

func (e *encrypted) cacheHeader(key string, h *encHeader) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.headers) >= headerCache {
		n := 0
		for k := range e.headers { // random victims (map order)
			delete(e.headers, k)
			if n++; n >= headerCache/8 {
				break
			}
		}
	}
	e.headers[key] = h
}

func (e *encrypted) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("cannot read %q: negative offset %d", key, off)
	}
	if off == 0 {
		// The header comes with the blocks: one GET, and a rewritten (mutable) object is
		// never read with a stale header.
		ctLen := int64(-1)
		if length >= 0 && length <= 1<<50 { // larger: to the end (and no overflow)
			ctLen = EncHeaderBytes + (length+EncBlockBytes-1)/EncBlockBytes*encFullBlock
		}
		rc, err := e.s.GetRange(ctx, key, 0, ctLen)
		if err != nil {
			return nil, err
		}
		raw := make([]byte, EncHeaderBytes)
		n, err := io.ReadFull(rc, raw)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			rc.Close()
			return nil, err
		}
		h, err := e.parseHeader(key, raw[:n])
		if err != nil {
			rc.Close()
			return nil, err
		}
		e.cacheHeader(key, h)
		end := h.plainSize
		if length >= 0 {
			end = min(length, h.plainSize)
		}
		return &opener{e: e, key: key, rc: rc, h: h, remain: end}, nil
	}
	e.mu.Lock()
	h := e.headers[key]
	e.mu.Unlock()
	if h == nil {
		rc, err := e.s.GetRange(ctx, key, 0, EncHeaderBytes)
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if h, err = e.parseHeader(key, raw); err != nil {
			return nil, err
		}
		e.cacheHeader(key, h)
	}
	if off > h.plainSize {
		return nil, fmt.Errorf("cannot read %q: offset %d past the end (%d bytes)", key, off, h.plainSize)
	}
	end := h.plainSize
	if length >= 0 && length < h.plainSize-off {
		end = off + length
	}
	if off == end {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	b0, b1 := off/EncBlockBytes, (end-1)/EncBlockBytes
	ctOff := EncHeaderBytes + b0*encFullBlock
	ctEnd := EncHeaderBytes + b1*encFullBlock + min(EncBlockBytes, h.plainSize-b1*EncBlockBytes) + encOverhead
	rc, err := e.s.GetRange(ctx, key, ctOff, ctEnd-ctOff)
	if err != nil {
		return nil, err
	}
	return &opener{e: e, key: key, rc: rc, h: h, k: b0, skip: off - b0*EncBlockBytes, remain: end - off}, nil
}

// opener decrypts blocks from rc as they are read, from block k, dropping the first skip
// plaintext bytes and ending after remain more.
type opener struct {
	e       *encrypted
	key     string
	rc      io.ReadCloser
	h       *encHeader
	k       int64
	skip    int64
	remain  int64
	pending []byte
	ct, pt  []byte
	err     error
}

func (o *opener) Read(p []byte) (int, error) {
	for len(o.pending) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.remain == 0 {
			o.err = io.EOF
			continue
		}
		if o.ct == nil {
			o.ct = *(blockPool.Get().(*[]byte))
		}
		n := min(EncBlockBytes, o.h.plainSize-o.k*EncBlockBytes) + encOverhead
		if _, err := io.ReadFull(o.rc, o.ct[:n]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("%w: cannot decrypt %q: block %d cut short (object truncated)", segment.ErrCorrupt, o.key, o.k)
			}
			o.err = err
			continue
		}
		direct := o.skip == 0 && int64(n-encOverhead) <= o.remain && int64(len(p)) >= n-encOverhead
		var dst []byte
		switch {
		case direct: // a whole block the caller has room for: decrypt into p, one copy less
			dst = p[:0]
		case o.pt == nil:
			o.pt = make([]byte, 0, EncBlockBytes)
			dst = o.pt
		default:
			dst = o.pt[:0]
		}
		pt, err := o.h.aead.Open(dst, o.ct[:encNonce], o.ct[encNonce:n], blockAAD(o.h, o.k))
		if err != nil {
			o.e.mu.Lock()
			if o.e.headers[o.key] == o.h {
				delete(o.e.headers, o.key)
			}
			o.e.mu.Unlock()
			o.err = fmt.Errorf("%w: cannot decrypt %q: block %d (plaintext bytes %d-) fails authentication: changed, moved or not this object's",
				segment.ErrCorrupt, o.key, o.k, o.k*EncBlockBytes)
			continue
		}
		o.k++
		if direct {
			o.remain -= int64(len(pt))
			return len(pt), nil
		}
		pt = pt[min(o.skip, int64(len(pt))):]
		o.skip = 0
		o.pending = pt[:min(int64(len(pt)), o.remain)]
		o.remain -= int64(len(o.pending))
	}
	n := copy(p, o.pending)
	o.pending = o.pending[n:]
	return n, nil
}

func (o *opener) Close() error {
	if o.ct != nil { // pending never points into ct
		b := o.ct
		blockPool.Put(&b)
		o.ct = nil
	}
	if o.err == nil || o.err == io.EOF {
		o.err = errClosed
	}
	return o.rc.Close()
}

var errClosed = errors.New("read after close")

// blockPool holds ciphertext block buffers of openers.
var blockPool = sync.Pool{New: func() any { b := make([]byte, encFullBlock); return &b }}

// RefuseEncrypted returns a view of s whose reads from offset 0 fail with ErrEncrypted when
// the object is in Encrypt's format, so that a broker or tool without the key file says so
// instead of misreading ciphertext. Reads at other offsets are not checked (every object a
// broker reads is first reached through a read at 0: manifests, indexes, the first chunk).
func RefuseEncrypted(s tiering.ObjectStore) tiering.ObjectStore {
	return withCaps(refuser{s}, s,
		func(cp tiering.ConditionalPutter) tiering.ConditionalPutter { return cp },
		func(rp tiering.RetainingPutter) tiering.RetainingPutter { return rp })
}

type refuser struct{ tiering.ObjectStore }

func (r refuser) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	rc, err := r.ObjectStore.GetRange(ctx, key, off, length)
	if err != nil || off != 0 {
		return rc, err
	}
	head := make([]byte, len(encMagic))
	n, err := io.ReadFull(rc, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		rc.Close()
		return nil, err
	}
	if n == len(encMagic) && string(head) == encMagic {
		rc.Close()
		return nil, fmt.Errorf("cannot read %q: %w", key, ErrEncrypted)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head[:n]), rc), rc}, nil
}

// Rewrap rewrites the header of the encrypted object key in raw (the store without
// Encrypt) so that its data key is wrapped by kr's primary KEK, leaving every block as it
// is (the blocks' AAD does not cover the wrapping). It reports whether the object changed:
// objects already under the primary, and empty objects of other formats, are left alone.
// The object is written back with PutIf against the ETag it was read with when raw has
// it, so a concurrent writer wins (ErrPreconditionFailed). Retiring a KEK is: add a new
// primary, Rewrap every object, remove the old line. On an Object Lock bucket the rewritten
// object is a new version without a lock; the locked old version stays until its date.
func Rewrap(ctx context.Context, raw tiering.ObjectStore, kr *Keyring, key string) (bool, error) {
	oi, err := raw.Stat(ctx, key)
	if err != nil {
		return false, err
	}
	rc, err := raw.GetRange(ctx, key, 0, -1)
	if err != nil {
		return false, err
	}
	obj, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return false, err
	}
	e := &encrypted{s: raw, kr: kr, unwrapped: map[[16]byte]cipher.AEAD{}}
	h, err := e.parseHeader(key, obj)
	if err != nil {
		return false, err
	}
	if h.kekID == kr.primary {
		return false, nil
	}
	dek, err := kr.keks[h.kekID].Open(nil, h.wrapped[:encNonce], h.wrapped[encNonce:], wrapAAD(h.kekID, h.dekID, scope(key)))
	if err != nil {
		return false, fmt.Errorf("cannot rewrap %q: %w", key, ErrWrongKey)
	}
	nonce := make([]byte, encNonce, encWrapped)
	if _, err := rand.Read(nonce); err != nil {
		return false, err
	}
	wrapped := kr.keks[kr.primary].Seal(nonce, nonce, dek, wrapAAD(kr.primary, h.dekID, scope(key)))
	clear(dek)
	out := bytes.Clone(obj)
	clear(out[36:130])
	out[36] = byte(len(kr.primary))
	copy(out[37:69], kr.primary)
	out[69] = byte(len(wrapped))
	copy(out[70:130], wrapped)
	if cp, ok := raw.(tiering.ConditionalPutter); ok {
		_, err = cp.PutIf(ctx, key, bytes.NewReader(out), int64(len(out)), oi.ETag)
	} else {
		err = raw.Put(ctx, key, bytes.NewReader(out), int64(len(out)))
	}
	if err != nil {
		return false, fmt.Errorf("cannot rewrap %q: %w", key, err)
	}
	return true, nil
}
