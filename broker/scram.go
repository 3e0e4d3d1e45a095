package broker

// SCRAM credentials (RFC 5802, KIP-554) and their store.
//
// A credential is what the SCRAM server needs and nothing more: salt, iteration count,
// StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword,
// "Server Key"). AlterUserScramCredentials carries the client-computed SaltedPassword; it
// is turned into the two keys at once and dropped. The store is
// <data-dir>/meta/scram-credentials.json (mode 0600, replaced atomically: write .tmp,
// fsync, rename, fsync the directory):
//
//   {"version":1,"users":{"alice":{"SCRAM-SHA-512":{"salt":"<b64>","iterations":8192,
//     "stored_key":"<b64>","server_key":"<b64>"}}}}

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/xdg-go/scram"
)

const (
	scramMinIterations = 4096
	scramMaxIterations = 16384
	scramFileName      = "scram-credentials.json"
)

// scramCred is one stored SCRAM credential.
type scramCred struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

type scramFile struct {
	Version int                             `json:"version"`
	Users   map[string]map[string]scramCred `json:"users"`
}

// scramStore holds every user's credentials.
type scramStore struct {
	path   string
	onSave func(name string) // mirror to the bucket (secbucket.go), called without s.mu; may be nil
	mu     sync.RWMutex
	users  map[string]map[string]scramCred // user -> mechanism -> credential
}

func scramHash(mech string) (scram.HashGeneratorFcn, func() hash.Hash, bool) {
	switch mech {
	case mechSCRAM256:
		return scram.SHA256, sha256.New, true
	case mechSCRAM512:
		return scram.SHA512, sha512.New, true
	}
	return nil, nil, false
}

// scramMechanismName maps AlterUserScramCredentials' mechanism numbers.
func scramMechanismName(m int8) (string, bool) {
	switch m {
	case 1:
		return mechSCRAM256, true
	case 2:
		return mechSCRAM512, true
	}
	return "", false
}

func scramMechanismNumber(name string) int8 {
	switch name {
	case mechSCRAM256:
		return 1
	case mechSCRAM512:
		return 2
	}
	return 0
}

func openSCRAMStore(metaDir string) (*scramStore, error) {
	s := &scramStore{path: filepath.Join(metaDir, scramFileName), users: map[string]map[string]scramCred{}}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", s.path, err)
	}
	var f scramFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("cannot parse %q: %w", s.path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("cannot read %q: unknown version %d", s.path, f.Version)
	}
	if f.Users != nil {
		s.users = f.Users
	}
	return s, nil
}

// saveLocked writes the store; s.mu is held.
func (s *scramStore) saveLocked() error {
	data, err := json.MarshalIndent(scramFile{Version: 1, Users: s.users}, "", " ")
	if err != nil {
		return err
	}
	return writeSecretFileAtomic(s.path, data)
}

// credentialFromSalted derives the stored credential from a salted password.
func credentialFromSalted(mech string, salt, salted []byte, iterations int) scramCred {
	_, h, _ := scramHash(mech)
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	hh := h()
	hh.Write(clientKey)
	return scramCred{Salt: append([]byte(nil), salt...), Iterations: iterations,
		StoredKey: hh.Sum(nil), ServerKey: mac(salted, "Server Key")}
}

func (s *scramStore) lookup(user, mech string) (scramCred, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.users[user][mech]
	return c, ok
}

// scramConversation is the server side of one SCRAM exchange (RFC 5802). It is written
// here rather than taken from xdg-go/scram's server because Kafka accepts a client-final
// nonce that merely ends with the combined nonce (ScramSaslServer: endsWith), and
// librdkafka relies on that: it sends client nonce + the server's combined nonce.
// Channel binding is not supported (gs2 header "n" or "y"); extensions are ignored.
type scramConversation struct {
	store *scramStore
	mech  string

	user      string
	gs2       string
	nonce     string // client nonce + server nonce
	c1Bare    string
	s1        string
	cred      scramCred
	finalDone bool
}

var errSCRAM = errors.New("scram: authentication failed")

// decodeSASLName undoes RFC 5802's escaping of ',' and '='.
func decodeSASLName(s string) (string, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			out = append(out, s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			out = append(out, ',')
		case strings.HasPrefix(s[i:], "=3D"):
			out = append(out, '=')
		default:
			return "", fmt.Errorf("%w: bad escape in name", errSCRAM)
		}
		i += 2
	}
	return string(out), nil
}

// first handles client-first-message and returns server-first-message.
func (c *scramConversation) first(msg string) (string, error) {
	parts := strings.SplitN(msg, ",", 3)
	if len(parts) != 3 || (parts[0] != "n" && parts[0] != "y") {
		return "", fmt.Errorf("%w: bad gs2 header", errSCRAM)
	}
	authz := ""
	if parts[1] != "" {
		if !strings.HasPrefix(parts[1], "a=") {
			return "", fmt.Errorf("%w: bad authzid", errSCRAM)
		}
		var err error
		if authz, err = decodeSASLName(parts[1][2:]); err != nil {
			return "", err
		}
	}
	c.gs2 = parts[0] + "," + parts[1] + ","
	c.c1Bare = parts[2]
	fields := strings.Split(c.c1Bare, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "n=") || !strings.HasPrefix(fields[1], "r=") || len(fields[1]) < 3 {
		return "", fmt.Errorf("%w: bad client-first-message", errSCRAM)
	}
	user, err := decodeSASLName(fields[0][2:])
	if err != nil {
		return "", err
	}
	if authz != "" && authz != user {
		return "", fmt.Errorf("%w: authorization id differs from user", errSCRAM)
	}
	cred, ok := c.store.lookup(user, c.mech)
	if !ok {
		return "", fmt.Errorf("%w: unknown user or mechanism", errSCRAM)
	}
	c.user, c.cred = user, cred
	c.nonce = fields[1][2:] + scramNonce()
	c.s1 = fmt.Sprintf("r=%s,s=%s,i=%d", c.nonce, base64.StdEncoding.EncodeToString(cred.Salt), cred.Iterations)
	return c.s1, nil
}

