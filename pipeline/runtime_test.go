package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trunkline/trunkline/pipeline"
	"github.com/trunkline/trunkline/sink"
)

// The runtime tests run Processors against a kfake broker on a loopback
// port, with real franz-go clients, a fixed grant key and an injected clock.
// Every wait has a deadline; none sleeps.

const testDeadline = 30 * time.Second

var testKey = []byte("runtime-test-grant-key-0123456789")

// t0 is the wall clock the tests start at: five seconds into the window.
var t0 = time.Date(2026, 11, 24, 10, 0, 5, 0, time.UTC)

// clock is an injectable wall clock.
type clock struct{ ms atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time)     { c.ms.Store(t.UnixMilli()) }
func (c *clock) now() time.Time      { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *clock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// env is one broker with the contract's topics, a producer for the inputs
// and a reader of the outputs.
type env struct {
	t       *testing.T
	cluster *kfake.Cluster
	topics  pipeline.Topics
	addrs   []string
	prod    *kgo.Client
	adm     *kadm.Client
}

func newEnv(t *testing.T, partitions int32) *env {
	t.Helper()
	topics := pipeline.DefaultTopics()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions,
		topics.CarPings, topics.CourierPings, topics.Windows, topics.Routes, topics.Events, topics.DLQ, topics.State))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return &env{t: t, cluster: c, topics: topics, addrs: c.ListenAddrs(), prod: prod, adm: kadm.NewClient(prod)}
}

func (e *env) config(group string) pipeline.Config {
	cfg := pipeline.DefaultConfig()
	cfg.Brokers = e.addrs
	cfg.Group = group
	cfg.Engine.GrantKey = testKey
	cfg.Engine.Source = "trunkline-test"
	cfg.TickInterval = 20 * time.Millisecond
	cfg.CommitInterval = 100 * time.Millisecond
	cfg.ProduceLinger = time.Millisecond
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.MaxRecordBytes = 1 << 10
	return cfg
}

// produce writes records synchronously and returns them with their
// partitions and offsets.
func (e *env) produce(recs ...*kgo.Record) []*kgo.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := e.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	return recs
}

func rec(topic, key string, value any) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: []byte(key)}
	switch v := value.(type) {
	case nil:
	case string:
		r.Value = []byte(v)
	case []byte:
		r.Value = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		r.Value = b
	}
	return r
}

type obj = map[string]any

func window(id, vin string) obj {
	return obj{"window_id": id, "order_id": "O-" + id, "kind": "delivery", "vin": vin,
		"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T12:00:00Z",
		"address": obj{"lat": 48.1372, "lng": 11.5756}, "radius_m": 300}
}

func route(courier string, windows ...string) obj {
	var stops []obj
	for _, w := range windows {
		stops = append(stops, obj{"window_id": w, "eta": "2026-11-24T10:40:00Z"})
	}
	return obj{"courier_id": courier, "stops": stops}
}

// parkedPing is a car ping of a car parked at the address, trunk closed.
func parkedPing(vin string, ts time.Time) obj {
	return obj{"vin": vin, "ts": ts.UnixMilli(), "lat": 48.13722, "lng": 11.57562, "speed_kmh": 0,
		"accuracy_m": 6.5, "trunk": "closed", "locked": true, "ignition": false,
		"location_type": "last_parked", "source": "gps"}
}

func courierPing(id string, ts time.Time, lat float64) obj {
	return obj{"courier_id": id, "ts": ts.UnixMilli(), "lat": lat, "lng": 11.57562, "accuracy_m": 5}
}

// tap records the events a processor hands to its sink.
type tap struct {
	mu     sync.Mutex
	events []pipeline.Event
}

func (t *tap) WriteEvent(ev *pipeline.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, *ev)
	return nil
}

func (t *tap) all() []pipeline.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]pipeline.Event(nil), t.events...)
}

// running is a Processor running in the background.
type running struct {
	p    *pipeline.Processor
	tap  *tap
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
}

