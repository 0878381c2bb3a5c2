package pipeline_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

// The observability tests drive records through the broker into a real
// Processor and read everything back from its registry, as Prometheus
// would.

// sample is one series of a scrape: its labels and its value (a
// histogram's sample count, with its sum and bucket bounds).
type sample struct {
	labels  map[string]string
	value   float64
	sum     float64
	buckets []float64
}

// scrape is one Gather of a registry, by metric name.
type scrape map[string][]sample

func gather(t *testing.T, g prometheus.Gatherer) scrape {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	sc := scrape{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
				s.sum = m.GetHistogram().GetSampleSum()
				for _, b := range m.GetHistogram().GetBucket() {
					s.buckets = append(s.buckets, b.GetUpperBound())
				}
			}
			sc[mf.GetName()] = append(sc[mf.GetName()], s)
		}
	}
	return sc
}

// sum adds the series of name whose labels match the label=value pairs.
func (sc scrape) sum(name string, match ...string) float64 {
	var v float64
	for _, s := range sc[name] {
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			ok = ok && s.labels[match[i]] == match[i+1]
		}
		if ok {
			v += s.value
		}
	}
	return v
}

// metric gathers r's registry and sums name over the matching series.
func (r *running) metric(t *testing.T, name string, match ...string) float64 {
	t.Helper()
	return gather(t, r.reg).sum(name, match...)
}

