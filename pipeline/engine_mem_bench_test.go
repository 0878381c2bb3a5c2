package pipeline

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkEngineMemory measures the Go heap the engines of one process
// hold for the memory scenario of the benchmark harness: 1 M open windows
// (one per car) spread over 6 partition engines, 50 K couriers whose routes
// (20 stops each) and positions every engine receives (as from the router:
// the windows shared, each route with the stops of the engine's windows),
// and one ping of each car, so that every car is tracked. It reports the heap after a GC per
// window for each step, and the growth of the resident set per window
// after returning free memory to the OS (so memory outside the Go heap
// counts; Linux only), and the CPU one collection of all that costs per
// window (the least of three). Run it alone, once:
//
//	go test -run '^$' -bench EngineMemory -benchtime 1x ./pipeline
func BenchmarkEngineMemory(b *testing.B) {
	const (
		n        = 1_000_000
		parts    = 6
		couriers = 50_000
	)
	for b.Loop() {
		heap := func() uint64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		// The inputs as the router holds them.
		wins := make([]Window, n)
		for i := range wins {
			wins[i] = Window{ID: "W-" + strconv.Itoa(i), OrderID: "OB-" + strconv.Itoa(i), Kind: KindDelivery,
				VIN: fmt.Sprintf("WAUZZZ4G0FN%06d", i), Start: t0, End: t0 + 3*3600_000,
				Lat: 48.0 + float64(i%1000)*2e-4, Lng: 11.4 + float64(i/1000)*3e-4, RadiusM: 300, shared: true}
		}
		routes := make([]Route, couriers)
		for j := range routes {
			routes[j].CourierID = "C-" + strconv.Itoa(j)
			for i := j; i < n; i += couriers {
				routes[j].Stops = append(routes[j].Stops, Stop{WindowID: wins[i].ID, ETA: t0 + int64(len(routes[j].Stops)+1)*600_000})
			}
		}
		base, baseRSS := heap(), rss()

		cfg := DefaultEngineConfig()
		cfg.GrantKey = scenarioKey
		engines := make([]*Engine, parts)
		for k := range engines {
			e, err := NewEngine(cfg)
			if err != nil {
				b.Fatal(err)
			}
			engines[k] = e
		}
		afterNew := heap()
		for i := range wins {
			engines[i%parts].PutWindow(t0-60_000, &wins[i])
		}
		for _, e := range engines {
			e.Tick(t0)
			e.ResetEvents()
		}
		afterWindows := heap()
		for k, e := range engines {
			for j := range routes {
				rt := Route{CourierID: routes[j].CourierID}
				for i := j; i < n; i += couriers {
					if i%parts == k {
						rt.Stops = append(rt.Stops, routes[j].Stops[(i-j)/couriers])
					}
				}
				e.PutRoute(t0, &rt)
			}
			for j := range routes {
				cp := CourierPing{CourierID: routes[j].CourierID, TS: t0 + 500, Lat: 48.05, Lng: 11.5, HasAccuracy: true, AccuracyM: 8}
				e.CourierPing(t0+500, &cp)
			}
			e.ResetEvents()
		}
		afterRoutes := heap()
		p := CarPing{TS: t0 + 1000, HasAccuracy: true, AccuracyM: 5}
		for i := range wins {
			p.VIN = append(p.VIN[:0], wins[i].VIN...)
			p.Lat, p.Lng = wins[i].Lat, wins[i].Lng
			e := engines[i%parts]
			if r := e.CarPing(p.TS, &p); r != Applied {
				b.Fatalf("ping %d: %v", i, r)
			}
			e.ResetEvents()
		}
		afterCars, afterRSS := heap(), rss()
		var open, cars int
		for _, e := range engines {
			s := e.Stats()
			open, cars = open+s.OpenWindows, cars+s.Cars
		}
		if open != n || cars != n {
			b.Fatalf("%d open windows, %d cars", open, cars)
		}
		per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / n }
		b.ReportMetric(per(base, afterNew), "B/window-engines")
		b.ReportMetric(per(afterNew, afterWindows), "B/window-windows")
		b.ReportMetric(per(afterWindows, afterRoutes), "B/window-routes")
		b.ReportMetric(per(afterRoutes, afterCars), "B/window-cars")
		b.ReportMetric(per(base, afterCars), "B/window-total")
		if baseRSS > 0 && afterRSS > 0 {
			b.ReportMetric(per(baseRSS, afterRSS), "B/window-rss")
		}
		// What one collection costs with this state: the CPU the collector
		// used (marking every window, car and route), the least of three.
		gcCPU := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
		least := math.Inf(1)
		for range 3 {
			metrics.Read(gcCPU)
			c0 := gcCPU[0].Value.Float64()
			runtime.GC()
			metrics.Read(gcCPU)
			least = min(least, gcCPU[0].Value.Float64()-c0)
		}
		b.ReportMetric(least*1e9/n, "gc-cpu-ns/window")
		runtime.KeepAlive(wins)
		runtime.KeepAlive(routes)
		runtime.KeepAlive(engines)
	}
}

// rss returns the resident set size of the process after a GC that gives
// free memory back to the OS, 0 when unknown.
func rss() uint64 {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
