package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// memory loads MemWindows open windows, one ping of each of their cars
// (so every car is tracked) and MemCouriers couriers, each with a route
// and a position, into the processor, and reads its heap after a GC and
// its RSS once it has applied them all. The processor runs in a child
// process, so the figure is its own: the broker, holding the records, is
// in the harness's process.
func (h *harness) memory(ctx context.Context) ([]ScenarioReport, error) {
	c := &h.cfg
	limit := "no memory_limit (the defaults)"
	if l := c.memLimit(); l > 0 {
		limit = fmt.Sprintf("memory_limit %d MiB, the setting configs/trunkline.yaml gives for a container of 1 GiB (the other settings are the defaults)", l>>20)
	}
	sr := ScenarioReport{
		Name: ScenarioMemory,
		Description: fmt.Sprintf("memory: %s open windows, %s tracked cars (one ping each), %s couriers with a route and a position, loaded into one processor with %s; its RSS peak while loading (VmHWM), RSS and heap after a GC once everything is applied",
			count(float64(c.MemWindows)), count(float64(c.MemWindows)), count(float64(c.MemCouriers)), limit),
		MemoryLimitBytes: c.memLimit(),
	}
	overrides := c.Overrides
	overrides.MemoryLimit = c.memLimit()
	b, err := startHarnessBroker(ctx, c.Partitions, "")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	l, err := newLoader(ctx, b.addr)
	if err != nil {
		return nil, err
	}
	defer l.close()
	now := time.Now().UnixMilli()
	f := newSyntheticFleet(c.Seed, c.MemWindows, now-10_000)
	t0 := time.Now()
	err = l.produce(f.windows(nil, b.topics.Windows))
	var recs []Record
	for i := 0; i < c.MemWindows && err == nil; i++ {
		recs = f.parkedPing(recs, b.topics.CarPings, i, now-5_000+int64(i%1000))
		if len(recs) == 4096 || i == c.MemWindows-1 {
			err = l.produce(recs)
			recs = recs[:0]
		}
	}
	// The routes are preloaded; the couriers' positions are produced
	// once the processor has loaded the routes (a courier ping read
	// before its courier's route is filtered no_route).
	routes := f.couriers(nil, b.topics.Routes, b.topics.CourierPings, c.MemCouriers, now)[:c.MemCouriers]
	if err == nil {
		err = l.produce(routes)
	}
	if err == nil {
		err = l.flush(ctx)
	}
	if err != nil {
		return nil, err
	}
	h.logf("memory: preloaded %s windows, %s routes, %s car pings in %v",
		count(float64(c.MemWindows)), count(float64(c.MemCouriers)), count(float64(c.MemWindows)), time.Since(t0).Truncate(time.Millisecond))

	var rss, peak, released, inuse, alloc, events []float64
	for run := range c.Runs {
		before, err := b.endOffsets(ctx, b.topics.Events)
		if err != nil {
			return nil, err
		}
		h.awaitQuiet(ctx)
		rj, err := startJob(ctx, c.Spawn, job{
			Role: roleProcessor, Brokers: []string{b.addr}, Group: fmt.Sprintf("memory-%d", run),
			Expect: int64(c.MemWindows), ExpectWindows: int64(c.MemWindows), ExpectRoutes: int64(c.MemCouriers),
			// Courier pings of earlier runs are read again (and filtered).
			ExpectCouriers: int64((run + 1) * c.MemCouriers),
			Memory:         true, Overrides: overrides,
			HeapProfile: heapProfile(c.CPUProfileDir, run),
		})
		if err != nil {
			return nil, err
		}
		if m, ok := rj.next(ctx); !ok || m.Kind != "ready" {
			rj.stop()
			_, _ = rj.finish(ctx)
			return nil, fmt.Errorf("the processor did not become ready: %s", m.Err)
		}
		pings := f.couriers(nil, b.topics.Routes, b.topics.CourierPings, c.MemCouriers, time.Now().UnixMilli())[c.MemCouriers:]
		err = l.produce(pings)
		if err == nil {
			err = l.flush(ctx)
		}
		if err != nil {
			rj.stop()
			_, _ = rj.finish(ctx)
			return nil, err
		}
		res, err := rj.finish(ctx)
		if err != nil {
			return nil, fmt.Errorf("processor: %w", err)
		}
		after, err := b.endOffsets(ctx, b.topics.Events)
		if err != nil {
			return nil, err
		}
		if err := checkProcessorRun(res, int64(c.MemWindows), after-before); err != nil {
			return nil, err
		}
		if res.Applied != uint64(c.MemWindows) {
			return nil, fmt.Errorf("%d of %d car pings applied: every car should be tracked", res.Applied, c.MemWindows)
		}
		for _, g := range []struct {
			name      string
			got, want int64
		}{{"open windows", res.OpenWindows, int64(c.MemWindows)}, {"tracked cars", res.TrackedCars, int64(c.MemWindows)}, {"couriers", res.Couriers, int64(c.MemCouriers)}} {
			if g.got >= 0 && g.got != g.want {
				return nil, fmt.Errorf("the processor reports %d %s, want %d", g.got, g.name, g.want)
			}
		}
		rss, peak, released = append(rss, float64(res.RSS)), append(peak, float64(res.RSSPeak)), append(released, float64(res.RSSReleased))
		inuse, alloc = append(inuse, float64(res.HeapInuse)), append(alloc, float64(res.HeapAlloc))
		events = append(events, float64(after-before))
		sr.OpenWindows, sr.TrackedCars, sr.Couriers, sr.StateBytes = res.OpenWindows, res.TrackedCars, res.Couriers, res.StateBytes
		sr.EventsByType = res.Events
		h.logf("memory: run %d/%d: RSS %s (peak %s, %s once free pages are released), heap in use %s after GC, loaded in %v; open windows %d, tracked cars %d, couriers %d (-1: not exported)",
			run+1, c.Runs, mib(res.RSS), mib(res.RSSPeak), mib(res.RSSReleased), mib(res.HeapInuse), res.Elapsed.Truncate(time.Millisecond), res.OpenWindows, res.TrackedCars, res.Couriers)
	}
	sr.RSSBytes, sr.RSSPeakBytes, sr.RSSReleasedBytes = newFigure(rss), newFigure(peak), newFigure(released)
	sr.HeapInuseBytes, sr.HeapAllocBytes = newFigure(inuse), newFigure(alloc)
	sr.Events = newFigure(events)
	return []ScenarioReport{sr}, nil
}

// heapProfile is where the memory scenario's first run writes its heap
// profile: in the profile directory, if any.
func heapProfile(dir string, run int) string {
	if dir == "" || run > 0 {
		return ""
	}
	return filepath.Join(dir, "memory-heap.pprof")
}

// mib formats bytes in MiB.
func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
