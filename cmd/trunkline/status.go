package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/trunkline/trunkline/pipeline"
)

// The status line and the status page of `trunkline dev` show what the
// registry behind /metrics holds and nothing counted on the side: a sample
// is one Gather of that registry, so both agree with a scrape taken at the
// same moment, and a metric that is missing from /metrics is missing from
// them too ("-" on the line, null in the JSON).

const (
	// statusSampleInterval is how often dev samples the registry.
	statusSampleInterval = time.Second
	// statusKeep is how far back the status page's charts go.
	statusKeep = 5 * time.Minute
	// statusWindow is the trailing window of the rates and latency
	// quantiles the status page shows.
	statusWindow = 10 * time.Second
)

// topicCounts is the accounting of one input topic: consumed = applied +
// filtered + dead-lettered once every consumed record is handled.
type topicCounts struct {
	Topic        string  `json:"topic"`
	Consumed     float64 `json:"consumed"`
	Applied      float64 `json:"applied"`
	Filtered     float64 `json:"filtered"`
	DeadLettered float64 `json:"dead_lettered"`
}

// reasonCounts is the records filtered and dead-lettered for one reason,
// over every input topic.
type reasonCounts struct {
	Reason       string  `json:"reason"`
	Filtered     float64 `json:"filtered"`
	DeadLettered float64 `json:"dead_lettered"`
}

// namedValue is one labelled series: events of one type, simulated records
// of one kind.
type namedValue struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// level is the value of a metric that the registry may not export; it is
// null in JSON when absent.
type level struct {
	v  float64
	ok bool
}

func (l *level) add(v float64) { l.v, l.ok = l.v+v, true }

// MarshalJSON implements json.Marshaler.
func (l level) MarshalJSON() ([]byte, error) {
	if !l.ok || math.IsNaN(l.v) || math.IsInf(l.v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, l.v, 'g', -1, 64), nil
}

func (l level) String() string {
	if !l.ok {
		return "-"
	}
	return strconv.FormatFloat(l.v, 'f', -1, 64)
}

// histogram is a cumulative Prometheus histogram: counts[i] observations
// at most upper[i], count observations in all (the +Inf bucket).
type histogram struct {
	upper  []float64
	counts []uint64
	count  uint64
}

func histogramOf(h *dto.Histogram) histogram {
	out := histogram{count: h.GetSampleCount()}
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), +1) {
			continue // the count is the +Inf bucket
		}
		out.upper = append(out.upper, b.GetUpperBound())
		out.counts = append(out.counts, b.GetCumulativeCount())
	}
	return out
}

// since returns the observations made after old. It returns h itself when
// old has other buckets or more observations (the histogram was reset).
func (h histogram) since(old histogram) histogram {
	if len(old.upper) != len(h.upper) || old.count > h.count {
		return h
	}
	d := histogram{upper: h.upper, counts: make([]uint64, len(h.counts)), count: h.count - old.count}
	for i := range h.counts {
		if old.upper[i] != h.upper[i] || old.counts[i] > h.counts[i] {
			return h
		}
		d.counts[i] = h.counts[i] - old.counts[i]
	}
	return d
}

// quantile estimates the q-quantile (0 ≤ q ≤ 1) as Prometheus's
// histogram_quantile does: linear interpolation inside the bucket the rank
// falls in, the lowest bucket starting at 0, and the highest finite bound
// when the rank falls in the +Inf bucket. It reports false when the
// histogram holds no observation.
func (h histogram) quantile(q float64) (float64, bool) {
	if h.count == 0 || len(h.upper) == 0 {
		return 0, false
	}
	rank := q * float64(h.count)
	for i, c := range h.counts {
		if float64(c) < rank || c == 0 {
			continue
		}
		if i == 0 && h.upper[0] <= 0 {
			return h.upper[0], true
		}
		lower, below := 0.0, uint64(0)
		if i > 0 {
			lower, below = h.upper[i-1], h.counts[i-1]
		}
		return lower + (h.upper[i]-lower)*(rank-float64(below))/float64(c-below), true
	}
	return h.upper[len(h.upper)-1], true
}

// statusSample is the registry at one instant, as the status line and the
// status page show it.
type statusSample struct {
	At            time.Time      `json:"-"`
	Ready         bool           `json:"ready"`
	Partitions    level          `json:"partitions"`
	Inputs        []topicCounts  `json:"inputs"` // per input topic, in the configuration's order
	Events        []namedValue   `json:"events"` // emitted per type, in lifecycle order
	Reasons       []reasonCounts `json:"reasons"`
	Simulated     []namedValue   `json:"simulated"`
	EventsAcked   level          `json:"events_acked"`
	ProduceErrors level          `json:"produce_errors"`
	OpenWindows   level          `json:"open_windows"`
	TrackedCars   level          `json:"tracked_cars"`
	Couriers      level          `json:"couriers"`
	Routes        level          `json:"routes"`
	Lag           level          `json:"lag"` // summed over partitions
	StateEntries  level          `json:"state_entries"`
	StateBytes    level          `json:"state_bytes"`
	Rebalances    level          `json:"rebalances"`

	latency    histogram // trunkline_ping_to_event_seconds
	ackLatency histogram // trunkline_append_to_ack_seconds
}

