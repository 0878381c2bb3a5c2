package bench

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
	"github.com/trunkline/trunkline/sink"
)

// The live scenario. LiveCars cars each have a window open for the whole
// run. The load generator offers car pings at a fixed rate, cycling over
// the cars; each car alternates between two spots 35 m apart (a ping where
// it now is, then one saying it is parked there), so every ping causes
// exactly one event (car_moved or car_parked) whose ts is the ping's ts.
//
// Latency is measured per event: from the ping's scheduled send time (the
// load generator hands it to its client at the first of its 1 ms ticks at or
// after that time, or later if it falls behind: lateness counts against the
// figure) to the moment a consumer of
// the events topic in the harness reads the event. The ping's ts field and
// record timestamp carry the scheduled time in milliseconds; the harness
// keeps the nanoseconds per car and matches them by ts.

// offerTick is the load generator's step: it wakes at most once per tick
// and hands its client every ping scheduled up to then, so a ping scheduled
// between two ticks waits up to a tick, which counts against its latency.
// Waking for each ping (20 µs apart at 50 K pings/s) cost the harness about
// half a core at every rate, taken from the processor it measures (NOTES.md).
const offerTick = time.Millisecond

// liveDrain bounds the wait, after a rate's phase, for the events of its
// last pings.
const liveDrain = 30 * time.Second

// liveWarmupRate is the rate of the warm-up, which pings every car once
// (opening the windows of each partition at its first ping).
const liveWarmupRate = 100_000

// livePhase collects the latencies of one offered rate.
type livePhase struct {
	samples []int64 // ns
	approx  int     // events matched by their millisecond ts only
	relay   bool    // timing the relay baseline's records, not events
}

// liveRun is one run of the live scenario.
type liveRun struct {
	h       *harness
	b       *harnessBroker
	f       *syntheticFleet
	planned []atomic.Int64 // scheduled send time of each car's latest ping, Unix ns
	next    int64          // pings offered so far: ping g goes to car g mod cars, as its (g / cars)th
	carOf   map[string]int // car index by VIN, for the relayed pings

	mu    sync.Mutex
	phase *livePhase
	total int64 // events read
}

// live runs the live scenario Runs times.
func (h *harness) live(ctx context.Context) ([]ScenarioReport, error) {
	c := &h.cfg
	sr := ScenarioReport{
		Name: ScenarioLive,
		Description: fmt.Sprintf("live: %s cars in open windows, every ping causes one event (car_moved or car_parked); each rate offered for %v after a warm-up; latency from the ping's scheduled send time (the load generator sends every 1 ms what is due) to its event read by a consumer of the events topic. Then each rate is offered again, on a fresh broker, with the relay baseline in place of the processor (a consumer that produces every ping unchanged to another topic, with the processor's client settings): the latency of consume → produce → consume on this kind of broker and machine with no processing",
			count(float64(c.LiveCars)), c.LiveDuration),
	}
	type acc struct {
		achieved, p50, p90, p99, max, pings, events, missing []float64
		proc, harness, other                                 []float64
		gcs, gcCores                                         []float64
	}
	add := func(a *acc, p livePoint) {
		a.achieved = append(a.achieved, p.achieved)
		a.p50, a.p90, a.p99, a.max = append(a.p50, p.p50), append(a.p90, p.p90), append(a.p99, p.p99), append(a.max, p.max)
		a.pings, a.events, a.missing = append(a.pings, float64(p.pings)), append(a.events, float64(p.events)), append(a.missing, float64(p.pings-p.events))
		a.proc, a.harness, a.other = append(a.proc, p.procCores), append(a.harness, p.harnessCores), append(a.other, p.otherCores)
		a.gcs, a.gcCores = append(a.gcs, float64(p.procGCs)), append(a.gcCores, p.procGCCores)
	}
	point := func(r float64, a *acc) LivePoint {
		return LivePoint{
			OfferedPerS: r, AchievedPerS: newFigure(a.achieved),
			P50Ms: newFigure(a.p50), P90Ms: newFigure(a.p90), P99Ms: newFigure(a.p99), MaxMs: newFigure(a.max),
			Pings: newFigure(a.pings), Events: newFigure(a.events), Missing: newFigure(a.missing),
			ProcessorCores: newFigure(a.proc), HarnessCores: newFigure(a.harness), OtherCores: newFigure(a.other),
			ProcessorGCs: newFigure(a.gcs), ProcessorGCCores: newFigure(a.gcCores),
		}
	}
	accs, relays := make([]acc, len(c.LiveRates)), make([]acc, len(c.LiveRates))
	for run := range c.Runs {
		points, lv, err := h.liveOnce(ctx, run)
		if err != nil {
			return nil, err
		}
		// The relay's phases come once the processor, its broker and its
		// clients are gone.
		relay, err := lv.relayPhases(ctx, run)
		if err != nil {
			return nil, fmt.Errorf("relay baseline: %w", err)
		}
		for i := range points {
			add(&accs[i], points[i])
			add(&relays[i], relay[i])
		}
	}
	for i, r := range c.LiveRates {
		lp := point(r, &accs[i])
		rp := point(r, &relays[i])
		lp.Relay = &rp
		sr.Live = append(sr.Live, lp)
	}
	return []ScenarioReport{sr}, nil
}

