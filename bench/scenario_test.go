package bench

import (
	"encoding/json"
	"sort"
	"testing"
	"time"
)

// fix is a decoded position report of a car or courier, at simulated
// offset at from the start.
type fix struct {
	at       time.Duration
	lat, lng float64
	p        carPing // car pings only
}

// timeline indexes a simulation's records by key.
type timeline struct {
	start     time.Time
	cars      map[string][]fix // by VIN, valid fixes with usable accuracy
	couriers  map[string][]fix // by courier id
	windows   map[string]windowRec
	windowAt  map[string]time.Duration
	cancelled map[string]time.Duration   // window tombstones
	routes    map[string][]routeRec      // by courier, in order
	withdrawn map[string]time.Duration   // route tombstones, the last per courier
	routeOf   map[string]map[string]bool // window id → couriers whose route named it
}

// index decodes the records of the cars and couriers for which keep returns
// true (all windows and routes are kept).
func index(t *testing.T, cfg Config, start time.Time, recs []Record, keep func(key string) bool) *timeline {
	t.Helper()
	tl := &timeline{
		start: start, cars: map[string][]fix{}, couriers: map[string][]fix{},
		windows: map[string]windowRec{}, windowAt: map[string]time.Duration{},
		cancelled: map[string]time.Duration{}, routes: map[string][]routeRec{},
		withdrawn: map[string]time.Duration{}, routeOf: map[string]map[string]bool{},
	}
	for _, r := range recs {
		at := r.TS.Sub(start)
		key := string(r.Key)
		switch r.Topic {
		case cfg.Topics.Windows:
			if r.Value == nil {
				tl.cancelled[key] = at
				continue
			}
			var w windowRec
			decodeStrict(t, r.Value, &w)
			tl.windows[key], tl.windowAt[key] = w, at
		case cfg.Topics.Routes:
			if r.Value == nil {
				tl.withdrawn[key] = at
				continue
			}
			var rt routeRec
			decodeStrict(t, r.Value, &rt)
			tl.routes[key] = append(tl.routes[key], rt)
			for _, s := range rt.Stops {
				if tl.routeOf[s.WindowID] == nil {
					tl.routeOf[s.WindowID] = map[string]bool{}
				}
				tl.routeOf[s.WindowID][key] = true
			}
		case cfg.Topics.CarPings:
			if !keep(key) || isBad(r.Value) {
				continue
			}
			var p carPing
			decodeStrict(t, r.Value, &p)
			if p.AccuracyM > 50 || p.TS.ms != r.TS.UnixMilli() {
				continue // unusable or late
			}
			tl.cars[key] = append(tl.cars[key], fix{at: at, lat: *p.Lat, lng: *p.Lng, p: p})
		case cfg.Topics.CourierPings:
			if !keep(key) {
				continue
			}
			var p courierPing
			decodeStrict(t, r.Value, &p)
			tl.couriers[key] = append(tl.couriers[key], fix{at: at, lat: p.Lat, lng: p.Lng})
		}
	}
	return tl
}

// trunkEvents returns when a car's reports changed: the trunk opening and
// closing, and the car locking, in order.
type trunkEvent struct {
	at   time.Duration
	what string // "open", "closed", "locked", "unlocked"
	f    fix
}

func trunkEvents(fixes []fix) []trunkEvent {
	var evs []trunkEvent
	trunk, locked := "closed", true
	for _, f := range fixes {
		if f.p.Trunk == nil {
			continue
		}
		if *f.p.Trunk != trunk {
			trunk = *f.p.Trunk
			evs = append(evs, trunkEvent{f.at, trunk, f})
		}
		if *f.p.Locked != locked {
			locked = *f.p.Locked
			what := "unlocked"
			if locked {
				what = "locked"
			}
			evs = append(evs, trunkEvent{f.at, what, f})
		}
	}
	return evs
}

// nearest returns the first fix of fixes at or after from within m metres
// of (lat, lng).
func firstWithin(fixes []fix, from time.Duration, lat, lng, m float64) (fix, bool) {
	for _, f := range fixes {
		if f.at >= from && haversine(f.lat, f.lng, lat, lng) <= m {
			return f, true
		}
	}
	return fix{}, false
}

func lastBefore(fixes []fix, at time.Duration) (fix, bool) {
	i := sort.Search(len(fixes), func(i int) bool { return fixes[i].at >= at })
	if i == 0 {
		return fix{}, false
	}
	return fixes[i-1], true
}

