package partition

import "github.com/strata-io/strata/segment"

// localBacklog returns the bytes of local segments that t does not report uploaded:
// notRemote over all of them (the active segment too; total retention counts it as data
// not yet remote) and lag over the sealed non-empty ones (the upload lag).
//
// Only segments holding offsets at or above the remote end are visited, so that the
// maintenance loop and the metrics scrape cost what is waiting for upload, not the length
// of the local history (with local.retention.* unlimited that is every segment ever
// written). A segment wholly below the remote end counts as uploaded: its offsets are in
// the bucket, and the uploader, which never uploads below that end, would never upload it
// again (a full scan counted such a segment, one whose boundaries differ from the remote
// ones, as lag forever).
func localBacklog(l *segment.Log, t Tier) (notRemote, lag int64) {
	_, end, _ := t.Bounds()
	for _, s := range l.SegmentsFrom(end) {
		if t.Uploaded(s) {
			continue
		}
		notRemote += s.Size
		if s.Sealed && s.Size > 0 {
			lag += s.Size
		}
	}
	return notRemote, lag
}

// UploadBacklog returns the bytes of local segments the tier has not confirmed uploaded
// (see localBacklog): notRemote over all of them, lag over the sealed non-empty ones (the
// upload lag, strata_partition_upload_lag_bytes). Both are 0 without a tier.
func (p *Partition) UploadBacklog() (notRemote, lag int64) {
	t := p.getTier()
	if t == nil {
		return 0, 0
	}
	return localBacklog(p.log, t)
}
