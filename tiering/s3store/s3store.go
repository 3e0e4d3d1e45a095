// Package s3store is the tiering.ObjectStore on Amazon S3 and S3-compatible stores (MinIO
// first among them), built on aws-sdk-go-v2. It is the only package in Strata that imports
// an S3 SDK.
//
// Requests:
//   - Put sends objects up to MultipartThreshold with one PUT (Content-Length = size) and
//     larger ones as a multipart upload of PartSize parts; a failed multipart upload is
//     aborted. Each request body (the object or one part) is buffered in memory so that it
//     can be retried, and so that a reader yielding the wrong number of bytes is caught
//     before S3 sees a complete body: such a Put fails and stores nothing.
//   - GetRange sends a Range header; a missing key (NoSuchKey, 404) is tiering.ErrNotExist.
//   - List pages through ListObjectsV2, which returns keys in UTF-8 byte order.
//   - PutIf uses If-Match / If-None-Match: *; 412 is tiering.ErrPreconditionFailed.
//
// Retries: see retry.go. An outage blocks callers (until their ctx is done or
// MaxRetryDuration passes) rather than failing them, so uploads resume by themselves.
//
// Incomplete multipart uploads left by a crash are not visible as objects but cost storage;
// configure the bucket's lifecycle rule AbortIncompleteMultipartUpload (e.g. 1 day).
//
// MinIO stores objects as directories, so it cannot list both "a" and "a/b" (it accepts
// the second Put but leaves the pair out of listings); Strata's bucket layout never creates
// such pairs, and the conformance suite runs with NoFileDirConflicts against it.
//
// Credentials never appear in errors or logs (Config's String and LogValue redact them).
package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/strata-io/strata/tiering"
)

var (
	_ tiering.ObjectStore       = (*Store)(nil)
	_ tiering.ConditionalPutter = (*Store)(nil)
)

// Store is an S3 bucket as an object store.
type Store struct {
	cfg     Config
	client  *s3.Client
	log     *slog.Logger
	secrets []string // replaced in error messages (redact.go)
}

// New returns a store for cfg.Bucket. It does not contact the bucket; see EnsureBucket.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.ResponseHeaderTimeout = c.ResponseHeaderTimeout
		tr.MaxIdleConnsPerHost = 64
	})
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(c.Region),
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if c.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3store: cannot load AWS config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = c.PathStyle
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	return &Store{cfg: c, client: client, log: c.Logger, secrets: c.secrets()}, nil
}

// Client exposes the SDK client (for tools and tests).
func (s *Store) Client() *s3.Client { return s.client }

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	var exists bool
	err := s.retryLoop(ctx, "head bucket", s.cfg.Bucket, func(ctx context.Context, _ int) error {
		_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.cfg.Bucket})
		if err == nil {
			exists = true
			return nil
		}
		if httpStatus(err) == http.StatusNotFound {
			return nil
		}
		return err
	})
	if err != nil || exists {
		return err
	}
	in := &s3.CreateBucketInput{Bucket: &s.cfg.Bucket}
	if s.cfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.cfg.Region)}
	}
	return s.retryLoop(ctx, "create bucket", s.cfg.Bucket, func(ctx context.Context, _ int) error {
		_, err := s.client.CreateBucket(ctx, in)
		var owned *types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			return nil
		}
		return err
	})
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isNotFound reports a missing key. NoSuchBucket is not: a missing bucket is a
// configuration error, and must not look like deleted data; neither is any other 404 with
// its own code (NoSuchUpload, or MinIO's kms:KeyNotFound for an unknown SSE-KMS key).
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	if httpStatus(err) != http.StatusNotFound {
		return false
	}
	switch apiCode(err) {
	case "", "NoSuchKey", "NotFound", "NoSuchVersion":
		return true
	}
	return false
}

func (s *Store) putOptions(in *s3.PutObjectInput) {
	if s.cfg.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.cfg.SSE)
	}
	if s.cfg.KMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
	}
	if s.cfg.StorageClass != "" {
		in.StorageClass = types.StorageClass(s.cfg.StorageClass)
	}
}

// Put implements tiering.ObjectStore.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.put(ctx, key, r, size, nil)
}

