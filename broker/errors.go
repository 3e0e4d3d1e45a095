package broker

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

// Internal errors of package broker. Handlers may also return a *kerr.Error directly, or
// wrap one with fmt.Errorf("...: %w", kerr.X) to carry a message; errorCode finds it.
var (
	errUnknownTopic      = kerr.UnknownTopicOrPartition
	errUnknownTopicID    = kerr.UnknownTopicID
	errInvalidTopic      = kerr.InvalidTopicException
	errTopicExists       = kerr.TopicAlreadyExists
	errInvalidConfig     = kerr.InvalidConfig
	errInvalidPartitions = kerr.InvalidPartitions
	errInvalidReplFactor = kerr.InvalidReplicationFactor
	errInvalidRequest    = kerr.InvalidRequest
	errBrokerClosed      = errors.New("broker: closed")

	// errRemoteRead is answered for a partition whose remote tier failed or is not
	// attached yet: KAFKA_STORAGE_ERROR, retriable in every client (see
	// partition.ErrRemote), where Kafka answers UNKNOWN_SERVER_ERROR.
	errRemoteRead = kerr.KafkaStorageError
)

// errorCode is the one place where internal errors become Kafka error codes.
// nil is 0 (NONE). Unknown errors are UNKNOWN_SERVER_ERROR (-1).
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	// A partition's errors first: they wrap the segment or tier error that caused them.
	switch {
	case errors.Is(err, partition.ErrClosed):
		return kerr.NotLeaderForPartition.Code // retriable, as errBrokerClosed
	case errors.Is(err, partition.ErrTimeout):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, partition.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, partition.ErrStorage), errors.Is(err, partition.ErrRemote):
		return kerr.KafkaStorageError.Code
	}
	switch {
	case errors.Is(err, segment.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, segment.ErrCorruptBatchCRC), errors.Is(err, segment.ErrInvalidBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, segment.ErrUnsupportedMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, segment.ErrCorrupt), errors.Is(err, segment.ErrClosed):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, errBrokerClosed):
		return kerr.NotLeaderForPartition.Code // retriable: the client reconnects elsewhere/later
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	}
	var pe *fs.PathError
	if errors.As(err, &pe) || errors.Is(err, os.ErrClosed) {
		return kerr.KafkaStorageError.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the ErrorMessage field for responses that have one: nil for nil errors
// and for bare Kafka errors (whose message the client already knows). For an error made
// as fmt.Errorf("%w: text", kerr.X) it is the text alone, as Kafka sends it: clients print
// the message after the code's own name, and Kafka's tools print it alone.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && ke == err {
		return nil
	}
	s := err.Error()
	if ke != nil {
		s = strings.TrimPrefix(s, ke.Error()+": ")
	}
	return &s
}