// livePoint is one rate of one run.
type livePoint struct {
	achieved           float64
	p50, p90, p99, max float64 // ms
	pings, events      int64
	// CPU while the rate was offered, in cores: the processor's (from its
	// progress reports, to within 0.1 s), the harness's (broker, load
	// generator, events consumer) and the rest of the machine's.
	procCores, harnessCores, otherCores float64
	// The processor's collections completed meanwhile, and the CPU its
	// collector used, in cores (both from its progress reports).
	procGCs     uint64
	procGCCores float64
}

// liveOnce runs the live scenario once: a broker, the windows, the
// processor, a warm-up, then each rate in turn.
func (h *harness) liveOnce(ctx context.Context, run int) (points []livePoint, lv *liveRun, err error) {
	c := &h.cfg
	b, err := startHarnessBroker(ctx, c.Partitions, c.LiveBrokerDir)
	if err != nil {
		return nil, nil, err
	}
	defer b.Close()
	lv = &liveRun{h: h, b: b, f: newSyntheticFleet(c.Seed, c.LiveCars, time.Now().UnixMilli()), planned: make([]atomic.Int64, c.LiveCars)}
	lv.carOf = make(map[string]int, len(lv.f.cars))
	for i := range lv.f.cars {
		lv.carOf[string(lv.f.cars[i].vin)] = i
	}

	l, err := newLoader(ctx, b.addr)
	if err != nil {
		return nil, nil, err
	}
	err = l.produce(lv.f.windows(nil, b.topics.Windows))
	if err == nil {
		err = l.flush(ctx)
	}
	l.close()
	if err != nil {
		return nil, nil, err
	}

	// The events consumer reads from the start of the (fresh) events
	// topic.
	ecl, err := kgo.NewClient(
		kgo.SeedBrokers(b.addr),
		kgo.ClientID("trunkline-bench-events"),
		kgo.ConsumeTopics(b.topics.Events),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create the events consumer: %w", err)
	}
	defer ecl.Close()
	cctx, stopConsumer := context.WithCancel(ctx)
	consumerDone := make(chan struct{})
	go func() { defer close(consumerDone); lv.consume(cctx, ecl) }()
	defer func() { stopConsumer(); <-consumerDone }()

	pj := job{Role: roleProcessor, Brokers: []string{b.addr}, Group: fmt.Sprintf("live-%d", run), Overrides: c.Overrides}
	if run == 0 && c.CPUProfileDir != "" {
		pj.CPUProfile = filepath.Join(c.CPUProfileDir, "live.pprof")
	}
	rj, err := startJob(ctx, c.Spawn, pj)
	if err != nil {
		return nil, nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			rj.stop()
			_, _ = rj.finish(context.WithoutCancel(ctx))
		}
	}()
	if m, ok := rj.next(ctx); !ok || m.Kind != "ready" {
		return nil, nil, fmt.Errorf("the processor did not become ready: %s", m.Err)
	}

	pcl, err := newLoadClient(b.addr)
	if err != nil {
		return nil, nil, err
	}
	defer pcl.Close()
	prod := newProducer(pcl, ctx)

	// Warm-up: every car once, at a moderate rate; then every window is
	// open (tracking_started), located and parked.
	warm := int64(c.LiveCars)
	h.logf("live: run %d/%d warm-up, %s cars pinged once", run+1, c.Runs, count(float64(warm)))
	if _, err := lv.offer(ctx, prod, min(liveWarmupRate, float64(warm)), warm); err != nil {
		return nil, nil, err
	}
	if err := lv.await(ctx, func() bool { return lv.read() >= 3*warm }, liveDrain+time.Duration(warm/10_000)*time.Second); err != nil {
		return nil, nil, fmt.Errorf("warm-up: %d events read, want %d (tracking_started, car_located, car_parked per car): %w", lv.read(), 3*warm, err)
	}

	for _, r := range c.LiveRates {
		p, err := lv.runPhase(ctx, prod, rj, run, r, false)
		if err != nil {
			return nil, nil, err
		}
		points = append(points, p)
	}
	stopped = true
	rj.stop()
	res, err := rj.finish(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("processor: %w", err)
	}
	if res.Emitted == 0 || res.Acked != res.Emitted {
		return nil, nil, fmt.Errorf("processor: %d events emitted, %d acknowledged", res.Emitted, res.Acked)
	}
	return points, lv, nil
}