func (e *env) start(cfg pipeline.Config, c *clock) *running {
	e.t.Helper()
	k, err := sink.NewKafka(sink.KafkaConfigFrom(cfg))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = k.Close(5 * time.Second) })
	tp := &tap{}
	reg := prometheus.NewRegistry()
	p, err := pipeline.NewProcessor(cfg, pipeline.Options{Sink: sink.Tee(k, tp), Registerer: reg, Clock: c.now})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, tap: tp, reg: reg, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(testDeadline):
			e.t.Error("processor did not stop before the deadline")
		}
	})
	return r
}

// shutdown stops r and returns Run's result.
func (r *running) shutdown(t *testing.T) error {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(testDeadline):
		t.Fatal("processor did not stop before the deadline")
		return nil
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// reader reads a topic from the start.
type reader struct {
	t    *testing.T
	cl   *kgo.Client
	recs []*kgo.Record
}

func (e *env) reader(topic string) *reader {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs...), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	return &reader{t: e.t, cl: cl}
}

// until reads until cond holds for the records read so far.
func (r *reader) until(what string, cond func([]*kgo.Record) bool) []*kgo.Record {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	for !cond(r.recs) {
		fs := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			r.t.Fatalf("timed out reading %s: have %d records", what, len(r.recs))
		}
		r.recs = append(r.recs, fs.Records()...)
	}
	return r.recs
}

func eventType(r *kgo.Record) string {
	var v struct{ Type string }
	_ = json.Unmarshal(r.Value, &v)
	return v.Type
}

func hasType(typ string) func([]*kgo.Record) bool {
	return func(recs []*kgo.Record) bool {
		for _, r := range recs {
			if eventType(r) == typ {
				return true
			}
		}
		return false
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return "<absent>"
}

// checkInvariant checks consumed = applied + filtered + dead-lettered per
// input topic.
func checkInvariant(t *testing.T, s pipeline.Snapshot) {
	t.Helper()
	for name, c := range map[string]pipeline.TopicCounts{
		"car pings": s.CarPings, "courier pings": s.CourierPings, "windows": s.Windows, "routes": s.Routes,
	} {
		if c.Consumed != c.Applied+c.Filtered+c.DeadLettered {
			t.Errorf("%s: consumed %d != applied %d + filtered %d + dead-lettered %d",
				name, c.Consumed, c.Applied, c.Filtered, c.DeadLettered)
		}
	}
}

// checkCommitted checks that group committed the end offset of every
// partition of topic.
func (e *env) checkCommitted(group, topic string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ends, err := e.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	committed, err := e.adm.FetchOffsets(ctx, group)
	if err != nil {
		e.t.Fatal(err)
	}
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset == 0 {
			return
		}
		c, ok := committed.Lookup(topic, lo.Partition)
		if !ok || c.At != lo.Offset {
			e.t.Errorf("%s partition %d: committed %d (present %v), end offset %d", topic, lo.Partition, c.At, ok, lo.Offset)
		}
	})
}

