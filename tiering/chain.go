package tiering

// The hash chain of a partition's manifest (format: doc.go, "Tamper evidence").
//
// Every manifest change that adds history is a link: an uploaded segment (its
// SegmentEntry) or a move of the remote log start (a DeletionRecord, written by retention
// and DeleteRecords). Link n commits to link n-1:
//
//	link(n) = SHA-256("strata.link.v1" | n as uint64 BE | link(n-1) (32 zero bytes for n = 1) | body(n))
//
// body is the SHA-256 of the link's canonical encoding (entryBody, deletionBody), which
// names the partition (topic ID and number), so a link copied into another partition's
// manifest does not verify there. The head's "chain" holds the newest link's number and
// hash: that pair is what an auditor publishes, and everything before it follows.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ChainHead names the newest link of a partition's chain.
type ChainHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"` // hex SHA-256 of the link
}

func (c ChainHead) String() string { return fmt.Sprintf("%d:%s", c.Seq, c.Hash) }

// ParseChainHead parses "SEQ:HASH" (String's form).
func ParseChainHead(s string) (ChainHead, error) {
	var h ChainHead
	i := bytes.IndexByte([]byte(s), ':')
	if i <= 0 {
		return h, fmt.Errorf("chain head %q: want SEQ:HASH", s)
	}
	if _, err := fmt.Sscan(s[:i], &h.Seq); err != nil || h.Seq <= 0 {
		return h, fmt.Errorf("chain head %q: bad sequence number", s)
	}
	h.Hash = s[i+1:]
	if b, err := hex.DecodeString(h.Hash); err != nil || len(b) != sha256.Size {
		return h, fmt.Errorf("chain head %q: hash is not 64 hex digits", s)
	}
	return h, nil
}

// DeletionRecords are the deletion links an entry carries.
type DeletionRecords []DeletionRecord

// DeletionRecord is the chain link of a move of the remote log start: what was dropped
// and when. Deletions since the last upload are kept in the head ("deletions"); the next
// uploaded entry carries them (SegmentEntry.Deletions), ahead of its own link.
type DeletionRecord struct {
	Seq            int64  `json:"seq"`
	Prev           string `json:"prev"`   // hex link hash of the previous link ("" for seq 1)
	Time           int64  `json:"time"`   // Unix ms
	Reason         string `json:"reason"` // "retention" (ApplyRetention) or "log-start" (DeleteRecords and other moves)
	FromOffset     int64  `json:"fromOffset"`
	LogStartOffset int64  `json:"logStartOffset"` // the new remote log start: offsets [fromOffset, logStartOffset) are gone
	Segments       int64  `json:"segments"`       // whole segments dropped
	Bytes          int64  `json:"bytes"`          // their .log bytes
	// The newest dropped segment's link, so that the chain of what is left can be tied
	// to what went (0 / "" when it had none).
	LastDroppedSeq  int64  `json:"lastDroppedSeq,omitempty"`
	LastDroppedHash string `json:"lastDroppedHash,omitempty"`
}

// canon is the canonical encoding bodies are hashed over: integers as 8 bytes big-endian,
// strings as a 4-byte big-endian length and their bytes.
type canon struct{ b []byte }

func (c *canon) i(v int64) { c.b = binary.BigEndian.AppendUint64(c.b, uint64(v)) }
func (c *canon) s(v string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(v)))
	c.b = append(c.b, v...)
}
func (c *canon) flag(v bool) {
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
}
func (c *canon) ref(r *ObjectRef) {
	c.flag(r != nil)
	if r != nil {
		c.s(r.Key)
		c.i(r.Size)
		c.i(int64(r.CRC32C))
		c.s(r.SHA256)
	}
}

