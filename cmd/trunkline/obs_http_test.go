package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trunkline/trunkline/pipeline"
)

// TestOpsEndpoint checks the routes of the operations endpoint with the
// profiler switched on and off.
func TestOpsEndpoint(t *testing.T) {
	status := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("status page")) })
	type check struct {
		method, path string
		code         int
		has          string
	}
	common := []check{
		{"GET", "/healthz", http.StatusOK, "ok"},
		{"GET", "/readyz", http.StatusServiceUnavailable, "not ready"},
		{"GET", "/metrics", http.StatusOK, "go_goroutines"},
		{"GET", "/metrics", http.StatusOK, "process_resident_memory_bytes"},
		{"GET", "/", http.StatusOK, "status page"},
		{"GET", "/nope", http.StatusNotFound, ""},
		{"POST", "/metrics", http.StatusMethodNotAllowed, ""},
	}
	tests := []struct {
		name   string
		pprof  bool
		checks []check
	}{
		{"pprof off", false, append(common,
			check{"GET", "/debug/pprof/", http.StatusNotFound, ""},
			check{"GET", "/debug/pprof/heap", http.StatusNotFound, ""},
			check{"GET", "/debug/pprof/cmdline", http.StatusNotFound, ""},
		)},
		{"pprof on", true, append(common,
			check{"GET", "/debug/pprof/", http.StatusOK, "goroutine"},
			check{"GET", "/debug/pprof/heap?debug=1", http.StatusOK, "heap profile"},
			check{"GET", "/debug/pprof/goroutine?debug=1", http.StatusOK, "goroutine profile"},
			check{"GET", "/debug/pprof/cmdline", http.StatusOK, ""},
			check{"GET", "/debug/pprof/symbol", http.StatusOK, "num_symbols"},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := startOps(HTTPConfig{Addr: "127.0.0.1:0", PProf: tt.pprof}, newRegistry(), func() bool { return false }, status, discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer hs.Shutdown(context.Background())
			for _, c := range tt.checks {
				req, err := http.NewRequest(c.method, "http://"+hs.Addr()+c.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				code, body := doRequest(t, req)
				if code != c.code || !strings.Contains(body, c.has) {
					t.Errorf("%s %s = %d, want %d with %q; body:\n%.300s", c.method, c.path, code, c.code, c.has, body)
				}
			}
		})
	}
}

// TestOpsEndpointLogsPProf checks that the startup log names the profiler
// address only when it is served.
func TestOpsEndpointLogsPProf(t *testing.T) {
	for _, on := range []bool{false, true} {
		var buf syncBuffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		hs, err := startOps(HTTPConfig{Addr: "127.0.0.1:0", PProf: on}, newRegistry(), func() bool { return true }, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		hs.Shutdown(context.Background())
		if got := strings.Contains(buf.String(), "pprof=http://"+hs.Addr()+"/debug/pprof/"); got != on {
			t.Errorf("pprof %v: log names the profiler = %v:\n%s", on, got, buf.String())
		}
	}
}

func doRequest(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, string(b)
}

// syncBuffer is a strings.Builder safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recordingHandler keeps the records it handles.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r)
	h.mu.Unlock()
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func TestLimitedHandler(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	type want struct {
		msg        string
		suppressed int64 // 0: no suppressed attribute
	}
	tests := []struct {
		name   string
		at     []time.Duration // record times after t0; the message is "m<i>"
		passed []want
	}{
		{"first passes", []time.Duration{0}, []want{{"m0", 0}}},
		{"burst: only the first", []time.Duration{0, time.Millisecond, 2 * time.Second, 9999 * time.Millisecond}, []want{{"m0", 0}}},
		{"next interval carries the count", []time.Duration{0, time.Second, 2 * time.Second, 10 * time.Second}, []want{{"m0", 0}, {"m3", 2}}},
		{"quiet stream passes everything", []time.Duration{0, 10 * time.Second, 25 * time.Second}, []want{{"m0", 0}, {"m1", 0}, {"m2", 0}}},
		{"interval counts from the last passed", []time.Duration{0, 11 * time.Second, 20 * time.Second, 21 * time.Second}, []want{{"m0", 0}, {"m1", 0}, {"m3", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingHandler{}
			// Loggers derived with With share the limit of their parent.
			base := slog.New(newLimitedHandler(rec, 10*time.Second))
			derived := base.With("part", "http")
			for i, d := range tt.at {
				r := slog.NewRecord(t0.Add(d), slog.LevelWarn, fmt.Sprintf("m%d", i), 0)
				l := base
				if i%2 == 1 {
					l = derived
				}
				if err := l.Handler().Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			var got []want
			for _, r := range rec.records {
				w := want{msg: r.Message}
				r.Attrs(func(a slog.Attr) bool {
					if a.Key == "suppressed" {
						w.suppressed = a.Value.Int64()
					}
					return true
				})
				got = append(got, w)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.passed) {
				t.Errorf("passed %v, want %v", got, tt.passed)
			}
		})
	}
}

// TestReadyz runs the real Processor against the embedded broker behind
// the operations endpoint and holds the broker's answers at each step of
// the startup: /readyz (and trunkline_ready) say not ready while the
// broadcast tables are being read and while the consumer group has not
// assigned partitions, ready once both are done, and not ready again once
// the broker is gone. /healthz stays 200 throughout.
func TestReadyz(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topics := pipeline.DefaultTopics()
	b := testBroker(ctx, t, topics)

	// A window on the windows topic: the tables are loaded only once it
	// has been fetched.
	cl := testClient(t, b.Addr())
	now := time.Now()
	window := fmt.Sprintf(`{"window_id":"W-READY","order_id":"O-1","kind":"delivery","vin":"WREADY00000000001","start":%d,"end":%d,"address":{"lat":48.1,"lng":11.5}}`,
		now.Add(-time.Minute).UnixMilli(), now.Add(time.Hour).UnixMilli())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Windows, Key: []byte("W-READY"), Value: []byte(window)}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	fetch := holdFirst(t, b, kmsg.Fetch)
	sync := holdFirst(t, b, kmsg.SyncGroup)

	cfg := defaultConfig()
	cfg.Brokers = []string{b.Addr()}
	cfg.Group = "readyz-test"
	cfg.Engine.GrantKey = []byte("readyz-test-key-0123456789abcdef")
	cfg.ShutdownTimeout = 2 * time.Second
	reg := newRegistry()
	log := discardLogger()
	st := &stopper{log: log}
	defer st.stop(5 * time.Second)
	proc, err := startProcessor(cfg, reg, log, time.Now, st)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := startOps(HTTPConfig{Addr: "127.0.0.1:0"}, reg, proc.Ready, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	st.add("http", hs.Shutdown)
	base := "http://" + hs.Addr()

	expect := func(step string, code int, body, gauge string) {
		t.Helper()
		if c, b := httpGet(t, base+"/readyz"); c != code || b != body {
			t.Errorf("%s: /readyz = %d %q, want %d %q", step, c, b, code, body)
		}
		if _, m := httpGet(t, base+"/metrics"); !strings.Contains(m, "\ntrunkline_ready "+gauge+"\n") {
			t.Errorf("%s: /metrics lacks trunkline_ready %s", step, gauge)
		}
		if c, _ := httpGet(t, base+"/healthz"); c != http.StatusOK {
			t.Errorf("%s: /healthz = %d, want 200 whatever the readiness", step, c)
		}
	}

	fetch.waitHeld(t, 30*time.Second)
	expect("tables being read", http.StatusServiceUnavailable, "not ready\n", "0")
	fetch.release()

	sync.waitHeld(t, 30*time.Second)
	expect("tables loaded, no assignment yet", http.StatusServiceUnavailable, "not ready\n", "0")
	sync.release()

	waitReady(t, base+"/readyz", 30*time.Second)
	expect("partitions assigned", http.StatusOK, "ready\n", "1")

	// The broker goes away: not ready once the processor notices, and
	// the brokers count as unreachable once their grace period is over.
	b.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, _ := httpGet(t, base+"/readyz")
		_, m := httpGet(t, base+"/metrics")
		if c == http.StatusServiceUnavailable && strings.Contains(m, "\ntrunkline_broker_reachable 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after the broker stopped: /readyz %d, want 503 and trunkline_broker_reachable 0", c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	expect("broker unreachable", http.StatusServiceUnavailable, "not ready\n", "0")
}

// heldRequest holds the first request of one kind the broker receives
// until released; the broker answers it normally afterwards.
type heldRequest struct {
	held     chan struct{} // closed when the request arrived
	released chan struct{}
	once     sync.Once
}

func holdFirst(t *testing.T, b *embeddedBroker, key kmsg.Key) *heldRequest {
	h := &heldRequest{held: make(chan struct{}), released: make(chan struct{})}
	var first sync.Once
	b.cluster.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		first.Do(func() {
			close(h.held)
			b.cluster.SleepControl(func() { <-h.released })
		})
		b.cluster.DropControl()
		return nil, nil, false
	})
	t.Cleanup(h.release)
	return h
}

func (h *heldRequest) waitHeld(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-h.held:
	case <-time.After(timeout):
		t.Fatalf("the broker received no such request within %v", timeout)
	}
}

func (h *heldRequest) release() { h.once.Do(func() { close(h.released) }) }
