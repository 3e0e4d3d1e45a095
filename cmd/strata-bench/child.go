package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/s3store"
)

// The broker under test runs in a child process (this same binary, `strata-bench child`), so
// that its RSS and profiles are its own and not the load generator's. The child serves a small
// control API on loopback:
//
//	POST /prof/start?name=N   start a CPU profile into <prof-dir>/N.cpu.pprof and snapshot allocs
//	POST /prof/stop           stop it; write <prof-dir>/N.allocs.pprof and N.allocs-base.pprof
//	                          (view the phase's allocations with go tool pprof -base), and the
//	                          block (>= 100us) and mutex profiles N.block.pprof, N.mutex.pprof
//	GET  /metrics             the broker's Prometheus metrics
//	GET  /stats               {"get_bytes":..,"get_requests":..,"put_bytes":..,"vm_hwm_kib":..,"vm_rss_kib":..}

// countingStore counts the bytes the broker reads from and writes to the bucket.
type countingStore struct {
	tiering.ObjectStore
	getBytes, getReqs, putBytes atomic.Int64
	putReqs, statReqs, listReqs atomic.Int64
}

func (c *countingStore) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	c.statReqs.Add(1)
	return c.ObjectStore.Stat(ctx, key)
}

func (c *countingStore) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	c.listReqs.Add(1)
	return c.ObjectStore.List(ctx, prefix, fn)
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}

func (c *countingStore) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	c.getReqs.Add(1)
	rc, err := c.ObjectStore.GetRange(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	return countingReader{rc, &c.getBytes}, nil
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	c.putReqs.Add(1)
	err := c.ObjectStore.Put(ctx, key, r, size)
	if err == nil {
		c.putBytes.Add(size)
	}
	return err
}

// PutIf keeps the conditional-put capability of the wrapped store visible (manifest fencing).
func (c *countingStore) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	type putIfer interface {
		PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error)
	}
	c.putReqs.Add(1)
	etag, err := c.ObjectStore.(putIfer).PutIf(ctx, key, r, size, ifMatch)
	if err == nil {
		c.putBytes.Add(size)
	}
	return etag, err
}

type kvList []string

func (k *kvList) String() string     { return strings.Join(*k, ",") }
func (k *kvList) Set(v string) error { *k = append(*k, v); return nil }

// memoryLimitProp, among a child's props, sets its Go soft memory limit (bytes).
const memoryLimitProp = "strata-bench.go.memory.limit"

