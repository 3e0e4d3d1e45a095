package security

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
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/xdg-go/scram"

	"github.com/strata-io/strata/segment"
)

const (
	// MinIterations and MaxIterations bound a credential's iteration count (Kafka's).
	MinIterations = 4096
	MaxIterations = 16384
	// SCRAMFileName is the credentials file's name in the meta directory and under the
	// bucket's _security/ prefix.
	SCRAMFileName = "scram-credentials.json"
)

// SCRAMCredential is one stored SCRAM credential.
type SCRAMCredential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

type scramFile struct {
	Version int                                   `json:"version"`
	Users   map[string]map[string]SCRAMCredential `json:"users"`
}

// SCRAMStore holds every user's credentials; safe for concurrent use.
type SCRAMStore struct {
	fsys   segment.FS
	path   string
	onSave func(name string) // called without s.mu after each successful change; may be nil
	mu     sync.RWMutex
	users  map[string]map[string]SCRAMCredential // user -> mechanism -> credential
}

func scramHash(mech string) (scram.HashGeneratorFcn, func() hash.Hash, bool) {
	switch mech {
	case MechSCRAM256:
		return scram.SHA256, sha256.New, true
	case MechSCRAM512:
		return scram.SHA512, sha512.New, true
	}
	return nil, nil, false
}

// MechanismName maps AlterUserScramCredentials' mechanism numbers.
func MechanismName(m int8) (string, bool) {
	switch m {
	case 1:
		return MechSCRAM256, true
	case 2:
		return MechSCRAM512, true
	}
	return "", false
}

// MechanismNumber is MechanismName's inverse; 0 for an unknown name.
func MechanismNumber(name string) int8 {
	switch name {
	case MechSCRAM256:
		return 1
	case MechSCRAM512:
		return 2
	}
	return 0
}