// consumed returns the records consumed over every input topic.
func (s *statusSample) consumed() float64 {
	var n float64
	for _, in := range s.Inputs {
		n += in.Consumed
	}
	return n
}

// emitted returns the events emitted, every type.
func (s *statusSample) emitted() float64 {
	var n float64
	for _, e := range s.Events {
		n += e.Value
	}
	return n
}

func (s *statusSample) filteredAndDead() (filtered, dead float64) {
	for _, in := range s.Inputs {
		filtered += in.Filtered
		dead += in.DeadLettered
	}
	return filtered, dead
}

// statusReader reads samples from the registry. It is safe for concurrent
// use when the gatherer is.
type statusReader struct {
	g      prometheus.Gatherer
	inputs []string // input topics, in display order
	types  []string // event types, in lifecycle order
}

func newStatusReader(g prometheus.Gatherer, t pipeline.Topics) *statusReader {
	r := &statusReader{g: g, inputs: []string{t.CarPings, t.CourierPings, t.Windows, t.Routes}}
	for _, et := range pipeline.EventTypes() {
		r.types = append(r.types, et.String())
	}
	return r
}

// read gathers the registry. On a gathering error it returns the error
// with what could be gathered.
func (r *statusReader) read(now time.Time) (statusSample, error) {
	mfs, err := r.g.Gather()
	s := statusSample{
		At:     now,
		Inputs: make([]topicCounts, len(r.inputs)),
		Events: make([]namedValue, len(r.types)),
	}
	for i, t := range r.inputs {
		s.Inputs[i].Topic = t
	}
	for i, t := range r.types {
		s.Events[i].Name = t
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			r.apply(&s, mf.GetName(), m)
		}
	}
	return s, err
}

// apply adds one series of the registry to s.
func (r *statusReader) apply(s *statusSample, name string, m *dto.Metric) {
	v := metricValue(m)
	switch name {
	case "trunkline_records_consumed_total":
		if in := s.input(label(m, "topic")); in != nil {
			in.Consumed += v
		}
	case "trunkline_records_applied_total":
		if in := s.input(label(m, "topic")); in != nil {
			in.Applied += v
		}
	case "trunkline_records_filtered_total":
		if in := s.input(label(m, "topic")); in != nil {
			in.Filtered += v
			s.reason(label(m, "reason")).Filtered += v
		}
	case "trunkline_records_dead_lettered_total":
		if in := s.input(label(m, "topic")); in != nil {
			in.DeadLettered += v
			s.reason(label(m, "reason")).DeadLettered += v
		}
	case "trunkline_events_emitted_total":
		typ := label(m, "type")
		for i := range s.Events {
			if s.Events[i].Name == typ {
				s.Events[i].Value += v
				return
			}
		}
		s.Events = append(s.Events, namedValue{typ, v})
	case "trunkline_sim_records_total":
		s.Simulated = append(s.Simulated, namedValue{label(m, "kind"), v})
	case "trunkline_ready":
		s.Ready = v == 1
	case "trunkline_partitions_owned":
		s.Partitions.add(v)
	case "trunkline_events_acked_total":
		s.EventsAcked.add(v)
	case "trunkline_produce_errors_total":
		s.ProduceErrors.add(v)
	case "trunkline_open_windows":
		s.OpenWindows.add(v)
	case "trunkline_tracked_cars":
		s.TrackedCars.add(v)
	case "trunkline_couriers":
		s.Couriers.add(v)
	case "trunkline_routes":
		s.Routes.add(v)
	case "trunkline_consumer_lag_records":
		s.Lag.add(v)
	case "trunkline_state_entries":
		s.StateEntries.add(v)
	case "trunkline_state_bytes":
		s.StateBytes.add(v)
	case "trunkline_rebalances_total":
		s.Rebalances.add(v)
	case "trunkline_ping_to_event_seconds":
		s.latency = histogramOf(m.GetHistogram())
	case "trunkline_append_to_ack_seconds":
		s.ackLatency = histogramOf(m.GetHistogram())
	}
}

// input returns the counts of an input topic, nil for another topic.
func (s *statusSample) input(topic string) *topicCounts {
	for i := range s.Inputs {
		if s.Inputs[i].Topic == topic {
			return &s.Inputs[i]
		}
	}
	return nil
}