// PutRetained implements tiering.RetainingPutter: the PUT (or multipart upload) carries the
// Object Lock mode and retain-until date, and Content-MD5 (which S3 requires with them).
func (s *Store) PutRetained(ctx context.Context, key string, r io.Reader, size int64, lock tiering.ObjectLock) error {
	return s.put(ctx, key, r, size, &lock)
}

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, lock *tiering.ObjectLock) error {
	if size < 0 {
		return fmt.Errorf("s3store: cannot put %q: negative size %d", key, size)
	}
	if size > s.cfg.MultipartThreshold {
		return s.putMultipart(ctx, key, r, size, lock)
	}
	buf := make([]byte, size)
	if err := readBody(ctx, r, buf, true); err != nil {
		return fmt.Errorf("s3store: cannot put %q: %w", key, err)
	}
	_, err := s.putObject(ctx, key, buf, nil, lock)
	return err
}

func contentMD5(b []byte) *string {
	sum := md5.Sum(b)
	return aws.String(base64.StdEncoding.EncodeToString(sum[:]))
}

// putObject sends one PUT, retried; ifMatch nil means unconditional, "" means create-only;
// lock nil means no Object Lock.
func (s *Store) putObject(ctx context.Context, key string, buf []byte, ifMatch *string, lock *tiering.ObjectLock) (string, error) {
	var etag string
	op := "put"
	if ifMatch != nil {
		op = "conditional put"
	}
	ambiguous := false // an earlier attempt may have been applied
	err := s.retryLoop(ctx, op, key, func(ctx context.Context, n int) error {
		in := &s3.PutObjectInput{
			Bucket:        &s.cfg.Bucket,
			Key:           &key,
			Body:          bytes.NewReader(buf),
			ContentLength: aws.Int64(int64(len(buf))),
		}
		s.putOptions(in)
		if lock != nil {
			in.ObjectLockMode = types.ObjectLockMode(lock.Mode)
			in.ObjectLockRetainUntilDate = aws.Time(lock.Until)
			in.ContentMD5 = contentMD5(buf)
		}
		if ifMatch != nil {
			if *ifMatch == "" {
				in.IfNoneMatch = aws.String("*")
			} else {
				in.IfMatch = ifMatch
			}
		}
		out, err := s.client.PutObject(ctx, in)
		if err == nil {
			etag = aws.ToString(out.ETag)
			return nil
		}
		if ifMatch != nil && (httpStatus(err) == http.StatusPreconditionFailed ||
			(*ifMatch != "" && isNotFound(err))) {
			if ambiguous {
				// The response to an earlier attempt may have been lost after S3 applied it:
				// if the object now holds exactly our bytes, that attempt won.
				if cur, ok := s.holds(ctx, key, buf); ok {
					etag = cur
					return nil
				}
			}
			return fmt.Errorf("%w: %w", tiering.ErrPreconditionFailed, err)
		}
		if httpStatus(err) == 0 || httpStatus(err) >= 500 {
			ambiguous = true
		}
		return err
	})
	return etag, err
}

// holds reports whether key's content is exactly want, and its ETag.
func (s *Store) holds(ctx context.Context, key string, want []byte) (string, bool) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return "", false
	}
	defer out.Body.Close()
	got, err := io.ReadAll(io.LimitReader(out.Body, int64(len(want))+1))
	if err != nil || !bytes.Equal(got, want) {
		return "", false
	}
	return aws.ToString(out.ETag), true
}

// PutIf implements tiering.ConditionalPutter. The object is sent with one PUT (buffered in
// memory), whatever its size: conditional puts are for small manifests.
func (s *Store) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	if size < 0 {
		return "", fmt.Errorf("s3store: cannot put %q: negative size %d", key, size)
	}
	buf := make([]byte, size)
	if err := readBody(ctx, r, buf, true); err != nil {
		return "", fmt.Errorf("s3store: cannot put %q: %w", key, err)
	}
	return s.putObject(ctx, key, buf, &ifMatch, nil)
}