// entryBody is the SHA-256 of e's canonical encoding: every field of the entry except its
// chain fields and the deletions it carries (those are links of their own).
func entryBody(topicID string, partition int32, e *SegmentEntry) [32]byte {
	// Sized for a typical entry (three object keys and SHA-256s: ~500 bytes), so that the
	// check of a long history at load does not grow a buffer per entry.
	var buf [768]byte
	c := canon{b: buf[:0]}
	c.s("strata.segment.v1")
	c.s(topicID)
	c.i(int64(partition))
	c.s(e.ID)
	for _, v := range [...]int64{e.BaseOffset, e.LastOffset, e.FirstTimestamp, e.MaxTimestamp, e.Size, e.Batches, e.UploadTime.UnixNano()} {
		c.i(v)
	}
	c.ref(&e.Log)
	c.ref(&e.Index)
	c.ref(&e.TimeIndex)
	c.ref(e.ProducerSnapshot)
	c.i(e.ProducerSnapshotOffset)
	c.flag(e.LeaderEpochs != nil)
	if e.LeaderEpochs != nil {
		c.i(int64(e.LeaderEpochs.Min))
		c.i(int64(e.LeaderEpochs.Max))
	}
	c.ref(e.Hashes)
	c.i(e.HashBlock)
	if e.AbortedTxns != nil { // hashed only when present: entries without any hash as before
		c.s("abortedTxns")
		c.i(int64(len(*e.AbortedTxns)))
		for _, a := range *e.AbortedTxns {
			for _, v := range [...]int64{a.ProducerID, a.FirstOffset, a.LastOffset, a.LastStableOffset} {
				c.i(v)
			}
		}
	}
	return sha256.Sum256(c.b)
}

func deletionBody(topicID string, partition int32, d *DeletionRecord) [32]byte {
	var c canon
	c.s("strata.deletion.v1")
	c.s(topicID)
	c.i(int64(partition))
	for _, v := range [...]int64{d.Time, d.FromOffset, d.LogStartOffset, d.Segments, d.Bytes, d.LastDroppedSeq} {
		c.i(v)
	}
	c.s(d.Reason)
	c.s(d.LastDroppedHash)
	return sha256.Sum256(c.b)
}

// linkHash is link(seq) over prev (hex, "" = none) and body. A prev that is not 64 hex
// digits hashes as given, so it can never match a well-formed chain.
func linkHash(seq int64, prev string, body [32]byte) string {
	var buf [128]byte
	c := canon{b: buf[:0]}
	c.b = append(c.b, "strata.link.v1"...)
	c.i(seq)
	if prev == "" {
		c.b = append(c.b, make([]byte, sha256.Size)...)
	} else if p, err := hex.AppendDecode(c.b, []byte(prev)); err == nil && len(p)-len(c.b) == sha256.Size {
		c.b = p
	} else {
		c.s(prev)
	}
	c.b = append(c.b, body[:]...)
	s := sha256.Sum256(c.b)
	return hex.EncodeToString(s[:])
}

// Link is one link of a partition's chain as loaded: a segment entry or a deletion.
type Link struct {
	Seq      int64
	Prev     string   // as stored
	Hash     string   // recomputed from the stored content
	Body     [32]byte // body digest
	Entry    *SegmentEntry
	Deletion *DeletionRecord
}

// Offsets returns the offsets the link covers: the segment's, or the dropped range.
func (l *Link) Offsets() (from, to int64) {
	if l.Entry != nil {
		return l.Entry.BaseOffset, l.Entry.LastOffset
	}
	return l.Deletion.FromOffset, l.Deletion.LogStartOffset - 1
}

func (l *Link) describe() string {
	from, to := l.Offsets()
	if l.Entry != nil {
		return fmt.Sprintf("link %d (segment %d-%d)", l.Seq, from, to)
	}
	return fmt.Sprintf("link %d (%s deletion of %d-%d)", l.Seq, l.Deletion.Reason, from, to)
}