// TestProcessorMetrics drives valid, filtered and malformed records of
// every input topic through the broker and checks, from the registry only,
// that the counts add up per topic, that the events by type are the ones
// on the events topic, and that the latency histograms, lag, gauges and
// franz-go's client metrics are exported with contract labels.
func TestProcessorMetrics(t *testing.T) {
	e := newEnv(t, 2)
	clk := newClock(t0)
	const (
		vin      = "WAUZZZ4G0FN000001"
		strayVIN = "WAUZZZ4G0FN000002" // no window
		oldVIN   = "WAUZZZ4G0FN000003" // an expired window
		courier  = "DHL-4711"
		stranger = "DHL-0815" // no route
	)
	expired := window("W-old", oldVIN)
	expired["start"], expired["end"] = "2026-11-23T10:00:00Z", "2026-11-23T12:00:00Z"
	inputs := map[string]int{}
	count := func(recs ...*kgo.Record) []*kgo.Record {
		for _, r := range recs {
			inputs[r.Topic]++
		}
		return recs
	}
	e.produce(count(
		rec(e.topics.Windows, "W-1", window("W-1", vin)),              // applied
		rec(e.topics.Windows, "W-old", expired),                       // window_expired
		rec(e.topics.Windows, "W-none", nil),                          // unknown_window
		rec(e.topics.Windows, "W-bad", `{"window_id":"W-bad","kind"`), // malformed
		rec(e.topics.Routes, courier, route(courier, "W-1")),          // applied
		rec(e.topics.Routes, "R-bad", `{"stops":[]}`),                 // missing courier_id
	)...)
	r := e.start(e.config("metrics"), clk)
	waitFor(t, "ready", r.p.Ready)
	if got := r.metric(t, "trunkline_ready"); got != 1 {
		t.Fatalf("trunkline_ready = %v once Ready", got)
	}

	// The processor clock reads each ping 250 ms after its event time.
	const late = 250 * time.Millisecond
	clk.set(t0.Add(120*time.Millisecond + late))
	e.produce(count(
		rec(e.topics.CarPings, vin, parkedPing(vin, t0.Add(120*time.Millisecond))),           // applied
		rec(e.topics.CarPings, vin, parkedPing(vin, t0.Add(120*time.Millisecond))),           // duplicate
		rec(e.topics.CarPings, strayVIN, parkedPing(strayVIN, t0.Add(120*time.Millisecond))), // no_window
		rec(e.topics.CarPings, "V-bad", `not json`),                                          // malformed
	)...)
	out := e.reader(e.topics.Events)
	out.until("car_parked", hasType("car_parked"))
	clk.set(t0.Add(3*time.Minute + late))
	e.produce(count(
		rec(e.topics.CourierPings, courier, courierPing(courier, t0.Add(3*time.Minute), 48.13749)),   // applied
		rec(e.topics.CourierPings, stranger, courierPing(stranger, t0.Add(3*time.Minute), 48.13749)), // no_route
		rec(e.topics.CourierPings, "C-bad", `{"courier_id":"C-bad","ts":1,"lat":91,"lng":0}`),        // out of range
	)...)
	out.until("unlock_eligible", hasType("unlock_eligible"))

	inputTopics := []string{e.topics.CarPings, e.topics.CourierPings, e.topics.Windows, e.topics.Routes}
	waitFor(t, "every input counted and every event acknowledged", func() bool {
		sc := gather(t, r.reg)
		for _, topic := range inputTopics {
			if sc.sum("trunkline_records_consumed_total", "topic", topic) != float64(inputs[topic]) {
				return false
			}
		}
		return sc.sum("trunkline_events_acked_total") == sc.sum("trunkline_events_emitted_total")
	})
	waitFor(t, "lag 0 on the car-pings partitions that had records", func() bool {
		lags := gather(t, r.reg)["trunkline_consumer_lag_records"]
		for _, s := range lags {
			if s.value != 0 {
				return false
			}
		}
		return len(lags) > 0
	})

	// While the window is open: gauges, freshness, reachability.
	sc := gather(t, r.reg)
	for _, c := range []struct {
		name string
		ok   func(float64) bool
		want string
	}{
		{"trunkline_open_windows", func(v float64) bool { return v == 1 }, "1"},
		{"trunkline_tracked_cars", func(v float64) bool { return v == 1 }, "1"},
		{"trunkline_routes", func(v float64) bool { return v == 1 }, "1"},
		{"trunkline_couriers", func(v float64) bool { return v == 1 }, "1"},
		{"trunkline_state_entries", func(v float64) bool { return v >= 1 }, ">= 1"},
		{"trunkline_state_bytes", func(v float64) bool { return v > 0 }, "> 0"},
		{"trunkline_partitions_owned", func(v float64) bool { return v == 2 }, "2"},
		{"trunkline_rebalances_total", func(v float64) bool { return v >= 1 }, ">= 1"},
		{"trunkline_broker_reachable", func(v float64) bool { return v == 1 }, "1"},
		{"trunkline_ready", func(v float64) bool { return v == 1 }, "1"},
		{"trunkline_produce_errors_total", func(v float64) bool { return v == 0 }, "0"},
	} {
		if len(sc[c.name]) == 0 {
			t.Errorf("%s not exported", c.name)
		} else if v := sc.sum(c.name); !c.ok(v) {
			t.Errorf("%s = %v, want %s", c.name, v, c.want)
		}
	}
	for _, s := range sc["trunkline_consumer_lag_records"] {
		if s.labels["topic"] != e.topics.CarPings || (s.labels["partition"] != "0" && s.labels["partition"] != "1") {
			t.Errorf("lag series with labels %v", s.labels)
		}
	}
	for _, topic := range inputTopics {
		// The processor clock when each topic was last read.
		got := sc.sum("trunkline_last_record_timestamp_seconds", "topic", topic)
		want := map[string]time.Time{e.topics.CarPings: t0.Add(120*time.Millisecond + late),
			e.topics.CourierPings: t0.Add(3*time.Minute + late), e.topics.Windows: t0, e.topics.Routes: t0}[topic]
		if got != float64(want.UnixMilli())/1e3 {
			t.Errorf("trunkline_last_record_timestamp_seconds{topic=%q} = %v", topic, got)
		}
	}
	for _, client := range []string{"trunkline-admin", "trunkline-tables", "trunkline-consumer"} {
		if sc.sum("trunkline_kafka_read_bytes_total", "client", client) == 0 {
			t.Errorf("no trunkline_kafka_read_bytes_total for client %s", client)
		}
	}
	// Every input record was fetched by the client that reads its topic,
	// and counted once by topic (kprom's own per-batch counters are left
	// out: they would count twice).
	for _, tc := range []struct{ topic, client string }{
		{e.topics.CarPings, "trunkline-consumer"}, {e.topics.CourierPings, "trunkline-tables"},
		{e.topics.Windows, "trunkline-tables"}, {e.topics.Routes, "trunkline-tables"},
	} {
		recs := sc.sum("trunkline_kafka_fetch_records_total", "client", tc.client, "topic", tc.topic)
		all := sc.sum("trunkline_kafka_fetch_records_total", "topic", tc.topic)
		if recs < float64(inputs[tc.topic]) || all != recs || sc.sum("trunkline_kafka_fetch_bytes_total", "client", tc.client, "topic", tc.topic) == 0 {
			t.Errorf("trunkline_kafka_fetch_records_total{client=%q,topic=%q} = %v (all clients %v), %d records consumed", tc.client, tc.topic, recs, all, inputs[tc.topic])
		}
	}
	for _, s := range sc["trunkline_kafka_fetch_records_total"] {
		if len(s.labels) != 2 {
			t.Errorf("trunkline_kafka_fetch_records_total series with labels %v, want client and topic", s.labels)
		}
	}
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint (what promtool check metrics reports): %v %v", problems, err)
	}

	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	sc = gather(t, r.reg)

	// The accounting invariant, from the metrics, per input topic.
	for _, topic := range inputTopics {
		consumed := sc.sum("trunkline_records_consumed_total", "topic", topic)
		applied := sc.sum("trunkline_records_applied_total", "topic", topic)
		filtered := sc.sum("trunkline_records_filtered_total", "topic", topic)
		dead := sc.sum("trunkline_records_dead_lettered_total", "topic", topic)
		if consumed != float64(inputs[topic]) || consumed != applied+filtered+dead {
			t.Errorf("%s: consumed %v (produced %d) != applied %v + filtered %v + dead-lettered %v",
				topic, consumed, inputs[topic], applied, filtered, dead)
		}
	}
	for _, c := range []struct {
		name, topic, reason string
		want                float64
	}{
		{"trunkline_records_filtered_total", e.topics.CarPings, "duplicate", 1},
		{"trunkline_records_filtered_total", e.topics.CarPings, "no_window", 1},
		{"trunkline_records_dead_lettered_total", e.topics.CarPings, pipeline.DLQMalformed, 1},
		{"trunkline_records_filtered_total", e.topics.CourierPings, "no_route", 1},
		{"trunkline_records_dead_lettered_total", e.topics.CourierPings, pipeline.DLQOutOfRange, 1},
		{"trunkline_records_filtered_total", e.topics.Windows, "window_expired", 1},
		{"trunkline_records_filtered_total", e.topics.Windows, "unknown_window", 1},
		{"trunkline_records_dead_lettered_total", e.topics.Windows, pipeline.DLQMalformed, 1},
		{"trunkline_records_dead_lettered_total", e.topics.Routes, pipeline.DLQMissingField, 1},
	} {
		if got := sc.sum(c.name, "topic", c.topic, "reason", c.reason); got != c.want {
			t.Errorf("%s{topic=%q,reason=%q} = %v, want %v", c.name, c.topic, c.reason, got, c.want)
		}
	}

	// Events by type: the metrics against the events topic.
	emitted := sc.sum("trunkline_events_emitted_total")
	recs := out.until("every emitted event", func(recs []*kgo.Record) bool { return float64(len(recs)) >= emitted })
	onTopic := map[string]float64{}
	for _, rec := range recs {
		onTopic[eventType(rec)]++
	}
	for _, s := range sc["trunkline_events_emitted_total"] {
		if typ := s.labels["type"]; s.value != onTopic[typ] {
			t.Errorf("events_emitted_total{type=%q} = %v, %v on the events topic", typ, s.value, onTopic[typ])
		}
		delete(onTopic, s.labels["type"])
	}
	if len(onTopic) > 0 {
		t.Errorf("event types on the topic without a counter: %v", onTopic)
	}
	if float64(len(recs)) != emitted || emitted < 6 {
		t.Errorf("%d events on the topic, %v emitted", len(recs), emitted)
	}

	// Latency: every event here was caused by a car or courier ping, read
	// 250 ms after its event time, so one observation of 0.25 s per event;
	// one append-to-ack observation per acknowledged event (its value is
	// wall time).
	wantBuckets := []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}
	acked := sc.sum("trunkline_events_acked_total")
	if h := sc["trunkline_ping_to_event_seconds"]; len(h) == 1 && h[0].sum != late.Seconds()*h[0].value {
		t.Errorf("trunkline_ping_to_event_seconds: sum %v of %v observations, want %v each", h[0].sum, h[0].value, late.Seconds())
	}
	for _, h := range []struct {
		name     string
		min, max float64
	}{
		{"trunkline_ping_to_event_seconds", emitted, emitted},
		{"trunkline_append_to_ack_seconds", acked, acked},
	} {
		series := sc[h.name]
		if len(series) != 1 {
			t.Errorf("%s: %d series, want 1", h.name, len(series))
			continue
		}
		if n := series[0].value; n < h.min || n > h.max {
			t.Errorf("%s count %v, want %v..%v", h.name, n, h.min, h.max)
		}
		if !slices.Equal(series[0].buckets, wantBuckets) {
			t.Errorf("%s buckets %v, want %v", h.name, series[0].buckets, wantBuckets)
		}
	}

	// Labels: only the contract's, never an id from the input.
	allowed := map[string]bool{"topic": true, "reason": true, "type": true, "partition": true, "client": true}
	ids := []string{vin, strayVIN, oldVIN, courier, stranger, "W-1", "W-old", "W-none", "W-bad", "O-W-1", "V-bad", "C-bad", "R-bad"}
	for name, series := range sc {
		for _, s := range series {
			for k, v := range s.labels {
				if !allowed[k] {
					t.Errorf("%s has label %s=%q outside the contract's set", name, k, v)
				}
				for _, id := range ids {
					if strings.Contains(v, id) {
						t.Errorf("%s has label %s=%q carrying input id %s", name, k, v, id)
					}
				}
			}
		}
	}
}

