package bench

import (
	"math"
	"strconv"
)

// Dispatch: windows and routes. Each stop of a route is a window on a
// parked car; the window's address is where the car is parked (a few metres
// off, or in one window in 33 far away, so the car is outside the area).
const (
	pReturn       = 0.2  // the window is a return, else a delivery
	pDriveOff     = 0.05 // the car leaves during its window
	pCancel       = 0.03 // dispatch cancels the window before the courier comes
	pFarAddress   = 0.03 // the car is parked 500–900 m from the address
	pNoRadius     = 0.1  // radius_m left out (the processor's default applies)
	quarterHourMs = 15 * 60_000
	hourMs        = 3600_000
	// The route planner's estimate of a stop: driving at 30 km/h on the
	// grid, two minutes of walking, one minute at the car.
	planDriveMps = 8.3
	planWalkMs   = 120_000
	planDwellMs  = 60_000
	// Planned break between two queued routes.
	planBreakMs = 5 * 60_000
	// How old the index of parked cars may get before a route planner
	// rebuilds it.
	indexMaxAgeMs = 60_000
)

var radii = [...]float64{150, 200, 300, 300, 500}

// window is one delivery or return window.
type window struct {
	id, order  []byte
	start, end int64
	eta        int64 // planned arrival of the courier
	lat, lng   float64
	carX, carY float64 // where the car was parked when the window was planned
	radius     float64 // 0: not sent
	car        int32
	courier    int32 // -1: none
	seq        uint32
	parkSeq    uint32
	isReturn   bool
	cancelled  bool
}

// window returns the live window ref names, or nil if it has ended.
func (g *Generator) window(ref stopRef) *window {
	if ref.win < 0 || int(ref.win) >= len(g.windows) || g.windows[ref.win].seq != ref.seq {
		return nil
	}
	return &g.windows[ref.win]
}

// allocWindow returns a fresh window slot; its seq differs from any
// earlier use of the slot.
func (g *Generator) allocWindow() int32 {
	var wi int32
	if n := len(g.freeWins); n > 0 {
		wi = g.freeWins[n-1]
		g.freeWins = g.freeWins[:n-1]
	} else {
		wi = int32(len(g.windows))
		g.windows = append(g.windows, window{})
	}
	w := &g.windows[wi]
	*w = window{seq: w.seq + 1, courier: -1}
	return wi
}

// bind makes car ci window wi's car and schedules the window's end.
func (g *Generator) bind(wi, ci int32) {
	w, c := &g.windows[wi], &g.cars[ci]
	c.win = wi
	c.winEnd = w.end
	w.car = ci
	w.parkSeq = c.parkSeq
	w.carX, w.carY = c.x, c.y
	g.q.push(w.end, evWindowEnd, wi, w.seq)
}

// planSetup plans the windows published by Setup: routes of 3–8 stops
// handed to the couriers in turn (a courier may get several, one after
// the other), until Config.Windows windows exist.
func (g *Generator) planSetup() {
	if g.cfg.Windows == 0 || len(g.couriers) == 0 {
		return
	}
	g.idx.build(g.city.radius, len(g.cars),
		func(i int) bool { return feeds[g.cars[i].feed].trunk },
		func(i int) (float64, float64) { return g.cars[i].x, g.cars[i].y }, g.start)
	type cursor struct {
		x, y float64
		t    int64
	}
	cur := make([]cursor, len(g.couriers))
	for i := range cur {
		cur[i] = cursor{g.couriers[i].x, g.couriers[i].y, g.start}
	}
	for n, left := 0, g.cfg.Windows; left > 0; n++ {
		i := n % len(g.couriers)
		k := min(3+g.rng.IntN(6), left)
		got := g.planRoute(int32(i), cur[i].t, g.start, cur[i].x, cur[i].y, k, true)
		if got == 0 {
			break // no free car left
		}
		left -= got
		cr := &g.couriers[i]
		r := &cr.routes[len(cr.routes)-1]
		last := &g.windows[r.stops[len(r.stops)-1].win]
		cur[i] = cursor{last.carX, last.carY, last.eta + planDwellMs + planBreakMs}
		cr.rolling = true
		cr.stateEnd = cr.routes[0].start
	}
}