// ChainLinks returns the chain links of a partition, oldest first: the deletions each
// entry carries, then the entry, for every entry (oldest first, dead ones included), then
// the head's pending deletions. Entries without a chain (written before it existed) are
// left out; see checkChain for when that is allowed.
func ChainLinks(topicID string, partition int32, entries []SegmentEntry, pending []DeletionRecord) []Link {
	out := make([]Link, 0, len(entries)+len(pending))
	addDel := func(d *DeletionRecord) {
		body := deletionBody(topicID, partition, d)
		out = append(out, Link{Seq: d.Seq, Prev: d.Prev, Hash: linkHash(d.Seq, d.Prev, body), Body: body, Deletion: d})
	}
	for i := range entries {
		e := &entries[i]
		if e.Deletions != nil {
			for j := range *e.Deletions {
				addDel(&(*e.Deletions)[j])
			}
		}
		if e.ChainSeq > 0 {
			body := entryBody(topicID, partition, e)
			out = append(out, Link{Seq: e.ChainSeq, Prev: e.ChainPrev, Hash: linkHash(e.ChainSeq, e.ChainPrev, body), Body: body, Entry: e})
		}
	}
	for j := range pending {
		addDel(&pending[j])
	}
	return out
}

// ErrChainBroken marks a manifest whose hash chain does not verify: an entry changed,
// removed, reordered or replayed. It wraps segment.ErrCorrupt where reads return it.
var ErrChainBroken = errors.New("tiering: manifest hash chain broken")

// ChainBreak is the first place a chain does not verify.
type ChainBreak struct {
	Seq        int64   // the link at which it breaks (0: at the head)
	From, To   int64   // its offsets (see Link.Offsets)
	Reason     string  // what does not match
	BadEntries []int64 // base offsets of the segments that are no longer vouched for
}

func (b *ChainBreak) Error() string {
	return fmt.Sprintf("%v at link %d (offsets %d-%d): %s", ErrChainBroken, b.Seq, b.From, b.To, b.Reason)
}

func (b *ChainBreak) Unwrap() error { return ErrChainBroken }

// checkChain verifies links (ChainLinks of entries) against head: numbers run on by one,
// every link's prev is the previous link's hash, the newest link is head, no entry without
// a chain follows a chained one, and the first link's prev matches what a deletion
// recorded of the segment before it. It returns every break found (nil: the chain holds).
// A manifest without any chain (head nil, no links) is a manifest of older brokers.
func checkChain(entries []SegmentEntry, links []Link, head *ChainHead) []*ChainBreak {
	var breaks []*ChainBreak
	brk := func(l *Link, reason string, bad ...*Link) {
		b := &ChainBreak{Reason: reason}
		if l != nil {
			b.Seq = l.Seq
			b.From, b.To = l.Offsets()
		}
		for _, x := range bad {
			if x != nil && x.Entry != nil {
				b.BadEntries = append(b.BadEntries, x.Entry.BaseOffset)
			}
		}
		breaks = append(breaks, b)
	}
	started := false
	for i := range entries {
		if entries[i].ChainSeq > 0 || entries[i].Deletions != nil {
			started = true
		} else if started {
			e := &entries[i]
			l := &Link{Entry: e}
			brk(l, fmt.Sprintf("segment %d-%d has no chain link after the chain started", e.BaseOffset, e.LastOffset), l)
		}
	}
	if len(links) == 0 {
		if head != nil && head.Seq > 0 {
			brk(nil, fmt.Sprintf("the head names link %d but the manifest holds no links", head.Seq))
		}
		return breaks
	}
	if first := &links[0]; first.Seq == 1 && first.Prev != "" {
		brk(first, "link 1 has a predecessor", first)
	}
	for i := range links {
		l := &links[i]
		if i == 0 {
			continue
		}
		p := &links[i-1]
		switch {
		case l.Seq != p.Seq+1:
			brk(l, fmt.Sprintf("follows link %d", p.Seq), p, l)
		case l.Prev != p.Hash:
			brk(l, fmt.Sprintf("its prev %.16s… is not the hash of %s (%.16s…)", l.Prev, p.describe(), p.Hash), p, l)
		}
	}
	// A deletion that dropped the segment before the first link recorded its hash.
	first := &links[0]
	for i := range links {
		if d := links[i].Deletion; d != nil && d.LastDroppedSeq == first.Seq-1 && d.LastDroppedHash != "" && d.LastDroppedHash != first.Prev {
			brk(first, fmt.Sprintf("its prev is not the hash deletion link %d recorded for link %d", d.Seq, d.LastDroppedSeq), first)
		}
	}
	last := &links[len(links)-1]
	switch {
	case head == nil:
		brk(last, "the head names no chain", last)
	case head.Seq != last.Seq || head.Hash != last.Hash:
		brk(last, fmt.Sprintf("the head names link %s, the newest link is %d:%s", head, last.Seq, last.Hash), last)
	}
	return breaks
}

