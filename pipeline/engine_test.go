package pipeline

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/geo"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).UnixMilli()

// testEngine returns an engine with the default rules and the scenarios'
// grant key, closed when the test ends.
func testEngine(tb testing.TB) *Engine {
	tb.Helper()
	cfg := DefaultEngineConfig()
	cfg.GrantKey = scenarioKey
	e, err := NewEngine(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

// benchEngine returns an engine with n open windows (VINs V000000..) and the
// VIN of the first.
func benchEngine(tb testing.TB, n int) *Engine {
	tb.Helper()
	e := testEngine(tb)
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

// TestCarPingPathAllocs holds the allocation budget of a car-ping record
// from its bytes: decode and engine allocate nothing for a car without a
// window or a windowed fix that changes no window, and one string (the
// event id) for a fix that emits an event (here the first fix of a window:
// car_located).
func TestCarPingPathAllocs(t *testing.T) {
	const runs = 200
	e := benchEngine(t, runs+2)
	ping := func(vin string, ts int64, lat float64) []byte {
		return fmt.Appendf(nil, `{"vin":%q,"ts":%d,"lat":%.6f,"lng":11.5756,"accuracy_m":5,"trunk":"closed","locked":true}`, vin, ts, lat)
	}
	var p CarPing
	apply := func(rec []byte) Reason {
		if err := DecodeCarPing(&p, rec); err != nil {
			t.Fatal(err)
		}
		r := e.CarPing(p.TS, &p)
		e.ResetEvents()
		return r
	}
	tests := []struct {
		name   string
		record func(i int) []byte
		want   Reason
		max    float64
	}{
		{"no window", func(i int) []byte { return ping("WAUZZZ4G0FN999999", t0+int64(i)*1000, 48.1372) }, FilterNoWindow, 0},
		{"windowed, moving", func(i int) []byte {
			return ping(fmt.Sprintf("V%016d", runs+1), t0+int64(i+1)*1000, 48.1372+float64(i)*1e-4)
		}, Applied, 0},
		{"windowed, first fix", func(i int) []byte { return ping(fmt.Sprintf("V%016d", i), t0+1000, 48.1372) }, Applied, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := make([][]byte, runs+1)
			for i := range recs {
				recs[i] = tt.record(i)
			}
			i := 0
			allocs := testing.AllocsPerRun(runs, func() {
				if r := apply(recs[i]); r != tt.want {
					t.Fatalf("record %d: %v, want %v", i, r, tt.want)
				}
				i++
			})
			if allocs > tt.max {
				t.Errorf("%.2f allocations per record, budget %.0f", allocs, tt.max)
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
			// The area is its centre and radius: no per-cell state.
			if !e.HasWindowState("W-BIG") {
				t.Errorf("window with a 50 km area not held")
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

// TestEngineReleasesMemory checks the memory the engine shares or gives
// back: a proximity disk is made only once a courier is compared with a
// parked car, cars parked in one cell share it, it goes when the car moves
// and with the last of its windows, and the event buffer does not keep the room a
// burst of events (many windows opening at once) needed.
func TestEngineReleasesMemory(t *testing.T) {
	tests := []struct {
		name  string
		apply func(t *testing.T, e *Engine)
		check func(t *testing.T, e *Engine)
	}{
		{"parked cars share a disk", func(t *testing.T, e *Engine) {
			parkTwo(t, e)
			if len(e.disks) != 0 {
				t.Fatalf("%d disks before any courier was compared with the parked cars", len(e.disks))
			}
			e.PutRoute(t0+1500, &Route{CourierID: "C-P", Stops: []Stop{{WindowID: "W-P0"}, {WindowID: "W-P1"}}})
			cp := CourierPing{CourierID: "C-P", TS: t0 + 1500, Lat: 48.14, Lng: 11.58, HasAccuracy: true, AccuracyM: 5}
			if r := e.CourierPing(cp.TS, &cp); r != Applied {
				t.Fatalf("courier ping: %v", r)
			}
			if len(e.disks) != 1 || e.win(e.windows["W-P0"]).disk != e.win(e.windows["W-P1"]).disk {
				t.Fatalf("%d disks for two cars parked in one cell", len(e.disks))
			}
			e.DeleteWindow(t0+2000, "W-P0")
			e.DeleteWindow(t0+2000, "W-P1")
		}, func(t *testing.T, e *Engine) {
			if len(e.disks) != 0 {
				t.Errorf("%d disks left after the windows of the parked cars ended", len(e.disks))
			}
		}},
		{"a disk goes when the car moves", func(t *testing.T, e *Engine) {
			parkTwo(t, e)
			e.PutRoute(t0+1500, &Route{CourierID: "C-P", Stops: []Stop{{WindowID: "W-P0"}}})
			cp := CourierPing{CourierID: "C-P", TS: t0 + 1500, Lat: 48.14, Lng: 11.58, HasAccuracy: true, AccuracyM: 5}
			e.CourierPing(cp.TS, &cp)
			if len(e.disks) != 1 {
				t.Fatalf("%d disks, want the one around the car of W-P0", len(e.disks))
			}
			// Two kilometres north: the anchor moves and its disk goes, so
			// the courier is compared with the car where it now is.
			p := CarPing{VIN: []byte("WAUZZZ4G0FN000701"), TS: t0 + 200_000, Lat: 48.1552, Lng: 11.5756, HasAccuracy: true, AccuracyM: 5}
			if r := e.CarPing(p.TS, &p); r != Applied {
				t.Fatalf("ping: %v", r)
			}
		}, func(t *testing.T, e *Engine) {
			if w := e.win(e.windows["W-P0"]); w.disk != nil || len(e.disks) != 0 {
				t.Errorf("%d disks after the car moved (W-P0 holds one: %v)", len(e.disks), w.disk != nil)
			}
		}},
		{"burst of events", func(t *testing.T, e *Engine) {
			for i := range 10_000 {
				w := Window{ID: fmt.Sprintf("W-B%05d", i), Kind: KindDelivery, VIN: fmt.Sprintf("WAUZZZ4G0FB%06d", i),
					Start: t0 + 1000, End: t0 + 3600_000, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
				e.PutWindow(t0, &w)
			}
			p := CarPing{VIN: []byte("WAUZZZ4G0FN999999"), TS: t0 + 2000, Lat: 48.1372, Lng: 11.5756}
			e.CarPing(p.TS, &p) // opens them all
			if n := len(e.Events()); n < 10_000 {
				t.Fatalf("%d events, want the 10000 windows opening", n)
			}
			e.ResetEvents()
		}, func(t *testing.T, e *Engine) {
			if c := cap(e.events); c > maxKeptEvents {
				t.Errorf("event buffer keeps room for %d events after a burst", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := benchEngine(t, 1)
			tt.apply(t, e)
			tt.check(t, e)
		})
	}
}

// TestWindowRecreatedUnderSameID checks that the timers of a cancelled
// window do not act on a window created later under the same id: the new
// window opens and closes at its own start and end.
func TestWindowRecreatedUnderSameID(t *testing.T) {
	const h = 3600_000
	e := benchEngine(t, 0)
	w := Window{ID: "W-1", Kind: KindDelivery, VIN: "WAUZZZ4G0FN000001", Start: t0 + h, End: t0 + 3*h, Lat: 48.1, Lng: 11.5, RadiusM: 300}
	e.PutWindow(t0, &w)
	e.DeleteWindow(t0, "W-1")
	w.Start, w.End = t0+2*h, t0+5*h
	e.PutWindow(t0, &w)
	e.ResetEvents()
	var got []string
	for _, at := range []int64{t0 + h, t0 + 2*h, t0 + 3*h, t0 + 4*h, t0 + 5*h} {
		p := CarPing{VIN: []byte("WAUZZZ4G0FN999999"), TS: at, Lat: 48.1, Lng: 11.5}
		e.CarPing(at, &p)
		for _, ev := range e.Events() {
			got = append(got, fmt.Sprintf("%s@%dh", ev.Type, (ev.TS-t0)/h))
		}
		e.ResetEvents()
	}
	want := "tracking_started@2h window_missed@5h tracking_stopped@5h"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("events %s, want %s", s, want)
	}
}

// parkTwo parks the cars of windows W-P0 and W-P1 in one cell at t0+1s.
func parkTwo(t *testing.T, e *Engine) {
	t.Helper()
	for i, vin := range []string{"WAUZZZ4G0FN000701", "WAUZZZ4G0FN000702"} {
		w := Window{ID: fmt.Sprintf("W-P%d", i), Kind: KindDelivery, VIN: vin,
			Start: t0, End: t0 + 3600_000, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
		e.PutWindow(t0, &w)
		p := CarPing{VIN: []byte(vin), TS: t0 + 1000, Lat: 48.1372, Lng: 11.5756 + float64(i)*1e-5, LocationType: LocationLastParked}
		if r := e.CarPing(p.TS, &p); r != Applied {
			t.Fatalf("ping of %s: %v", vin, r)
		}
	}
}

// TestCarStateSurvivesOtherCars checks that a tracked car keeps its state
// however many fixes of other cars are written after its own: a parked car
// that pings again after a million fixes of other cars is still parked and
// located and emits nothing new, and the count of cars with state does not
// drift. (A store that evicts its oldest entries, as a fastcache ring does
// once it wraps, loses the parked car here.)
func TestCarStateSurvivesOtherCars(t *testing.T) {
	e := testEngine(t)
	const others = 2000
	for i := range others + 1 {
		w := Window{ID: fmt.Sprintf("W-%06d", i), Kind: KindDelivery, VIN: fmt.Sprintf("WAUZZZ4G0FN%06d", i),
			Start: t0, End: t0 + 24*3600_000, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
		e.PutWindow(t0-60_000, &w)
	}
	parked := CarPing{VIN: []byte("WAUZZZ4G0FN000000"), TS: t0 + 1000, Lat: 48.1372, Lng: 11.5756, LocationType: LocationLastParked}
	if r := e.CarPing(parked.TS, &parked); r != Applied {
		t.Fatal(r)
	}
	e.ResetEvents()
	p := CarPing{HasAccuracy: true, AccuracyM: 5}
	for k := range 500 { // a million fixes of other cars
		for i := 1; i <= others; i++ {
			p.VIN = fmt.Appendf(p.VIN[:0], "WAUZZZ4G0FN%06d", i)
			p.TS, p.Lat, p.Lng = t0+2000+int64(k)*1000, 48.1+float64(k)*1e-4, 11.5
			e.CarPing(p.TS, &p)
		}
		e.ResetEvents()
	}
	parked.TS = t0 + 600_000
	if r := e.CarPing(parked.TS, &parked); r != Applied {
		t.Fatal(r)
	}
	for _, ev := range e.Events() {
		if ev.VIN == string(parked.VIN) {
			t.Errorf("%s emitted again: the car's state was lost", ev.Type)
		}
	}
	if s := e.Stats(); s.Cars != others+1 {
		t.Errorf("%d cars with state, want %d", s.Cars, others+1)
	}
}