func (s *Store) putMultipart(ctx context.Context, key string, r io.Reader, size int64, lock *tiering.ObjectLock) (err error) {
	partSize := s.cfg.PartSize
	if (size+partSize-1)/partSize > maxParts {
		partSize = (size + maxParts - 1) / maxParts
	}
	create := &s3.CreateMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &key}
	if s.cfg.SSE != "" {
		create.ServerSideEncryption = types.ServerSideEncryption(s.cfg.SSE)
	}
	if s.cfg.KMSKeyID != "" {
		create.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
	}
	if s.cfg.StorageClass != "" {
		create.StorageClass = types.StorageClass(s.cfg.StorageClass)
	}
	if lock != nil {
		create.ObjectLockMode = types.ObjectLockMode(lock.Mode)
		create.ObjectLockRetainUntilDate = aws.Time(lock.Until)
	}
	var uploadID string
	if err := s.retryLoop(ctx, "create multipart upload", key, func(ctx context.Context, _ int) error {
		out, err := s.client.CreateMultipartUpload(ctx, create)
		if err == nil {
			uploadID = aws.ToString(out.UploadId)
		}
		return err
	}); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.abort(ctx, key, uploadID)
		}
	}()
	var parts []types.CompletedPart
	buf := make([]byte, partSize)
	for off, num := int64(0), int32(1); off < size; off, num = off+partSize, num+1 {
		n := min(partSize, size-off)
		last := off+n == size
		body := buf[:n]
		if err := readBody(ctx, r, body, last); err != nil {
			return fmt.Errorf("s3store: cannot put %q: part %d: %w", key, num, err)
		}
		var etag string
		var md5sum *string
		if lock != nil {
			md5sum = contentMD5(body)
		}
		if err := s.retryLoop(ctx, "upload part", key, func(ctx context.Context, _ int) error {
			out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: &s.cfg.Bucket, Key: &key, UploadId: &uploadID, PartNumber: aws.Int32(num),
				Body: bytes.NewReader(body), ContentLength: aws.Int64(n), ContentMD5: md5sum,
			})
			if err == nil {
				etag = aws.ToString(out.ETag)
			}
			return err
		}); err != nil {
			return err
		}
		parts = append(parts, types.CompletedPart{ETag: aws.String(etag), PartNumber: aws.Int32(num)})
	}
	ambiguous := false
	return s.retryLoop(ctx, "complete multipart upload", key, func(ctx context.Context, _ int) error {
		_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &s.cfg.Bucket, Key: &key, UploadId: &uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		if err != nil && ambiguous && apiCode(err) == "NoSuchUpload" {
			// An earlier attempt completed the upload but its response was lost.
			if s.completed(ctx, key, parts, size) {
				return nil
			}
		}
		if httpStatus(err) == 0 || httpStatus(err) >= 500 {
			ambiguous = true
		}
		return err
	})
}

// completed reports whether key is the object assembled from parts: S3's multipart ETag is
// the MD5 of the parts' binary MD5s, then "-" and the part count.
func (s *Store) completed(ctx context.Context, key string, parts []types.CompletedPart, size int64) bool {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(aws.ToString(p.ETag), `"`))
		if err != nil || len(b) != md5.Size {
			return false // not an MD5 ETag (e.g. SSE-KMS): cannot tell
		}
		h.Write(b)
	}
	want := fmt.Sprintf("%x-%d", h.Sum(nil), len(parts))
	oi, err := s.Stat(ctx, key)
	return err == nil && oi.Size == size && strings.Trim(oi.ETag, `"`) == want
}

func (s *Store) abort(ctx context.Context, key, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: &s.cfg.Bucket, Key: &key, UploadId: &uploadID})
	if err != nil && apiCode(err) != "NoSuchUpload" {
		s.log.Warn("cannot abort multipart upload", "key", key, "upload_id", uploadID, "err", err)
	}
}

