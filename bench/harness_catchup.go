package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// catchupCity preloads the city mix and times the processor and the
// baselines over it.
func (h *harness) catchupCity(ctx context.Context) ([]ScenarioReport, error) {
	c := &h.cfg
	desc := fmt.Sprintf("catch-up, city mix: %s cars (%s in an open window), %s couriers; %s car-ping records preloaded (JSON, the fleet simulator's messy feeds, %.1f%% invalid)",
		count(float64(c.CityCars)), count(float64(c.CityWindows)), count(float64(c.CityCouriers)), count(float64(c.CityPings)), DefaultConfig().BadFraction*100)
	return h.catchup(ctx, ScenarioCatchupCity, desc, func(ctx context.Context, l *loader, b *harnessBroker) (int64, error) {
		// Each car pings every 20 s of simulated time on average; the
		// simulated span ends a few seconds before now, so no ping is
		// in the processor's future.
		rate := float64(c.CityCars) / 20
		span := time.Duration(float64(c.CityPings)/rate*float64(time.Second)) + 10*time.Second
		start := time.Now().Add(-span).Truncate(time.Second)
		g, err := cityGenerator(c.Seed, c.CityCars, c.CityCouriers, c.CityWindows, rate, start)
		if err != nil {
			return 0, err
		}
		recs := g.Setup(nil)
		if err := l.produce(recs); err != nil {
			return 0, err
		}
		h.logf("%s: preloaded %s windows and %s routes", ScenarioCatchupCity, count(float64(g.stats.Windows)), count(float64(g.stats.Routes)))
		var pings int64
		t := start
		last := time.Now()
		for pings < int64(c.CityPings) {
			t = t.Add(time.Second)
			recs = g.Step(recs[:0], t)
			n := 0
			for i := range recs {
				if recs[i].Topic != b.topics.CarPings {
					recs[n] = recs[i]
					n++
					continue
				}
				if pings < int64(c.CityPings) {
					recs[n] = recs[i]
					n++
					pings++
				}
			}
			if err := l.produce(recs[:n]); err != nil {
				return 0, err
			}
			clear(recs)
			if time.Since(last) >= 2*time.Second {
				last = time.Now()
				h.logf("%s: preloading, %s car pings", ScenarioCatchupCity, count(float64(pings)))
			}
		}
		s := g.Stats()
		h.logf("%s: generated %s car pings (%s invalid), %s courier pings over %v of simulated time",
			ScenarioCatchupCity, count(float64(s.CarPings)), count(float64(s.Bad)), count(float64(s.CourierPings)), t.Sub(start).Truncate(time.Second))
		return pings, ctx.Err()
	})
}

// worstPingEveryMs is the interval between two pings of a worst-case car.
const worstPingEveryMs = 2000

// worstSpeedMps is the speed of a worst-case car (50 km/h).
const worstSpeedMps = 13.9

// catchupWorst preloads pings of cars that are all in an open window and
// all driving, and times the processor and the baselines over them.
func (h *harness) catchupWorst(ctx context.Context) ([]ScenarioReport, error) {
	c := &h.cfg
	desc := fmt.Sprintf("catch-up, worst case: %s cars, every one in an open window and driving at 50 km/h, a ping every 2 s; %s car-ping records preloaded",
		count(float64(c.WorstCars)), count(float64(c.WorstPings)))
	return h.catchup(ctx, ScenarioCatchupWorst, desc, func(ctx context.Context, l *loader, b *harnessBroker) (int64, error) {
		rounds := (c.WorstPings + c.WorstCars - 1) / c.WorstCars
		span := int64(rounds)*worstPingEveryMs + 10_000
		start := time.Now().UnixMilli() - span
		f := newSyntheticFleet(c.Seed, c.WorstCars, start)
		if err := l.produce(f.windows(nil, b.topics.Windows)); err != nil {
			return 0, err
		}
		var recs []Record
		var pings int64
		for k := 0; pings < int64(c.WorstPings); k++ {
			for i := 0; i < c.WorstCars && pings < int64(c.WorstPings); i++ {
				ts := start + int64(k)*worstPingEveryMs + int64(i)*worstPingEveryMs/int64(c.WorstCars)
				recs = f.movingPing(recs, b.topics.CarPings, i, ts, worstSpeedMps)
				pings++
				if len(recs) == 4096 {
					if err := l.produce(recs); err != nil {
						return 0, err
					}
					recs = recs[:0]
				}
			}
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
		}
		return pings, l.produce(recs)
	})
}

