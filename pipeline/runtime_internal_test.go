package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ackSink acknowledges every record at once.
type ackSink struct{}

func (ackSink) Event(_ context.Context, _ *Event, ack func(error))                    { ack(nil) }
func (ackSink) DeadLetter(_ context.Context, _ *kgo.Record, _ error, ack func(error)) { ack(nil) }
func (ackSink) Flush(context.Context) error                                           { return nil }

// benchBatch is a batch of car pings and the clock of the worker that
// processes it.
type benchBatch struct {
	recs  []*kgo.Record
	clock *int64 // Unix ms
}

// next moves the batch and the clock 100 s on: every ping is a new fix.
func (b *benchBatch) next() {
	shift(b.recs, 100_000)
	*b.clock += 100_000
}

// holdSink never acknowledges.
type holdSink struct{ ackSink }

func (holdSink) Event(context.Context, *Event, func(error)) {}

// newBenchWorker returns a worker whose engine owns one open window, with a
// client that is never connected: it has no group, so marks are no-ops.
func newBenchWorker(tb testing.TB) (*worker, *benchBatch) {
	return newTestWorker(tb, ackSink{})
}

func newTestWorker(tb testing.TB, snk Sink) (*worker, *benchBatch) {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Engine.GrantKey = []byte("bench-grant-key-0123456789abcdef")
	now := time.Date(2026, 11, 24, 10, 0, 5, 0, time.UTC)
	clock := now.UnixMilli()
	p, err := NewProcessor(cfg, Options{Sink: snk, Clock: func() time.Time { return time.UnixMilli(clock) }})
	if err != nil {
		tb.Fatal(err)
	}
	p.cancel = func(error) {}
	p.produceCtx = context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	w := newWorker(p, cl, 0)
	eng, err := NewEngine(cfg.Engine)
	if err != nil {
		tb.Fatal(err)
	}
	w.setEngine(eng)
	tb.Cleanup(eng.Close)
	const vin = "WAUZZZ4G0FN000001"
	w.apply(&tableUpdate{kind: updPutWindow, window: &Window{ID: "W-1", OrderID: "O-1", Kind: KindDelivery, VIN: vin,
		Start: now.Add(-time.Minute).UnixMilli(), End: now.Add(1000 * time.Hour).UnixMilli(), Lat: 48.1372, Lng: 11.5756, RadiusM: 300}})

	// A batch of 100 pings: half from the car with the window (parked,
	// a new fix every second), half from cars without one.
	recs := make([]*kgo.Record, 100)
	for i := range recs {
		v := vin
		if i%2 == 1 {
			v = fmt.Sprintf("WAUZZZ4G0FN%06d", 100+i)
		}
		recs[i] = &kgo.Record{Topic: cfg.Topics.CarPings, Offset: int64(i), Value: []byte(fmt.Sprintf(
			`{"vin":%q,"ts":%d,"lat":48.13722,"lng":11.57562,"accuracy_m":6.5,"trunk":"closed","locked":true,"location_type":"last_parked"}`,
			v, now.UnixMilli()-int64(100-i)*1000))}
	}
	return w, &benchBatch{recs: recs, clock: &clock}
}

// TestWorkerBatchAllocations holds the per-record path of a partition
// worker (size check, decode, engine, counting) to no allocation: what a
// batch allocates does not grow with its records.
func TestWorkerBatchAllocations(t *testing.T) {
	w, b := newBenchWorker(t)
	for range 3 { // warm up: car state, buffers, events
		w.process(b.recs)
		b.next()
	}
	allocs := testing.AllocsPerRun(50, func() {
		w.process(b.recs)
		b.next()
	})
	if allocs > 3 {
		t.Fatalf("%v allocations per batch of %d records, want at most 3 per batch", allocs, len(b.recs))
	}
	s := w.p.counters.snapshot()
	// The measured batches: half applied (the window's car), half no_window.
	c := s.CarPings
	if c.Consumed != 54*100 || c.Applied < 51*50 || c.Applied+c.FilteredBy[FilterNoWindow] != c.Consumed {
		t.Fatalf("counts %+v: want half applied, half no_window", c)
	}
}

// shift adds d ms to the ts of every record, in place (the digits keep
// their width).
func shift(recs []*kgo.Record, d int64) {
	for _, r := range recs {
		v := r.Value
		i := indexOf(v, `"ts":`) + len(`"ts":`)
		var ts int64
		j := i
		for ; v[j] >= '0' && v[j] <= '9'; j++ {
			ts = ts*10 + int64(v[j]-'0')
		}
		ts += d
		for k := j - 1; k >= i; k-- {
			v[k] = byte('0' + ts%10)
			ts /= 10
		}
	}
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

func BenchmarkWorkerProcess(b *testing.B) {
	w, batch := newBenchWorker(b)
	w.process(batch.recs)
	batch.next()
	b.ReportAllocs()
	for b.Loop() {
		w.process(batch.recs)
		batch.next()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.recs)), "ns/record")
}

// TestWorkerProduceTimeout: a batch whose events are not acknowledged
// within ProduceTimeout (counted in real ticks, whatever the clock says)
// stops the worker and the processor, and nothing is marked past it.
func TestWorkerProduceTimeout(t *testing.T) {
	w, b := newTestWorker(t, holdSink{})
	w.p.cfg.TickInterval = 250 * time.Millisecond
	w.p.cfg.ProduceTimeout = time.Second
	w.process(b.recs) // emits events that are never acknowledged
	if len(w.queue) != 1 {
		t.Fatalf("%d batches outstanding, want 1", len(w.queue))
	}
	*b.clock += time.Hour.Milliseconds() // the clock jumps: no timeout yet
	w.tick()
	if w.err != nil {
		t.Fatalf("timed out after one tick: %v", w.err)
	}
	for range 4 {
		w.tick()
	}
	if w.err == nil || w.p.failure() == nil {
		t.Fatal("no failure after ProduceTimeout worth of ticks")
	}
}

