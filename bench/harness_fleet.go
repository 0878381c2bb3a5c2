package bench

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// The fleets of the harness's scenarios. Each is deterministic given its
// seed; only the time origin (the scenario's start, read from the clock so
// that the processor does not filter the pings as future) shifts the
// timestamps.

// cityGenerator returns the fleet simulator set up as the city mix: cars
// cars, couriers couriers and windows windows (10 % of the fleet in the
// full scenario). Every window published at setup is open from the start:
// its start is moved to the simulation's start (its end stays 1–3 h later),
// so that the share of pings from cars in an open window is what the
// scenario says. Pings are generated at rate per simulated second: the
// simulated span is then pings/rate.
func cityGenerator(seed int64, cars, couriers, windows int, rate float64, start time.Time) (*Generator, error) {
	cfg := DefaultConfig()
	cfg.Seed = seed
	cfg.Cars, cfg.Couriers, cfg.Windows = cars, couriers, windows
	cfg.Rate = rate
	cfg.Start = start
	g, err := NewGenerator(cfg)
	if err != nil {
		return nil, err
	}
	for _, wi := range g.setupWins {
		w := &g.windows[wi]
		w.start = g.start
	}
	return g, nil
}

// fleetCar is a car of the synthetic fleets: its VIN, feed, position (local
// metres) and, for moving cars, its direction.
type fleetCar struct {
	vin    []byte
	feed   uint8
	x, y   float64
	dx, dy float64
}

// syntheticFleet is the fleet of the worst-case, live and memory scenarios:
// n cars spread over the city, each with one window open for the whole
// scenario.
type syntheticFleet struct {
	city  city
	cars  []fleetCar
	start int64 // Unix ms: windows open before it
	buf   []byte
	slab  []byte
}

// Window ids of the synthetic fleets are windowPrefix and the car's index,
// so that an event's key (its window id) names the car that caused it.
const windowPrefix = "WB-"

func newSyntheticFleet(seed int64, n int, start int64) *syntheticFleet {
	cfg := DefaultConfig()
	f := &syntheticFleet{city: newCity(cfg.CenterLat, cfg.CenterLng, cfg.RadiusM), start: start}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x62656e6368666c74)) // "benchflt"
	f.cars = make([]fleetCar, n)
	for i := range f.cars {
		c := &f.cars[i]
		c.feed = pickFeed(rng)
		c.vin = makeVIN(rng, &feeds[c.feed], i)
		c.x, c.y, _ = f.city.randomStreetPoint(rng, 0.5)
		a := rng.Float64() * 2 * math.Pi
		c.dx, c.dy = math.Cos(a), math.Sin(a)
	}
	return f
}

// keep copies b into the slab and returns the copy (see Generator.keep).
func (f *syntheticFleet) keep(b []byte) []byte {
	if len(b) > cap(f.slab)-len(f.slab) {
		f.slab = make([]byte, 0, max(slabSize, len(b)))
	}
	off := len(f.slab)
	f.slab = append(f.slab, b...)
	return f.slab[off:len(f.slab):len(f.slab)]
}

// windowID appends car i's window id.
func windowID(dst []byte, i int) []byte {
	return strconv.AppendInt(append(dst, windowPrefix...), int64(i), 10)
}

