package tiering_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/storewrap"
)

// TestEncryptedTier runs the tier over storewrap.Encrypt: uploads (manifests spilled into
// chunks, with their conditional writes), cold reads of every offset with the hash checks
// on, VerifyEntry, and a flipped ciphertext byte refused as corrupt by reads and VerifyEntry.
// Nothing in the bucket holds a record value in plaintext.
func TestEncryptedTier(t *testing.T) {
	inner := newMem()
	kr, err := storewrap.ParseKeys([]byte("k1 MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"))
	if err != nil {
		t.Fatal(err)
	}
	store := storewrap.Encrypt(inner, kr)
	for _, chunk := range []int64{1000, 64 << 10} {
		cfg := testConfig()
		cfg.ChunkBytes = chunk
		e := newEnv(t, store, cfg)
		l := openLog(t, t.TempDir(), 100<<10)
		for range 80 {
			produce(t, l, 50, 1000)
		}
		l.Roll()
		p, err := e.m.OpenPartition(t.Context(), "enc", testTopicID, int32(chunk), l, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.UploadPending(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := len(p.Entries()); n < 5 {
			t.Fatalf("%d segments uploaded", n)
		}
		cold := newEnv(t, store, cfg)
		p2, err := cold.m.OpenPartitionLocal(t.Context(), "enc", testTopicID, int32(chunk), nil, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := remoteBytes(t, p2, 0, 50<<10), localBytes(t, l, 0); !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: cold read of %d bytes differs from the %d local ones", chunk, len(got), len(want))
		}
		for _, en := range p2.Entries() {
			if err := tiering.VerifyEntry(t.Context(), store, en); err != nil {
				t.Fatalf("VerifyEntry %d: %v", en.BaseOffset, err)
			}
		}
	}

	// Every object is encrypted.
	objects := 0
	err = inner.List(t.Context(), "", func(oi tiering.ObjectInfo) error {
		b, _ := inner.Bytes(oi.Key)
		if !bytes.HasPrefix(b, []byte("STRATAE1")) || bytes.Contains(b, []byte("value-")) || bytes.Contains(b, []byte("enc")) {
			t.Errorf("%q is not encrypted", oi.Key)
		}
		objects++
		return nil
	})
	if err != nil || objects < 20 {
		t.Fatalf("%d objects, %v", objects, err)
	}

	// A flipped ciphertext byte in the middle of a segment.
	cfg := testConfig()
	e := newEnv(t, store, cfg)
	p, err := e.m.OpenPartitionLocal(t.Context(), "enc", testTopicID, 1000, nil, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	victim := p.Entries()[2]
	b, _ := inner.Bytes(victim.Log.Key)
	b = bytes.Clone(b)
	b[len(b)/2] ^= 0x01
	if err := inner.Put(t.Context(), victim.Log.Key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	var readErr error
	for off := victim.BaseOffset; off <= victim.LastOffset && readErr == nil; {
		var out []byte
		out, readErr = p.Read(t.Context(), off, 64<<10, true)
		if readErr == nil {
			off = lastOffsetOf(t, out) + 1
		}
	}
	if !errors.Is(readErr, segment.ErrCorrupt) {
		t.Fatalf("read of the flipped segment: %v, want segment.ErrCorrupt", readErr)
	}
	if err := tiering.VerifyEntry(t.Context(), store, victim); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("VerifyEntry of the flipped segment: %v", err)
	}
}
