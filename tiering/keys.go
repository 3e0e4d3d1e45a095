package tiering

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// TopicIDString renders a Kafka topic ID as it appears in bucket keys: 32 lower-case hex digits.
func TopicIDString(id [16]byte) string { return hex.EncodeToString(id[:]) }

// ParseTopicID is the inverse of TopicIDString.
func ParseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("tiering: bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

func joinPrefix(prefix, rest string) string {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return rest
	}
	return prefix + "/" + rest
}

// TopicPrefix is "<prefix>/<topic>-<topicIDhex>/".
func TopicPrefix(prefix, topic string, id [16]byte) string {
	return joinPrefix(prefix, topic+"-"+TopicIDString(id)) + "/"
}

// TopicManifestKey is "<prefix>/<topic>-<topicIDhex>/topic.json".
func TopicManifestKey(prefix, topic string, id [16]byte) string {
	return TopicPrefix(prefix, topic, id) + topicManifestName
}

// PartitionPrefix is "<prefix>/<topic>-<topicIDhex>/<partition>/".
func PartitionPrefix(prefix, topic string, id [16]byte, partition int32) string {
	return TopicPrefix(prefix, topic, id) + strconv.FormatInt(int64(partition), 10) + "/"
}

// TopicMarkerKey is "<prefix>/_topics/<topic>-<topicIDhex>": an empty object per topic so
// that Restore lists the topics without listing every segment object in the bucket. Topic
// directories always end in -<32 hex>, so "_topics" cannot collide with one.
func TopicMarkerKey(prefix, topic string, id [16]byte) string {
	return joinPrefix(prefix, topicMarkerDir+topic+"-"+TopicIDString(id))
}

// GroupsSnapshotKey is "<prefix>/_groups/groups.snapshot": the consumer-group
// coordinator's committed offsets and group metadata, a whole snapshot in the format of
// broker/group's groups.snapshot (CRC-framed records under a header with the sequence
// number it covers). The broker overwrites it (one Put, which is atomic: a failed or cut
// upload leaves the previous complete snapshot) at most once per
// strata.remote.groups.upload.interval.ms while the groups changed, and once more on a
// clean stop; a broker restored onto an empty data dir installs it as its local snapshot.
func GroupsSnapshotKey(prefix string) string { return joinPrefix(prefix, groupsDir+"groups.snapshot") }

// QuotasKey is "<prefix>/_quotas/quotas.json": the client quotas (AlterClientQuotas), the
// same bytes as <data-dir>/meta/quotas.json, written after every change; a broker restored
// onto an empty data dir reads it back.
func QuotasKey(prefix string) string { return joinPrefix(prefix, quotasDir+"quotas.json") }

const (
	groupsDir         = "_groups/"
	quotasDir         = "_quotas/"
	topicMarkerDir    = "_topics/"
	topicManifestName = "topic.json"
	headManifestName  = "manifest.json"
)

// segmentObjectKey is "<partitionPrefix><%020d base>-<uuid><ext>", ext one of .log .index
// .timeindex .snapshot.
func segmentObjectKey(partPrefix string, base int64, id, ext string) string {
	return fmt.Sprintf("%s%020d-%s%s", partPrefix, base, id, ext)
}

// chunkManifestKey is "<partitionPrefix>manifest-<%020d firstBase>-<uuid>.json".
func chunkManifestKey(partPrefix string, firstBase int64, id string) string {
	return fmt.Sprintf("%smanifest-%020d-%s.json", partPrefix, firstBase, id)
}

// splitTopicDir parses "<topic>-<topicIDhex>".
func splitTopicDir(dir string) (topic string, id [16]byte, err error) {
	i := strings.LastIndexByte(dir, '-')
	if i <= 0 {
		return "", id, fmt.Errorf("tiering: bad topic directory %q", dir)
	}
	id, err = ParseTopicID(dir[i+1:])
	return dir[:i], id, err
}