func TestProcessorEndToEnd(t *testing.T) {
	e := newEnv(t, 4)
	const vin = "WAUZZZ4G0FN000001"
	clk := newClock(t0)
	e.produce(
		rec(e.topics.Windows, "W-1001", window("W-1001", vin)),
		rec(e.topics.Routes, "DHL-4711", route("DHL-4711", "W-1001")),
	)
	cfg := e.config("e2e")
	r := e.start(cfg, clk)
	waitFor(t, "ready", r.p.Ready)
	if s := r.p.Snapshot(); s.Windows.Applied != 1 || s.Routes.Applied != 1 || s.Partitions != 4 {
		t.Fatalf("after ready: windows %+v routes %+v partitions %d", s.Windows, s.Routes, s.Partitions)
	}

	// The car reports itself parked at the address.
	pings := e.produce(rec(e.topics.CarPings, vin, parkedPing(vin, t0.Add(120*time.Millisecond))))
	out := e.reader(e.topics.Events)
	out.until("car_parked", hasType("car_parked"))

	// The courier arrives 30 m away: unlock_eligible with a grant.
	clk.set(t0.Add(3 * time.Minute))
	e.produce(rec(e.topics.CourierPings, "DHL-4711", courierPing("DHL-4711", t0.Add(3*time.Minute), 48.13749)))
	t.Cleanup(func() {
		if t.Failed() {
			s := r.p.Snapshot()
			t.Logf("snapshot: courier pings %+v, windows %+v, routes %+v, car pings %+v, events %v, produce errors %d",
				s.CourierPings, s.Windows, s.Routes, s.CarPings, s.Events, s.ProduceErrors)
		}
	})
	recs := out.until("unlock_eligible", hasType("unlock_eligible"))

	var types []string
	for _, r := range recs {
		var ev struct {
			EventID   string `json:"event_id"`
			Type      string `json:"type"`
			WindowID  string `json:"window_id"`
			EmittedAt string `json:"emitted_at"`
		}
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, r.Value)
		}
		types = append(types, ev.Type)
		if string(r.Key) != "W-1001" || ev.WindowID != "W-1001" {
			t.Errorf("event key %q window %q, want W-1001", r.Key, ev.WindowID)
		}
		for _, h := range []struct{ key, want string }{
			{"ce_specversion", "1.0"},
			{"ce_id", ev.EventID},
			{"ce_type", "trunkline." + ev.Type},
			{"ce_source", "trunkline-test"},
			{"ce_time", ev.EmittedAt},
			{"content-type", "application/json"},
		} {
			if got := header(r, h.key); got != h.want {
				t.Errorf("%s event: header %s = %q, want %q", ev.Type, h.key, got, h.want)
			}
		}
		if r.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z") != ev.EmittedAt {
			t.Errorf("%s event: record timestamp %v, emitted_at %s", ev.Type, r.Timestamp, ev.EmittedAt)
		}
	}
	want := []string{"tracking_started", "car_located", "car_parked", "courier_approaching", "courier_arrived", "unlock_eligible"}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", types, want)
	}

	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
	s := r.p.Snapshot()
	checkInvariant(t, s)
	if s.CarPings.Consumed != 1 || s.CarPings.Applied != 1 || s.CourierPings.Applied != 1 {
		t.Errorf("car pings %+v courier pings %+v", s.CarPings, s.CourierPings)
	}
	if s.EventsEmitted != uint64(len(want)) || s.EventsAcked != s.EventsEmitted || s.ProduceErrors != 0 {
		t.Errorf("events emitted %d acked %d produce errors %d", s.EventsEmitted, s.EventsAcked, s.ProduceErrors)
	}
	if s.Events[pipeline.EvUnlockEligible] != 1 {
		t.Errorf("unlock_eligible count %d", s.Events[pipeline.EvUnlockEligible])
	}
	if s.Ready {
		t.Error("ready after stop")
	}
	e.checkCommitted("e2e", e.topics.CarPings)

	// Metrics: the same counts, under the contract's names.
	if got := gathered(t, r.reg, "trunkline_records_consumed_total", "topic", e.topics.CarPings); got != 1 {
		t.Errorf("trunkline_records_consumed_total{car pings} = %v", got)
	}

	// A second processor in the same group starts after the committed
	// offsets: it consumes only what is new.
	r2 := e.start(cfg, clk)
	waitFor(t, "second processor ready", r2.p.Ready)
	next := e.produce(rec(e.topics.CarPings, vin, parkedPing(vin, t0.Add(4*time.Minute))))
	if next[0].Partition != pings[0].Partition {
		t.Fatalf("same VIN landed in partitions %d and %d", pings[0].Partition, next[0].Partition)
	}
	waitFor(t, "the new car ping", func() bool { return r2.p.Snapshot().CarPings.Consumed >= 1 })
	if err := r2.shutdown(t); err != nil {
		t.Fatal(err)
	}
	if s := r2.p.Snapshot(); s.CarPings.Consumed != 1 {
		t.Errorf("second processor consumed %d car pings, want only the new one", s.CarPings.Consumed)
	}
	e.checkCommitted("e2e", e.topics.CarPings)
}

// gathered returns the value of the counter of reg named name with the label.
func gathered(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not gathered", name, label, value)
	return 0
}

