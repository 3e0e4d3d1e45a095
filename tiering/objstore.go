package tiering

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped or bare) for a missing key. Match with errors.Is.
var ErrNotExist = errors.New("tiering: object does not exist")

// ErrPreconditionFailed is returned by ConditionalPutter when the object changed under the writer.
var ErrPreconditionFailed = errors.New("tiering: precondition failed")

// ErrNoBucket is returned (wrapped) when the bucket itself does not exist, and
// ErrAccessDenied when the store rejects the credentials or denies access to the bucket.
// Both are configuration errors, not outages: retrying does not help. Match with errors.Is.
var (
	ErrNoBucket     = errors.New("tiering: bucket does not exist")
	ErrAccessDenied = errors.New("tiering: access to the bucket denied")
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	LastModified time.Time
	ETag         string // opaque version token; used by ConditionalPutter
}

// ObjectStore is the broker's only path to remote storage. Implementations are safe for
// concurrent use and honour ctx cancellation.
type ObjectStore interface {
	// Put stores exactly size bytes from r under key. The object is visible only once Put
	// returns nil; a failed Put leaves the previous object or nothing, never a prefix.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// GetRange returns length bytes from off (length < 0: to the end). Missing: ErrNotExist.
	GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Stat describes key. Missing: ErrNotExist.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List calls fn for each object under prefix in lexical key order. An error from fn stops
	// the listing and is returned.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes key; deleting a missing key succeeds, so retries are idempotent.
	Delete(ctx context.Context, key string) error
}

// ErrRetained is returned (wrapped) by a Delete the store refuses because the object is
// under retention (S3 Object Lock). Match with errors.Is.
var ErrRetained = errors.New("tiering: object under retention")

// ObjectLock is S3 Object Lock retention for one object: Mode "GOVERNANCE" or
// "COMPLIANCE", retained until Until (deletes before then fail).
type ObjectLock struct {
	Mode  string
	Until time.Time
}

// RetainingPutter is an optional capability: Put under S3 Object Lock (the bucket must
// have been created with object lock enabled).
type RetainingPutter interface {
	// PutRetained is Put with the object locked as lock says.
	PutRetained(ctx context.Context, key string, r io.Reader, size int64, lock ObjectLock) error
}

// ConditionalPutter is an optional capability used to fence stale manifest writers.
type ConditionalPutter interface {
	// PutIf stores the object only if its current ETag equals ifMatch, or, when ifMatch is
	// "", only if the key does not exist. On a mismatch it returns ErrPreconditionFailed.
	// It returns the new ETag.
	PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (etag string, err error)
}
