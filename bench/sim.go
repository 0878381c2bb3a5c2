package bench

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/trunkline/trunkline/pipeline"
)

// Config describes a simulated fleet and how fast to drive it.
type Config struct {
	// Seed makes the simulation reproducible: the same Config yields the
	// same records.
	Seed int64
	// Cars is the size of the fleet. Couriers is the number of couriers.
	// Windows is the number of delivery and return windows published at
	// setup, each on a different car; only cars whose feed reports the
	// trunk (about 85% of the fleet) take windows, so at most that many are
	// published. As couriers finish their routes, dispatch plans new ones
	// so the load stays steady over an unbounded run.
	Cars, Couriers, Windows int
	// Rate is the offered rate of car pings per second, over the whole
	// fleet. The fleet's ping intervals are scaled so that it pings at
	// about this rate; Run also caps it there.
	Rate float64
	// Duration is how much simulated time Run covers; 0 runs until its
	// context is done.
	Duration time.Duration
	// CenterLat, CenterLng and RadiusM describe the city: a disc of RadiusM
	// metres around the centre.
	CenterLat, CenterLng, RadiusM float64
	// BadFraction is the fraction of car pings that are followed by a
	// deliberately invalid record (malformed JSON, no VIN, latitude out of
	// range, ...). 0 disables them.
	BadFraction float64
	// Demo adds the scripted showcase windows (W-DEMO-*).
	Demo bool
	// Topics names the topics written. Only CarPings, CourierPings,
	// Windows and Routes are used.
	Topics pipeline.Topics
	// Start is the simulated time at which the simulation starts (event
	// time). NewGenerator uses 2026-11-24T10:00:00Z when it is zero; Run
	// uses its clock's current time.
	Start time.Time
}

// DefaultConfig returns a Munich fleet of 10 000 cars and 200 couriers with
// 500 windows, pinging 2 000 times per second, seed 1.
func DefaultConfig() Config {
	return Config{
		Seed:        1,
		Cars:        10000,
		Couriers:    200,
		Windows:     500,
		Rate:        2000,
		CenterLat:   48.137154,
		CenterLng:   11.576124,
		RadiusM:     12000,
		BadFraction: 0.001,
		Topics:      pipeline.DefaultTopics(),
	}
}

// maxCars bounds the fleet so that every car gets a distinct VIN.
const maxCars = 20_000_000

// Validate reports every setting that is out of range, saying what to use.
func (c Config) Validate() error {
	var errs []error
	if c.Cars < 1 || c.Cars > maxCars {
		errs = append(errs, fmt.Errorf("sim: cars %d out of range: use 1..%d", c.Cars, maxCars))
	}
	if c.Couriers < 0 {
		errs = append(errs, fmt.Errorf("sim: couriers must be >= 0, got %d", c.Couriers))
	}
	if c.Windows < 0 || c.Windows > c.Cars {
		errs = append(errs, fmt.Errorf("sim: windows %d out of range: use 0..cars (%d), one car per window", c.Windows, c.Cars))
	}
	if c.Windows > 0 && c.Couriers < 1 {
		errs = append(errs, fmt.Errorf("sim: %d windows need at least one courier", c.Windows))
	}
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("sim: rate must be a positive number of car pings per second, got %v", c.Rate))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("sim: duration must be >= 0 (0 runs until stopped), got %v", c.Duration))
	}
	if !(c.CenterLat >= -80 && c.CenterLat <= 80) {
		errs = append(errs, fmt.Errorf("sim: centre latitude %v out of range: use -80..80", c.CenterLat))
	}
	if !(c.CenterLng >= -180 && c.CenterLng <= 180) {
		errs = append(errs, fmt.Errorf("sim: centre longitude %v out of range: use -180..180", c.CenterLng))
	}
	if !(c.RadiusM >= 1000 && c.RadiusM <= 100000) {
		errs = append(errs, fmt.Errorf("sim: radius %v m out of range: use 1000..100000", c.RadiusM))
	}
	if !(c.BadFraction >= 0 && c.BadFraction < 1) {
		errs = append(errs, fmt.Errorf("sim: bad fraction %v out of range: use 0 (none) up to below 1", c.BadFraction))
	}
	for _, t := range []struct{ name, v string }{
		{"car_pings", c.Topics.CarPings}, {"courier_pings", c.Topics.CourierPings},
		{"windows", c.Topics.Windows}, {"routes", c.Topics.Routes},
	} {
		if t.v == "" {
			errs = append(errs, fmt.Errorf("sim: topics.%s is empty: set a topic name", t.name))
		}
	}
	return errors.Join(errs...)
}

// Record is one record to produce. Value nil is a tombstone. TS is the
// simulated time at which the record is sent; a car ping's own "ts" field
// may be older (a late fix).
//
// Key and Value may be shared between records and with the generator: treat
// them as read-only.
type Record struct {
	Topic      string
	Key, Value []byte
	TS         time.Time
}

// Stats counts the records generated, by kind. CarPings counts well-formed
// car pings (duplicates and late fixes included); Bad counts the
// deliberately invalid ones. Windows and Routes count upserts, Tombstones
// counts cancellations and withdrawn routes.
type Stats struct {
	CarPings, CourierPings, Windows, Routes, Tombstones, Bad uint64
}