// catchup runs a catch-up scenario: a broker, the preload, then Runs
// rounds of the processor, the bare consumer and the decode+H3 consumer
// over the same topic, each in a consumer group of its own.
func (h *harness) catchup(ctx context.Context, name, desc string, preload func(context.Context, *loader, *harnessBroker) (int64, error)) ([]ScenarioReport, error) {
	c := &h.cfg
	b, err := startHarnessBroker(ctx, c.Partitions, "")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	l, err := newLoader(ctx, b.addr)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	pings, err := preload(ctx, l, b)
	if err == nil {
		err = l.flush(ctx)
	}
	l.close()
	if err != nil {
		return nil, err
	}
	onTopic, err := b.endOffsets(ctx, b.topics.CarPings)
	if err != nil {
		return nil, err
	}
	if onTopic != pings {
		return nil, fmt.Errorf("preloaded %d car pings but the topic holds %d", pings, onTopic)
	}
	h.logf("%s: preloaded %s car pings in %v (%s)", name, count(float64(pings)), time.Since(t0).Truncate(time.Millisecond), rate(float64(pings)/time.Since(t0).Seconds()))

	sr := ScenarioReport{Name: name, Description: desc, Pings: pings}
	var proc, bare, h3, ratioBare, ratioH3, events, ready, afterReady, cores, hcores, others []float64
	roles := []string{roleProcessor, roleBare, roleDecodeH3}
	{
		// The first read of a freshly preloaded topic is slower for any
		// reader (a bare consumer: about 2.0 M pings/s against 2.7 M/s
		// afterwards, city mix): one untimed bare read goes first, so
		// that it is not the first timed job's.
		h.awaitQuiet(ctx)
		res, err := runJobTo(ctx, c.Spawn, job{Role: roleBare, Brokers: []string{b.addr}, Group: name + "-warmup", Expect: pings, Overrides: c.Overrides})
		if err != nil {
			return nil, err
		}
		h.logf("%s: warm-up read (bare consumer, not counted): %v = %s", name, res.Elapsed.Truncate(time.Millisecond), rate(float64(pings)/res.Elapsed.Seconds()))
	}
	for run := range c.Runs {
		var pRate, bRate, hRate float64
		// Rotate the order of the three jobs so that none always runs
		// first (or last) on a warm or tired machine.
		for k := range roles {
			role := roles[(k+run)%len(roles)]
			j := job{Role: role, Brokers: []string{b.addr}, Group: fmt.Sprintf("%s-%s-%d", name, role, run), Expect: pings, Overrides: c.Overrides}
			if role == roleProcessor && run == 0 && c.CPUProfileDir != "" {
				j.CPUProfile = filepath.Join(c.CPUProfileDir, name+".pprof")
			}
			before, err := b.endOffsets(ctx, b.topics.Events)
			if err != nil {
				return nil, err
			}
			h.awaitQuiet(ctx)
			res, err := runJobTo(ctx, c.Spawn, j)
			if err != nil {
				return nil, err
			}
			r := float64(pings) / res.Elapsed.Seconds()
			switch role {
			case roleProcessor:
				after, err := b.endOffsets(ctx, b.topics.Events)
				if err != nil {
					return nil, err
				}
				if err := checkProcessorRun(res, pings, after-before); err != nil {
					return nil, err
				}
				pRate = r
				events = append(events, float64(after-before))
				ready = append(ready, res.Ready.Seconds())
				afterReady = append(afterReady, float64(pings)/(res.Elapsed-res.Ready).Seconds())
				cores = append(cores, res.CPU.Seconds()/res.Elapsed.Seconds())
				hcores = append(hcores, res.HarnessCPU.Seconds()/res.Elapsed.Seconds())
				others = append(others, max(0, (res.MachineCPU-res.HarnessCPU-res.CPU).Seconds()/res.Elapsed.Seconds()))
				sr.EventsByType = res.Events
				sr.Filtered, sr.DeadLettered = res.Filtered, res.DeadLettered
				h.logf("%s: run %d/%d processor: %s pings in %v = %s (ready after %v), %s events written and read back; CPU: processor %.2f cores, broker and harness %.2f, other processes %.2f",
					name, run+1, c.Runs, count(float64(pings)), res.Elapsed.Truncate(time.Millisecond), rate(r), res.Ready.Truncate(time.Millisecond), count(float64(after-before)),
					cores[len(cores)-1], hcores[len(hcores)-1], others[len(others)-1])
			case roleBare:
				bRate = r
				h.logf("%s: run %d/%d bare consumer: %v = %s", name, run+1, c.Runs, res.Elapsed.Truncate(time.Millisecond), rate(r))
			case roleDecodeH3:
				hRate = r
				h.logf("%s: run %d/%d decode+H3 consumer: %v = %s (%d undecodable)", name, run+1, c.Runs, res.Elapsed.Truncate(time.Millisecond), rate(r), res.DeadLettered)
			}
		}
		proc, bare, h3 = append(proc, pRate), append(bare, bRate), append(h3, hRate)
		ratioBare, ratioH3 = append(ratioBare, pRate/bRate), append(ratioH3, pRate/hRate)
	}
	sr.PingsPerS = newFigure(proc)
	sr.BarePingsPerS = newFigure(bare)
	sr.DecodeH3PingsPerS = newFigure(h3)
	sr.RatioVsBare = newFigure(ratioBare)
	sr.RatioVsH3 = newFigure(ratioH3)
	sr.Events = newFigure(events)
	sr.ReadySeconds = newFigure(ready)
	sr.PingsPerSAfterReady = newFigure(afterReady)
	sr.ProcessorCores, sr.HarnessCores, sr.OtherCores = newFigure(cores), newFigure(hcores), newFigure(others)
	h.logf("%s: processor %s (median), %.2f× bare, %.2f× decode+H3", name, rate(sr.PingsPerS.Median), sr.RatioVsBare.Median, sr.RatioVsH3.Median)
	return []ScenarioReport{sr}, nil
}

// checkProcessorRun verifies a catch-up run of the processor: every record
// consumed and accounted for, events emitted, all of them acknowledged and
// on the events topic.
func checkProcessorRun(res *jobResult, pings, written int64) error {
	switch {
	case res.Consumed != uint64(pings):
		return fmt.Errorf("the processor consumed %d car pings, the topic holds %d", res.Consumed, pings)
	case res.Applied+res.Filtered+res.DeadLettered != res.Consumed:
		return fmt.Errorf("accounting broken: consumed %d != applied %d + filtered %d + dead-lettered %d", res.Consumed, res.Applied, res.Filtered, res.DeadLettered)
	case res.Emitted == 0:
		return fmt.Errorf("the processor emitted no events")
	case res.Acked != res.Emitted:
		return fmt.Errorf("%d events emitted, %d acknowledged", res.Emitted, res.Acked)
	case written != int64(res.Acked):
		return fmt.Errorf("%d events acknowledged, but the events topic grew by %d", res.Acked, written)
	}
	return nil
}