// VerifyChain checks the hash chain of a loaded manifest (ReadPartitionManifest's head
// and entries; pass all of them, dead ones included, as ReadPartitionChain returns) and
// returns its breaks, first first.
func VerifyChain(head PartitionHead, entries []SegmentEntry) []*ChainBreak {
	links := ChainLinks(head.TopicID, head.Partition, entries, head.Deletions)
	return checkChain(entries, links, head.Chain)
}

// appendLink gives e the next link after head and returns the new head.
func appendLink(topicID string, partition int32, head *ChainHead, e *SegmentEntry) *ChainHead {
	seq, prev := int64(1), ""
	if head != nil {
		seq, prev = head.Seq+1, head.Hash
	}
	e.ChainSeq, e.ChainPrev = seq, prev
	return &ChainHead{Seq: seq, Hash: linkHash(seq, prev, entryBody(topicID, partition, e))}
}

// appendDeletion makes d the next link after head and returns the new head.
func appendDeletion(topicID string, partition int32, head *ChainHead, d *DeletionRecord) *ChainHead {
	seq, prev := int64(1), ""
	if head != nil {
		seq, prev = head.Seq+1, head.Hash
	}
	d.Seq, d.Prev = seq, prev
	return &ChainHead{Seq: seq, Hash: linkHash(seq, prev, deletionBody(topicID, partition, d))}
}

