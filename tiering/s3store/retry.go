package s3store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/strata-io/strata/tiering"
)

// The SDK's own retryer is replaced by aws.NopRetryer: its retry quota (a token bucket shared
// by the client) would run dry during a long outage and then fail every request at once.
// Instead every request runs in retryLoop, which retries transient errors with capped
// exponential backoff and jitter until the caller's ctx is done or MaxRetryDuration passes.

var sdkRetryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// retryable reports whether err is worth another attempt.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// A deadline from our own ctx is final. Per-attempt timeouts inside the transport
		// surface as net timeouts, not context errors, and are retried below.
		return false
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
			"ConditionalRequestConflict", "XMinioServerNotInitialized":
			return true
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		switch code := status.HTTPStatusCode(); {
		case code == http.StatusTooManyRequests, code >= 500:
			return true
		case code >= 400:
			return sdkRetryables.IsErrorRetryable(err) == aws.TrueTernary
		}
	}
	return sdkRetryables.IsErrorRetryable(err) == aws.TrueTernary
}

// configError classifies the answers that mean the store is misconfigured: a missing
// bucket (tiering.ErrNoBucket) or rejected credentials (tiering.ErrAccessDenied); nil for
// anything else. A HEAD request has no error body, so a HEAD on a missing bucket is only a
// 404 (taken for a missing key) and a HEAD refused is a bare 403.
func configError(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchBucket":
			return tiering.ErrNoBucket
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
			"ExpiredToken", "AllAccessDisabled", "AccountProblem", "Forbidden":
			return tiering.ErrAccessDenied
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() == http.StatusForbidden {
		return tiering.ErrAccessDenied
	}
	return nil
}

// retryLoop runs attempt until it succeeds, fails for good, ctx is done or the retry budget
// is spent. attempt gets the 1-based attempt number.
func (s *Store) retryLoop(ctx context.Context, op, key string, attempt func(ctx context.Context, n int) error) error {
	start := time.Now()
	delay := s.cfg.RetryBaseDelay
	for n := 1; ; n++ {
		err := s.redact(attempt(ctx, n))
		if err == nil {
			if n > 1 {
				s.log.Info("s3 request succeeded after retries", "op", op, "key", key, "attempts", n,
					"elapsed", time.Since(start))
			}
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("s3store: cannot %s %q: %w (after %d attempts: %w)", op, key, ctxErr, n, err)
		}
		if !retryable(err) {
			if class := configError(err); class != nil {
				return fmt.Errorf("s3store: cannot %s %q: %w: %w", op, key, class, err)
			}
			return fmt.Errorf("s3store: cannot %s %q: %w", op, key, err)
		}
		sleep := delay/2 + rand.N(delay/2+1)
		if max := s.cfg.MaxRetryDuration; max > 0 && time.Since(start)+sleep > max {
			return fmt.Errorf("s3store: cannot %s %q: gave up after %d attempts in %v: %w",
				op, key, n, time.Since(start).Round(time.Millisecond), err)
		}
		level := s.log.Debug
		if n == 1 || n%20 == 0 {
			level = s.log.Warn
		}
		level("s3 request failed, retrying", "op", op, "key", key, "attempt", n, "backoff", sleep, "err", err)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("s3store: cannot %s %q: %w (after %d attempts: %w)", op, key, ctx.Err(), n, err)
		case <-t.C:
		}
		delay = min(delay*2, s.cfg.RetryMaxDelay)
	}
}