// readBody fills buf from r. When last, it also checks that r is exhausted, so that an
// object with more bytes than declared is refused before anything is sent.
func readBody(ctx context.Context, r io.Reader, buf []byte, last bool) error {
	n := int64(len(buf))
	var got int64
	for got < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := r.Read(buf[got:min(n, got+1<<20)])
		got += int64(m)
		if err == io.EOF && got < n {
			return fmt.Errorf("reader ended after %d of %d bytes", got, n)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read body: %w", err)
		}
	}
	if !last {
		return nil
	}
	var one [1]byte
	for {
		m, err := r.Read(one[:])
		if m > 0 {
			return errors.New("reader holds more bytes than the declared size")
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// GetRange implements tiering.ObjectStore. Retries cover the request up to the response
// headers; an error while reading the body is the caller's to retry.
func (s *Store) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("s3store: cannot get %q: negative offset %d", key, off)
	}
	if length == 0 {
		return s.emptyAt(ctx, key, off)
	}
	in := &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key}
	switch {
	case off == 0 && length < 0:
		// whole object: no Range (a Range on an empty object would be unsatisfiable)
	case length < 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	default:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	}
	var body io.ReadCloser
	var invalidRange bool
	err := s.retryLoop(ctx, "get", key, func(ctx context.Context, _ int) error {
		out, err := s.client.GetObject(ctx, in)
		switch {
		case err == nil:
			body = out.Body
			return nil
		case isNotFound(err):
			return fmt.Errorf("%w: %w", tiering.ErrNotExist, err)
		case httpStatus(err) == http.StatusRequestedRangeNotSatisfiable:
			invalidRange = true
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if invalidRange {
		return s.emptyAt(ctx, key, off)
	}
	return body, nil
}

// emptyAt returns an empty body if key exists and off is within [0, size].
func (s *Store) emptyAt(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	oi, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if off > oi.Size {
		return nil, fmt.Errorf("s3store: cannot get %q: offset %d outside object of %d bytes", key, off, oi.Size)
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

// Stat implements tiering.ObjectStore.
func (s *Store) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	var oi tiering.ObjectInfo
	err := s.retryLoop(ctx, "stat", key, func(ctx context.Context, _ int) error {
		out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
		if err != nil {
			if isNotFound(err) {
				return fmt.Errorf("%w: %w", tiering.ErrNotExist, err)
			}
			return err
		}
		oi = tiering.ObjectInfo{
			Key:          key,
			Size:         aws.ToInt64(out.ContentLength),
			LastModified: aws.ToTime(out.LastModified),
			ETag:         aws.ToString(out.ETag),
		}
		return nil
	})
	return oi, err
}

// List implements tiering.ObjectStore. Each page is retried on its own; fn runs between
// pages' requests.
func (s *Store) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	var token *string
	for {
		var out *s3.ListObjectsV2Output
		in := &s3.ListObjectsV2Input{
			Bucket:            &s.cfg.Bucket,
			Prefix:            aws.String(prefix),
			ContinuationToken: token,
			MaxKeys:           aws.Int32(s.cfg.ListPageSize),
		}
		if err := s.retryLoop(ctx, "list", prefix, func(ctx context.Context, _ int) error {
			var err error
			out, err = s.client.ListObjectsV2(ctx, in)
			return err
		}); err != nil {
			return err
		}
		for _, o := range out.Contents {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("s3store: cannot list %q: %w", prefix, err)
			}
			if err := fn(tiering.ObjectInfo{
				Key:          aws.ToString(o.Key),
				Size:         aws.ToInt64(o.Size),
				LastModified: aws.ToTime(o.LastModified),
				ETag:         aws.ToString(o.ETag),
			}); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		token = out.NextContinuationToken
	}
}

// Delete implements tiering.ObjectStore. S3 answers 204 for a missing key too. With
// Config.DeleteVersions it deletes every version of key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if s.cfg.DeleteVersions {
		return s.deleteVersions(ctx, key)
	}
	return s.retryLoop(ctx, "delete", key, func(ctx context.Context, _ int) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
		if isNotFound(err) {
			return nil
		}
		return err
	})
}

// CheckCredentials resolves the credentials the store will sign with (the static keys, or
// the AWS SDK's default chain: environment, shared config, instance role), so that a
// missing credential is reported once at start rather than by every request.
func (s *Store) CheckCredentials(ctx context.Context) error {
	cp := s.client.Options().Credentials
	if cp == nil {
		return errors.New("s3store: no credentials configured")
	}
	if _, err := cp.Retrieve(ctx); err != nil {
		return fmt.Errorf("s3store: no credentials: %w", err)
	}
	return nil
}

var _ tiering.RetainingPutter = (*Store)(nil)

// deleteVersions deletes every version and delete marker of key, the oldest last; the
// first refusal (a version under Object Lock retention) is returned.
func (s *Store) deleteVersions(ctx context.Context, key string) error {
	var versions []string
	err := s.retryLoop(ctx, "list versions", key, func(ctx context.Context, _ int) error {
		versions = versions[:0]
		in := &s3.ListObjectVersionsInput{Bucket: &s.cfg.Bucket, Prefix: &key}
		for {
			out, err := s.client.ListObjectVersions(ctx, in)
			if err != nil {
				return err
			}
			for _, v := range out.Versions {
				if aws.ToString(v.Key) == key {
					versions = append(versions, aws.ToString(v.VersionId))
				}
			}
			for _, m := range out.DeleteMarkers {
				if aws.ToString(m.Key) == key {
					versions = append(versions, aws.ToString(m.VersionId))
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				return nil
			}
			in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
		}
	})
	if err != nil {
		return err
	}
	for _, v := range versions {
		err := s.retryLoop(ctx, "delete version", key, func(ctx context.Context, _ int) error {
			_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: aws.String(v)})
			if isNotFound(err) {
				return nil
			}
			return err
		})
		if err != nil {
			if apiCode(err) == "AccessDenied" || strings.Contains(err.Error(), "WORM protected") {
				// AWS answers 403 AccessDenied for a version under retention, MinIO 400
				// InvalidRequest "Object is WORM protected".
				return fmt.Errorf("%w: %w", tiering.ErrRetained, err)
			}
			return err
		}
	}
	return nil
}
