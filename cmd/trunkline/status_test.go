package main

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trunkline/trunkline/pipeline"
)

// latencyBuckets are the contract's buckets of the latency histograms.
var latencyBuckets = []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}

func TestHistogramQuantile(t *testing.T) {
	h := func(upper []float64, counts ...uint64) histogram {
		return histogram{upper: upper, counts: counts, count: counts[len(counts)-1]}
	}
	b := []float64{0.001, 0.01, 0.1, 1}
	tests := []struct {
		name   string
		h      histogram
		q      float64
		want   float64
		wantOK bool
	}{
		{"empty", histogram{}, 0.5, 0, false},
		{"no observation", h(b, 0, 0, 0, 0), 0.99, 0, false},
		{"all in the first bucket, median", h(b, 10, 10, 10, 10), 0.5, 0.0005, true},
		{"all in the first bucket, p99", h(b, 100, 100, 100, 100), 0.99, 0.00099, true},
		{"interpolated in the second bucket", h(b, 0, 10, 10, 10), 0.5, 0.001 + 0.009*0.5, true},
		{"rank on a bucket boundary", h(b, 5, 10, 10, 10), 0.5, 0.001, true},
		{"p99 in the third bucket", h(b, 50, 90, 100, 100), 0.99, 0.01 + 0.09*0.9, true},
		{"rank in the +Inf bucket", histogram{upper: b, counts: []uint64{0, 0, 0, 0}, count: 4}, 0.5, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.h.quantile(tt.q)
			if ok != tt.wantOK || math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("quantile(%v) = %v, %v; want %v, %v", tt.q, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestHistogramSince(t *testing.T) {
	b := []float64{0.001, 0.01}
	old := histogram{upper: b, counts: []uint64{1, 3}, count: 4}
	cur := histogram{upper: b, counts: []uint64{5, 9}, count: 12}
	tests := []struct {
		name      string
		cur, old  histogram
		wantCount []uint64
		want      uint64
	}{
		{"observations in between", cur, old, []uint64{4, 6}, 8},
		{"nothing before", cur, histogram{}, []uint64{5, 9}, 12},
		{"reset", old, cur, []uint64{1, 3}, 4},
		{"other buckets", cur, histogram{upper: []float64{1, 2}, counts: []uint64{0, 0}}, []uint64{5, 9}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.cur.since(tt.old)
			if d.count != tt.want || !equalCounts(d.counts, tt.wantCount) {
				t.Errorf("since = %v (%d), want %v (%d)", d.counts, d.count, tt.wantCount, tt.want)
			}
		})
	}
}

func equalCounts(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testRegistry holds the metrics the status reads, under the contract's
// names, as the pipeline and the simulator export them.
type testRegistry struct {
	reg                        *prometheus.Registry
	consumed, applied          *prometheus.CounterVec
	filtered, dead             *prometheus.CounterVec
	events, sim                *prometheus.CounterVec
	ready, partitions, windows prometheus.Gauge
	lag                        *prometheus.GaugeVec
	latency                    prometheus.Histogram
}

// newTestRegistry registers the counters, and the gauges and the latency
// histogram of the issue when full is true.
func newTestRegistry(full bool) *testRegistry {
	r := &testRegistry{reg: prometheus.NewRegistry()}
	cv := func(name string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: name}, labels)
		r.reg.MustRegister(v)
		return v
	}
	g := func(name string) prometheus.Gauge {
		v := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: name})
		r.reg.MustRegister(v)
		return v
	}
	r.consumed = cv("trunkline_records_consumed_total", "topic")
	r.applied = cv("trunkline_records_applied_total", "topic")
	r.filtered = cv("trunkline_records_filtered_total", "topic", "reason")
	r.dead = cv("trunkline_records_dead_lettered_total", "topic", "reason")
	r.events = cv("trunkline_events_emitted_total", "type")
	r.sim = cv("trunkline_sim_records_total", "kind")
	r.ready = g("trunkline_ready")
	r.partitions = g("trunkline_partitions_owned")
	if full {
		r.windows = g("trunkline_open_windows")
		r.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "trunkline_consumer_lag_records", Help: "lag"}, []string{"topic", "partition"})
		r.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "trunkline_ping_to_event_seconds", Help: "latency", Buckets: latencyBuckets})
		r.reg.MustRegister(r.lag, r.latency)
	}
	return r
}