// relayPhases offers each rate again with the relay baseline in place of
// the processor, on a broker of its own started for them (as the
// processor's was for its phases: neither part runs on a broker holding the
// other's records), with a load producer and a reader of their own.
func (lv *liveRun) relayPhases(ctx context.Context, run int) ([]livePoint, error) {
	c := &lv.h.cfg
	b, err := startHarnessBroker(ctx, c.Partitions, c.LiveBrokerDir)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	lv.b = b
	rcl, err := kgo.NewClient(
		kgo.SeedBrokers(b.addr),
		kgo.ClientID("trunkline-bench-relayed"),
		kgo.ConsumeTopics(relayTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot create the consumer of the relayed pings: %w", err)
	}
	defer rcl.Close()
	cctx, stopConsumer := context.WithCancel(ctx)
	consumerDone := make(chan struct{})
	go func() { defer close(consumerDone); lv.consume(cctx, rcl) }()
	defer func() { stopConsumer(); <-consumerDone }()

	rj, err := startJob(ctx, c.Spawn, job{Role: roleRelay, Brokers: []string{b.addr}, Group: fmt.Sprintf("live-relay-%d", run), Overrides: c.Overrides})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			rj.stop()
			_, _ = rj.finish(context.WithoutCancel(ctx))
		}
	}()
	if m, ok := rj.next(ctx); !ok || m.Kind != "ready" {
		return nil, fmt.Errorf("not ready: %s", m.Err)
	}
	pcl, err := newLoadClient(b.addr)
	if err != nil {
		return nil, err
	}
	defer pcl.Close()
	prod := newProducer(pcl, ctx)
	var points []livePoint
	for _, r := range c.LiveRates {
		p, err := lv.runPhase(ctx, prod, rj, run, r, true)
		if err != nil {
			return nil, err
		}
		points = append(points, p)
	}
	stopped = true
	rj.stop()
	if _, err := rj.finish(ctx); err != nil {
		return nil, err
	}
	return points, nil
}

// runPhase offers rate r for the configured duration and times what comes
// back: the processor's events, or with relay the relay's records.
func (lv *liveRun) runPhase(ctx context.Context, prod *producer, rj *runningJob, run int, r float64, relay bool) (livePoint, error) {
	c := &lv.h.cfg
	lv.h.awaitQuiet(ctx)
	ph := &livePhase{samples: make([]int64, 0, int(r*c.LiveDuration.Seconds())+1024), relay: relay}
	lv.mu.Lock()
	lv.phase = ph
	lv.mu.Unlock()
	n := int64(r * c.LiveDuration.Seconds())
	t0, m0, h0, p0 := time.Now(), machineBusy(), cpuTime(), rj.progress()
	achieved, err := lv.offer(ctx, prod, r, n)
	if err != nil {
		return livePoint{}, err
	}
	el := time.Since(t0).Seconds()
	p1 := rj.progress()
	pc, hc := (p1.CPU-p0.CPU).Seconds()/el, (cpuTime()-h0).Seconds()/el
	oc := max(0, (machineBusy()-m0).Seconds()/el-pc-hc)
	got := func() int64 { lv.mu.Lock(); defer lv.mu.Unlock(); return int64(len(ph.samples)) }
	_ = lv.await(ctx, func() bool { return got() >= n }, liveDrain)
	lv.mu.Lock()
	lv.phase = nil
	lv.mu.Unlock()
	if ctx.Err() != nil {
		return livePoint{}, ctx.Err()
	}
	p := summarizePhase(ph, achieved, n)
	p.procCores, p.harnessCores, p.otherCores = pc, hc, oc
	p.procGCs, p.procGCCores = p1.GCs-p0.GCs, (p1.GCCPU-p0.GCCPU).Seconds()/el
	who, what := "processor", "events"
	if relay {
		who, what = "relay", "relayed pings"
	}
	if p.events == 0 {
		return livePoint{}, fmt.Errorf("nothing read back from the %s at %s", who, rate(r))
	}
	lv.h.logf("live: run %d/%d, %s at %s (achieved %s): %s %s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.1f ms%s; CPU: %s %.2f cores, harness %.2f, other processes %.2f; %s collections %d (%.3f cores)",
		run+1, c.Runs, who, rate(r), rate(achieved), count(float64(p.events)), what, p.p50, p.p90, p.p99, p.max, missingNote(p), who, pc, hc, oc, who, p.procGCs, p.procGCCores)
	return p, nil
}

func missingNote(p livePoint) string {
	if p.events >= p.pings {
		return ""
	}
	return fmt.Sprintf(" (%d pings without their event after %v)", p.pings-p.events, liveDrain)
}