func TestProcessorDeadLetters(t *testing.T) {
	e := newEnv(t, 2)
	clk := newClock(t0)
	big := make([]byte, 2<<10)
	for i := range big {
		big[i] = ' '
	}
	big[0], big[len(big)-1] = '{', '}'
	inputs := []*kgo.Record{
		rec(e.topics.Windows, "W-1", `{"window_id":"W-1","kind":"delivery"`),                         // malformed
		rec(e.topics.Windows, "W-2", obj{"window_id": 2}),                                            // wrong type
		rec(e.topics.Routes, "C-R", `{"stops":[]}`),                                                  // missing courier_id
		rec(e.topics.CourierPings, "C-P", `{"courier_id":"C-P","ts":1,"lat":91,"lng":0}`),            // out of range
		rec(e.topics.CarPings, "V-1", `not json`),                                                    // malformed
		rec(e.topics.CarPings, "V-2", big),                                                           // oversized
		rec(e.topics.CarPings, "V-3", nil),                                                           // empty
		rec(e.topics.CarPings, "V-4", `{"vin":"V-4","ts":"2026-11-24T10:00:00Z","lat":"x","lng":1}`), // wrong type
	}
	// V-4 has an open window, so its bad ping is dead-lettered; V-5 has
	// none, so its bad ping is only counted: a dead letter would carry the
	// record of a car without consent.
	others := []*kgo.Record{
		rec(e.topics.Windows, "W-4", window("W-4", "V-4")),
		rec(e.topics.CarPings, "V-5", `{"vin":"V-5","ts":"2026-11-24T10:00:00Z","lat":"x","lng":1}`),
	}
	e.produce(append(others, inputs...)...)
	cfg := e.config("dlq")
	r := e.start(cfg, clk)
	waitFor(t, "ready", r.p.Ready)
	dlq := e.reader(e.topics.DLQ).until("dead letters", func(recs []*kgo.Record) bool { return len(recs) >= len(inputs) })

	byKey := map[string]*kgo.Record{}
	for _, d := range dlq {
		byKey[string(d.Key)] = d
	}
	for _, in := range inputs {
		d := byKey[string(in.Key)]
		if d == nil {
			t.Errorf("no dead letter for %s key %s", in.Topic, in.Key)
			continue
		}
		want := in.Value
		if len(want) > cfg.MaxRecordBytes {
			// An oversized value is cut, its length in a header.
			want = want[:cfg.MaxRecordBytes]
			if got := header(d, sink.HeaderValueTruncated); got != strconv.Itoa(len(in.Value)) {
				t.Errorf("dead letter of %s: value-truncated %q, want %d", in.Key, got, len(in.Value))
			}
		}
		if string(d.Value) != string(want) {
			t.Errorf("dead letter of %s: value %q, want the original", in.Key, d.Value)
		}
		if header(d, "error") == "<absent>" || header(d, "error") == "" {
			t.Errorf("dead letter of %s: no error header", in.Key)
		}
		for _, h := range []struct{ key, want string }{
			{"source-topic", in.Topic},
			{"source-partition", strconv.Itoa(int(in.Partition))},
			{"source-offset", strconv.FormatInt(in.Offset, 10)},
		} {
			if got := header(d, h.key); got != h.want {
				t.Errorf("dead letter of %s: header %s = %q, want %q", in.Key, h.key, got, h.want)
			}
		}
	}
	waitFor(t, "all car pings accounted", func() bool { return r.p.Snapshot().CarPings.Consumed == 5 })
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	s := r.p.Snapshot()
	checkInvariant(t, s)
	for _, c := range []struct {
		name           string
		got            pipeline.TopicCounts
		dead, consumed uint64
	}{
		{"windows", s.Windows, 2, 3}, {"routes", s.Routes, 1, 1}, {"courier pings", s.CourierPings, 1, 1}, {"car pings", s.CarPings, 4, 5},
	} {
		if c.got.DeadLettered != c.dead || c.got.Consumed != c.consumed {
			t.Errorf("%s: %+v, want %d dead-lettered of %d", c.name, c.got, c.dead, c.consumed)
		}
	}
	if got := s.CarPings.FilteredBy[pipeline.FilterNoWindow]; got != 1 {
		t.Errorf("car pings filtered no_window: %d, want 1 (the bad ping of V-5)", got)
	}
	for reason, want := range map[string]uint64{pipeline.DLQMalformed: 1, pipeline.DLQOversized: 1, pipeline.DLQEmpty: 1, pipeline.DLQWrongType: 1} {
		if got := s.CarPings.DeadLetteredFor(reason); got != want {
			t.Errorf("car pings dead-lettered %s: %d, want %d", reason, got, want)
		}
	}
	if s.DeadLetters != uint64(len(inputs)) || s.DeadLettersAcked != s.DeadLetters {
		t.Errorf("dead letters %d acked %d", s.DeadLetters, s.DeadLettersAcked)
	}
	e.checkCommitted("dlq", e.topics.CarPings)
}