// A Proof shows that a segment holding an offset is part of a partition's chain ending at
// Head, without the bucket or the broker: the verifier recomputes the entry's link from
// Entry, then each later link from its number, the previous hash and Path's body digest,
// and compares the last with Head. Its size is the entry plus 32 bytes per later link.
type Proof struct {
	Version   int          `json:"version"`
	Topic     string       `json:"topic"`
	TopicID   string       `json:"topicId"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Head      ChainHead    `json:"head"`
	Entry     SegmentEntry `json:"entry"` // with its chainSeq and chainPrev; carried deletions are dropped
	Path      []string     `json:"path"`  // hex body digests of links Entry.ChainSeq+1 .. Head.Seq
}

// BuildProof makes the proof for offset from a partition's verified chain.
func BuildProof(head PartitionHead, entries []SegmentEntry, offset int64) (*Proof, error) {
	if bs := VerifyChain(head, entries); len(bs) > 0 {
		return nil, bs[0]
	}
	links := ChainLinks(head.TopicID, head.Partition, entries, head.Deletions)
	at := -1
	for i := range links {
		if e := links[i].Entry; e != nil && e.BaseOffset <= offset && offset <= e.LastOffset && e.LastOffset >= head.LogStartOffset {
			at = i
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("offset %d is in no chained segment of %s-%d (remote offsets %d-%d)", offset, head.Topic, head.Partition, head.LogStartOffset, head.EndOffset-1)
	}
	p := &Proof{Version: 1, Topic: head.Topic, TopicID: head.TopicID, Partition: head.Partition, Offset: offset, Head: *head.Chain, Entry: *links[at].Entry}
	p.Entry.Deletions = nil
	for _, l := range links[at+1:] {
		p.Path = append(p.Path, hex.EncodeToString(l.Body[:]))
	}
	return p, nil
}

// VerifyProof checks p against a published chain head: the entry holds the offset and its
// link, followed by p.Path, ends at published.
func VerifyProof(p *Proof, published ChainHead) error {
	e := &p.Entry
	if p.Offset < e.BaseOffset || p.Offset > e.LastOffset {
		return fmt.Errorf("the proof's segment %d-%d does not hold offset %d", e.BaseOffset, e.LastOffset, p.Offset)
	}
	if e.ChainSeq <= 0 {
		return errors.New("the proof's segment has no chain link")
	}
	h := linkHash(e.ChainSeq, e.ChainPrev, entryBody(p.TopicID, p.Partition, e))
	seq := e.ChainSeq
	for i, s := range p.Path {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != sha256.Size {
			return fmt.Errorf("path element %d is not a SHA-256", i)
		}
		seq++
		h = linkHash(seq, h, [32]byte(b))
	}
	got := ChainHead{Seq: seq, Hash: h}
	if got != published {
		return fmt.Errorf("the proof leads to chain head %s, not the published %s", got, published)
	}
	if p.Head != published {
		return fmt.Errorf("the proof names head %s, not the published %s", p.Head, published)
	}
	return nil
}

// The broker remembers the newest chain head it wrote for each partition in the partition
// directory (chainHeadName, JSON chainRecord; tmp file and rename, no fsync: a lost record
// only loses the check). At open, a manifest whose chain does not reach that head was
// rolled back or rewritten in the bucket (an old manifest.json put back): see
// checkRollback.
const chainHeadName = "tier-chain-head.json"

// chainRecord is the content of chainHeadName: the head and whose it is (a directory
// reused by a topic of the same name but another ID is not compared).
type chainRecord struct {
	ChainHead
	TopicID   string `json:"topicId"`
	Partition int32  `json:"partition"`
}

// chainHead returns the recorded head of the partition (topicID, partition), or nil.
func (c *chunkCache) chainHead(topicID string, partition int32) *ChainHead {
	if c == nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.dir, chainHeadName))
	if err != nil {
		return nil
	}
	var r chainRecord
	if json.Unmarshal(b, &r) != nil || r.Seq <= 0 || r.TopicID != topicID || r.Partition != partition {
		return nil
	}
	return &r.ChainHead
}

func (c *chunkCache) putChainHead(h *PartitionHead) {
	if c == nil || h.Chain == nil {
		return
	}
	b, _ := json.Marshal(chainRecord{ChainHead: *h.Chain, TopicID: h.TopicID, Partition: h.Partition})
	p := filepath.Join(c.dir, chainHeadName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
	}
}

// checkRollback reports whether the chain loaded (links, head) falls short of or departs
// from the head this broker last wrote (recorded; nil: nothing to compare).
func checkRollback(recorded *ChainHead, head *ChainHead, links []Link) error {
	if recorded == nil {
		return nil
	}
	if head == nil || head.Seq < recorded.Seq {
		got := "no chain"
		if head != nil {
			got = "chain head " + head.String()
		}
		return fmt.Errorf("%w: the manifest in the bucket has %s, this broker wrote link %s: it was rolled back", ErrChainBroken, got, recorded)
	}
	for i := range links {
		if links[i].Seq == recorded.Seq && links[i].Hash != recorded.Hash {
			return fmt.Errorf("%w: link %d in the bucket is %s, this broker wrote %s: the history was rewritten", ErrChainBroken, recorded.Seq, links[i].Hash, recorded.Hash)
		}
	}
	return nil
}

// nowMs is the deletion records' clock (the manifest writer's).
func nowMs(now func() time.Time) int64 { return now().UnixMilli() }