// bufferSink records the events handed to it and the most events its
// worker's engine held at once while it was called.
type bufferSink struct {
	ackSink
	w       **worker
	ids     []string
	maxHeld int
	maxCap  int
}

func (s *bufferSink) Event(_ context.Context, ev *Event, ack func(error)) {
	if strings.HasPrefix(ev.WindowID, "WC-") { // not the test worker's own window
		s.ids = append(s.ids, ev.ID)
	}
	e := (*s.w).eng
	s.maxHeld, s.maxCap = max(s.maxHeld, len(e.Events())), max(s.maxCap, cap(e.Events()))
	ack(nil)
}

// TestWorkerEmitsInChunks: a batch whose pings emit thousands of events
// (catching up on cars whose windows open), and a single ping whose stream
// time opens thousands of windows at once (a burst within one engine call),
// reach the sink whole and in order, with the engine's event buffer never
// holding more than emitChunk events, so neither grows it past what
// ResetEvents keeps.
func TestWorkerEmitsInChunks(t *testing.T) {
	for _, tc := range []struct {
		name string
		cars int
	}{
		{"under one chunk", emitChunk / 4},
		{"many chunks", 3 * emitChunk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w *worker
			snk := &bufferSink{w: &w}
			w, b := newTestWorker(t, snk)
			ref := testEngine(t)
			now := *b.clock
			recs := make([]*kgo.Record, tc.cars)
			for i := range recs {
				win := &Window{ID: fmt.Sprintf("WC-%d", i), OrderID: "O", Kind: KindDelivery, VIN: fmt.Sprintf("WAUZZZ4G0FN%06d", 500_000+i),
					Start: now - 60_000, End: now + 3_600_000, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
				w.apply(&tableUpdate{kind: updPutWindow, window: win})
				ref.PutWindow(now, win)
				recs[i] = &kgo.Record{Topic: w.p.cfg.Topics.CarPings, Offset: int64(i), Value: []byte(fmt.Sprintf(
					`{"vin":%q,"ts":%d,"lat":48.13722,"lng":11.57562,"accuracy_m":6.5,"trunk":"closed","locked":true,"location_type":"last_parked"}`,
					win.VIN, now-1000))}
			}
			// One ping moves stream time past the windows' start: they all
			// open at once (tracking_started each, a burst of one engine
			// call).
			first := &kgo.Record{Topic: w.p.cfg.Topics.CarPings, Value: []byte(fmt.Sprintf(
				`{"vin":"WAUZZZ4G0FN000001","ts":%d,"lat":48.13722,"lng":11.57562,"accuracy_m":6.5,"trunk":"closed","locked":true,"location_type":"last_parked"}`, now-2000))}
			snk.ids, snk.maxHeld, snk.maxCap = nil, 0, 0
			w.process([]*kgo.Record{first})
			for i := range recs {
				recs[i].Offset++
			}
			var want []string
			for _, r := range append([]*kgo.Record{first}, recs...) {
				var p CarPing
				if err := DecodeCarPing(&p, r.Value); err != nil {
					t.Fatal(err)
				}
				ref.CarPing(now, &p)
			}
			for _, ev := range ref.Events() {
				want = append(want, ev.ID)
			}
			if len(want) < 3*tc.cars {
				t.Fatalf("reference engine emitted %d events for %d cars' first pings, want at least 3 each (tracking_started, then two for the first ping)", len(want), tc.cars)
			}
			w.process(recs)
			if !slices.Equal(snk.ids, want) {
				t.Fatalf("the sink got %d events, want the engine's %d in the same order", len(snk.ids), len(want))
			}
			if limit := emitChunk; snk.maxHeld > limit || snk.maxCap > maxKeptEvents {
				t.Fatalf("the engine held up to %d events (capacity %d) while emitting, want at most %d (capacity %d)", snk.maxHeld, snk.maxCap, limit, maxKeptEvents)
			}
		})
	}
}

// TestConsumerFetchSettings checks that the fetch settings reach the
// car-pings consumer's client.
func TestConsumerFetchSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		minBytes int32
		maxWait  time.Duration
		maxPart  int32
	}{
		{"defaults", 1, 25 * time.Millisecond, 1 << 20},
		{"batched", 16 << 10, 100 * time.Millisecond, 256 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Engine.GrantKey = []byte("test-grant-key-0123456789abcdef!")
			cfg.Brokers = []string{"127.0.0.1:1"} // never dialled: the client is only built
			cfg.FetchMinBytes, cfg.FetchMaxWait, cfg.FetchMaxPartitionBytes = tc.minBytes, tc.maxWait, tc.maxPart
			p, err := NewProcessor(cfg, Options{Sink: ackSink{}})
			if err != nil {
				t.Fatal(err)
			}
			c, err := newConsumer(p, nil, nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer c.cl.Close()
			for _, o := range []struct {
				name string
				opt  any
				want any
			}{
				{"FetchMinBytes", kgo.FetchMinBytes, tc.minBytes},
				{"FetchMaxWait", kgo.FetchMaxWait, tc.maxWait},
				{"FetchMaxPartitionBytes", kgo.FetchMaxPartitionBytes, tc.maxPart},
			} {
				if got := c.cl.OptValue(o.opt); got != o.want {
					t.Errorf("kgo.%s = %v, want %v", o.name, got, o.want)
				}
			}
		})
	}
}