func TestProcessorConsent(t *testing.T) {
	// Car pings with no window produce nothing: no event, no dead letter;
	// they are counted as filtered no_window.
	e := newEnv(t, 2)
	clk := newClock(t0)
	var recs []*kgo.Record
	for i := 0; i < 20; i++ {
		vin := fmt.Sprintf("WAUZZZ4G0FN%06d", i)
		recs = append(recs, rec(e.topics.CarPings, vin, parkedPing(vin, t0)))
	}
	e.produce(recs...)
	r := e.start(e.config("consent"), clk)
	waitFor(t, "all car pings consumed", func() bool { return r.p.Snapshot().CarPings.Consumed == 20 })
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	s := r.p.Snapshot()
	checkInvariant(t, s)
	if s.CarPings.FilteredBy[pipeline.FilterNoWindow] != 20 || s.EventsEmitted != 0 || s.DeadLetters != 0 {
		t.Errorf("car pings %+v, events %d, dead letters %d", s.CarPings, s.EventsEmitted, s.DeadLetters)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ends, err := e.adm.ListEndOffsets(ctx, e.topics.Events, e.topics.DLQ)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset != 0 {
			t.Errorf("%s partition %d has %d records", lo.Topic, lo.Partition, lo.Offset)
		}
	})
	e.checkCommitted("consent", e.topics.CarPings)
}

func TestProcessorGroupSplitsPartitions(t *testing.T) {
	e := newEnv(t, 4)
	clk := newClock(t0)
	cfg := e.config("split")
	a := e.start(cfg, clk)
	waitFor(t, "first processor ready", a.p.Ready)
	b := e.start(cfg, clk)
	waitFor(t, "two processors with two partitions each", func() bool {
		sa, sb := a.p.Snapshot(), b.p.Snapshot()
		return sa.Ready && sb.Ready && sa.Partitions == 2 && sb.Partitions == 2
	})

	const cars = 12
	var windows []*kgo.Record
	for i := 0; i < cars; i++ {
		vin := fmt.Sprintf("WAUZZZ4G0FN%06d", i)
		windows = append(windows, rec(e.topics.Windows, fmt.Sprintf("W-%d", i), window(fmt.Sprintf("W-%d", i), vin)))
	}
	e.produce(windows...)
	waitFor(t, "both processors to load every window", func() bool {
		return a.p.Snapshot().Windows.Applied == cars && b.p.Snapshot().Windows.Applied == cars
	})
	partOf := map[string]int32{} // window → partition of its car
	var pings []*kgo.Record
	for i := 0; i < cars; i++ {
		vin := fmt.Sprintf("WAUZZZ4G0FN%06d", i)
		pings = append(pings, rec(e.topics.CarPings, vin, parkedPing(vin, t0.Add(time.Second))))
	}
	for i, p := range e.produce(pings...) {
		partOf[fmt.Sprintf("W-%d", i)] = p.Partition
	}
	parked := func(tp *tap) int {
		n := 0
		for _, ev := range tp.all() {
			if ev.Type == pipeline.EvCarParked {
				n++
			}
		}
		return n
	}
	waitFor(t, "every car parked", func() bool { return parked(a.tap)+parked(b.tap) == cars })

	// Every window's events come from exactly one processor, the one that
	// owns its car's partition.
	from := map[string]map[string]bool{}
	owner := map[int32]string{}
	for name, r := range map[string]*running{"a": a, "b": b} {
		for _, ev := range r.tap.all() {
			if from[ev.WindowID] == nil {
				from[ev.WindowID] = map[string]bool{}
			}
			from[ev.WindowID][name] = true
			part := partOf[ev.WindowID]
			if o, ok := owner[part]; ok && o != name {
				t.Errorf("partition %d: events from both processors", part)
			}
			owner[part] = name
		}
	}
	if len(from) != cars {
		t.Errorf("events for %d windows, want %d", len(from), cars)
	}
	for w, ps := range from {
		if len(ps) != 1 {
			t.Errorf("window %s: events from %d processors", w, len(ps))
		}
	}
	names := map[string]bool{}
	for _, o := range owner {
		names[o] = true
	}
	if len(owner) != 4 || len(names) != 2 {
		t.Errorf("partition owners %v: want the 4 partitions split between both processors", owner)
	}
	for _, r := range []*running{a, b} {
		if err := r.shutdown(t); err != nil {
			t.Fatal(err)
		}
		checkInvariant(t, r.p.Snapshot())
	}
	e.checkCommitted("split", e.topics.CarPings)
}