// defaultStart is the simulated start when Config.Start is zero.
var defaultStart = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// Generator is the simulation. It is not safe for concurrent use. Records
// it appends share the generator's read-only key and value buffers; they
// stay valid after later calls.
type Generator struct {
	cfg   Config
	city  city
	rng   *rand.Rand
	start int64 // Unix ms
	q     queue

	cars     []car
	couriers []courier
	windows  []window
	freeWins []int32
	nextWin  int // serial of the next window id
	idx      spatialIndex

	// Ping intervals in ms after scaling to Config.Rate, and the cap on a
	// windowed car's parked interval (0: no cap).
	driveIv, parkIv, winCapIv float64

	setupWins []int32 // windows published by Setup, in order

	out   []Record // the slice Step appends to
	buf   []byte   // scratch for encoding
	slab  []byte   // values are carved from here
	stats Stats
}

// NewGenerator validates cfg and lays out the fleet, the couriers and the
// windows at simulated time cfg.Start.
func NewGenerator(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Start.IsZero() {
		cfg.Start = defaultStart
	}
	g := &Generator{
		cfg:   cfg,
		city:  newCity(cfg.CenterLat, cfg.CenterLng, cfg.RadiusM),
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7472756e6b6c696e)), // "trunklin"
		start: cfg.Start.UnixMilli(),
		buf:   make([]byte, 0, 1024),
	}
	g.scaleIntervals()
	g.initFleet()
	g.initCouriers()
	g.planSetup()
	if cfg.Demo {
		g.initDemo()
	}
	for i := range g.couriers {
		g.scheduleCourier(int32(i))
	}
	return g, nil
}

// Setup appends the records to publish before any ping: every window
// planned at the start, then every courier's first route. Call it once.
func (g *Generator) Setup(dst []Record) []Record {
	g.out = dst
	for _, wi := range g.setupWins {
		g.emitWindow(wi, g.start)
	}
	for i := range g.couriers {
		cr := &g.couriers[i]
		if len(cr.routes) > 0 && !cr.routes[0].published {
			g.emitRoute(int32(i), g.start)
		}
	}
	dst, g.out = g.out, nil
	return dst
}

// Step runs the simulation up to and including simulated time until and
// appends every record that falls due, in order. Calls with an until that
// is not later than the previous one append nothing.
func (g *Generator) Step(dst []Record, until time.Time) []Record {
	u := until.UnixMilli()
	g.out = dst
	for len(g.q.items) > 0 && g.q.items[0].at <= u {
		it := g.q.pop()
		switch it.kind {
		case evCar:
			if c := &g.cars[it.id]; c.gen == it.gen {
				g.carWake(it.id, it.at)
			}
		case evCourier:
			if cr := &g.couriers[it.id]; cr.gen == it.gen {
				g.courierWake(it.id, it.at)
			}
		case evWindowEnd:
			g.windowEnd(it.id, it.gen, it.at)
		case evWindowCancel:
			g.windowCancel(it.id, it.gen, it.at)
		}
	}
	dst, g.out = g.out, nil
	return dst
}

// Stats returns the counts of records generated so far.
func (g *Generator) Stats() Stats { return g.stats }

// Start returns the simulated start time.
func (g *Generator) Start() time.Time { return time.UnixMilli(g.start).UTC() }

// emit appends one record due at simulated time t.
func (g *Generator) emit(topic string, key, val []byte, t int64) {
	g.out = append(g.out, Record{Topic: topic, Key: key, Value: val, TS: time.UnixMilli(t).UTC()})
}

// slabSize is the size of the chunks record values are carved from: one
// allocation per few hundred records.
const slabSize = 64 << 10

// keep copies b into the value slab and returns the copy, capped so that an
// append to it cannot overwrite its neighbour.
func (g *Generator) keep(b []byte) []byte {
	if len(b) > cap(g.slab)-len(g.slab) {
		n := slabSize
		if len(b) > n {
			n = len(b)
		}
		g.slab = make([]byte, 0, n)
	}
	off := len(g.slab)
	g.slab = append(g.slab, b...)
	return g.slab[off:len(g.slab):len(g.slab)]
}

// Event kinds of the queue.
const (
	evCar uint8 = iota + 1
	evCourier
	evWindowEnd
	evWindowCancel
)

// item is one scheduled wake-up. gen must match the entity's current
// generation for the item to be live: rescheduling an entity bumps its
// generation and leaves the old item to be skipped.
type item struct {
	at   int64 // simulated Unix ms
	seq  uint64
	id   int32
	gen  uint32
	kind uint8
}

// queue is a binary min-heap of items ordered by (at, seq): ties are broken
// by insertion order, which keeps the simulation deterministic.
type queue struct {
	items []item
	seq   uint64
}

func (q *queue) less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

func (q *queue) push(at int64, kind uint8, id int32, gen uint32) {
	q.seq++
	q.items = append(q.items, item{at: at, seq: q.seq, id: id, gen: gen, kind: kind})
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.items[i], q.items[p] = q.items[p], q.items[i]
		i = p
	}
}

func (q *queue) pop() item {
	top := q.items[0]
	n := len(q.items) - 1
	q.items[0] = q.items[n]
	q.items = q.items[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top
}

// Random helpers. Every draw comes from g.rng, in event order.

// uniform returns a value in [lo, hi).
func (g *Generator) uniform(lo, hi float64) float64 { return lo + (hi-lo)*g.rng.Float64() }

// ms returns a duration in [lo, hi) seconds as milliseconds.
func (g *Generator) ms(lo, hi float64) int64 { return int64(g.uniform(lo, hi) * 1000) }

// chance reports true with probability p.
func (g *Generator) chance(p float64) bool { return p > 0 && g.rng.Float64() < p }
