// Package miniotest runs a real MinIO server for tests: the s3store conformance run, outage
// tests (Stop, then Restart on the same port and data directory) and end-to-end tiering tests.
//
// The binary is <repo>/bin/minio. When it is missing, the harness builds it with
//
//	GOBIN=<repo>/bin go install github.com/minio/minio@<Version>
//
// (serialized across test processes by a lock file), and a binary still missing after that
// is a test failure, not a skip: the object-store tests are part of the suite.
//
// Every server gets a fresh temporary data directory, HOME and certs directory, random root
// credentials, a free loopback port, and the console disabled, so nothing is read from or
// written to the user's ~/.minio. The process is killed on cleanup (and by the kernel if the
// test binary dies first, via PR_SET_PDEATHSIG).
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the pinned MinIO module version built when bin/minio is missing.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Region is the region the server reports; clients should sign for it.
const Region = "us-east-1"

// Server is one running (or stopped) MinIO process.
type Server struct {
	Endpoint  string // "http://127.0.0.1:port"
	Addr      string // "127.0.0.1:port"
	AccessKey string
	SecretKey string
	Bucket    string        // created at start
	Client    *minio.Client // independent view of the server, for assertions

	bin     string
	dir     string // temp root: data/, home/, certs/, minio.log
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
	buckets int
	env0    []string // extra MINIO_* settings (see kms.go)
}

// Start starts a server for t and stops it (removing its data) when t ends. Any failure to
// find, build or start MinIO fails t.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("minio log tail:\n%s", s.LogTail(4000))
		}
		s.Close()
	})
	return s
}

// New starts a server outside a test (for TestMain); the caller must Close it.
func New() (*Server, error) { return newServer(nil) }

// newServer starts a server whose environment also carries extraEnv ("KEY=value").
func newServer(extraEnv []string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "strata-minio-")
	if err != nil {
		return nil, fmt.Errorf("cannot create temp dir: %w", err)
	}
	for _, sub := range []string{"data", "home", "certs"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	s := &Server{
		bin:       bin,
		dir:       dir,
		AccessKey: "strata" + randHex(6),
		SecretKey: randHex(20),
		Bucket:    "strata-test",
		env0:      extraEnv,
	}
	var startErr error
	for range 3 { // a free port can be taken between probing and binding: retry
		port, err := FreePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		s.Endpoint = "http://" + s.Addr
		if startErr = s.start(); startErr == nil {
			break
		}
	}
	if startErr != nil {
		tail := s.LogTail(2000)
		s.Close()
		return nil, fmt.Errorf("cannot start minio: %w\n%s", startErr, tail)
	}
	s.Client, err = minio.New(s.Addr, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: false,
		Region: Region,
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("cannot create minio client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.makeBucket(ctx, s.Bucket); err != nil {
		tail := s.LogTail(2000)
		s.Close()
		return nil, fmt.Errorf("cannot create bucket: %w\n%s", err, tail)
	}
	return s, nil
}

// NewBucket creates and returns a fresh, uniquely named bucket (for tests that need an
// empty store each).
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.buckets++
	name := fmt.Sprintf("b%d-%s", s.buckets, randHex(4))
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.makeBucket(ctx, name); err != nil {
		t.Fatalf("miniotest: create bucket %q: %v", name, err)
	}
	return name
}

func (s *Server) makeBucket(ctx context.Context, name string) error {
	var err error
	for {
		err = s.Client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region})
		if err == nil {
			return nil
		}
		if r := minio.ToErrorResponse(err); r.Code == "BucketAlreadyOwnedByYou" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	logFile, err := os.OpenFile(filepath.Join(s.dir, "minio.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	consolePort, err := FreePort()
	if err != nil {
		logFile.Close()
		return err
	}
	cmd := exec.Command(s.bin, "server",
		"--address", s.Addr,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort),
		"--certs-dir", filepath.Join(s.dir, "certs"),
		"--quiet",
		filepath.Join(s.dir, "data"))
	cmd.Env = s.env()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("cannot exec %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.logFile = cmd, exited, logFile
	if err := waitReady(s.Endpoint, exited, 60*time.Second); err != nil {
		s.stopLocked()
		return err
	}
	return nil
}

// env is a minimal environment: nothing MINIO_* leaks in from the caller, HOME points into
// the server's temp dir.
func (s *Server) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MINIO_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, s.env0...)
	return append(env,
		"HOME="+filepath.Join(s.dir, "home"),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
		"MINIO_REGION="+Region,
	)
}

func waitReady(endpoint string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			return errors.New("minio exited during startup")
		default:
		}
		resp, err := client.Get(endpoint + "/minio/health/live")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("minio not live after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the process (the data directory stays) and waits for it to exit. The port
// refuses connections until Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.logFile.Close()
	s.cmd, s.exited, s.logFile = nil, nil, nil
}

// Restart starts the stopped process again on the same address and data directory, and
// waits until it is live.
func (s *Server) Restart() error {
	s.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("miniotest: restart: %w\n%s", err, s.LogTail(2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Close kills the server and removes its data.
func (s *Server) Close() {
	s.Stop()
	os.RemoveAll(s.dir)
}

// LogTail returns the last n bytes of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(filepath.Join(s.dir, "minio.log"))
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("miniotest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Binary returns the path of <repo>/bin/minio, building it first if it is missing.
func Binary() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(root, "bin")
	bin := filepath.Join(binDir, "minio")
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	// Parallel test binaries may all find it missing: one builds, the others wait.
	lock, err := os.OpenFile(filepath.Join(binDir, ".minio-build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("cannot lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if isExecutable(bin) {
		return bin, nil
	}
	cmd := exec.Command("go", "install", "github.com/minio/minio@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+binDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("cannot build minio (go install github.com/minio/minio@%s): %w\n%s", Version, err, out)
	}
	if !isExecutable(bin) {
		return "", fmt.Errorf("go install github.com/minio/minio@%s left no %s", Version, bin)
	}
	return bin, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