func TestNewProcessorRejects(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	cfg.Engine.GrantKey = testKey
	bad := cfg
	bad.Group = ""
	for _, tc := range []struct {
		name string
		cfg  pipeline.Config
		opts pipeline.Options
	}{
		{"no sink", cfg, pipeline.Options{}},
		{"invalid config", bad, pipeline.Options{Sink: sink.Tee(nil)}},
	} {
		if _, err := pipeline.NewProcessor(tc.cfg, tc.opts); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestProcessorFlowControl(t *testing.T) {
	// A buffer of one record per partition: the partition is paused and
	// resumed over and over, and every record is still processed once.
	e := newEnv(t, 1)
	clk := newClock(t0)
	const n = 300
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		vin := fmt.Sprintf("WAUZZZ4G0FN%06d", i%7)
		recs = append(recs, rec(e.topics.CarPings, vin, parkedPing(vin, t0.Add(time.Duration(i)*time.Second))))
	}
	e.produce(recs...)
	cfg := e.config("flow")
	cfg.MaxBufferedRecords = 1
	cfg.MaxPollRecords = 7
	r := e.start(cfg, clk)
	waitFor(t, "every record consumed", func() bool { return r.p.Snapshot().CarPings.Consumed == n })
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	s := r.p.Snapshot()
	checkInvariant(t, s)
	if s.CarPings.Consumed != n {
		t.Fatalf("consumed %d, want %d", s.CarPings.Consumed, n)
	}
	e.checkCommitted("flow", e.topics.CarPings)
}

func TestProcessorRevokeCommits(t *testing.T) {
	// Records processed by the first member before a second joins are
	// committed when their partitions are revoked: the second member does
	// not process them again.
	e := newEnv(t, 4)
	clk := newClock(t0)
	cfg := e.config("revoke")
	const n = 40
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		vin := fmt.Sprintf("WAUZZZ4G0FN%06d", i)
		recs = append(recs, rec(e.topics.CarPings, vin, parkedPing(vin, t0)))
	}
	e.produce(recs...)
	a := e.start(cfg, clk)
	waitFor(t, "first member consumed everything", func() bool { return a.p.Snapshot().CarPings.Consumed == n })
	b := e.start(cfg, clk)
	waitFor(t, "partitions split", func() bool {
		sa, sb := a.p.Snapshot(), b.p.Snapshot()
		return sb.Ready && sa.Partitions == 2 && sb.Partitions == 2
	})
	more := e.produce(rec(e.topics.CarPings, "X", parkedPing("X", t0)), rec(e.topics.CarPings, "Y", parkedPing("Y", t0)),
		rec(e.topics.CarPings, "Z", parkedPing("Z", t0)), rec(e.topics.CarPings, "W", parkedPing("W", t0)))
	waitFor(t, "the new records", func() bool {
		return a.p.Snapshot().CarPings.Consumed+b.p.Snapshot().CarPings.Consumed == n+uint64(len(more))
	})
	for _, r := range []*running{b, a} {
		if err := r.shutdown(t); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.p.Snapshot().CarPings.Consumed + b.p.Snapshot().CarPings.Consumed; got != n+uint64(len(more)) {
		t.Fatalf("consumed %d in all, want %d: records were processed twice", got, n+len(more))
	}
	e.checkCommitted("revoke", e.topics.CarPings)
}

func TestProcessorProduceFailureIsFatal(t *testing.T) {
	// The events topic does not exist: the events of a car ping cannot be
	// produced. Run stops with an error that says what to do, and the car
	// ping's offset is not committed.
	topics := pipeline.DefaultTopics()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1,
		topics.CarPings, topics.CourierPings, topics.Windows, topics.Routes, topics.DLQ, topics.State))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	e := &env{t: t, cluster: c, topics: topics, addrs: c.ListenAddrs(), prod: prod, adm: kadm.NewClient(prod)}
	const vin = "WAUZZZ4G0FN000001"
	e.produce(rec(topics.Windows, "W-1", window("W-1", vin)), rec(topics.CarPings, vin, parkedPing(vin, t0)))

	cfg := e.config("fatal")
	k, err := sink.NewKafka(sink.KafkaConfigFrom(cfg), kgo.UnknownTopicRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(time.Second)
	p, err := pipeline.NewProcessor(cfg, pipeline.Options{Sink: k, Clock: newClock(t0).now})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	select {
	case err = <-done:
	case <-time.After(testDeadline):
		t.Fatal("Run did not stop on a produce failure")
	}
	if err == nil || !strings.Contains(err.Error(), "cannot produce to "+topics.Events) || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("Run = %v, want a produce error that says what to do", err)
	}
	s := p.Snapshot()
	checkInvariant(t, s)
	if s.ProduceErrors == 0 {
		t.Error("no produce error counted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	committed, err := e.adm.FetchOffsets(ctx, "fatal")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := committed.Lookup(topics.CarPings, 0); ok && o.At > 0 {
		t.Fatalf("committed offset %d past a record whose events failed", o.At)
	}
}

