package admin

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds the headless browser `make test` installs (apt-get install chromium).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("STRATA_SKIP_BROWSER") != "" {
		t.Skip("no chromium and STRATA_SKIP_BROWSER is set")
	}
	t.Fatal("chromium not found: run `make tools` (apt-get install -y chromium) or set STRATA_SKIP_BROWSER=1")
	return ""
}

// artifactDir is test/artifacts at the repository root (git-ignored).
func artifactDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "test", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type barSeg struct {
	Kind  string  `json:"kind"`
	Start int64   `json:"start"`
	End   int64   `json:"end"`
	Bytes int64   `json:"bytes"`
	Width float64 `json:"width"` // rendered pixels
	Title string  `json:"title"`
	Text  string  `json:"text"`
}

func TestConsoleInChromium(t *testing.T) {
	browser := chromiumPath(t)
	l := startLive(t)
	snap := l.b.Snapshot(t.Context())
	p := snap.Topics[0].Partitions[0]

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 45*time.Second)
	defer cancelT()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(l.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)),
	); err != nil {
		t.Fatal(err)
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	topicNames := strings.Split(eval(`[...document.querySelectorAll('.topic')].map(e => e.dataset.topic).join(',')`), ",")
	segsJSON := eval(`JSON.stringify([...document.querySelectorAll('.topic[data-topic="orders"] .bar[data-partition="0"] .seg')].map(s => ({
			kind: s.dataset.kind, start: +s.dataset.start, end: +s.dataset.end, bytes: +s.dataset.bytes,
			width: s.getBoundingClientRect().width, title: s.title, text: s.textContent})))`)
	barWidth, err := strconv.ParseFloat(eval(`String(document.querySelector('.topic[data-topic="orders"] .bar[data-partition="0"]').getBoundingClientRect().width)`), 64)
	if err != nil {
		t.Fatal(err)
	}
	groupLag := eval(`document.querySelector('#groups tr[data-group="billing"] .lag').textContent`)
	gpLag := eval(`document.querySelector('#groups tr[data-group="billing"] .gp[data-topic="orders"][data-partition="0"]').textContent`)
	status := eval(`document.querySelector('#health').textContent`)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(artifactDir(t), "console.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))

	if len(topicNames) != 1 || topicNames[0] != liveTopic {
		t.Errorf("topics shown %q, want [%s]", topicNames, liveTopic)
	}
	if status != StatusOK {
		t.Errorf("health shown %q, want ok", status)
	}
	if want := strconv.Itoa(liveRecords - liveCommit); strings.TrimSpace(groupLag) != want || !strings.Contains(gpLag, "lag "+want) {
		t.Errorf("group lag shown %q / %q, want %s", groupLag, gpLag, want)
	}
	var segs []barSeg
	if err := json.Unmarshal([]byte(segsJSON), &segs); err != nil {
		t.Fatal(err)
	}
	if len(segs) != 3 {
		t.Fatalf("bar has %d segments, want 3: %+v", len(segs), segs)
	}
	// Three ranges in order, covering [log start, HW), each as wide as its share of offsets.
	kinds := []string{"remote", "local+remote", "local"}
	total := float64(p.HighWatermark - p.LogStartOffset)
	next := p.LogStartOffset
	for i, s := range segs {
		if s.Kind != kinds[i] || s.Start != next || s.End <= s.Start {
			t.Errorf("segment %d: %+v, want kind %s starting at %d", i, s, kinds[i], next)
		}
		next = s.End
		want := barWidth * float64(s.End-s.Start) / total
		if d := s.Width - want; d > 2 || d < -2 {
			t.Errorf("segment %d (%s) is %.1f px wide, want %.1f of %.1f", i, s.Kind, s.Width, want, barWidth)
		}
		r := p.Ranges[i]
		if s.Bytes != r.Bytes || s.Bytes <= 0 {
			t.Errorf("segment %d shows %d bytes, snapshot %d", i, s.Bytes, r.Bytes)
		}
		if !strings.Contains(s.Title, "offsets "+strconv.FormatInt(s.Start, 10)+"–"+strconv.FormatInt(s.End-1, 10)) || !strings.Contains(s.Title, "old") {
			t.Errorf("segment %d title %q lacks its offsets and age", i, s.Title)
		}
	}
	if next != p.HighWatermark {
		t.Errorf("bar ends at %d, want the high watermark %d", next, p.HighWatermark)
	}

	// The bucket goes away: after a reload the console shows the broker degraded, with why.
	l.store.SetDown(true)
	defer l.store.SetDown(false)
	time.Sleep(1100 * time.Millisecond) // the bucket probe's result is reused for a second
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#health[data-status="degraded"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if r := eval(`document.querySelector('#reasons').textContent`); !strings.Contains(r, "bucket unreachable") {
		t.Errorf("degraded console shows reasons %q", r)
	}
	if b := eval(`[...document.querySelectorAll('#broker tr')].map(r => r.textContent).join('|')`); !strings.Contains(b, "Bucketunreachable") {
		t.Errorf("broker table %q does not say the bucket is unreachable", b)
	}
}