func TestStatusReaderAndLine(t *testing.T) {
	topics := pipeline.DefaultTopics()
	tests := []struct {
		name  string
		full  bool
		line  string
		nulls []string // JSON fields of "now" that must be null
	}{
		{
			name:  "the issue's gauges and histogram exported",
			full:  true,
			line:  "status: in 30 rec/s | out 1.0 ev/s (6) | filtered 95 | dead-lettered 2 | p99 35.0ms | open windows 7 | lag 12 | partitions 3 | ready\n",
			nulls: []string{"tracked_cars", "state_bytes"},
		},
		{
			name:  "only the counters exported",
			full:  false,
			line:  "status: in 30 rec/s | out 1.0 ev/s (6) | filtered 95 | dead-lettered 2 | p99 - | open windows - | lag - | partitions 3 | ready\n",
			nulls: []string{"open_windows", "lag", "tracked_cars"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRegistry(tt.full)
			rd := newStatusReader(r.reg, topics)
			t0 := time.Unix(1_700_000_000, 0)
			r.consumed.WithLabelValues(topics.CarPings).Add(100)
			r.events.WithLabelValues("tracking_started").Add(1)
			if tt.full {
				r.latency.Observe(0.3) // before the interval: not in its p99
			}
			prev, err := rd.read(t0)
			if err != nil {
				t.Fatal(err)
			}

			r.consumed.WithLabelValues(topics.CarPings).Add(140)
			r.consumed.WithLabelValues(topics.Windows).Add(10)
			r.applied.WithLabelValues(topics.CarPings).Add(143)
			r.applied.WithLabelValues(topics.Windows).Add(10)
			r.filtered.WithLabelValues(topics.CarPings, "no_window").Add(90)
			r.filtered.WithLabelValues(topics.CourierPings, "no_route").Add(5)
			r.dead.WithLabelValues(topics.CarPings, "malformed_json").Add(2)
			r.consumed.WithLabelValues("some.other-topic").Add(1000) // not an input: ignored
			r.events.WithLabelValues("car_parked").Add(5)
			r.sim.WithLabelValues("car_ping").Add(240)
			r.ready.Set(1)
			r.partitions.Set(3)
			if tt.full {
				r.windows.Set(7)
				r.lag.WithLabelValues(topics.CarPings, "0").Set(5)
				r.lag.WithLabelValues(topics.CarPings, "1").Set(7)
				for range 98 {
					r.latency.Observe(0.003) // (0.002, 0.005]
				}
				r.latency.Observe(0.04) // (0.02, 0.05]: the p99 falls there,
				r.latency.Observe(0.04) // half-way through the bucket
			}
			cur, err := rd.read(t0.Add(5 * time.Second))
			if err != nil {
				t.Fatal(err)
			}

			if got := cur.line(prev); got != tt.line {
				t.Errorf("line\n got %q\nwant %q", got, tt.line)
			}
			wantInputs := []topicCounts{
				{Topic: topics.CarPings, Consumed: 240, Applied: 143, Filtered: 90, DeadLettered: 2},
				{Topic: topics.CourierPings, Filtered: 5},
				{Topic: topics.Windows, Consumed: 10, Applied: 10},
				{Topic: topics.Routes},
			}
			for i, want := range wantInputs {
				if cur.Inputs[i] != want {
					t.Errorf("input %d = %+v, want %+v", i, cur.Inputs[i], want)
				}
			}
			if cur.Events[0] != (namedValue{"tracking_started", 1}) || cur.Events[2] != (namedValue{"car_parked", 5}) {
				t.Errorf("events %v: not in lifecycle order or wrong", cur.Events[:3])
			}
			if len(cur.Events) != len(pipeline.EventTypes()) {
				t.Errorf("%d event types, want %d", len(cur.Events), len(pipeline.EventTypes()))
			}

			raw, err := json.Marshal(cur)
			if err != nil {
				t.Fatal(err)
			}
			var now map[string]any
			if err := json.Unmarshal(raw, &now); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.nulls {
				if v, ok := now[k]; !ok || v != nil {
					t.Errorf("now.%s = %v, want null", k, v)
				}
			}
			if now["partitions"] != 3.0 || now["ready"] != true {
				t.Errorf("partitions %v, ready %v", now["partitions"], now["ready"])
			}
		})
	}
}