func TestProcessorBroadcastOutcomes(t *testing.T) {
	// Window and route changes reach the owning worker; the router counts
	// every broadcast record once, by outcome.
	e := newEnv(t, 3)
	clk := newClock(t0)
	const vin = "WAUZZZ4G0FN000009"
	expired := window("W-old", vin)
	expired["start"], expired["end"] = "2026-11-23T10:00:00Z", "2026-11-23T12:00:00Z"
	e.produce(
		rec(e.topics.Windows, "W-1", window("W-1", vin)),
		rec(e.topics.Windows, "W-old", expired),
		rec(e.topics.Windows, "W-none", nil), // tombstone of a window never seen
		rec(e.topics.Routes, "C-1", route("C-1", "W-1")),
	)
	r := e.start(e.config("broadcast"), clk)
	waitFor(t, "ready", r.p.Ready)
	e.produce(rec(e.topics.CarPings, vin, parkedPing(vin, t0)))
	out := e.reader(e.topics.Events)
	out.until("car_parked", hasType("car_parked"))

	e.produce(
		rec(e.topics.CourierPings, "C-2", courierPing("C-2", t0, 48.2)),                   // no route
		rec(e.topics.CourierPings, "C-1", courierPing("C-1", t0, 48.2)),                   // applied
		rec(e.topics.CourierPings, "C-1", courierPing("C-1", t0, 48.2)),                   // duplicate
		rec(e.topics.CourierPings, "C-1", courierPing("C-1", t0.Add(-time.Second), 48.2)), // stale
		rec(e.topics.CourierPings, "C-1", courierPing("C-1", t0.Add(time.Hour), 48.2)),    // future
	)
	waitFor(t, "every courier ping counted", func() bool { return r.p.Snapshot().CourierPings.Consumed == 5 })
	e.produce(
		rec(e.topics.Routes, "C-1", nil),  // route withdrawn
		rec(e.topics.Windows, "W-1", nil), // window cancelled
	)
	out.until("window_cancelled", hasType("window_cancelled"))
	waitFor(t, "every broadcast record counted", func() bool {
		s := r.p.Snapshot()
		return s.CourierPings.Consumed == 5 && s.Windows.Consumed == 4 && s.Routes.Consumed == 2
	})
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	s := r.p.Snapshot()
	checkInvariant(t, s)
	for _, c := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"windows applied", s.Windows.Applied, 2},
		{"windows window_expired", s.Windows.FilteredBy[pipeline.FilterWindowExpired], 1},
		{"windows unknown_window", s.Windows.FilteredBy[pipeline.FilterUnknownWindow], 1},
		{"routes applied", s.Routes.Applied, 2},
		{"courier applied", s.CourierPings.Applied, 1},
		{"courier no_route", s.CourierPings.FilteredBy[pipeline.FilterNoRoute], 1},
		{"courier duplicate", s.CourierPings.FilteredBy[pipeline.FilterDuplicate], 1},
		{"courier stale", s.CourierPings.FilteredBy[pipeline.FilterStale], 1},
		{"courier future", s.CourierPings.FilteredBy[pipeline.FilterFuture], 1},
		{"window_cancelled events", s.Events[pipeline.EvWindowCancelled], 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestProcessorJoinsWhileTablesLoad: the processor joins its consumer group
// while the broadcast tables load, and processes no car ping before they
// are loaded: with the windows topic's fetches held, the partitions are
// assigned and the car pings fetched, yet the ping of a car whose window is
// in the table is applied once the table is read, never filtered no_window.
func TestProcessorJoinsWhileTablesLoad(t *testing.T) {
	e := newEnv(t, 2)
	clk := newClock(t0)
	const vin = "WAUZZZ4G0FN000001"
	e.produce(rec(e.topics.Windows, "W-1", window("W-1", vin)), rec(e.topics.CarPings, vin, parkedPing(vin, t0)))
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	details, err := e.adm.ListTopics(ctx, e.topics.Windows, e.topics.CarPings)
	if err != nil {
		t.Fatal(err)
	}
	windowsID, carsID := details[e.topics.Windows].ID, details[e.topics.CarPings].ID
	released := make(chan struct{})
	var windowsHeld, carsFetched atomic.Bool
	e.cluster.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		for _, ft := range req.(*kmsg.FetchRequest).Topics {
			switch {
			case ft.Topic == e.topics.CarPings || ft.TopicID == carsID:
				carsFetched.Store(true)
			case ft.Topic == e.topics.Windows || ft.TopicID == windowsID:
				windowsHeld.Store(true)
				e.cluster.SleepControl(func() { <-released })
			}
		}
		return nil, nil, false
	})
	defer func() {
		select {
		case <-released:
		default:
			close(released)
		}
	}()
	r := e.start(e.config("join-while-loading"), clk)
	waitFor(t, "partitions assigned and car pings fetched while the windows are held", func() bool {
		return windowsHeld.Load() && carsFetched.Load() && r.p.Snapshot().Partitions == 2
	})
	if s := r.p.Snapshot(); s.Ready || s.CarPings.Consumed != 0 {
		t.Fatalf("before the tables are loaded: ready %v, %d car pings consumed; want not ready, none", s.Ready, s.CarPings.Consumed)
	}
	close(released)
	waitFor(t, "the car ping consumed", func() bool { return r.p.Snapshot().CarPings.Consumed == 1 })
	if s := r.p.Snapshot(); s.CarPings.Applied != 1 || s.CarPings.FilteredBy[pipeline.FilterNoWindow] != 0 {
		t.Fatalf("car pings %+v: want the ping applied, not filtered no_window", s.CarPings)
	}
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
}