// OpenSCRAMStore loads <metaDir>/scram-credentials.json (none: no users). onSave (may be
// nil) is called with SCRAMFileName, without locks, after every change that was written.
func OpenSCRAMStore(fsys segment.FS, metaDir string, onSave func(name string)) (*SCRAMStore, error) {
	s := &SCRAMStore{fsys: fsys, path: filepath.Join(metaDir, SCRAMFileName), onSave: onSave, users: map[string]map[string]SCRAMCredential{}}
	data, err := segment.ReadFile(fsys, s.path)
	if errors.Is(err, fs.ErrNotExist) {
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

// saveLocked writes the store with mode 0600 (it holds credentials); s.mu is held.
func (s *SCRAMStore) saveLocked() error {
	data, err := json.MarshalIndent(scramFile{Version: 1, Users: s.users}, "", " ")
	if err != nil {
		return err
	}
	return segment.WriteFileAtomic(s.fsys, s.path, data, 0o600)
}

// CredentialFromSalted derives the stored credential from a salted password.
func CredentialFromSalted(mech string, salt, salted []byte, iterations int) SCRAMCredential {
	_, h, _ := scramHash(mech)
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	hh := h()
	hh.Write(clientKey)
	return SCRAMCredential{Salt: append([]byte(nil), salt...), Iterations: iterations,
		StoredKey: hh.Sum(nil), ServerKey: mac(salted, "Server Key")}
}

// Lookup returns user's credential for mechanism mech.
func (s *SCRAMStore) Lookup(user, mech string) (SCRAMCredential, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.users[user][mech]
	return c, ok
}

// SCRAMServer is the server side of one SCRAM exchange (RFC 5802). It is written
// here rather than taken from xdg-go/scram's server because Kafka accepts a client-final
// nonce that merely ends with the combined nonce (ScramSaslServer: endsWith), and
// librdkafka relies on that: it sends client nonce + the server's combined nonce.
// Channel binding is not supported (gs2 header "n" or "y"); extensions are ignored.
type SCRAMServer struct {
	store *SCRAMStore
	mech  string

	user      string
	gs2       string
	nonce     string // client nonce + server nonce
	c1Bare    string
	s1        string
	cred      SCRAMCredential
	started   bool // the client-first-message was handled
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
func (c *SCRAMServer) first(msg string) (string, error) {
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
	cred, ok := c.store.Lookup(user, c.mech)
	if !ok {
		return "", fmt.Errorf("%w: unknown user or mechanism", errSCRAM)
	}
	c.user, c.cred = user, cred
	c.nonce = fields[1][2:] + scramNonce()
	c.s1 = fmt.Sprintf("r=%s,s=%s,i=%d", c.nonce, base64.StdEncoding.EncodeToString(cred.Salt), cred.Iterations)
	return c.s1, nil
}

// final handles client-final-message; it returns server-final-message on success.
func (c *SCRAMServer) final(msg string) (string, error) {
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

// VerifyPassword checks a clear-text password (SASL/PLAIN) against the user's strongest
// SCRAM credential.
func (s *SCRAMStore) VerifyPassword(user, pass string) bool {
	for _, mech := range []string{MechSCRAM512, MechSCRAM256} {
		c, ok := s.Lookup(user, mech)
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
	SaltedPassword(MechSCRAM512, pass, []byte("strata-no-such-user"), MinIterations)
	return false
}

// SCRAMUserInfo describes one user: mechanism -> iterations.
type SCRAMUserInfo struct {
	User       string
	Mechanisms map[string]int
}

// Describe lists the users by name.
func (s *SCRAMStore) Describe() []SCRAMUserInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]SCRAMUserInfo, 0, len(s.users))
	for u, ms := range s.users {
		info := SCRAMUserInfo{User: u, Mechanisms: map[string]int{}}
		for m, c := range ms {
			info.Mechanisms[m] = c.Iterations
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

// scramNonce is the server's nonce part: 24 random bytes in [A-Za-z0-9_-].
func scramNonce() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic("security: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// SaltedPassword is Hi(password, salt, iterations) of RFC 5802 (PBKDF2 with the
// mechanism's HMAC), as clients compute it.
func SaltedPassword(mech, password string, salt []byte, iterations int) []byte {
	_, h, _ := scramHash(mech)
	k, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		panic("security: pbkdf2: " + err.Error()) // only for FIPS-mode parameter limits
	}
	return k
}

// SCRAMChange is one credential change of AlterUserScramCredentials: an upsert of Cred,
// or the deletion of the user's Mechanism credential.
type SCRAMChange struct {
	Mechanism string
	Delete    bool
	Cred      SCRAMCredential
}

// Alter applies each user's changes, in the given user order, all or nothing per user: a
// user with a deletion of a credential that does not exist is left unchanged and reported
// in notFound. The changed store is written once; on a failed write err is returned (the
// in-memory state keeps the changes, as the broker serves them until the next write).
func (s *SCRAMStore) Alter(order []string, changes map[string][]SCRAMChange) (notFound map[string]bool, err error) {
	s.mu.Lock()
	changed := false
	for _, name := range order {
		missing := false
		for _, c := range changes[name] {
			if _, ok := s.users[name][c.Mechanism]; c.Delete && !ok {
				missing = true
			}
		}
		if missing {
			if notFound == nil {
				notFound = map[string]bool{}
			}
			notFound[name] = true
			continue
		}
		for _, c := range changes[name] {
			if c.Delete {
				delete(s.users[name], c.Mechanism)
				if len(s.users[name]) == 0 {
					delete(s.users, name)
				}
			} else {
				if s.users[name] == nil {
					s.users[name] = map[string]SCRAMCredential{}
				}
				s.users[name][c.Mechanism] = c.Cred
			}
			changed = true
		}
	}
	if changed {
		err = s.saveLocked()
	}
	s.mu.Unlock()
	if changed && err == nil && s.onSave != nil {
		s.onSave(SCRAMFileName)
	}
	return notFound, err
}

// SetPassword stores a credential for user derived from password with a fresh salt, as
// a client would compute it (only the derived keys are kept).
func (s *SCRAMStore) SetPassword(user, mechanism, password string, iterations int) error {
	if user == "" || password == "" {
		return errors.New("user and password must not be empty")
	}
	if _, _, ok := scramHash(mechanism); !ok {
		return fmt.Errorf("unsupported mechanism %q", mechanism)
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return fmt.Errorf("iterations must be between %d and %d", MinIterations, MaxIterations)
	}
	salt := make([]byte, 24)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	cred := CredentialFromSalted(mechanism, salt, SaltedPassword(mechanism, password, salt, iterations), iterations)
	_, err := s.Alter([]string{user}, map[string][]SCRAMChange{user: {{Mechanism: mechanism, Cred: cred}}})
	return err
}