func TestSeries(t *testing.T) {
	r := newTestRegistry(true)
	rd := newStatusReader(r.reg, pipeline.DefaultTopics())
	t0 := time.Unix(1_700_000_000, 0)
	var samples []statusSample
	// 20 s of samples: 100 records a second; one event a second with a
	// latency in (1 ms, 2 ms] for the first 10 s, none after.
	for i := range 21 {
		if i > 0 {
			r.consumed.WithLabelValues(pipeline.DefaultTopics().CarPings).Add(100)
			if i <= 10 {
				r.events.WithLabelValues("car_located").Inc()
				r.latency.Observe(0.0015)
			}
		}
		s, err := rd.read(t0.Add(time.Duration(i) * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, s)
	}
	points := series(samples)
	if len(points) != 20 {
		t.Fatalf("%d points, want 20", len(points))
	}
	for i, p := range points {
		if p.In != 100 {
			t.Errorf("point %d: in %v/s, want 100", i, p.In)
		}
	}
	for _, c := range []struct {
		i        int
		out      float64
		p50      bool
		p50Value float64
	}{
		{0, 1, true, 0.0015},    // the first second
		{9, 1, true, 0.0015},    // 10 s in: the window is full
		{14, 0.5, true, 0.0015}, // half the window after the last event
		{19, 0, false, 0},       // 10 s after the last event
	} {
		p := points[c.i]
		if p.Out != c.out || p.P50.ok != c.p50 || math.Abs(p.P50.v-c.p50Value) > 1e-12 {
			t.Errorf("point %d: out %v/s, p50 %v (%v); want %v/s, %v (%v)", c.i, p.Out, p.P50.v, p.P50.ok, c.out, c.p50Value, c.p50)
		}
	}
	if want := t0.Add(20 * time.Second).UnixMilli(); points[19].T != want {
		t.Errorf("last point at %d, want %d", points[19].T, want)
	}
}

func TestStatusHistoryKeeps(t *testing.T) {
	var h statusHistory
	t0 := time.Unix(1_700_000_000, 0)
	n := int(statusKeep/statusSampleInterval) + 30
	for i := range n {
		h.add(statusSample{At: t0.Add(time.Duration(i) * statusSampleInterval)})
	}
	all := h.all()
	if got, want := all[len(all)-1].At.Sub(all[0].At), statusKeep; got != want {
		t.Errorf("history spans %v, want %v", got, want)
	}
}

func TestStatusPageHandler(t *testing.T) {
	r := newTestRegistry(true)
	topics := pipeline.DefaultTopics()
	rd := newStatusReader(r.reg, topics)
	hist := &statusHistory{}
	t0 := time.Unix(1_700_000_000, 0)
	page := &statusPage{hist: hist, broker: "127.0.0.1:9092", started: t0,
		recent: func() []string { return []string{"> 10:00:00.000 car_parked W-DEMO-DELIVERY delivery car=…0001"} }}
	srv := httptest.NewServer(page)
	defer srv.Close()

	if code, _ := httpGet(t, srv.URL+"/?format=json"); code != http.StatusServiceUnavailable {
		t.Errorf("JSON before the first sample: %d, want 503", code)
	}
	for i := range 3 {
		r.consumed.WithLabelValues(topics.CarPings).Add(50)
		s, err := rd.read(t0.Add(time.Duration(i) * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		hist.add(s)
	}

	tests := []struct {
		path  string
		code  int
		ctype string
		has   []string
	}{
		{"/", http.StatusOK, "text/html; charset=utf-8", []string{"<title>trunkline dev</title>", `fetch("?format=json"`}},
		{"/?format=json", http.StatusOK, "application/json", []string{`"broker":"127.0.0.1:9092"`, `"uptime_seconds":2`,
			`"consumed":150`, `"series":[{`, `"in_per_second":50`, `"recent":["\u003e 10:00:00.000 car_parked`, `"latency_exported":true`}},
		{"/nope", http.StatusNotFound, "", nil},
	}
	for _, tt := range tests {
		res, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != tt.code {
			t.Errorf("GET %s = %d, want %d", tt.path, res.StatusCode, tt.code)
		}
		if tt.ctype != "" && res.Header.Get("Content-Type") != tt.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tt.path, res.Header.Get("Content-Type"), tt.ctype)
		}
		for _, s := range tt.has {
			if !strings.Contains(string(body), s) {
				t.Errorf("GET %s lacks %q", tt.path, s)
			}
		}
	}
}

// TestStatusPageSelfContained checks that the page names no asset of
// another origin: everything it needs is inline, and its
// Content-Security-Policy refuses anything else.
func TestStatusPageSelfContained(t *testing.T) {
	html := string(statusHTML)
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//`)
	if m := external.FindString(html); m != "" {
		t.Errorf("the status page loads something from elsewhere: %q", m)
	}
	for _, want := range []string{"<style>", "<script>", `<link rel="icon" href="data:,">`} {
		if !strings.Contains(html, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
	rec := httptest.NewRecorder()
	(&statusPage{hist: &statusHistory{}}).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q does not refuse other origins", csp)
	}
}