// gate is a listener for the broker that can refuse service: while down,
// it closes every open connection and every new one, as a broker that has
// gone away would look to its clients.
type gate struct {
	net.Listener
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func (g *gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		if g.down {
			g.mu.Unlock()
			c.Close()
			continue
		}
		g.conns = append(g.conns, c)
		g.mu.Unlock()
		return c, nil
	}
}

func (g *gate) set(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
	if down {
		for _, c := range g.conns {
			c.Close()
		}
		g.conns = nil
	}
}

// heldSink acknowledges everything at once, except that its first dead
// letter waits until free is called (or the processor gives up).
type heldSink struct {
	entered chan struct{} // closed when the first dead letter arrives
	release chan struct{}
	once    sync.Once
	freed   sync.Once
}

func (s *heldSink) free() { s.freed.Do(func() { close(s.release) }) }

func (s *heldSink) Event(_ context.Context, _ *pipeline.Event, ack func(error)) { ack(nil) }

func (s *heldSink) DeadLetter(ctx context.Context, _ *kgo.Record, _ error, ack func(error)) {
	first := false
	s.once.Do(func() { first = true; close(s.entered) })
	if first {
		select {
		case <-s.release:
		case <-ctx.Done():
		}
	}
	ack(nil)
}

func (s *heldSink) Flush(context.Context) error { return nil }

