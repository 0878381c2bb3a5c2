package pipeline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// fleetPings returns n car-ping records of a fleet of cars cars, of which
// the first windowed have an open window in e, and the time the pings span.
// The pings come in a random order, each car's a second apart and 11 m on
// along a circle of 100 m around its home, as a catch-up of a city's feed
// does. windowedShare is the share of the pings that come from windowed
// cars.
func fleetPings(tb testing.TB, e *Engine, cars, windowed, n int, windowedShare float64) ([][]byte, int64) {
	tb.Helper()
	putFleetWindows(tb, e, windowed)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make([]int, cars)
	recs := make([][]byte, n)
	var span int64
	for k := range recs {
		var i int
		if windowed > 0 && rng.Float64() < windowedShare {
			i = rng.IntN(windowed)
		} else {
			i = windowed + rng.IntN(cars-windowed)
		}
		seen[i]++
		a := float64(seen[i]) * 0.11
		lat := 48.0 + float64(i%1000)*3e-4 + 9e-4*math.Cos(a)
		lng := 11.4 + float64(i/1000)*4e-4 + 13.5e-4*math.Sin(a)
		ts := t0 + int64(seen[i])*1000
		span = max(span, ts-t0)
		recs[k] = fmt.Appendf(nil, `{"vin":"WAUZZZ4G0FN%06d","ts":%d,"lat":%.6f,"lng":%.6f,"speed_kmh":40,"heading_deg":0,"accuracy_m":6.5,"ignition":true,"trunk":"closed","locked":true}`,
			i, ts, lat, lng)
	}
	return recs, span
}

// putFleetWindows gives cars 0..n-1 of the fleet (VINs WAUZZZ4G0FN000000
// on) a window open for a year from t0.
func putFleetWindows(tb testing.TB, e *Engine, n int) {
	tb.Helper()
	for i := range n {
		w := Window{ID: "W-" + strconv.Itoa(i), OrderID: "O-" + strconv.Itoa(i), Kind: KindDelivery,
			VIN: fmt.Sprintf("WAUZZZ4G0FN%06d", i), Start: t0, End: t0 + 365*24*3600_000,
			Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
		if r := e.PutWindow(t0-60_000, &w); r != Applied {
			tb.Fatalf("PutWindow: %v", r)
		}
	}
}

// shiftPings moves the ts of every record d ms on, in place: the next
// round of the same pings is new fixes.
func shiftPings(recs [][]byte, d int64) {
	const at = len(`{"vin":"WAUZZZ4G0FN000000","ts":`)
	for _, r := range recs {
		ts, err := strconv.ParseInt(string(r[at:at+13]), 10, 64)
		if err != nil {
			panic(err)
		}
		strconv.AppendInt(r[at:at], ts+d, 10)
	}
}

// BenchmarkCarPingPath measures the per-record work of a partition worker
// on car pings, as worker.carPing does them: size check, consent (peek and
// lookup), decode and engine, over a fleet whose state
// does not fit in the CPU caches: the catch-up city mix (one car in ten
// with a window, 90 % of the pings from cars without one) and the worst
// case (every ping from a windowed car, moving).
func BenchmarkCarPingPath(b *testing.B) {
	for _, bc := range []struct {
		name          string
		cars, windows int
		share         float64
	}{
		{"city_mix", 1_000_000, 100_000, 0.1},
		{"worst_case", 100_000, 100_000, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := benchEngine(b, 0)
			recs, span := fleetPings(b, e, bc.cars, bc.windows, 1<<20, bc.share)
			e.Tick(t0)
			var p CarPing
			i := 0
			applied := 0
			b.ReportAllocs()
			for b.Loop() {
				if i == len(recs) {
					b.StopTimer()
					shiftPings(recs, span+60_000)
					i = 0
					b.StartTimer()
				}
				rec := recs[i]
				i++
				if CheckRecordSize(rec, 64<<10) != nil {
					b.Fatal("bad record")
				}
				vin, ts, ok := PeekCarPing(p.VIN, rec)
				p.VIN = vin
				if ok && e.NoOpenWindow(ts, vin, ts) {
					continue
				}
				if DecodeCarPing(&p, rec) != nil {
					b.Fatal("bad record")
				}
				if e.CarPing(p.TS, &p) == Applied {
					applied++
				}
				e.ResetEvents()
			}
			b.ReportMetric(float64(applied)/float64(b.N), "applied/op")
		})
	}
}

