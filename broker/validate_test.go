package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

func TestValidateBatch(t *testing.T) {
	cfg := TopicConfig{MaxMessageBytes: 200, MessageTimestampBeforeMaxMs: -1, MessageTimestampAfterMaxMs: -1}
	good := testBatch(t, codecNone, 1000, []int64{0}, false)
	f := func(name string, b []byte, want *kerr.Error) {
		t.Helper()
		_, err := validateBatch(b, cfg, time.Now())
		if got := errorCode(err); got != codeOf(want) {
			t.Errorf("%s: code %d (%v), want %v", name, got, err, want)
		}
	}
	f("good", good, nil)
	f("empty", nil, kerr.InvalidRecord)
	f("short", good[:10], kerr.CorruptMessage)
	old := append([]byte(nil), good...)
	old[16] = 1
	f("magic1", old, kerr.UnsupportedForMessageFormat)
	f("two-batches", append(append([]byte(nil), good...), good...), kerr.InvalidRecord)
	f("truncated", good[:len(good)-1], kerr.CorruptMessage)
	big := testBatch(t, codecNone, 1000, make([]int64, 30), false)
	f("too-large", big, kerr.MessageTooLarge)
	ctl := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(ctl[21:], 0x20)
	f("control", ctl, kerr.InvalidRecord)
}

// The partition's errors get their Kafka codes here, whatever they wrap; the storage and
// remote ones are retriable in every client.
func TestPartitionErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("%w: remote read t-0 at 3: %w", partition.ErrRemote, context.DeadlineExceeded), kerr.KafkaStorageError},
		{fmt.Errorf("%w: roll: %w", partition.ErrStorage, segment.ErrCorrupt), kerr.KafkaStorageError},
		{fmt.Errorf("%w: %w", partition.ErrInvalidRecord, segment.ErrInvalidBatch), kerr.InvalidRecord},
		{fmt.Errorf("%w: %w", partition.ErrTimeout, context.DeadlineExceeded), kerr.RequestTimedOut},
		{partition.ErrClosed, kerr.NotLeaderForPartition},
		{segment.ErrCorruptBatchCRC, kerr.CorruptMessage},
	} {
		if got := errorCode(tc.err); got != tc.want.Code {
			t.Errorf("%v: code %d, want %v", tc.err, got, tc.want)
		}
		if tc.want == kerr.KafkaStorageError && !kerr.IsRetriable(kerr.ErrorForCode(errorCode(tc.err))) {
			t.Errorf("%v: not retriable", tc.err)
		}
	}
}

func codeOf(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}