// runChild is `strata-bench child`: one broker on a loopback port, tiering to MinIO.
func runChild(args []string) error {
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	dataDir := fs.String("data", "", "broker data directory")
	profDir := fs.String("prof-dir", "", "where profiles go")
	endpoint := fs.String("s3-endpoint", "", "MinIO endpoint")
	bucket := fs.String("s3-bucket", "", "bucket")
	access := fs.String("s3-access", "", "access key")
	secret := fs.String("s3-secret", "", "secret key")
	startupProf := fs.String("startup-profile", "", "write a CPU profile of the start-up (until the broker is ready) here")
	var sets kvList
	fs.Var(&sets, "set", "broker config key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *startupProf != "" {
		f, err := os.Create(*startupProf)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				pprof.StopCPUProfile()
				f.Close()
			}
		}
		defer stop()
		startupDone = stop
	}
	props := map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": *dataDir}
	for _, kv := range sets {
		k, v, _ := strings.Cut(kv, "=")
		props[k] = v
	}
	if v, ok := props[memoryLimitProp]; ok {
		// Not a broker setting: the Go runtime's soft memory limit (as GOMEMLIMIT would
		// set it) for the replay that shows how far the GC's headroom can be cut.
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", memoryLimitProp, err)
		}
		debug.SetMemoryLimit(n)
		delete(props, memoryLimitProp)
	}
	cfg, err := broker.ParseConfig(props)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	var cs *countingStore
	if *endpoint != "" {
		st, err := s3store.New(ctx, s3store.Config{
			Bucket: *bucket, Endpoint: *endpoint, PathStyle: true, Region: "us-east-1",
			AccessKey: *access, SecretKey: *secret,
		})
		if err != nil {
			return err
		}
		cs = &countingStore{ObjectStore: st}
		cfg.RemoteStore = cs
	}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	var (
		profMu   sync.Mutex
		profName string
		cpuFile  *os.File
	)
	mux.HandleFunc("POST /prof/start", func(w http.ResponseWriter, r *http.Request) {
		profMu.Lock()
		defer profMu.Unlock()
		if cpuFile != nil || *profDir == "" {
			http.Error(w, "profile running or no dir", http.StatusConflict)
			return
		}
		profName = r.URL.Query().Get("name")
		if err := writeHeap(filepath.Join(*profDir, profName+".allocs-base.pprof")); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		f, err := os.Create(filepath.Join(*profDir, profName+".cpu.pprof"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		runtime.SetBlockProfileRate(int(100 * time.Microsecond)) // blocking events >= 100us
		runtime.SetMutexProfileFraction(10)
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			http.Error(w, err.Error(), 500)
			return
		}
		cpuFile = f
	})
	mux.HandleFunc("POST /prof/stop", func(w http.ResponseWriter, r *http.Request) {
		profMu.Lock()
		defer profMu.Unlock()
		if cpuFile == nil {
			return
		}
		pprof.StopCPUProfile()
		cpuFile.Close()
		cpuFile = nil
		if err := writeHeap(filepath.Join(*profDir, profName+".allocs.pprof")); err != nil {
			http.Error(w, err.Error(), 500)
		}
		for _, kind := range []string{"block", "mutex"} {
			writeProfile(kind, filepath.Join(*profDir, profName+"."+kind+".pprof"))
		}
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
	})
	// The sampler wakes every 2 ms, which costs a few % of a core: it starts with the first
	// peak reset (the RSS replay), so no other phase (idle CPU above all) measures it.
	heap := &heapSampler{}
	var startSampler sync.Once
	mux.HandleFunc("POST /peak/reset", func(w http.ResponseWriter, r *http.Request) {
		heap.reset()
		startSampler.Do(func() { heap.start(ctx) })
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st := childStats{}
		if cs != nil {
			st.GetBytes, st.GetRequests, st.PutBytes = cs.getBytes.Load(), cs.getReqs.Load(), cs.putBytes.Load()
			st.PutRequests, st.StatRequests, st.ListRequests = cs.putReqs.Load(), cs.statReqs.Load(), cs.listReqs.Load()
		}
		st.VMHWMKiB, st.VMRSSKiB = procStatus(os.Getpid())
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st.HeapInuse, st.GoSys = int64(ms.HeapInuse), int64(ms.Sys)
		st.PeakLiveHeap, st.PeakHeapObjects = heap.live.Load(), heap.objects.Load()
		json.NewEncoder(w).Encode(st)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	// The parent reads this line; closing our stdin (parent gone) stops the broker.
	if startupDone != nil {
		startupDone()
	}
	fmt.Printf("READY %s %s\n", b.Addr().String(), ln.Addr().String())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	runErr := b.Run(ctx)
	return errorsJoin(runErr, b.Close())
}

// startupDone stops the start-up CPU profile (-startup-profile), if one runs.
var startupDone func()

func errorsJoin(a, b error) error {
	if a != nil && a != context.Canceled {
		return a
	}
	return b
}

func writeHeap(path string) error { return writeProfile("allocs", path) }

func writeProfile(kind, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup(kind).WriteTo(f, 0)
}

type childStats struct {
	GetBytes    int64 `json:"get_bytes"`
	GetRequests int64 `json:"get_requests"`
	PutBytes    int64 `json:"put_bytes"`
	PutRequests int64 `json:"put_requests"`
	// StatRequests and ListRequests count HEAD and LIST requests.
	StatRequests int64 `json:"stat_requests"`
	ListRequests int64 `json:"list_requests"`
	// PeakLiveHeap is the largest heap the GC found live (marked) since the last peak
	// reset; PeakHeapObjects the largest heap in use, live and garbage not yet swept.
	PeakLiveHeap    int64 `json:"peak_live_heap"`
	PeakHeapObjects int64 `json:"peak_heap_objects"`
	VMHWMKiB        int64 `json:"vm_hwm_kib"`
	VMRSSKiB        int64 `json:"vm_rss_kib"`
	HeapInuse       int64 `json:"heap_inuse"`
	GoSys           int64 `json:"go_sys"`
}

// procStatus returns VmHWM and VmRSS of pid in KiB.
func procStatus(pid int) (hwm, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			name string
			dst  *int64
		}{{"VmHWM:", &hwm}, {"VmRSS:", &rss}} {
			if rest, ok := strings.CutPrefix(line, k.name); ok {
				fields := strings.Fields(rest)
				if len(fields) > 0 {
					*k.dst, _ = strconv.ParseInt(fields[0], 10, 64)
				}
			}
		}
	}
	return hwm, rss
}