// BenchmarkCarPingMovePark measures the live scenario's per-ping work in
// the engine: 100 K cars with an open window, each alternating between two
// spots 35 m apart, a ping where it now is, then one saying it is parked
// there, so every ping emits one event (car_moved or car_parked) with its
// H3 cell. Decoding is left out (BenchmarkCarPingPath has it).
func BenchmarkCarPingMovePark(b *testing.B) {
	const cars = 100_000
	e := benchEngine(b, 0)
	putFleetWindows(b, e, cars)
	e.Tick(t0)
	vins := make([][]byte, cars)
	for i := range vins {
		vins[i] = fmt.Appendf(nil, "WAUZZZ4G0FN%06d", i)
	}
	p := CarPing{HasAccuracy: true, AccuracyM: 5, Trunk: TrunkClosed, Locked: True}
	var g int
	ping := func() int {
		i, k := g%cars, g/cars
		g++
		p.VIN, p.TS = vins[i], t0+int64(g)
		p.Lat, p.Lng = 48.0+float64(i%1000)*3e-4, 11.4+float64(i/1000)*4e-4
		if (k+1)/2%2 == 1 {
			p.Lat += 35 / 111_195.0
		}
		p.LocationType = LocationCurrent
		if k%2 == 0 {
			p.LocationType = LocationLastParked
		}
		if r := e.CarPing(p.TS, &p); r != Applied {
			b.Fatalf("ping %d: %v", g, r)
		}
		n := len(e.Events())
		e.ResetEvents()
		return n
	}
	for range 2 * cars { // located and parked, then moved: the steady state
		ping()
	}
	events := 0
	b.ReportAllocs()
	for b.Loop() {
		events += ping()
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// BenchmarkCheckFix measures the GPS filter chain against a last fix: a
// car moving at city speed (settled without trigonometry) and a fix whose
// implied speed is close to the limit (the exact distance decides).
func BenchmarkCheckFix(b *testing.B) {
	cfg := DefaultEngineConfig()
	for _, bc := range []struct {
		name string
		dLat float64 // degrees moved in one second
	}{{"city_speed", 0.0001}, {"near_limit", 0.000624}} {
		b.Run(bc.name, func(b *testing.B) {
			last := lastFix{t0, 48.1372, 11.5756}
			b.ReportAllocs()
			for b.Loop() {
				checkFix(&cfg, t0+1000, t0+1000, 48.1372+bc.dLat, 11.5756, true, 6.5, &last)
			}
		})
	}
}

// BenchmarkEngineCourierPing measures matching: a courier ping checked
// against the parked cars of the windows on its route (20 stops), with the
// proximity disk lookup before any exact distance.
func BenchmarkEngineCourierPing(b *testing.B) {
	e := benchEngine(b, 20)
	r := Route{CourierID: "C-1"}
	for i := range 20 {
		r.Stops = append(r.Stops, Stop{WindowID: fmt.Sprintf("W-%06d", i)})
		p := CarPing{VIN: []byte(fmt.Sprintf("V%016d", i)), TS: t0 + 1000, Lat: 48.1372 + float64(i)*1e-3, Lng: 11.5756,
			Trunk: TrunkClosed, LocationType: LocationLastParked}
		if r := e.CarPing(p.TS, &p); r != Applied {
			b.Fatal(r)
		}
	}
	e.PutRoute(t0+1000, &r)
	e.ResetEvents()
	cp := CourierPing{CourierID: "C-1", TS: t0 + 2000, Lat: 48.16, Lng: 11.60, HasAccuracy: true, AccuracyM: 5}
	b.ReportAllocs()
	for b.Loop() {
		cp.TS += 1000
		e.CourierPing(cp.TS, &cp)
		e.ResetEvents()
	}
}

// BenchmarkCarStateStore measures reading and writing one car's state in
// the engine's state store, as a windowed ping does.
func BenchmarkCarStateStore(b *testing.B) {
	e := benchEngine(b, 1)
	c := e.carOf(e.byVIN[fmt.Sprintf("V%016d", 0)])
	b.ReportAllocs()
	for b.Loop() {
		st, existed := e.loadCar(c)
		st.ts++
		e.saveCar(c, existed)
	}
}