func (s *statusSample) reason(reason string) *reasonCounts {
	for i := range s.Reasons {
		if s.Reasons[i].Reason == reason {
			return &s.Reasons[i]
		}
	}
	s.Reasons = append(s.Reasons, reasonCounts{Reason: reason})
	return &s.Reasons[len(s.Reasons)-1]
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// line is the status line for the interval from prev to s, for example
//
//	status: in 1021 rec/s | out 3.4 ev/s (17) | filtered 2692 | dead-lettered 3 | p99 4.2ms | open windows 45 | lag 0 | partitions 6 | ready
//
// in and out are rates over the interval, filtered and dead-lettered are
// totals, p99 is the ping-to-event latency of the events emitted in the
// interval ("-" when there were none).
func (s statusSample) line(prev statusSample) string {
	secs := s.At.Sub(prev.At).Seconds()
	if secs <= 0 {
		secs = 1
	}
	filtered, dead := s.filteredAndDead()
	p99 := "-"
	if q, ok := s.latency.since(prev.latency).quantile(0.99); ok {
		p99 = formatSeconds(q)
	}
	ready := "ready"
	if !s.Ready {
		ready = "not ready"
	}
	return fmt.Sprintf("status: in %.0f rec/s | out %.1f ev/s (%.0f) | filtered %.0f | dead-lettered %.0f | p99 %s | open windows %s | lag %s | partitions %s | %s\n",
		(s.consumed()-prev.consumed())/secs, (s.emitted()-prev.emitted())/secs, s.emitted(),
		filtered, dead, p99, s.OpenWindows, s.Lag, s.Partitions, ready)
}

// formatSeconds writes a latency in milliseconds below a second.
func formatSeconds(s float64) string {
	if s < 1 {
		return strconv.FormatFloat(s*1000, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(s, 'f', 2, 64) + "s"
}

// statusHistory keeps the samples of the last statusKeep, oldest first. It
// is safe for concurrent use.
type statusHistory struct {
	mu      sync.Mutex
	samples []statusSample
}

func (h *statusHistory) add(s statusSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cut := s.At.Add(-statusKeep)
	n := 0
	for n < len(h.samples) && h.samples[n].At.Before(cut) {
		n++
	}
	h.samples = append(h.samples[:0], h.samples[n:]...)
	h.samples = append(h.samples, s)
}

// all returns the samples, oldest first. The caller owns the slice.
func (h *statusHistory) all() []statusSample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]statusSample(nil), h.samples...)
}

// statusPoint is one point of the status page's charts: rates and
// ping-to-event latency quantiles over the statusWindow ending at T.
type statusPoint struct {
	T      int64   `json:"t"` // Unix milliseconds
	In     float64 `json:"in_per_second"`
	Out    float64 `json:"out_per_second"`
	P50    level   `json:"p50_seconds"`
	P99    level   `json:"p99_seconds"`
	AckP99 level   `json:"ack_p99_seconds"`
}

// series returns one point per sample that has an earlier one, each over
// the statusWindow before it (or since the first sample).
func series(samples []statusSample) []statusPoint {
	points := make([]statusPoint, 0, len(samples))
	j := 0
	for i := 1; i < len(samples); i++ {
		cur := &samples[i]
		for j < i-1 && cur.At.Sub(samples[j+1].At) >= statusWindow {
			j++
		}
		old := &samples[j]
		secs := cur.At.Sub(old.At).Seconds()
		if secs <= 0 {
			continue
		}
		p := statusPoint{
			T:   cur.At.UnixMilli(),
			In:  (cur.consumed() - old.consumed()) / secs,
			Out: (cur.emitted() - old.emitted()) / secs,
		}
		lat := cur.latency.since(old.latency)
		p.P50.v, p.P50.ok = lat.quantile(0.5)
		p.P99.v, p.P99.ok = lat.quantile(0.99)
		p.AckP99.v, p.AckP99.ok = cur.ackLatency.since(old.ackLatency).quantile(0.99)
		points = append(points, p)
	}
	return points
}

//go:embed status.html
var statusHTML []byte

// statusPage serves dev's status page: the page itself at /, and at
// /?format=json the numbers the page polls. It is safe for concurrent use.
type statusPage struct {
	hist    *statusHistory
	broker  string
	started time.Time
	recent  func() []string // the latest console lines, newest first
}

// statusJSON is the answer to /?format=json.
type statusJSON struct {
	Broker        string        `json:"broker"`
	UptimeSeconds int64         `json:"uptime_seconds"`
	WindowSeconds float64       `json:"window_seconds"`
	Now           statusSample  `json:"now"`
	Series        []statusPoint `json:"series"` // oldest first
	Recent        []string      `json:"recent"` // newest first
	Latency       bool          `json:"latency_exported"`
}

// ServeHTTP implements http.Handler.
func (p *statusPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("format") == "json" {
		p.serveJSON(w)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The page is self-contained: anything it would load from elsewhere is
	// refused, and the browser reports the refusal as a console error.
	w.Header().Set("Content-Security-Policy",
		"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'")
	w.Write(statusHTML)
}

func (p *statusPage) serveJSON(w http.ResponseWriter) {
	samples := p.hist.all()
	if len(samples) == 0 {
		http.Error(w, "no sample yet", http.StatusServiceUnavailable)
		return
	}
	now := samples[len(samples)-1]
	recent := p.recent()
	if recent == nil {
		recent = []string{}
	}
	body, err := json.Marshal(statusJSON{
		Broker:        p.broker,
		UptimeSeconds: int64(now.At.Sub(p.started).Seconds()),
		WindowSeconds: statusWindow.Seconds(),
		Now:           now,
		Series:        series(samples),
		Recent:        recent,
		Latency:       len(now.latency.upper) > 0,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}