// brokerChild is the parent's handle on a running child broker.
type brokerChild struct {
	Addr  string // Kafka listener
	ctl   string // control API
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error

	stopOnce sync.Once
}

type childOptions struct {
	dataDir, profDir                 string
	endpoint, bucket, access, secret string
	props                            map[string]string
	startupProfile                   string // CPU profile of the child's start-up ("" = none)
}

func startChild(o childOptions) (*brokerChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"child", "-data", o.dataDir, "-prof-dir", o.profDir}
	if o.endpoint != "" {
		args = append(args, "-s3-endpoint", o.endpoint, "-s3-bucket", o.bucket, "-s3-access", o.access, "-s3-secret", o.secret)
	}
	if o.startupProfile != "" {
		args = append(args, "-startup-profile", o.startupProfile)
	}
	for k, v := range o.props {
		args = append(args, "-set", k+"="+v)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &brokerChild{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("child broker did not start: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "READY" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("child broker said %q", line)
	}
	c.Addr, c.ctl = f[1], f[2]
	go func() { c.done <- cmd.Wait() }()
	return c, nil
}

// Stop shuts the child down gracefully (SIGTERM) and waits. Stopping twice is a no-op.
func (c *brokerChild) Stop() {
	c.stopOnce.Do(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
		c.stdin.Close()
	})
}

func (c *brokerChild) Pid() int { return c.cmd.Process.Pid }

func (c *brokerChild) post(path string) error {
	resp, err := http.Post("http://"+c.ctl+path, "text/plain", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", path, resp.Status, b)
	}
	return nil
}

func (c *brokerChild) StartProfile(name string) error { return c.post("/prof/start?name=" + name) }
func (c *brokerChild) StopProfile() error             { return c.post("/prof/stop") }

func (c *brokerChild) Stats() (childStats, error) {
	var st childStats
	resp, err := http.Get("http://" + c.ctl + "/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// ResetPeakRSS resets the child's VmHWM (Linux clear_refs "5") and its heap peaks; best
// effort.
func (c *brokerChild) ResetPeakRSS() error {
	if resp, err := http.Post("http://"+c.ctl+"/peak/reset", "", nil); err == nil {
		resp.Body.Close()
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", c.Pid()), []byte("5"), 0)
}

// heapSampler keeps the peaks of the child's heap, read every 2 ms from runtime/metrics
// (no stop-the-world), so that the driver can say what a peak RSS was made of.
type heapSampler struct {
	live, objects atomic.Int64
}

func (h *heapSampler) start(ctx context.Context) {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			metrics.Read(samples)
			for i, dst := range []*atomic.Int64{&h.live, &h.objects} {
				if v := int64(samples[i].Value.Uint64()); v > dst.Load() {
					dst.Store(v)
				}
			}
		}
	}()
}

func (h *heapSampler) reset() { h.live.Store(0); h.objects.Store(0) }

// dumpMetrics copies the child's metric lines that start with prefix to w (debugging aid).
func (c *brokerChild) dumpMetrics(w io.Writer, prefix string) {
	resp, err := http.Get("http://" + c.ctl + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			fmt.Fprintln(w, sc.Text())
		}
	}
}
