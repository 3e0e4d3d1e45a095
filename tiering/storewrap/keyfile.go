package storewrap

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Keyring holds the key-encryption keys (KEKs) of Encrypt: every key that may have wrapped a
// data key in the bucket, and the primary one, which wraps new data keys.
//
// Key file format (LoadKeyFile): one key per line, "<id> <key>", where id is 1-32 characters
// of [A-Za-z0-9._-] and key is 32 random bytes as base64 (44 characters) or hex (64
// characters). Blank lines and lines starting with # are ignored. The LAST key is the
// primary. Rotation is appending a line: objects written before keep naming the key that
// wrapped their data key, so the old lines stay for as long as those objects exist (or
// until Rewrap moved those data keys under the new primary).
// Generate a line with `strata tier keygen` or `echo "id $(openssl rand -base64 32)"`.
type Keyring struct {
	primary string
	keks    map[string]cipher.AEAD
}

var kekIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// LoadKeyFile reads a key file (see Keyring). A file readable by group or others is refused,
// as ssh refuses such private keys.
func LoadKeyFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read key file %q: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("cannot use key file %q: mode %04o lets others read it (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read key file %q: %w", path, err)
	}
	kr, err := ParseKeys(b)
	if err != nil {
		return nil, fmt.Errorf("cannot use key file %q: %w", path, err)
	}
	return kr, nil
}

// ParseKeys parses the contents of a key file (see Keyring).
func ParseKeys(b []byte) (*Keyring, error) {
	kr := &Keyring{keks: map[string]cipher.AEAD{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Fields(s)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"<id> <key>\"", line)
		}
		if !kekIDPattern.MatchString(f[0]) {
			return nil, fmt.Errorf("line %d: key id %q: want 1-32 characters of A-Z a-z 0-9 . _ -", line, f[0])
		}
		if _, dup := kr.keks[f[0]]; dup {
			return nil, fmt.Errorf("line %d: key id %q listed twice", line, f[0])
		}
		key, err := decodeKey(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: key %q: %w", line, f[0], err)
		}
		aead, err := newGCM(key)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		kr.keks[f[0]] = aead
		kr.primary = f[0]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if kr.primary == "" {
		return nil, errors.New("no keys")
	}
	return kr, nil
}

func decodeKey(s string) ([]byte, error) {
	var key []byte
	var err error
	if len(s) == 64 {
		key, err = hex.DecodeString(s)
	} else {
		key, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("want 32 bytes as base64 or hex: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("want 32 bytes (AES-256), got %d", len(key))
	}
	return key, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Primary is the id of the key that wraps new data keys.
func (kr *Keyring) Primary() string { return kr.primary }

// Has reports whether the ring holds a key with this id.
func (kr *Keyring) Has(id string) bool { _, ok := kr.keks[id]; return ok }
