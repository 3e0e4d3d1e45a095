package broker

// DescribeLogDirs (key 35), versions 0-5.
//
// One log dir (log.dirs, absolute). A null topic list describes every partition; named
// topics/partitions that do not exist are left out, as Kafka does. Size is the local log
// size of the partition (remote bytes are not on this dir). OffsetLag is 0 (no future
// replicas). v4 adds the file system's total and usable bytes; v5 whether the dir is
// cordoned (KIP-1066), which it never is: Strata has no cordoning.

import (
	"context"
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.DescribeLogDirs, min: 0, max: 5, handle: h((*Broker).handleDescribeLogDirs), authz: hook(authzDescribeLogDirs)})
}

func (b *Broker) handleDescribeLogDirs(ctx context.Context, req *kmsg.DescribeLogDirsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.DataDir
	if abs, err := filepath.Abs(b.cfg.DataDir); err == nil {
		dir.Dir = abs
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(b.cfg.DataDir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	} else {
		dir.TotalBytes, dir.UsableBytes = -1, -1
	}
	describe := func(t *Topic, parts []int32) {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = t.Name
		ps := t.partitions()
		add := func(i int32) {
			if i < 0 || int(i) >= len(ps) {
				return
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = i
			dp.Size = ps[i].SizeBytes()
			dt.Partitions = append(dt.Partitions, dp)
		}
		if parts == nil {
			for i := range ps {
				add(int32(i))
			}
		} else {
			for _, i := range parts {
				add(i)
			}
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	if req.Topics == nil {
		for _, t := range b.allTopics() {
			describe(t, nil)
		}
	} else {
		for _, rt := range req.Topics {
			if t := b.lookupTopic(rt.Topic); t != nil {
				describe(t, rt.Partitions)
			}
		}
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return resp, nil
}

func authzDescribeLogDirs(b *Broker, ctx context.Context, req *kmsg.DescribeLogDirsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationDescribe) {
		return next(req)
	}
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if req.Version >= 3 {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}
	return resp, nil // before v3 Kafka answers an empty list
}
