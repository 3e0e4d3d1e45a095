package broker

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment/segmenttest"
)

// encodeBody returns the body of req as the broker sees it after the request header.
func encodeBody(req kmsg.Request) []byte { return req.AppendTo(nil) }

func TestCheckProduceFrameAcceptsRealRequests(t *testing.T) {
	api := lookupAPI(0)
	for v := api.min; v <= api.max; v++ {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(v)
		tid := "tx"
		req.TransactionID = &tid
		req.Acks = -1
		for i := range 3 {
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "t" + string(rune('a'+i))
			rt.TopicID = [16]byte{byte(i)}
			for p := range 4 {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = int32(p)
				if p != 2 {
					rp.Records = segmenttest.Batch(1, []byte("v"))
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		if err := checkProduceFrame(v, encodeBody(req), req.IsFlexible()); err != nil {
			t.Errorf("v%d: %v", v, err)
		}
	}
}

func TestCheckProduceFrameRejectsHostileCounts(t *testing.T) {
	f := func(name string, version int16, body []byte) {
		t.Helper()
		if err := checkProduceFrame(version, body, version >= 9); !errors.Is(err, errProtocol) {
			t.Errorf("%s: err %v, want a protocol error", name, err)
		}
	}
	// v7: null transactional id, acks, timeout, then 1M topics claimed in 1 MiB.
	b := binary.BigEndian.AppendUint16(nil, 0xffff)
	b = append(b, 0xff, 0xff, 0, 0, 0x75, 0x30)
	f("v7 topics claimed", 7, append(binary.BigEndian.AppendUint32(b, 1<<20), make([]byte, 1<<20)...))
	// v9 (flexible): compact count.
	b = []byte{0, 0xff, 0xff, 0, 0, 0x75, 0x30}
	b = binary.AppendUvarint(b, 1<<20+1)
	f("v9 topics claimed", 9, append(b, make([]byte, 1<<20)...))
	// One topic claiming more partitions than the cap, all present (8 bytes each, null records).
	b = binary.BigEndian.AppendUint16(nil, 0xffff)
	b = append(b, 0xff, 0xff, 0, 0, 0x75, 0x30)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(binary.BigEndian.AppendUint16(b, 1), 't')
	b = binary.BigEndian.AppendUint32(b, maxProducePartitions+1)
	for i := range maxProducePartitions + 1 {
		b = binary.BigEndian.AppendUint32(b, uint32(i))
		b = binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	f("too many partitions", 7, b)
	// Records longer than the frame.
	b = binary.BigEndian.AppendUint16(nil, 0xffff)
	b = append(b, 0xff, 0xff, 0, 0, 0x75, 0x30)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(binary.BigEndian.AppendUint16(b, 1), 't')
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 1<<30)
	f("records overrun", 7, b)
}

// A frame that claims millions of array elements no longer makes the decoder allocate
// dozens of times its size: Metadata over maxControlFrame is refused before decoding, and
// a hostile Produce frame is refused by the walk.
func TestParseRequestBoundsDecodeAllocation(t *testing.T) {
	frameFor := func(key, version int16, body []byte) []byte {
		f := binary.BigEndian.AppendUint16(nil, uint16(key))
		f = binary.BigEndian.AppendUint16(f, uint16(version))
		f = binary.BigEndian.AppendUint32(f, 1)
		f = binary.BigEndian.AppendUint16(f, 0) // client id ""
		return append(f, body...)
	}
	const S = 16 << 20
	meta := frameFor(3, 4, append(binary.BigEndian.AppendUint32(nil, S-4), make([]byte, S-4)...))
	prod := binary.BigEndian.AppendUint16(nil, 0xffff)
	prod = append(prod, 0xff, 0xff, 0, 0, 0x75, 0x30)
	prod = frameFor(0, 7, append(binary.BigEndian.AppendUint32(prod, S), make([]byte, S)...))
	smallMeta := frameFor(3, 4, append(binary.BigEndian.AppendUint32(nil, 256<<10), make([]byte, 256<<10)...))
	for name, fr := range map[string][]byte{"metadata 16 MiB": meta, "produce 16 MiB": prod, "metadata 256 KiB (under the cap: decoded, amplification bounded by its size)": smallMeta} {
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		_, err := parseRequest(fr)
		runtime.ReadMemStats(&ms1)
		alloc := int64(ms1.TotalAlloc - ms0.TotalAlloc)
		t.Logf("%s: %v; allocated %d MiB", name, err, alloc>>20)
		if !errors.Is(err, errProtocol) {
			t.Errorf("%s: err %v", name, err)
		}
		if alloc > 64<<20 {
			t.Errorf("%s: decoding allocated %d MiB", name, alloc>>20)
		}
	}
}