// carOfWindow returns the car index of a window id of a synthetic fleet,
// or -1.
func carOfWindow(id []byte) int {
	if len(id) <= len(windowPrefix) || string(id[:len(windowPrefix)]) != windowPrefix {
		return -1
	}
	n := 0
	for _, c := range id[len(windowPrefix):] {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// windows appends one window per car, open from a minute before the start
// for three hours, its address where the car is.
func (f *syntheticFleet) windows(dst []Record, topic string) []Record {
	for i := range f.cars {
		c := &f.cars[i]
		var w window
		w.id = f.keep(windowID(f.buf[:0], i))
		w.order = f.keep(strconv.AppendInt(append(f.buf[:0], "OB-"...), int64(i), 10))
		w.start = f.start - 60_000
		w.end = f.start + 3*hourMs
		w.lat, w.lng = f.city.latLng(c.x, c.y)
		w.radius = 300
		f.buf = appendWindow(f.buf[:0], &w, c.vin)
		dst = append(dst, Record{Topic: topic, Key: w.id, Value: f.keep(f.buf), TS: time.UnixMilli(f.start)})
	}
	return dst
}

// movingPing appends car i's ping at ts, driving at speedMps since the
// start along its direction.
func (f *syntheticFleet) movingPing(dst []Record, topic string, i int, ts int64, speedMps float64) []Record {
	c := &f.cars[i]
	d := speedMps * float64(ts-f.start) / 1000
	lat, lng := f.city.latLng(c.x+c.dx*d, c.y+c.dy*d)
	x := carFix{ts: ts, lat: lat, lng: lng, speed: speedMps * 3.6, heading: headingDeg(c.dx, c.dy),
		acc: 5, ignition: true, locked: true}
	f.buf = appendCarPing(f.buf[:0], c.vin, &feeds[c.feed], &x)
	return append(dst, Record{Topic: topic, Key: c.vin, Value: f.keep(f.buf), TS: time.UnixMilli(ts)})
}

// stepM is how far a live-scenario car moves between its two spots: more
// than the park distance (30 m), so each move is a car_moved.
const stepM = 35

// liveMinIntervalS is the shortest time between two pings of a live car:
// stepM in that time is 210 km/h, under the engine's maximum implied
// speed (250 km/h), so no move is filtered.
const liveMinIntervalS = 0.6

// livePing appends ping k of car i in the live scenario: the car alternates
// between two spots stepM apart, each time first reporting its position
// (location_type current: a parked car that moved, car_moved) and then that
// it is parked there (last_parked: car_parked). Ping 0 parks the car at its
// first spot (car_located, car_parked). Every ping after the first causes
// exactly one event. The live fleet uses a feed that sends location_type.
func (f *syntheticFleet) livePing(dst []byte, i int, k uint32, ts int64) []byte {
	c := &f.cars[i]
	x, y := c.x, c.y
	if (k+1)/2%2 == 1 {
		x, y = x+c.dx*stepM, y+c.dy*stepM
	}
	lat, lng := f.city.latLng(x, y)
	fix := carFix{ts: ts, lat: lat, lng: lng, acc: 5, locked: true, lastParked: k%2 == 0}
	return appendCarPing(dst, c.vin, &feeds[liveFeed], &fix)
}

// liveFeed is the feed of the live fleet: RFC 3339 timestamps,
// location_type, trunk and lock.
const liveFeed = 1

// parkedPing appends car i's ping at ts, parked where it is (current
// location, the engine decides when it is parked).
func (f *syntheticFleet) parkedPing(dst []Record, topic string, i int, ts int64) []Record {
	c := &f.cars[i]
	lat, lng := f.city.latLng(c.x, c.y)
	x := carFix{ts: ts, lat: lat, lng: lng, acc: 5, locked: true}
	f.buf = appendCarPing(f.buf[:0], c.vin, &feeds[c.feed], &x)
	return append(dst, Record{Topic: topic, Key: c.vin, Value: f.keep(f.buf), TS: time.UnixMilli(ts)})
}

// couriers appends one route per courier of the memory scenario (courier
// j serves the windows of cars j, j+couriers, j+2·couriers, ...), then
// each courier's position ping at ts, 2 km from its first stop.
func (f *syntheticFleet) couriers(dst []Record, routes, pings string, couriers int, ts int64) []Record {
	ids := make([][]byte, couriers)
	for j := range couriers {
		id := f.keep(makeCourierID(j))
		ids[j] = id
		b := append(f.buf[:0], `{"courier_id":"`...)
		b = append(b, id...)
		b = append(b, `","stops":[`...)
		for i, n := j, 0; i < len(f.cars); i, n = i+couriers, n+1 {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"window_id":"`...)
			b = windowID(b, i)
			b = append(b, `","eta":`...)
			b = appendTime(b, f.start+int64(n+1)*600_000)
			b = append(b, '}')
		}
		b = append(b, "]}"...)
		f.buf = b
		dst = append(dst, Record{Topic: routes, Key: id, Value: f.keep(b), TS: time.UnixMilli(ts)})
	}
	for j, id := range ids {
		c := &f.cars[j%len(f.cars)]
		lat, lng := f.city.latLng(c.x+2000, c.y)
		x := courierFix{ts: ts, lat: lat, lng: lng, speed: 20, acc: 8}
		f.buf = appendCourierPing(f.buf[:0], id, true, &x)
		dst = append(dst, Record{Topic: pings, Key: id, Value: f.keep(f.buf), TS: time.UnixMilli(ts)})
	}
	return dst
}