// TestProcessorReadiness walks a processor through the states readiness
// reports: not ready before Run, nor while the broadcast tables are still
// loading (the router is held on a dead letter), ready once they are loaded
// and the partitions assigned, not ready while the broker refuses every
// connection, ready again when it is back.
func TestProcessorReadiness(t *testing.T) {
	var g *gate
	topics := pipeline.DefaultTopics()
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(2, topics.CarPings, topics.CourierPings, topics.Windows, topics.Routes, topics.Events, topics.DLQ, topics.State),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			l, err := net.Listen(network, addr)
			if err != nil {
				return nil, err
			}
			g = &gate{Listener: l}
			return g, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	e := &env{t: t, cluster: c, topics: topics, addrs: c.ListenAddrs(), prod: prod, adm: kadm.NewClient(prod)}
	// A malformed window: the router hands it to the sink, which holds it.
	e.produce(rec(topics.Windows, "W-bad", `{"window_id":`), rec(topics.Windows, "W-1", window("W-1", "WAUZZZ4G0FN000001")))

	snk := &heldSink{entered: make(chan struct{}), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	p, err := pipeline.NewProcessor(e.config("ready"), pipeline.Options{Sink: snk, Registerer: reg, Clock: newClock(t0).now})
	if err != nil {
		t.Fatal(err)
	}
	pipeline.SetBrokerGrace(p, 200*time.Millisecond)
	r := &running{p: p, reg: reg}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t.Cleanup(func() {
		snk.free()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	check := func(step string, ready, reachable bool) {
		t.Helper()
		for _, c := range []struct {
			name string
			want bool
		}{{"trunkline_ready", ready}, {"trunkline_broker_reachable", reachable}} {
			want := 0.0
			if c.want {
				want = 1
			}
			if got := r.metric(t, c.name); got != want {
				t.Errorf("%s: %s = %v, want %v", step, c.name, got, want)
			}
		}
		if p.Ready() != ready {
			t.Errorf("%s: Ready() = %v", step, !ready)
		}
	}

	for _, step := range []struct {
		name      string
		do        func()
		until     func() bool // what the step waits for
		ready     bool
		reachable bool
	}{
		{name: "before Run"},
		{
			name: "tables loading",
			do:   func() { go func() { done <- p.Run(ctx) }() },
			until: func() bool {
				select {
				case <-snk.entered:
					return p.BrokerReachable()
				default:
					return false
				}
			},
			reachable: true,
		},
		{
			name:  "tables loaded, partitions assigned",
			do:    snk.free,
			until: p.Ready, ready: true, reachable: true,
		},
		{
			name:  "broker gone",
			do:    func() { g.set(true) },
			until: func() bool { return !p.BrokerReachable() },
		},
		{
			name:  "broker back",
			do:    func() { g.set(false) },
			until: p.Ready, ready: true, reachable: true,
		},
	} {
		if step.do != nil {
			step.do()
		}
		if step.until != nil {
			waitFor(t, step.name, step.until)
		}
		check(step.name, step.ready, step.reachable)
	}
	if s := p.Snapshot(); s.Windows.Consumed != 2 || s.Windows.DeadLettered != 1 {
		t.Errorf("windows %+v: want both counted, one dead-lettered", s.Windows)
	}
}