// final handles client-final-message; it returns server-final-message on success.
func (c *scramConversation) final(msg string) (string, error) {
	if c.finalDone || c.user == "" {
		return "", fmt.Errorf("%w: unexpected message", errSCRAM)
	}
	c.finalDone = true
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return "", fmt.Errorf("%w: no proof", errSCRAM)
	}
	withoutProof := msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil {
		return "", fmt.Errorf("%w: bad proof encoding", errSCRAM)
	}
	fields := strings.Split(withoutProof, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") {
		return "", fmt.Errorf("%w: bad client-final-message", errSCRAM)
	}
	if cb, err := base64.StdEncoding.DecodeString(fields[0][2:]); err != nil || string(cb) != c.gs2 {
		return "", fmt.Errorf("%w: channel binding mismatch", errSCRAM)
	}
	if !strings.HasSuffix(fields[1][2:], c.nonce) {
		return "", fmt.Errorf("%w: nonce mismatch", errSCRAM)
	}
	_, h, _ := scramHash(c.mech)
	authMsg := []byte(c.c1Bare + "," + c.s1 + "," + withoutProof)
	mac := func(key, data []byte) []byte {
		m := hmac.New(h, key)
		m.Write(data)
		return m.Sum(nil)
	}
	sig := mac(c.cred.StoredKey, authMsg)
	if len(proof) != len(sig) {
		return "", fmt.Errorf("%w: bad proof length", errSCRAM)
	}
	clientKey := make([]byte, len(sig))
	for j := range sig {
		clientKey[j] = proof[j] ^ sig[j]
	}
	hh := h()
	hh.Write(clientKey)
	if !constantTimeEqual(hh.Sum(nil), c.cred.StoredKey) {
		return "", fmt.Errorf("%w: invalid proof", errSCRAM)
	}
	return "v=" + base64.StdEncoding.EncodeToString(mac(c.cred.ServerKey, authMsg)), nil
}

// verifyPassword checks a clear-text password (SASL/PLAIN) against the user's strongest
// SCRAM credential.
func (s *scramStore) verifyPassword(user, pass string) bool {
	for _, mech := range []string{mechSCRAM512, mechSCRAM256} {
		c, ok := s.lookup(user, mech)
		if !ok {
			continue
		}
		hf, _, _ := scramHash(mech)
		cl, err := hf.NewClient(user, pass, "")
		if err != nil {
			return false
		}
		got := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations})
		return constantTimeEqual(got.StoredKey, c.StoredKey)
	}
	// Unknown user: spend the time a known one costs, so that timing does not tell
	// which user names exist.
	saltedPassword(mechSCRAM512, pass, []byte("strata-no-such-user"), scramMinIterations)
	return false
}

// scramUserInfo describes one user: mechanism -> iterations.
type scramUserInfo struct {
	User       string
	Mechanisms map[string]int
}

func (s *scramStore) describe() []scramUserInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]scramUserInfo, 0, len(s.users))
	for u, ms := range s.users {
		info := scramUserInfo{User: u, Mechanisms: map[string]int{}}
		for m, c := range ms {
			info.Mechanisms[m] = c.Iterations
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

// writeSecretFileAtomic is writeFileAtomic with mode 0600 (the file holds credentials).
func writeSecretFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %q: %w", tmp, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("cannot chmod %q: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %q: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot sync %q: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot close %q: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot rename %q: %w", tmp, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("cannot open dir of %q: %w", path, err)
	}
	defer d.Close()
	return d.Sync()
}

// scramNonce is the server's nonce part: 24 random bytes in [A-Za-z0-9_-].
func scramNonce() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic("broker: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// saltedPassword is Hi(password, salt, iterations) of RFC 5802 (PBKDF2 with the
// mechanism's HMAC), as clients compute it.
func saltedPassword(mech, password string, salt []byte, iterations int) []byte {
	_, h, _ := scramHash(mech)
	k, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		panic("broker: pbkdf2: " + err.Error()) // only for FIPS-mode parameter limits
	}
	return k
}

// SetSCRAMCredentialOffline writes a SCRAM credential for user into the data directory of
// a broker that is not running (Kafka's `kafka-storage format --add-scram`): the way to
// create the first (super) user when no listener lets anyone in yet. It salts and hashes
// password like a client would and keeps only the derived keys.
func SetSCRAMCredentialOffline(dataDir, user, mechanism, password string, iterations int) error {
	if user == "" || password == "" {
		return errors.New("broker: user and password must not be empty")
	}
	if _, _, ok := scramHash(mechanism); !ok {
		return fmt.Errorf("broker: unsupported mechanism %q", mechanism)
	}
	if iterations < scramMinIterations || iterations > scramMaxIterations {
		return fmt.Errorf("broker: iterations must be between %d and %d", scramMinIterations, scramMaxIterations)
	}
	// The broker must not be running: it would overwrite the file with its own view.
	lock, err := LockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	meta := filepath.Join(dataDir, metaDirName)
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return fmt.Errorf("cannot create %q: %w", meta, err)
	}
	s, err := openSCRAMStore(meta)
	if err != nil {
		return err
	}
	salt := make([]byte, 24)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[user] == nil {
		s.users[user] = map[string]scramCred{}
	}
	s.users[user][mechanism] = credentialFromSalted(mechanism, salt, saltedPassword(mechanism, password, salt, iterations), iterations)
	return s.saveLocked()
}
