package tiering

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// WriteWatermark puts w (version and kind filled in) as the watermark.json of the partition
// at partPrefix, for a partition that has no RemotePartition to write it: one of a topic
// that is not tiered, whose topic.json is marked localOnly. The broker records such a
// partition's log end the same way (reservedEnd included; see watermark.go), so that a
// restore restarts its empty log after the offsets it had acknowledged.
func WriteWatermark(ctx context.Context, store ObjectStore, partPrefix string, w PartitionWatermark) error {
	w.Version, w.Kind = 1, "strata.partition.watermark"
	if w.LogEnd < 0 || w.ReservedEnd < w.LogEnd {
		return fmt.Errorf("tiering: bad watermark: logEnd %d, reservedEnd %d", w.LogEnd, w.ReservedEnd)
	}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	key := partPrefix + WatermarkName
	if err := store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("cannot write watermark %q: %w", key, err)
	}
	return nil
}