// summarizePhase computes a phase's percentiles (nearest rank) in ms.
func summarizePhase(ph *livePhase, achieved float64, pings int64) livePoint {
	s := ph.samples
	slices.Sort(s)
	p := livePoint{achieved: achieved, pings: pings, events: int64(len(s))}
	if len(s) == 0 {
		return p
	}
	at := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1)+0.5)]) / 1e6 }
	p.p50, p.p90, p.p99, p.max = at(0.50), at(0.90), at(0.99), float64(s[len(s)-1])/1e6
	return p
}

// read returns the number of events read so far.
func (lv *liveRun) read() int64 {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	return lv.total
}

// await polls cond until it holds, ctx is done or d has passed.
func (lv *liveRun) await(ctx context.Context, cond func() bool, d time.Duration) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", d)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// newLoadClient returns the load generator's producer: no linger, no
// compression, room for a second of the highest rate.
func newLoadClient(addr string) (*kgo.Client, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ClientID("trunkline-bench-feed"),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1<<20),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot create the load producer: %w", err)
	}
	return cl, nil
}

// offer produces n pings at rate per second, each handed to the client at
// the first tick at or after its scheduled time (or as soon after as the
// generator can), and returns the rate achieved.
func (lv *liveRun) offer(ctx context.Context, p *producer, rate float64, n int64) (float64, error) {
	cars := int64(len(lv.f.cars))
	topic := lv.b.topics.CarPings
	t0 := time.Now()
	base := t0.UnixNano()
	recs := make([]Record, 0, 1024)
	var i int64
	for i < n {
		due := min(n, int64(time.Since(t0).Seconds()*rate)+1)
		for ; i < due; i++ {
			g := lv.next + i
			car := int(g % cars)
			at := base + int64(float64(i)*1e9/rate)
			ts := at / 1e6
			lv.f.buf = lv.f.livePing(lv.f.buf[:0], car, uint32(g/cars), ts)
			lv.planned[car].Store(at)
			recs = append(recs, Record{Topic: topic, Key: lv.f.cars[car].vin, Value: lv.f.keep(lv.f.buf), TS: time.Unix(0, at)})
			if len(recs) == cap(recs) {
				p.produce(recs)
				recs = recs[:0]
			}
		}
		p.produce(recs)
		recs = recs[:0]
		if err := p.err(); err != nil {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if wait := time.Duration(float64(i)*1e9/rate) - time.Since(t0); wait > 0 {
			time.Sleep(max(wait, offerTick))
		}
	}
	lv.next += n
	return float64(n) / time.Since(t0).Seconds(), nil
}

var (
	typeCarMoved  = []byte(sink.TypePrefix + pipeline.EvCarMoved.String())
	typeCarParked = []byte(sink.TypePrefix + pipeline.EvCarParked.String())
	tsField       = []byte(`"ts":"`)
)

// consume reads the events topic until ctx is done, timing each car_moved
// and car_parked event of the current phase.
func (lv *liveRun) consume(ctx context.Context, cl *kgo.Client) {
	for {
		fs := cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		now := time.Now().UnixNano()
		lv.mu.Lock()
		ph := lv.phase
		fs.EachRecord(func(r *kgo.Record) {
			var car int
			var ts int64
			ok := true
			if r.Topic == relayTopic {
				if ph == nil || !ph.relay {
					return
				}
				car, ok = lv.carOf[string(r.Key)]
				ts = r.Timestamp.UnixMilli()
			} else {
				lv.total++
				if ph == nil || ph.relay || !isCarEvent(r) {
					return
				}
				car = carOfWindow(r.Key)
				ts, ok = eventTS(r.Value)
			}
			if car < 0 || car >= len(lv.planned) || !ok {
				return
			}
			if at := lv.planned[car].Load(); at/1e6 == ts {
				ph.samples = append(ph.samples, now-at)
				return
			}
			// A newer ping of the car is already out: this event is more
			// than a ping interval late; its millisecond ts will do.
			ph.samples = append(ph.samples, now-ts*1e6)
			ph.approx++
		})
		lv.mu.Unlock()
	}
}

// isCarEvent reports whether r is a car_moved or car_parked event.
func isCarEvent(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == sink.HeaderType {
			return bytes.Equal(h.Value, typeCarMoved) || bytes.Equal(h.Value, typeCarParked)
		}
	}
	return false
}

// eventTS returns the ts of an event, in Unix ms.
func eventTS(v []byte) (int64, bool) {
	i := bytes.Index(v, tsField)
	if i < 0 {
		return 0, false
	}
	v = v[i+len(tsField):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return 0, false
	}
	return pipeline.ParseTimestamp(v[:j])
}
