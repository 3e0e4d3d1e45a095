package s3store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// S3 limits that shape multipart uploads.
const (
	minPartSize     = 5 << 20
	maxParts        = 10000
	defaultPartSize = 16 << 20
)

// Config selects a bucket and how to talk to it. The zero value needs only Bucket (and
// credentials from the environment).
type Config struct {
	Bucket   string // required
	Region   string // signing region; default "us-east-1"
	Endpoint string // override, e.g. "http://127.0.0.1:9000" for MinIO; default AWS's endpoint for Region
	// PathStyle addresses the bucket as endpoint/bucket/key instead of bucket.endpoint/key
	// (needed by MinIO and most S3-compatible stores); default false.
	PathStyle bool
	// AccessKey and SecretKey are static credentials; when AccessKey is empty the standard
	// AWS credential chain (env, shared config, IMDS, ...) is used. Default empty.
	AccessKey string
	SecretKey string
	// SSE is the server-side encryption for new objects: "", "AES256" or "aws:kms"; default "".
	SSE string
	// KMSKeyID is the KMS key for SSE "aws:kms"; default empty (the bucket's or account's key).
	KMSKeyID string
	// StorageClass for new objects, e.g. "STANDARD_IA"; default "" (the bucket's default).
	StorageClass string
	// PartSize is the multipart part size; at least 5 MiB; default 16 MiB. It grows for
	// objects that would need more than 10000 parts.
	PartSize int64
	// MultipartThreshold: objects larger than this are uploaded in parts; default PartSize.
	// Smaller objects are sent with one PUT (and buffered in memory, as is each part).
	MultipartThreshold int64
	// MaxRetryDuration bounds the retrying of one request (transient errors: 5xx, SlowDown,
	// throttling, connection errors, timeouts). 0 retries until the caller's ctx is done; default 0.
	MaxRetryDuration time.Duration
	// RetryBaseDelay is the first backoff; it doubles per attempt, with jitter; default 100ms.
	RetryBaseDelay time.Duration
	// RetryMaxDelay caps the backoff; default 5s.
	RetryMaxDelay time.Duration
	// ResponseHeaderTimeout abandons (and retries) a request whose response headers do not
	// arrive this long after the request was sent; default 60s.
	ResponseHeaderTimeout time.Duration
	// ListPageSize is ListObjectsV2's MaxKeys; default 1000 (S3's maximum).
	ListPageSize int32
	// DeleteVersions makes Delete remove every version of the key (and its delete
	// markers), for versioned buckets such as those with S3 Object Lock, where a plain
	// DELETE only adds a delete marker and keeps the data. A version still under Object
	// Lock retention is refused (tiering.ErrAccessDenied). Default false.
	DeleteVersions bool
	Logger         *slog.Logger // nil = discard
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("s3store: bucket is required")
	}
	switch c.SSE {
	case "", "AES256", "aws:kms":
	default:
		return fmt.Errorf("s3store: unsupported SSE %q (want \"\", \"AES256\" or \"aws:kms\")", c.SSE)
	}
	if c.KMSKeyID != "" && c.SSE != "aws:kms" {
		return errors.New("s3store: KMSKeyID needs SSE \"aws:kms\"")
	}
	if c.PartSize != 0 && c.PartSize < minPartSize {
		return fmt.Errorf("s3store: part size %d is below S3's minimum of %d", c.PartSize, minPartSize)
	}
	if c.MultipartThreshold < 0 || c.MaxRetryDuration < 0 || c.RetryBaseDelay < 0 || c.RetryMaxDelay < 0 ||
		c.ResponseHeaderTimeout < 0 || c.ListPageSize < 0 {
		return errors.New("s3store: negative size or duration in config")
	}
	if c.AccessKey == "" && c.SecretKey != "" {
		return errors.New("s3store: secret key given without an access key")
	}
	return nil
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Region == "" {
		d.Region = "us-east-1"
	}
	if d.PartSize == 0 {
		d.PartSize = defaultPartSize
	}
	if d.MultipartThreshold == 0 {
		d.MultipartThreshold = d.PartSize
	}
	if d.RetryBaseDelay == 0 {
		d.RetryBaseDelay = 100 * time.Millisecond
	}
	if d.RetryMaxDelay == 0 {
		d.RetryMaxDelay = 5 * time.Second
	}
	if d.ResponseHeaderTimeout == 0 {
		d.ResponseHeaderTimeout = 60 * time.Second
	}
	if d.ListPageSize == 0 {
		d.ListPageSize = 1000
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return d
}

// String describes the configuration without its secret.
func (c Config) String() string {
	return fmt.Sprintf("s3store.Config{Bucket:%q Region:%q Endpoint:%q PathStyle:%v AccessKey:%q SecretKey:%s SSE:%q StorageClass:%q PartSize:%d}",
		c.Bucket, c.Region, c.Endpoint, c.PathStyle, c.AccessKey, redacted(c.SecretKey), c.SSE, c.StorageClass, c.PartSize)
}

// LogValue keeps the secret out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("bucket", c.Bucket), slog.String("region", c.Region), slog.String("endpoint", c.Endpoint),
		slog.Bool("path_style", c.PathStyle), slog.String("access_key", c.AccessKey),
		slog.String("secret_key", redacted(c.SecretKey)), slog.String("sse", c.SSE),
		slog.String("storage_class", c.StorageClass), slog.Int64("part_size", c.PartSize))
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "<redacted>"
}
