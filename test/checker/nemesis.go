package checker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/test/miniotest"
)

// Target is a broker the nemesis can crash and restart. Addr must stay the same across
// restarts.
type Target interface {
	Addr() string
	// Kill stops the broker abruptly (SIGKILL for a process) and returns once it is gone.
	Kill() error
	// Start starts the broker again; it need not wait until the broker serves.
	Start(ctx context.Context) error
}

// Pauser is a Target that can also be frozen and thawed (SIGSTOP/SIGCONT for a process):
// connections stay open and requests time out instead of failing fast.
type Pauser interface {
	Target
	Pause() error
	Resume() error
}

// KillRestart is a nemesis that kills the target at random moments and restarts it at
// once, Cycles times spread over the ctx given to Run (the workload's producing phase).
// With Pause set it freezes the target for Pause instead of killing it.
type KillRestart struct {
	Target       Target
	Cycles       int           // kills to perform; default 3
	Duration     time.Duration // the span over which kills are spread; default 10s (use Config.Duration)
	Down         time.Duration // pause between the kill and the restart; default 0
	Pause        time.Duration // if > 0, freeze the target (it must be a Pauser) this long instead of killing it
	ReadyTimeout time.Duration // how long a restart may take before Run fails; default 60s
	Topic        string        // if set, ready also means Metadata lists this topic without errors
	Seed         uint64
	// Warmup, if set, holds the first fault until it returns true for the history (polled
	// every 50 ms, for at most half of Duration), e.g. until the group has committed once;
	// the cycles are then spread over the rest of Duration.
	Warmup func(*History) bool

	mu         sync.Mutex
	recoveries []time.Duration
}

// Recoveries returns, for each cycle done, the time from the kill to the broker answering
// requests again.
func (k *KillRestart) Recoveries() []time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]time.Duration(nil), k.recoveries...)
}

// MaxRecovery returns the longest of Recoveries.
func (k *KillRestart) MaxRecovery() time.Duration {
	var m time.Duration
	for _, d := range k.Recoveries() {
		m = max(m, d)
	}
	return m
}

// Run performs the cycles: the span Duration (less the time spent paused or down) is cut
// into Cycles slots, and the target is killed at a random moment in the middle 60% of
// each slot and restarted. When ctx ends,
// no new kill starts, but a killed target is always restarted before Run returns.
func (k *KillRestart) Run(ctx context.Context, h *History) error {
	cycles := k.Cycles
	if cycles == 0 {
		cycles = 3
	}
	span := k.Duration
	if span == 0 {
		span = 10 * time.Second
	}
	readyTimeout := k.ReadyTimeout
	if readyTimeout == 0 {
		readyTimeout = 60 * time.Second
	}
	seed := k.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	begin := time.Now()
	if k.Warmup != nil {
		for !k.Warmup(h) && time.Since(begin) < span/2 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
		}
		h.Add(Op{Process: "nemesis", Kind: KindNemesis, Partition: -1, Offset: -1, Value: "warm"})
		span -= time.Since(begin)
		begin = time.Now()
	}
	// Each cycle takes a slot of running time plus the fault itself (pause or down time),
	// so that all cycles fit in the span.
	fault := k.Pause + k.Down
	slot := max((span-time.Duration(cycles)*fault)/time.Duration(cycles), 100*time.Millisecond)
	for i := range cycles {
		at := begin.Add(time.Duration(i)*(slot+fault) + slot/5 + time.Duration(rng.Int64N(int64(slot*3/5)+1)))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(at)):
		}
		if e, ok := k.Target.(interface{ Exited() bool }); ok && e.Exited() {
			h.Add(Op{Process: "nemesis", Kind: KindNemesis, Partition: -1, Offset: -1, Value: fmt.Sprintf("crashed before cycle %d", i)})
			return fmt.Errorf("cycle %d: the broker exited on its own before the fault", i)
		}
		if k.Pause > 0 {
			if err := k.pause(i, h, readyTimeout); err != nil {
				return err
			}
			continue
		}
		killed := time.Now()
		if err := k.Target.Kill(); err != nil {
			return fmt.Errorf("cycle %d: kill: %w", i, err)
		}
		h.Add(Op{Process: "nemesis", Kind: KindNemesis, Partition: -1, Offset: -1, Value: fmt.Sprintf("kill %d", i)})
		if k.Down > 0 {
			time.Sleep(k.Down)
		}
		rctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		err := k.Target.Start(rctx)
		if err == nil {
			err = WaitReady(rctx, k.Target.Addr(), k.Topic)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("cycle %d: restart: %w", i, err)
		}
		rec := time.Since(killed)
		k.mu.Lock()
		k.recoveries = append(k.recoveries, rec)
		k.mu.Unlock()
		h.Add(Op{Process: "nemesis", Kind: KindNemesis, Partition: -1, Offset: -1, Value: fmt.Sprintf("ready %d after %s", i, rec.Round(time.Millisecond))})
	}
	return nil
}

