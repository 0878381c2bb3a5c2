package pipeline

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/trunkline/trunkline/geo"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).UnixMilli()

// benchEngine returns an engine with n open windows (VINs V000000..) and the
// VIN of the first.
func benchEngine(tb testing.TB, n int) *Engine {
	tb.Helper()
	cfg := DefaultEngineConfig()
	cfg.GrantKey = scenarioKey
	e, err := NewEngine(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	for i := range n {
		w := Window{ID: fmt.Sprintf("W-%06d", i), Kind: KindDelivery, VIN: fmt.Sprintf("V%016d", i),
			Start: t0, End: t0 + 365*24*3600_000, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
		if r := e.PutWindow(t0-60_000, &w); r != Applied {
			tb.Fatalf("PutWindow: %v", r)
		}
	}
	e.Tick(t0)
	return e
}

// TestCarPingAllocs holds the per-ping allocation budget: nothing for a car
// without a window, and nothing for a windowed car whose ping changes no
// window state.
func TestCarPingAllocs(t *testing.T) {
	tests := []struct {
		name string
		vin  string
		max  float64
	}{
		{"no window", "WAUZZZ4G0FN999999", 0},
		{"windowed, moving", fmt.Sprintf("V%016d", 0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := benchEngine(t, 10)
			p := CarPing{VIN: []byte(tt.vin), TS: t0, Lat: 48.1372, Lng: 11.5756, HasAccuracy: true, AccuracyM: 5}
			e.CarPing(t0, &p)
			e.ResetEvents()
			allocs := testing.AllocsPerRun(200, func() {
				p.TS += 1000
				p.Lat += 0.0001 // 11 m/s: moving, never parks
				e.CarPing(p.TS, &p)
				e.ResetEvents()
			})
			if allocs > tt.max {
				t.Errorf("%.1f allocations per ping, budget %.0f", allocs, tt.max)
			}
		})
	}
}

// BenchmarkEngineCarPing measures one car ping through the engine: a car
// without a window (dropped at the consent gate), a windowed car driving a
// circle at 40 km/h (a fix every second, H3 cell and rest anchor updated
// every time), and a windowed car parked with GPS jitter.
func BenchmarkEngineCarPing(b *testing.B) {
	const n = 628
	var circle [n][2]float64
	for i := range circle {
		a := 2 * math.Pi * float64(i) / n
		circle[i] = [2]float64{48.1372 + 0.01*math.Cos(a), 11.5756 + 0.015*math.Sin(a)}
	}
	for _, bc := range []struct {
		name   string
		vin    string
		jitter float64 // degrees; 0 = drive the circle
	}{
		{"no_window", "WAUZZZ4G0FN999999", 0},
		{"windowed_moving", fmt.Sprintf("V%016d", 0), 0},
		{"windowed_parked", fmt.Sprintf("V%016d", 0), 0.00005},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := benchEngine(b, 1000)
			p := CarPing{VIN: []byte(bc.vin), TS: t0}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				p.TS += 1000
				if bc.jitter == 0 {
					p.Lat, p.Lng = circle[i%n][0], circle[i%n][1]
				} else {
					p.Lat, p.Lng = 48.1372+bc.jitter*float64(i%3), 11.5756
				}
				if r := e.CarPing(p.TS, &p); r != Applied && bc.vin[0] == 'V' {
					b.Fatalf("ping %d filtered: %v", i, r)
				}
				e.ResetEvents()
			}
		})
	}
}

// TestCourierProximityEdges checks the H3 prefilter end to end: a courier
// just inside the approach or arrival radius, in any direction, is seen; one
// just outside is not.
func TestCourierProximityEdges(t *testing.T) {
	cfg := DefaultEngineConfig()
	tests := []struct {
		name     string
		distM    float64
		approach bool
		arrive   bool
	}{
		{"inside arrival", cfg.ArrivalRadiusM - 1, true, true},
		{"outside arrival", cfg.ArrivalRadiusM + 1, true, false},
		{"inside approach", cfg.ApproachRadiusM - 1, true, false},
		{"outside approach", cfg.ApproachRadiusM + 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for bearing := 0.0; bearing < 360; bearing += 15 {
				e := benchEngine(t, 1)
				vin := []byte(fmt.Sprintf("V%016d", 0))
				if r := e.PutRoute(t0, &Route{CourierID: "C-1", Stops: []Stop{{WindowID: "W-000000"}}}); r != Applied {
					t.Fatal(r)
				}
				p := CarPing{VIN: vin, TS: t0 + 1000, Lat: 48.1372, Lng: 11.5756, Trunk: TrunkClosed, LocationType: LocationLastParked}
				if r := e.CarPing(p.TS, &p); r != Applied {
					t.Fatal(r)
				}
				lat, lng := geo.Destination(p.Lat, p.Lng, bearing, tt.distM)
				e.ResetEvents()
				cp := CourierPing{CourierID: "C-1", TS: t0 + 2000, Lat: lat, Lng: lng}
				if r := e.CourierPing(cp.TS, &cp); r != Applied {
					t.Fatal(r)
				}
				var approach, arrive bool
				for _, ev := range e.Events() {
					approach = approach || ev.Type == EvCourierApproaching
					arrive = arrive || ev.Type == EvCourierArrived
				}
				if approach != tt.approach || arrive != tt.arrive {
					t.Errorf("bearing %v: approaching %v arrived %v, want %v %v", bearing, approach, arrive, tt.approach, tt.arrive)
				}
			}
		})
	}
}

// TestEngineStateStaysBounded checks that repeated dispatch records do not
// grow the engine: re-sending an unchanged window schedules nothing, a
// withdrawn route forgets its courier, and a huge delivery radius gets a
// small cell cover.
func TestEngineStateStaysBounded(t *testing.T) {
	tests := []struct {
		name  string
		apply func(e *Engine)
		check func(t *testing.T, e *Engine)
	}{
		{"window re-sent", func(e *Engine) {
			w := Window{ID: "W-000000", Kind: KindDelivery, VIN: fmt.Sprintf("V%016d", 0),
				Start: t0, End: t0 + 365*24*3600_000, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
			for range 10_000 {
				e.PutWindow(t0, &w)
			}
		}, func(t *testing.T, e *Engine) {
			if n := len(e.timers); n > 4 {
				t.Errorf("%d timers after re-sending one window 10000 times", n)
			}
		}},
		{"route withdrawn", func(e *Engine) {
			e.PutRoute(t0, &Route{CourierID: "C-1", Stops: []Stop{{WindowID: "W-000000"}}})
			cp := CourierPing{CourierID: "C-1", TS: t0, Lat: 48.14, Lng: 11.58}
			e.CourierPing(t0, &cp)
			e.DeleteRoute(t0, "C-1")
		}, func(t *testing.T, e *Engine) {
			if s := e.Stats(); s.Couriers != 0 || s.Routes != 0 {
				t.Errorf("stats %+v after the only route was withdrawn", s)
			}
		}},
		{"huge radius", func(e *Engine) {
			w := Window{ID: "W-BIG", Kind: KindDelivery, VIN: "WAUZZZ4G0FN000777",
				Start: t0, End: t0 + 3600_000, Lat: 48.1372, Lng: 11.5756, RadiusM: 50_000}
			e.PutWindow(t0, &w)
		}, func(t *testing.T, e *Engine) {
			if n := e.windows["W-BIG"].area.Cover.Len(); n == 0 || n > 200 {
				t.Errorf("cover of a 50 km area has %d cells", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := benchEngine(t, 1)
			tt.apply(e)
			tt.check(t, e)
		})
	}
}
