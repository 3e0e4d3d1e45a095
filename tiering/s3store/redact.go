package s3store

import (
	"strings"
)

// Errors from S3 may quote what the request carried: a KMS key ID ("Invalid keyId ...",
// "Key 'arn:aws:kms:...' does not exist") or, from some S3-compatible stores, the access key.
// Every error the store returns or logs goes through redact, so that neither reaches logs or
// callers' messages. The error chain (errors.Is / errors.As) is kept.

const redactedText = "<redacted>"

// redactedError is err with the configured secrets replaced in its message.
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, redactedText)
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

// secrets returns the configured values that must not appear in messages. Very short values
// are left out: replacing them would garble messages without hiding anything.
func (c *Config) secrets() []string {
	var out []string
	for _, s := range []string{c.KMSKeyID, c.SecretKey, c.AccessKey} {
		if len(s) >= 4 {
			out = append(out, s)
		}
	}
	return out
}

// redact wraps err when its message contains a secret.
func (s *Store) redact(err error) error {
	if err == nil || len(s.secrets) == 0 {
		return err
	}
	msg := err.Error()
	for _, sec := range s.secrets {
		if strings.Contains(msg, sec) {
			return &redactedError{err: err, secrets: s.secrets}
		}
	}
	return err
}
