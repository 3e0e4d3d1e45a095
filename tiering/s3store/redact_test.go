package s3store_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/strata-io/strata/tiering/s3store"
)

// An S3 error that quotes the KMS key ID or the credentials (as AWS KMS errors quote the
// key) reaches neither the returned error's message nor the logs; the error chain is kept.
func TestErrorsRedactKMSKeyAndCredentials(t *testing.T) {
	const (
		keyID  = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-secret-key-id"
		access = "AKIDREDACTME"
		secret = "very-secret-key-material"
	)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		status, code := http.StatusForbidden, "KMS.AccessDeniedException"
		if calls.Add(1) == 1 {
			status, code = http.StatusServiceUnavailable, "ServiceUnavailable" // retried and logged
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>User %s (secret %s) is not authorized to use key %s</Message></Error>`,
			code, access, secret, keyID)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	st, err := s3store.New(t.Context(), s3store.Config{
		Bucket: "bkt", Endpoint: srv.URL, PathStyle: true, AccessKey: access, SecretKey: secret,
		SSE: "aws:kms", KMSKeyID: keyID, RetryBaseDelay: time.Millisecond, RetryMaxDelay: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Put(t.Context(), "k", strings.NewReader("x"), 1)
	if err == nil {
		t.Fatal("put succeeded")
	}
	if calls.Load() < 2 {
		t.Fatalf("%d requests: the transient error was not retried", calls.Load())
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "KMS.AccessDeniedException" {
		t.Errorf("error chain lost: %v", err)
	}
	if !strings.Contains(err.Error(), "<redacted>") || !strings.Contains(logs.String(), "<redacted>") {
		t.Errorf("nothing redacted (the server's message quotes the secrets): err %q\nlogs %s", err, logs.String())
	}
	for _, s := range []string{keyID, access, secret} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error message contains %q: %v", s, err)
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs contain %q:\n%s", s, logs.String())
		}
	}
}