// TestDemo checks the showcase script against the engine's default rules:
// a full delivery within the first minute; a collected return, a moved car,
// a missed window and a cancellation within about three minutes.
func TestDemo(t *testing.T) {
	t.Parallel()
	cfg := testConfig(func(c *Config) { c.Demo = true; c.Cars, c.Windows, c.Couriers = 200, 10, 3 })
	g := newGen(t, cfg)
	recs := g.Setup(nil)
	for i, name := range []string{"DELIVERY", "RETURN", "MOVED", "MISSED", "CANCELLED"} {
		if r := recs[i]; r.Topic != cfg.Topics.Windows || string(r.Key) != "W-DEMO-"+name {
			t.Fatalf("setup record %d: %s %s, want the demo window W-DEMO-%s first", i, r.Topic, r.Key, name)
		}
	}
	for at := time.Second; at <= 5*time.Minute; at += time.Second {
		recs = g.Step(recs, g.Start().Add(at))
	}
	tl := index(t, cfg, g.Start(), recs, func(key string) bool { return len(key) > 4 && key[:4] == "DEMO" })

	// A courier's arrival opens the trunk, which closes again and locks.
	completed := func(id, courier string, kind string, arriveBy, doneBy time.Duration) {
		t.Helper()
		w := tl.windows[id]
		if w.Kind != kind || !tl.routeOf[id][courier] || w.Start.After(g.Start()) || w.End.Sub(g.Start()) < time.Hour {
			t.Fatalf("%s: %+v, courier %s on its route: %v", id, w, courier, tl.routeOf[id][courier])
		}
		car := tl.cars[w.VIN]
		parked := car[0]
		if parked.at != 0 || *parked.p.LocationType != "last_parked" || *parked.p.Trunk != "closed" || !*parked.p.Locked ||
			haversine(parked.lat, parked.lng, w.Address.Lat, w.Address.Lng) > 20 {
			t.Fatalf("%s: first car fix %+v", id, parked.p)
		}
		first := tl.couriers[courier][0]
		if d := haversine(first.lat, first.lng, parked.lat, parked.lng); d < 400 || d > 1000 {
			t.Fatalf("%s: courier starts %.0f m from the car", id, d)
		}
		arrived, ok := firstWithin(tl.couriers[courier], 0, parked.lat, parked.lng, 50)
		if !ok || arrived.at > arriveBy || arrived.at < arriveBy-10*time.Second {
			t.Fatalf("%s: courier within 50 m at %v (%v), want by %v", id, arrived.at, ok, arriveBy)
		}
		evs := trunkEvents(car)
		want := []string{"open", "unlocked", "closed", "locked"}
		if len(evs) != len(want) {
			t.Fatalf("%s: trunk events %+v", id, evs)
		}
		for i, e := range evs {
			if e.what != want[i] {
				t.Fatalf("%s: trunk events %+v", id, evs)
			}
		}
		open, closed, locked := evs[0].at, evs[2].at, evs[3].at
		if open-arrived.at < 5*time.Second || closed-open < 10*time.Second || locked-closed < 3*time.Second || locked > doneBy {
			t.Fatalf("%s: arrived %v, open %v, closed %v, locked %v; want done by %v", id, arrived.at, open, closed, locked, doneBy)
		}
		// Every fix until the relock says the car is parked where it was.
		for _, f := range car {
			if f.at > locked {
				break
			}
			if *f.p.LocationType != "last_parked" || haversine(f.lat, f.lng, parked.lat, parked.lng) > 10 {
				t.Fatalf("%s: fix at %v: %+v", id, f.at, f.p)
			}
		}
		// The courier was still there when the trunk opened.
		if f, _ := lastBefore(tl.couriers[courier], open+time.Millisecond); haversine(f.lat, f.lng, parked.lat, parked.lng) > 50 {
			t.Fatalf("%s: courier gone when the trunk opened", id)
		}
	}
	completed("W-DEMO-DELIVERY", "DEMO-COURIER-1", "delivery", 25*time.Second, time.Minute)
	completed("W-DEMO-RETURN", "DEMO-COURIER-2", "return", 85*time.Second, 2*time.Minute)

	// The moved car drives off once its courier is approaching.
	w := tl.windows["W-DEMO-MOVED"]
	car := tl.cars[w.VIN]
	parked := car[0]
	var moved fix
	for _, f := range car {
		if *f.p.LocationType == "current" && haversine(f.lat, f.lng, parked.lat, parked.lng) > 30 {
			moved = f
			break
		}
	}
	approach, ok := firstWithin(tl.couriers["DEMO-COURIER-3"], 0, parked.lat, parked.lng, 1000)
	if moved.at == 0 || !ok || approach.at >= moved.at || moved.at > 3*time.Minute {
		t.Fatalf("moved car: courier within 1000 m at %v (%v), car moved at %v", approach.at, ok, moved.at)
	}
	if f, _ := lastBefore(tl.couriers["DEMO-COURIER-3"], moved.at); haversine(f.lat, f.lng, parked.lat, parked.lng) < 100 {
		t.Fatal("moved car: the courier had already arrived")
	}
	if evs := trunkEvents(car); len(evs) != 0 {
		t.Fatalf("moved car: trunk events %+v", evs)
	}
	if last := car[len(car)-1]; *last.p.LocationType != "last_parked" || haversine(last.lat, last.lng, parked.lat, parked.lng) < 100 {
		t.Fatalf("moved car did not park elsewhere: %+v", last.p)
	}

	// The missed window ends after 90 s with no courier.
	w = tl.windows["W-DEMO-MISSED"]
	if w.End.Sub(g.Start()) != 90*time.Second || len(tl.routeOf["W-DEMO-MISSED"]) != 0 {
		t.Fatalf("missed window %+v, on routes %v", w, tl.routeOf["W-DEMO-MISSED"])
	}
	if evs := trunkEvents(tl.cars[w.VIN]); len(evs) != 0 {
		t.Fatalf("missed window: trunk events %+v", evs)
	}

	// The cancelled window gets its tombstone after a minute.
	if at, ok := tl.cancelled["W-DEMO-CANCELLED"]; !ok || at != time.Minute {
		t.Fatalf("cancellation at %v (%v)", at, ok)
	}
	for id := range tl.cancelled {
		if id != "W-DEMO-CANCELLED" && id[:6] == "W-DEMO" {
			t.Fatalf("%s cancelled", id)
		}
	}
}