// planRoute plans a route of up to k stops for courier i, starting at
// time start from (px, py), and queues it. Each stop is the free parked car
// nearest to a point 300–1500 m on from the previous stop. At setup any
// free car will do (a driving one is parked where it is) and the windows
// are left for Setup to publish; later, windows are published at now.
// It returns the number of stops planned.
func (g *Generator) planRoute(i int32, start, now int64, px, py float64, k int, setup bool) int {
	if !setup && (!g.idx.built || now-g.idx.builtAt > indexMaxAgeMs) {
		g.idx.build(g.city.radius, len(g.cars), func(i int) bool {
			c := &g.cars[i]
			return !c.demo && !c.driving && c.win < 0 && feeds[c.feed].trunk
		}, func(i int) (float64, float64) { return g.cars[i].x, g.cars[i].y }, now)
	}
	free := func(ci int32) bool {
		c := &g.cars[ci]
		return c.win < 0 && !c.demo && (setup || !c.driving) && feeds[c.feed].trunk
	}
	pos := func(ci int32) (float64, float64) { return g.cars[ci].x, g.cars[ci].y }
	r := route{start: start}
	t := start
	for range k {
		d, a := g.uniform(300, 1500), g.uniform(0, 2*math.Pi)
		tx, ty := px+d*math.Cos(a), py+d*math.Sin(a)
		if h, lim := math.Hypot(tx, ty), 0.9*g.city.radius; h > lim {
			tx, ty = tx*lim/h, ty*lim/h
		}
		ci := g.idx.nearest(tx, ty, free, pos)
		if ci < 0 {
			break
		}
		c := &g.cars[ci]
		if c.driving { // setup only: the trip has not begun yet
			c.driving = false
			c.parkSeq++
		}
		eta := t + int64((math.Abs(c.x-px)+math.Abs(c.y-py))/planDriveMps*1000) + planWalkMs
		t = eta + planDwellMs
		wi := g.newWindow(ci, i, eta, now)
		r.stops = append(r.stops, stopRef{win: wi, seq: g.windows[wi].seq})
		if setup {
			g.setupWins = append(g.setupWins, wi)
		} else {
			g.emitWindow(wi, now)
		}
		px, py = c.x, c.y
	}
	if len(r.stops) == 0 {
		return 0
	}
	cr := &g.couriers[i]
	cr.routes = append(cr.routes, r)
	return len(r.stops)
}

// newWindow creates a window on car ci, served by courier i around eta and
// published at now. It opens 20–90 min before eta (on a quarter hour), but
// not before now nor before the car's previous window ends, and lasts
// 1–3 h, ending at least 20 min after eta.
func (g *Generator) newWindow(ci, i int32, eta, now int64) int32 {
	wi := g.allocWindow()
	w := &g.windows[wi]
	g.nextWin++
	w.id = strconv.AppendInt([]byte("W-"), int64(100000+g.nextWin), 10)
	w.order = strconv.AppendInt([]byte("O-"), int64(700000+g.nextWin), 10)
	w.courier = i
	w.eta = eta
	w.isReturn = g.chance(pReturn)
	c := &g.cars[ci]
	w.start = (eta - g.ms(20*60, 90*60)) / quarterHourMs * quarterHourMs
	// Not before it is published, and one consent period at a time.
	w.start = max(w.start, (now+59_999)/60_000*60_000, c.winEnd)
	w.end = w.start + int64(1+g.rng.IntN(3))*hourMs
	for w.end < eta+20*60_000 {
		w.end += hourMs
	}
	ax, ay := c.x+g.rng.NormFloat64()*15, c.y+g.rng.NormFloat64()*15
	if g.chance(pFarAddress) {
		d, a := g.uniform(500, 900), g.uniform(0, 2*math.Pi)
		ax, ay = c.x+d*math.Cos(a), c.y+d*math.Sin(a)
	}
	w.lat, w.lng = g.city.latLng(ax, ay)
	if !g.chance(pNoRadius) {
		w.radius = radii[g.rng.IntN(len(radii))]
	}
	g.bind(wi, ci)
	if g.chance(pDriveOff) {
		c.stateEnd = now + g.ms(120, max(121, float64(eta-now)/1000+300))
	} else {
		c.stateEnd = max(c.stateEnd, w.end+g.ms(0, 3600))
	}
	g.scheduleCar(ci)
	if from := now + 60_000; eta > from && g.chance(pCancel) {
		g.q.push(from+int64(g.rng.Float64()*float64(eta-from)), evWindowCancel, wi, w.seq)
	}
	return wi
}

