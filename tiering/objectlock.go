package tiering

// S3 Object Lock on uploads (Config.ObjectLockMode). A locked object cannot be deleted
// before its retain-until date: a retention or DeleteRecords deletion before then fails.
// The manifest has already dropped the segment (and its chain records the deletion), so
// the bookkeeping is unaffected; the failed delete is logged and counted
// (strata_remote_errors_total{op="delete"}, strata_remote_delete_refused_total) and the
// object is left to the orphan sweep, which retries after the grace period.

import (
	"context"
	"errors"
	"io"
	"time"
)

// objectLock is the lock of the objects of a segment whose max timestamp is maxTs,
// uploaded at now; nil when there is none (no mode, a store without the capability, a
// date less than a minute ahead, unlimited retention without ObjectLockUnlimited).
func (p *RemotePartition) objectLock(maxTs int64, now time.Time) *ObjectLock {
	mode := p.m.cfg.ObjectLockMode
	if _, ok := p.m.store.(RetainingPutter); !ok || mode == "" {
		return nil
	}
	var until time.Time
	switch ms := p.pcfg.Load().RetentionMs; {
	case ms > 0:
		until = time.UnixMilli(min(maxTs, now.UnixMilli()) + ms)
	case ms < 0 && p.m.cfg.ObjectLockUnlimited > 0:
		until = now.Add(p.m.cfg.ObjectLockUnlimited)
	default:
		return nil
	}
	if until.Before(now.Add(time.Minute)) {
		return nil
	}
	return &ObjectLock{Mode: mode, Until: until.UTC()}
}

// put stores an object, under lock when lock is not nil.
func (p *RemotePartition) put(ctx context.Context, key string, r io.Reader, size int64, lock *ObjectLock) error {
	if lock != nil {
		return p.m.store.(RetainingPutter).PutRetained(ctx, key, r, size, *lock)
	}
	return p.m.store.Put(ctx, key, r, size)
}

// deleteRefused reports whether a failed delete was refused (an Object Lock retention, or
// the store denying it), rather than failing for a transient reason.
func deleteRefused(err error) bool {
	return errors.Is(err, ErrRetained) || errors.Is(err, ErrAccessDenied)
}