// TestDeliveries: over a couple of hours, couriers reach windowed cars and
// the trunk behaves as the contract's processor expects; some windows are
// cancelled, some cars drive off, some never relock.
func TestDeliveries(t *testing.T) {
	t.Parallel()
	cfg := testConfig(func(c *Config) { c.Cars, c.Couriers, c.Windows, c.Rate, c.BadFraction = 400, 15, 80, 20, 0 })
	g := newGen(t, cfg)
	recs := g.Setup(nil)
	for at := time.Minute; at <= 120*time.Minute; at += time.Minute {
		recs = g.Step(recs, g.Start().Add(at))
	}
	windowed := map[string]bool{}
	for _, r := range recs {
		if r.Topic == cfg.Topics.Windows && r.Value != nil {
			var w windowRec
			if err := json.Unmarshal(r.Value, &w); err != nil {
				t.Fatal(err)
			}
			windowed[w.VIN] = true
		}
	}
	tl := index(t, cfg, g.Start(), recs, func(key string) bool { return len(key) != 17 || windowed[key] })
	byVIN := map[string][]windowRec{}
	for _, w := range tl.windows {
		byVIN[w.VIN] = append(byVIN[w.VIN], w)
	}
	inWindow := func(vin string, at time.Duration) (windowRec, bool) {
		ts := g.Start().Add(at)
		for _, w := range byVIN[vin] {
			if _, gone := tl.cancelled[w.WindowID]; !gone && !ts.Before(w.Start) && ts.Before(w.End) {
				return w, true
			}
		}
		return windowRec{}, false
	}

	var deliveries, noRelock, driveOffs int
	for vin, fixes := range tl.cars {
		evs := trunkEvents(fixes)
		for i := 0; i < len(evs); i++ {
			if evs[i].what != "open" {
				continue
			}
			open := evs[i]
			w, ok := inWindow(vin, open.at)
			if !ok {
				t.Fatalf("%s: trunk opened at %v outside its windows", vin, open.at)
			}
			// A courier of the window's route was within 50 m 5–10 s before.
			found := false
			for c := range tl.routeOf[w.WindowID] {
				if f, ok := firstWithin(tl.couriers[c], open.at-10*time.Second-time.Millisecond, open.f.lat, open.f.lng, 50); ok && f.at <= open.at-5*time.Second {
					found = true
				}
			}
			if !found {
				t.Fatalf("%s: trunk opened at %v with no courier of %s arrived", vin, open.at, w.WindowID)
			}
			if i+2 >= len(evs) || evs[i+1].what != "unlocked" || evs[i+2].what != "closed" {
				continue // the simulation ended with the trunk open
			}
			if d := evs[i+2].at - open.at; d < 15*time.Second || d > 25*time.Second {
				t.Fatalf("%s: trunk open for %v", vin, d)
			}
			deliveries++
			// Locked 3–8 s after closing, or not until the car next parks.
			if i+3 < len(evs) && evs[i+3].what == "locked" && evs[i+3].at-evs[i+2].at < 2*time.Minute {
				if d := evs[i+3].at - evs[i+2].at; d < 3*time.Second || d > 8*time.Second {
					t.Fatalf("%s: locked %v after closing", vin, d)
				}
			} else {
				noRelock++
			}
		}
		for _, f := range fixes {
			if *f.p.Ignition {
				if _, ok := inWindow(vin, f.at); ok {
					driveOffs++
					break
				}
			}
		}
	}
	var cancelledWindows, withdrawnRoutes int
	for id := range tl.cancelled {
		if tl.windows[id].WindowID == "" {
			t.Fatalf("tombstone for unknown window %s", id)
		}
		cancelledWindows++
	}
	withdrawnRoutes = len(tl.withdrawn)
	t.Logf("%d windows, %d deliveries (%d never relocked), %d drive-offs, %d cancelled, %d routes withdrawn",
		len(tl.windows), deliveries, noRelock, driveOffs, cancelledWindows, withdrawnRoutes)
	if deliveries < len(tl.windows)/4 || noRelock == 0 || noRelock > deliveries/4 || driveOffs == 0 ||
		cancelledWindows == 0 || withdrawnRoutes == 0 {
		t.Fatal("the fleet lacks some behaviour")
	}
}
