package datapath

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// idempotentBatch hand-encodes a v2 batch of n uncompressed records for producer pid,
// epoch, starting at sequence seq.
func idempotentBatch(pid int64, epoch int16, seq int32, n int) []byte {
	var recs []byte
	for i := range n {
		var body []byte
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		body = binary.AppendVarint(body, -1)       // null key
		body = binary.AppendVarint(body, 1)        // value length
		body = append(body, byte('a'+i%26))        // value
		body = binary.AppendVarint(body, 0)        // headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	b := make([]byte, 61, 61+len(recs))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(49+len(recs)))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[27:], 1_700_000_000_000)
	be.PutUint64(b[35:], 1_700_000_000_000)
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[53:], uint32(seq))
	be.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// A retried idempotent batch is answered with its original offsets and written once; a
// sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestIdempotentRetryIsDeduplicated(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "idem", 1, nil)
	raw := rawClient(t, tb.addr)
	produce := func(batch []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "idem"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(t.Context(), raw)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	const pid = 4242
	if r := produce(idempotentBatch(pid, 0, 0, 5)); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("first: code %d base %d", r.ErrorCode, r.BaseOffset)
	}
	if r := produce(idempotentBatch(pid, 0, 5, 5)); r.ErrorCode != 0 || r.BaseOffset != 5 {
		t.Fatalf("second: code %d base %d", r.ErrorCode, r.BaseOffset)
	}
	if r := produce(idempotentBatch(pid, 0, 0, 5)); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("retry of the first: code %d base %d", r.ErrorCode, r.BaseOffset)
	}
	if r := produce(idempotentBatch(pid, 0, 20, 1)); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: code %d", r.ErrorCode)
	}
	got := consumeAll(t, tb.addr, "idem", 10)
	if len(got) != 10 || got[9].Offset != 9 {
		t.Fatalf("consumed %d records", len(got))
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), "idem")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("idem", 0); o.Offset != 10 {
		t.Fatalf("end offset %d: the retry was written again", o.Offset)
	}
}