// emitWindow publishes window wi at t.
func (g *Generator) emitWindow(wi int32, t int64) {
	w := &g.windows[wi]
	g.buf = appendWindow(g.buf[:0], w, g.cars[w.car].vin)
	g.emit(g.cfg.Topics.Windows, w.id, g.keep(g.buf), t)
	g.stats.Windows++
}

// emitRoute publishes courier i's current route at t: its stops that are
// neither cancelled nor over, with their planned arrival.
func (g *Generator) emitRoute(i int32, t int64) {
	cr := &g.couriers[i]
	r := &cr.routes[0]
	b := append(g.buf[:0], `{"courier_id":"`...)
	b = append(b, cr.id...)
	b = append(b, `","stops":[`...)
	n := 0
	for _, ref := range r.stops {
		w := g.window(ref)
		if w == nil || w.cancelled {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"window_id":"`...)
		b = append(b, w.id...)
		b = append(b, `","eta":`...)
		b = appendTime(b, w.eta)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	g.buf = b
	g.emit(g.cfg.Topics.Routes, cr.id, g.keep(b), t)
	r.published = true
	g.stats.Routes++
}

// windowEnd retires window wi at its end: its car is free again and the
// slot may be reused.
func (g *Generator) windowEnd(wi int32, seq uint32, _ int64) {
	w := &g.windows[wi]
	if w.seq != seq {
		return
	}
	if c := &g.cars[w.car]; c.win == wi {
		c.win = -1
	}
	*w = window{seq: w.seq + 1, courier: -1}
	g.freeWins = append(g.freeWins, wi)
}

// windowCancel is dispatch cancelling window wi at t: a tombstone, and the
// courier's route again without the stop if it is under way.
func (g *Generator) windowCancel(wi int32, seq uint32, t int64) {
	w := &g.windows[wi]
	if w.seq != seq || w.cancelled {
		return
	}
	w.cancelled = true
	g.emit(g.cfg.Topics.Windows, w.id, nil, t)
	g.stats.Tombstones++
	if c := &g.cars[w.car]; c.win == wi {
		c.win = -1
	}
	if w.courier < 0 {
		return
	}
	cr := &g.couriers[w.courier]
	if !cr.live {
		return
	}
	for _, ref := range cr.routes[0].stops {
		if ref.win == wi && ref.seq == seq {
			g.emitRoute(w.courier, t)
			return
		}
	}
}

// The demo script, in simulated time after the start S. Engine defaults it
// is written for: a last_parked fix parks a car at once; a courier is
// approaching within 1000 m and arrived within 50 m; a grant needs the
// courier arrived, the car parked in the area, the trunk known closed and the
// window open; open then closed completes; locked within 120 s confirms the
// relock.
//
//   - W-DEMO-DELIVERY: the car is parked at the address from S; its courier
//     starts 600 m away, arrives at S+22 s; the trunk opens at S+30 s, closes
//     at S+45 s, the car locks at S+50 s.
//   - W-DEMO-RETURN: the same for a return, the courier leaving at S+60 s
//     and arriving at S+82 s.
//   - W-DEMO-MOVED: the courier sets off 1400 m away at S+80 s and comes
//     within 1000 m about half a minute later; at S+130 s the car drives off
//     for a minute and parks elsewhere.
//   - W-DEMO-MISSED: no courier; the window ends at S+90 s.
//   - W-DEMO-CANCELLED: dispatch cancels the window at S+60 s.
//
// Every demo window opens at S−1 min. Demo cars ping every 5 s while parked
// and every 2 s while driving, demo couriers every 2 s, without noise.
type demoWindow struct {
	name, vin  string
	isReturn   bool
	x, y       float64 // car, metres from the centre
	endMs      int64   // window end after S
	courier    bool
	cdx, cdy   float64 // courier start, relative to the car
	departMs   int64
	arriveMs   int64
	cancelMs   int64 // 0: never
	driveOffMs int64 // 0: never
}

var demoWindows = [...]demoWindow{
	{name: "DELIVERY", vin: "DEMO0DELIVERY0001", x: 230, y: 100, endMs: 2 * hourMs,
		courier: true, cdx: -600, departMs: 0, arriveMs: 22_000},
	{name: "RETURN", vin: "DEMO00RETURN00001", isReturn: true, x: -870, y: 400, endMs: 2 * hourMs,
		courier: true, cdy: -600, departMs: 60_000, arriveMs: 82_000},
	{name: "MOVED", vin: "DEMO000MOVED00001", x: 650, y: -800, endMs: 30 * 60_000,
		courier: true, cdx: 1400, departMs: 80_000, arriveMs: 80_000 + 117_000, driveOffMs: 130_000},
	{name: "MISSED", vin: "DEMO00MISSED00001", x: -330, y: -1200, endMs: 90_000},
	{name: "CANCELLED", vin: "DEMO0CANCELLED001", x: 1240, y: 900, endMs: 2 * hourMs, cancelMs: 60_000},
}

// initDemo adds the demo cars, couriers and windows; their windows are
// published first by Setup.
func (g *Generator) initDemo() {
	scale := min(1, g.city.radius/2500) // keep the cars inside small cities
	var wins []int32
	for n, d := range demoWindows {
		ci := int32(len(g.cars))
		g.cars = append(g.cars, car{
			vin: []byte(d.vin), win: -1, locked: true, demo: true, horizontal: true,
			x: d.x * scale, y: math.Round(d.y*scale/blockM) * blockM,
			stateEnd: never, nextPing: g.start,
		})
		c := &g.cars[ci]
		if d.driveOffMs > 0 {
			c.stateEnd = g.start + d.driveOffMs
		}
		wi := g.allocWindow()
		w := &g.windows[wi]
		w.id = []byte("W-DEMO-" + d.name)
		w.order = []byte("O-DEMO-" + d.name)
		w.isReturn = d.isReturn
		w.start = g.start - 60_000
		w.end = g.start + d.endMs
		w.eta = w.end
		w.lat, w.lng = g.city.latLng(c.x+5, c.y)
		w.radius = 300
		g.bind(wi, ci)
		g.scheduleCar(ci)
		if d.cancelMs > 0 {
			g.q.push(g.start+d.cancelMs, evWindowCancel, wi, w.seq)
		}
		wins = append(wins, wi)
		if !d.courier {
			continue
		}
		w.eta = g.start + d.arriveMs
		w.courier = int32(len(g.couriers))
		g.couriers = append(g.couriers, courier{
			id: strconv.AppendInt([]byte("DEMO-COURIER-"), int64(n+1), 10),
			x:  c.x + d.cdx, y: c.y + d.cdy, vanX: c.x + d.cdx, vanY: c.y + d.cdy,
			stateEnd: g.start + d.departMs, nextPing: g.start,
			demoArrive: g.start + d.arriveMs,
			demo:       true,
			routes:     []route{{stops: []stopRef{{win: wi, seq: w.seq}}, start: g.start + d.departMs}},
		})
	}
	g.setupWins = append(wins, g.setupWins...)
}
