package broker

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A large fetch response is encoded into a buffer sized once (not grown by doubling, which
// copied every byte several times), and the bytes are what kmsg encodes.
func TestAppendResponseSizesFetchOnce(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	for ti := range 2 {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = "topic-" + string(rune('a'+ti))
		for pi := range 4 {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = int32(pi)
			rp.HighWatermark = 1 << 40
			rp.RecordBatches = bytes.Repeat([]byte{byte(pi)}, 1<<20+pi)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	got := appendResponse(nil, 7, resp)
	if hint := fetchResponseSizeHint(resp); hint < len(got) {
		t.Fatalf("size hint %d below the encoded size %d", hint, len(got))
	}
	// Bytes allocated by one encoding (the least of three runs: other goroutines of the
	// process allocate too; the race detector adds slices.Grow's temporary). Doubling from empty
	// allocated ~4x the response.
	least := uint64(1 << 62)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		appendResponse(nil, 7, resp)
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	if least > uint64(len(got))*5/2 {
		t.Fatalf("encoding a %d-byte fetch response allocated %d bytes", len(got), least)
	}
	body := resp.AppendTo(nil)
	want := binary.BigEndian.AppendUint32(nil, uint32(4+1+len(body)))
	want = binary.BigEndian.AppendUint32(want, 7)
	want = append(want, 0) // flexible response header: empty tagged fields
	want = append(want, body...)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding differs: %d bytes, want %d", len(got), len(want))
	}
}