// pause freezes the target for k.Pause; the recovery recorded is from the thaw to the
// target answering requests.
func (k *KillRestart) pause(i int, h *History, readyTimeout time.Duration) error {
	p, ok := k.Target.(Pauser)
	if !ok {
		return fmt.Errorf("checker: target %T cannot pause", k.Target)
	}
	if err := p.Pause(); err != nil {
		return fmt.Errorf("cycle %d: pause: %w", i, err)
	}
	h.Add(Op{Process: "nemesis", Kind: KindNemesis, Partition: -1, Offset: -1, Value: fmt.Sprintf("pause %d", i)})
	time.Sleep(k.Pause)
	resumed := time.Now()
	if err := p.Resume(); err != nil {
		return fmt.Errorf("cycle %d: resume: %w", i, err)
	}
	h.Add(Op{Process: "nemesis", Kind: KindNemesis, Partition: -1, Offset: -1, Value: fmt.Sprintf("resume %d", i)})
	rctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	err := WaitReady(rctx, k.Target.Addr(), k.Topic)
	cancel()
	if err != nil {
		return fmt.Errorf("cycle %d: after resume: %w", i, err)
	}
	rec := time.Since(resumed)
	k.mu.Lock()
	k.recoveries = append(k.recoveries, rec)
	k.mu.Unlock()
	h.Add(Op{Process: "nemesis", Kind: KindNemesis, Partition: -1, Offset: -1, Value: fmt.Sprintf("ready %d after %s", i, rec.Round(time.Millisecond))})
	return nil
}

// WaitReady polls addr until a Metadata request succeeds (and, if topic is set, lists the
// topic with no topic or partition errors), or ctx ends.
func WaitReady(ctx context.Context, addr, topic string) error {
	var last error
	for {
		last = probeOnce(ctx, addr, topic)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker %s not ready: %w (last: %v)", addr, ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func probeOnce(ctx context.Context, addr, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second),
		kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	if topic != "" {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(rctx, cl)
	if err != nil {
		return err
	}
	if topic == "" {
		return nil
	}
	for _, t := range resp.Topics {
		if t.ErrorCode != 0 {
			return fmt.Errorf("topic %s: error code %d", topic, t.ErrorCode)
		}
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return fmt.Errorf("topic %s partition %d: error code %d", topic, p.Partition, p.ErrorCode)
			}
		}
		return nil
	}
	return fmt.Errorf("topic %s not in metadata", topic)
}

// RepoRoot returns the directory holding the go.mod of module github.com/strata-io/strata,
// searching upwards from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/strata-io/strata\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("checker: no go.mod of github.com/strata-io/strata above the working directory")
		}
		dir = parent
	}
}

// BuildStrata builds ./cmd/strata of the repository into dir and returns the binary's path.
func BuildStrata(ctx context.Context, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "strata")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/strata")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("cannot build strata: %w\n%s", err, out)
	}
	return bin, nil
}

// FreePort returns a TCP port on 127.0.0.1 that is free now and stays free while a child
// broker restarts on it: miniotest.FreePort.
func FreePort() (int, error) { return miniotest.FreePort() }

// Strata runs `strata serve` as a child process on a fixed loopback port and data
// directory, so that it can be killed and restarted on the same state.
type Strata struct {
	Bin     string    // path of the strata binary
	DataDir string    // log.dirs
	Port    int       // listener port on 127.0.0.1
	Args    []string  // extra arguments after `serve`, e.g. "--set", "log.segment.bytes=1048576"
	Log     io.Writer // the child's stdout and stderr (nil: discarded)

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

var _ Pauser = (*Strata)(nil)

// Addr returns host:port of the listener.
func (s *Strata) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// Start starts the process; it does not wait for the broker to serve (see WaitReady).
func (s *Strata) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("checker: strata already running")
	}
	listener := "PLAINTEXT://" + s.Addr()
	args := append([]string{"serve", "--listeners", listener, "--advertised-listeners", listener, "--log-dirs", s.DataDir}, s.Args...)
	cmd := exec.Command(s.Bin, args...)
	cmd.Env = append(os.Environ(), "STRATA_LOG_LEVEL=info")
	s.starts++
	if s.Log != nil {
		fmt.Fprintf(s.Log, "=== start %d: %s %s\n", s.starts, s.Bin, strings.Join(args, " "))
		cmd.Stdout, cmd.Stderr = s.Log, s.Log
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start strata: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	return nil
}

// Pid returns the process id of the running child, 0 when none runs.
func (s *Strata) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Pause freezes the process with SIGSTOP.
func (s *Strata) Pause() error { return s.send(syscall.SIGSTOP) }

// Resume thaws the process with SIGCONT.
func (s *Strata) Resume() error { return s.send(syscall.SIGCONT) }

func (s *Strata) send(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("checker: strata not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("cannot send %s to strata: %w", sig, err)
	}
	if s.Log != nil {
		fmt.Fprintf(s.Log, "=== %s sent to process %d\n", sig, s.cmd.Process.Pid)
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Strata) Kill() error { return s.signal(syscall.SIGKILL, 0) }

// Stop sends SIGTERM and waits up to 15 s for a graceful exit, then SIGKILL.
func (s *Strata) Stop() error { return s.signal(syscall.SIGTERM, 15*time.Second) }

func (s *Strata) signal(sig syscall.Signal, grace time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cannot signal strata: %w", err)
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused process handles SIGTERM only once thawed
	if grace > 0 {
		select {
		case <-s.exited:
			return nil
		case <-time.After(grace):
			_ = s.cmd.Process.Kill()
		}
	}
	<-s.exited
	if s.Log != nil {
		fmt.Fprintf(s.Log, "=== %s: process %d gone\n", sig, s.cmd.Process.Pid)
	}
	return nil
}

// Exited reports whether the process exited on its own (crashed) since the last Start.
func (s *Strata) Exited() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// Tail returns the last n lines of a log file, for failure messages.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
