package bench

import (
	"math"
)

// The fleet model. Cars alternate between parking (log-uniform, 5 min to
// 4 h) and driving (3–25 min) along the street grid at 20–60 km/h. A car
// pings periodically, more often while driving, and at once on every change
// it has to report: ignition on or off, trunk opened or closed, locked.
const (
	parkMinMs = 5 * 60_000
	parkMaxMs = 4 * 3600_000
	tripMinMs = 3 * 60_000
	tripMaxMs = 25 * 60_000

	// Natural ping intervals before scaling to Config.Rate.
	baseDriveIvMs = 3_000.0
	baseParkIvMs  = 60_000.0
	// A car in a window pings at least this often while parked, so the
	// processor knows its trunk and position when the courier comes.
	windowCapIvMs = 30_000.0

	// Demo cars ping on a fixed cadence.
	demoDriveIvMs = 2_000
	demoParkIvMs  = 5_000
)

// GPS noise on periodic car pings (event pings are clean so the trunk
// sequence always reaches the processor).
const (
	pPoorAccuracy = 0.01  // accuracy 60–300 m: filtered for accuracy
	pJump         = 0.01  // driving only: the fix is 200–900 m off
	pDuplicate    = 0.005 // the same record twice
	pLate         = 0.005 // held back and sent after the car's next fix
	pDeadReckon   = 0.02  // driving only: source dead_reckoning
)

// never is a time that never comes.
const never = math.MaxInt64

// car is one simulated car.
type car struct {
	vin  []byte
	late []byte // a fix held back, sent after the next one; nil if none

	x, y    float64 // parked position, or the start of the current leg
	dx, dy  float64 // unit direction of the leg (axis-aligned)
	legLen  float64 // metres
	speed   float64 // m/s
	heading float64
	legT0   int64

	stateEnd int64 // trip end while driving, park end while parked
	nextPing int64
	// Pending trunk timeline after a courier's arrival; 0 = none.
	trunkOpenAt, trunkCloseAt, lockAt int64

	winEnd  int64  // end of the car's last window: the next one starts later
	win     int32  // bound window, or -1
	parkSeq uint32 // bumped on every park, so a window sees a car that left
	gen     uint32 // queue generation

	feed       uint8
	driving    bool
	horizontal bool // the car is on an east–west street
	trunkOpen  bool
	locked     bool
	demo       bool
}

// scaleIntervals sets the ping intervals so that the fleet's expected car
// ping rate is Config.Rate. Free cars spend a fraction fd of their time
// driving; windowed cars stay parked and ping at least every
// windowCapIvMs, unless that alone would take most of the rate.
func (g *Generator) scaleIntervals() {
	fd := drivingShare()
	r0 := fd/baseDriveIvMs + (1-fd)/baseParkIvMs // pings per ms of a free car
	// Only cars whose feed reports the trunk take windows.
	n := float64(g.cfg.Cars)
	w := min(float64(g.cfg.Windows), n*capableShare())
	rate := g.cfg.Rate / 1000
	s := rate / ((n-w)*r0 + w/baseParkIvMs)
	g.winCapIv = windowCapIvMs
	if baseParkIvMs/s > windowCapIvMs {
		if rest := rate - w/windowCapIvMs; rest > rate/2 && n > w {
			s = rest / ((n - w) * r0)
		} else {
			g.winCapIv = 0
		}
	}
	g.driveIv, g.parkIv = baseDriveIvMs/s, baseParkIvMs/s
}

func (g *Generator) parkDuration() int64 {
	return int64(math.Exp(g.uniform(math.Log(parkMinMs), math.Log(parkMaxMs))))
}

func (g *Generator) tripDuration() int64 { return int64(g.uniform(tripMinMs, tripMaxMs)) }

// drivingShare is the share of its time a car without a window spends
// driving: mean trip / (mean trip + mean park).
func drivingShare() float64 {
	meanPark := (parkMaxMs - parkMinMs) / math.Log(parkMaxMs/parkMinMs)
	meanTrip := (tripMinMs + tripMaxMs) / 2.0
	return meanTrip / (meanTrip + meanPark)
}

// capableShare is the share of the fleet whose feed reports the trunk.
func capableShare() float64 {
	all, capable := 0, 0
	for i := range feeds {
		all += feeds[i].weight
		if feeds[i].trunk {
			capable += feeds[i].weight
		}
	}
	return float64(capable) / float64(all)
}

// initFleet places the cars, each parked or driving as in the steady state,
// part-way through its current park or trip.
func (g *Generator) initFleet() {
	fd := drivingShare()
	g.cars = make([]car, g.cfg.Cars)
	for i := range g.cars {
		c := &g.cars[i]
		c.feed = pickFeed(g.rng)
		c.vin = makeVIN(g.rng, &feeds[c.feed], i)
		c.x, c.y, c.horizontal = g.city.randomStreetPoint(g.rng, 1)
		c.win = -1
		c.locked = true
		// A car seen at a random instant is in a trip or park drawn in
		// proportion to its length (uniform for the log-uniform parks,
		// linear for the uniform trips), at a uniform point of it.
		if g.chance(fd) {
			g.startTrip(c, g.start)
			l := math.Sqrt(g.uniform(tripMinMs*tripMinMs, tripMaxMs*tripMaxMs))
			c.stateEnd = g.start + 1 + int64(g.rng.Float64()*l)
		} else {
			c.stateEnd = g.start + 1 + int64(g.rng.Float64()*g.uniform(parkMinMs, parkMaxMs))
		}
		c.nextPing = g.start + int64(g.rng.Float64()*float64(g.pingInterval(c)))
		g.scheduleCar(int32(i))
	}
}

// scheduleCar queues car i's next wake-up: its next ping, the end of its
// park or trip, or the next step of its trunk timeline.
func (g *Generator) scheduleCar(i int32) {
	c := &g.cars[i]
	at := min(c.nextPing, c.stateEnd)
	for _, t := range [...]int64{c.trunkOpenAt, c.trunkCloseAt, c.lockAt} {
		if t != 0 {
			at = min(at, t)
		}
	}
	c.gen++
	g.q.push(at, evCar, i, c.gen)
}

// pingInterval draws the time to car c's next periodic ping.
func (g *Generator) pingInterval(c *car) int64 {
	if c.demo {
		if c.driving {
			return demoDriveIvMs
		}
		return demoParkIvMs
	}
	iv := g.parkIv
	if c.driving {
		iv = g.driveIv
	} else if c.win >= 0 && g.winCapIv > 0 && iv > g.winCapIv {
		iv = g.winCapIv
	}
	return max(1, int64(math.Round(iv*g.uniform(0.8, 1.2))))
}

// carWake advances car i to time t, applies what is due and pings.
func (g *Generator) carWake(i int32, t int64) {
	c := &g.cars[i]
	event := false
	if c.driving {
		g.advance(c, t)
		if t >= c.stateEnd {
			g.park(c, t)
			event = true
		}
	} else if t >= c.stateEnd {
		g.startTrip(c, t)
		event = true
	}
	if c.trunkOpenAt != 0 && t >= c.trunkOpenAt {
		c.trunkOpenAt, c.trunkOpen, c.locked, event = 0, true, false, true
	}
	if c.trunkCloseAt != 0 && t >= c.trunkCloseAt {
		c.trunkCloseAt, c.trunkOpen, event = 0, false, true
	}
	if c.lockAt != 0 && t >= c.lockAt {
		c.lockAt, c.locked, event = 0, true, true
	}
	if event || t >= c.nextPing {
		g.carPing(c, t, !event)
		c.nextPing = t + g.pingInterval(c)
	}
	g.scheduleCar(i)
}

// startTrip turns the ignition on: the car leaves along its street.
func (g *Generator) startTrip(c *car, t int64) {
	c.driving = true
	c.trunkOpen, c.locked = false, true
	c.trunkOpenAt, c.trunkCloseAt, c.lockAt = 0, 0, 0
	if c.demo {
		c.stateEnd = t + 60_000
	} else {
		c.stateEnd = t + g.tripDuration()
	}
	g.newLeg(c, t, true)
}

// park stops the car where it is at t.
func (g *Generator) park(c *car, t int64) {
	c.x, c.y = g.carPos(c, t)
	c.driving = false
	c.parkSeq++
	c.locked = true
	if c.demo {
		c.stateEnd = never
	} else {
		c.stateEnd = t + g.parkDuration()
	}
}

// newLeg starts the next straight drive of a trip at time t from (c.x, c.y).
// The first leg of a trip follows the street the car is parked on to a
// crossing and beyond; later legs start at a crossing and may turn. Legs
// that would leave the city turn back.
func (g *Generator) newLeg(c *car, t int64, first bool) {
	alongX := c.horizontal
	if !first && g.chance(0.6) {
		alongX = !alongX
	}
	sign := 1.0
	if g.rng.IntN(2) == 0 {
		sign = -1
	}
	blocks := float64(1 + g.rng.IntN(6))
	v := c.y
	if alongX {
		v = c.x
	}
	end := func(sign float64) (float64, bool) {
		e := nextGrid(v, sign) + sign*(blocks-1)*blockM
		x, y := c.x, e
		if alongX {
			x, y = e, c.y
		}
		return e, math.Hypot(x, y) <= 0.95*g.city.radius
	}
	e, inside := end(sign)
	if !inside {
		sign = -sign
		if e, inside = end(sign); !inside && v*sign > 0 {
			sign = -sign // head for the centre
			e, _ = end(sign)
		}
	}
	c.dx, c.dy = 0, sign
	if alongX {
		c.dx, c.dy = sign, 0
	}
	c.legLen = math.Abs(e - v)
	c.speed = g.uniform(20, 60) / 3.6
	c.heading = headingDeg(c.dx, c.dy)
	c.horizontal = alongX
	c.legT0 = t
}

// legEnd returns when the current leg ends.
func legEnd(c *car) int64 { return c.legT0 + max(1, int64(c.legLen/c.speed*1000)) }

// advance completes the legs of a driving car that end by t (and by the
// end of its trip).
func (g *Generator) advance(c *car, t int64) {
	for {
		end := legEnd(c)
		if end > t || end > c.stateEnd {
			return
		}
		c.x += c.dx * c.legLen
		c.y += c.dy * c.legLen
		g.newLeg(c, end, false)
	}
}

// carPos returns the car's position at t (after advance to t).
func (g *Generator) carPos(c *car, t int64) (x, y float64) {
	if !c.driving {
		return c.x, c.y
	}
	d := min(c.legLen, c.speed*float64(t-c.legT0)/1000)
	return c.x + c.dx*d, c.y + c.dy*d
}

// carPing sends what car c reports at t. Periodic pings of ordinary cars
// carry the feed's noise; pings that report a change are clean.
func (g *Generator) carPing(c *car, t int64, periodic bool) {
	f := &feeds[c.feed]
	noisy := periodic && !c.demo
	px, py := g.carPos(c, t)
	x := carFix{
		ts:         t,
		acc:        g.uniform(3, 12),
		heading:    c.heading,
		ignition:   c.driving,
		trunkOpen:  c.trunkOpen,
		locked:     c.locked,
		lastParked: !c.driving,
	}
	sigma := 3.0
	switch {
	case c.demo:
		sigma = 0.5
	case !c.driving:
		sigma = 1.5
	}
	if c.driving {
		x.speed = max(0, c.speed*3.6+g.rng.NormFloat64()*2)
	}
	if noisy {
		switch u := g.rng.Float64(); {
		case u < pPoorAccuracy:
			x.acc = g.uniform(60, 300)
			sigma = x.acc / 2
			if g.chance(0.5) {
				x.source = srcApproximate
			}
		case c.driving && u < pPoorAccuracy+pJump:
			d, a := g.uniform(200, 900), g.uniform(0, 2*math.Pi)
			px += d * math.Cos(a)
			py += d * math.Sin(a)
		}
		if c.driving && x.source == srcGPS && g.chance(pDeadReckon) {
			x.source = srcDeadReckoning
		}
	}
	px += g.rng.NormFloat64() * sigma
	py += g.rng.NormFloat64() * sigma
	x.lat, x.lng = g.city.latLng(px, py)

	g.buf = appendCarPing(g.buf[:0], c.vin, f, &x)
	val := g.keep(g.buf)
	if noisy && c.late == nil && g.chance(pLate) {
		c.late = val
		return
	}
	g.emitCarPing(c, val, t)
	if noisy && g.chance(pDuplicate) {
		g.emitCarPing(c, val, t)
	}
	if c.late != nil {
		g.emitCarPing(c, c.late, t)
		c.late = nil
	}
	if !c.demo && g.chance(g.cfg.BadFraction) {
		kind := g.rng.IntN(numBadKinds)
		g.buf = appendBad(g.buf[:0], kind, c.vin, f, &x, g.rng.Float64())
		g.emit(g.cfg.Topics.CarPings, c.vin, g.keep(g.buf), t)
		g.stats.Bad++
	}
}

func (g *Generator) emitCarPing(c *car, val []byte, t int64) {
	g.emit(g.cfg.Topics.CarPings, c.vin, val, t)
	g.stats.CarPings++
}

// openTrunk starts the trunk timeline of car i when a courier reaches it at
// t: the trunk opens after 5–10 s, closes 15–25 s later, and the car locks
// 3–8 s after that, except that one car in ten never reports relocking.
// Demo cars follow a fixed 8 s / 15 s / 5 s script.
func (g *Generator) openTrunk(i int32, t int64) {
	c := &g.cars[i]
	if c.demo {
		c.trunkOpenAt = t + 8_000
		c.trunkCloseAt = c.trunkOpenAt + 15_000
		c.lockAt = c.trunkCloseAt + 5_000
	} else {
		c.trunkOpenAt = t + g.ms(5, 10)
		c.trunkCloseAt = c.trunkOpenAt + g.ms(15, 25)
		c.lockAt = c.trunkCloseAt + g.ms(3, 8)
		if g.chance(0.1) {
			c.lockAt = 0
		}
	}
	// The customer does not drive off mid-delivery.
	if end := c.trunkCloseAt + 60_000; c.stateEnd < end {
		c.stateEnd = end
	}
	g.scheduleCar(i)
}

// Courier states.
const (
	courierIdle uint8 = iota
	courierMoving
	courierWaiting // at the car before its window opens
	courierDwelling
)

// seg is one straight move of a courier, from (x0, y0) at t0 to (x1, y1)
// at t1.
type seg struct {
	x0, y0, x1, y1 float64
	t0, t1         int64
}

// courier is one simulated courier. Between stops a courier walks back to
// the van, drives to a spot 60–200 m from the next car, and walks to it.
type courier struct {
	id     []byte
	routes []route // routes[0] is the current or next route

	segs [4]seg
	nseg int

	x, y       float64 // position when idle or dwelling
	vanX, vanY float64

	stateEnd, nextPing int64
	demoArrive         int64 // a demo courier reaches its car at this time

	stop  int // index of the stop being served in routes[0]
	gen   uint32
	state uint8

	epochTS bool
	rolling bool // plans a new route after finishing its last one
	live    bool // routes[0] is published and not finished
	demo    bool
}

// route is a courier's planned stops.
type route struct {
	stops     []stopRef
	start     int64 // planned start
	published bool
}

// stopRef names a window; seq detects a reused slot.
type stopRef struct {
	win int32
	seq uint32
}

// initCouriers places the couriers, idle, with their vans.
func (g *Generator) initCouriers() {
	g.couriers = make([]courier, g.cfg.Couriers)
	for i := range g.couriers {
		cr := &g.couriers[i]
		cr.id = makeCourierID(i)
		cr.epochTS = g.chance(0.5)
		cr.x, cr.y, _ = g.city.randomStreetPoint(g.rng, 0.8)
		cr.vanX, cr.vanY = cr.x, cr.y
		cr.stateEnd = never
		cr.nextPing = g.start + g.ms(0, 5)
	}
}

func (g *Generator) scheduleCourier(i int32) {
	cr := &g.couriers[i]
	cr.gen++
	g.q.push(min(cr.nextPing, cr.stateEnd), evCourier, i, cr.gen)
}

// courierWake advances courier i to time t and pings. A courier pings every
// 2–5 s (demo couriers every 2 s), and at once on reaching a car.
func (g *Generator) courierWake(i int32, t int64) {
	cr := &g.couriers[i]
	arrived := false
	if t >= cr.stateEnd {
		switch cr.state {
		case courierIdle:
			g.beginRoute(i, t)
		case courierMoving:
			last := &cr.segs[cr.nseg-1]
			cr.x, cr.y = last.x1, last.y1
			g.arrive(i, t)
			arrived = true
		case courierWaiting:
			g.arrive(i, t)
		case courierDwelling:
			g.nextStop(i, t)
		}
	}
	if arrived || t >= cr.nextPing {
		g.courierPing(cr, t)
		if cr.demo {
			cr.nextPing = t + 2_000
		} else {
			cr.nextPing = t + g.ms(2, 5)
		}
	}
	g.scheduleCourier(i)
}

// courierPos returns the courier's position and speed (m/s) at t.
func (g *Generator) courierPos(cr *courier, t int64) (x, y, speed float64) {
	if cr.state != courierMoving {
		return cr.x, cr.y, 0
	}
	for k := 0; k < cr.nseg; k++ {
		s := &cr.segs[k]
		if t >= s.t1 && k < cr.nseg-1 {
			continue
		}
		dt := float64(s.t1 - s.t0)
		f := min(1, max(0, float64(t-s.t0)/dt))
		d := math.Hypot(s.x1-s.x0, s.y1-s.y0)
		return s.x0 + (s.x1-s.x0)*f, s.y0 + (s.y1-s.y0)*f, d / dt * 1000
	}
	return cr.x, cr.y, 0
}

func (g *Generator) courierPing(cr *courier, t int64) {
	x, y, speed := g.courierPos(cr, t)
	sigma := 3.0
	if cr.demo {
		sigma = 0.5
	}
	fx := courierFix{ts: t, acc: g.uniform(3, 10)}
	if speed > 0 {
		fx.speed = max(0, speed*3.6*g.uniform(0.95, 1.05))
	}
	fx.lat, fx.lng = g.city.latLng(x+g.rng.NormFloat64()*sigma, y+g.rng.NormFloat64()*sigma)
	g.buf = appendCourierPing(g.buf[:0], cr.id, cr.epochTS, &fx)
	g.emit(g.cfg.Topics.CourierPings, cr.id, g.keep(g.buf), t)
	g.stats.CourierPings++
}

// Courier motion.
const (
	walkMinMps, walkMaxMps   = 1.2, 1.6
	driveMinMps, driveMaxMps = 7.0, 11.0 // 25–40 km/h
	pSkipStop                = 0.02      // a stop the courier never serves
)

// addSeg appends a move from the end of the previous one (or the courier's
// position) to (x, y) at speed mps; moves shorter than a metre are dropped.
func (g *Generator) addSeg(cr *courier, x, y, mps float64, t int64) int64 {
	x0, y0, t0 := cr.x, cr.y, t
	if cr.nseg > 0 {
		p := &cr.segs[cr.nseg-1]
		x0, y0, t0 = p.x1, p.y1, p.t1
	}
	d := math.Hypot(x-x0, y-y0)
	if d < 1 {
		return t0
	}
	t1 := t0 + max(1, int64(d/mps*1000))
	cr.segs[cr.nseg] = seg{x0: x0, y0: y0, x1: x, y1: y, t0: t0, t1: t1}
	cr.nseg++
	return t1
}

// travel sets courier i off at t towards window w's car.
func (g *Generator) travel(i int32, t int64, w *window) {
	cr := &g.couriers[i]
	cr.nseg = 0
	a := g.uniform(0, 2*math.Pi)
	sx, sy := w.carX+g.uniform(2, 4)*math.Cos(a), w.carY+g.uniform(2, 4)*math.Sin(a)
	var arrive int64
	if cr.demo {
		cr.segs[0] = seg{x0: cr.x, y0: cr.y, x1: sx, y1: sy, t0: t, t1: max(t+1, cr.demoArrive)}
		cr.nseg = 1
		arrive = cr.segs[0].t1
	} else {
		off := g.uniform(60, 200)
		if g.chance(0.5) {
			off = -off
		}
		vx, vy := w.carX+off, w.carY
		g.addSeg(cr, cr.vanX, cr.vanY, g.uniform(walkMinMps, walkMaxMps), t)
		drive := g.uniform(driveMinMps, driveMaxMps)
		g.addSeg(cr, cr.vanX, vy, drive, t)
		g.addSeg(cr, vx, vy, drive, t)
		arrive = g.addSeg(cr, sx, sy, g.uniform(walkMinMps, walkMaxMps), t)
		cr.vanX, cr.vanY = vx, vy
	}
	cr.state = courierMoving
	cr.stateEnd = arrive
}

// arrive is courier i reaching its stop's car at t. A courier early for
// the window waits by the car until it opens. If the car is still parked
// where the window found it, the trunk timeline starts and the courier
// leaves 5–20 s after the trunk closes; otherwise the courier looks around
// for 30–120 s.
func (g *Generator) arrive(i int32, t int64) {
	cr := &g.couriers[i]
	cr.state = courierDwelling
	cr.stateEnd = t + g.ms(30, 120)
	ref := cr.routes[0].stops[cr.stop]
	w := g.window(ref)
	if w == nil || w.cancelled {
		return
	}
	if t < w.start {
		cr.state = courierWaiting
		cr.stateEnd = w.start + g.ms(5, 60)
		return
	}
	c := &g.cars[w.car]
	if c.win != ref.win || c.driving || c.parkSeq != w.parkSeq {
		return
	}
	g.openTrunk(w.car, t)
	cr.stateEnd = c.trunkCloseAt + g.ms(5, 20)
}

// beginRoute starts courier i's next route at t, planning one first if the
// courier has none queued.
func (g *Generator) beginRoute(i int32, t int64) {
	cr := &g.couriers[i]
	if len(cr.routes) == 0 {
		if !cr.rolling || g.planRoute(i, t, t, cr.x, cr.y, 3+g.rng.IntN(6), false) == 0 {
			cr.stateEnd = never
			if cr.rolling {
				cr.stateEnd = t + g.ms(120, 600) // try again after a break
			}
			return
		}
	}
	if !cr.routes[0].published {
		g.emitRoute(i, t)
	}
	cr.live = true
	cr.stop = -1
	g.nextStop(i, t)
}

// nextStop sends courier i to the next stop of its route that is still to
// be served, or ends the route.
func (g *Generator) nextStop(i int32, t int64) {
	cr := &g.couriers[i]
	r := &cr.routes[0]
	for cr.stop++; cr.stop < len(r.stops); cr.stop++ {
		w := g.window(r.stops[cr.stop])
		if w == nil || w.cancelled || !cr.demo && g.chance(pSkipStop) {
			continue
		}
		g.travel(i, t, w)
		return
	}
	g.finishRoute(i, t)
}

// finishRoute withdraws courier i's route and sends the courier on a break
// of 2–10 minutes before the next one.
func (g *Generator) finishRoute(i int32, t int64) {
	cr := &g.couriers[i]
	g.emit(g.cfg.Topics.Routes, cr.id, nil, t)
	g.stats.Tombstones++
	cr.routes[0] = route{}
	cr.routes = cr.routes[1:]
	cr.live = false
	cr.state = courierIdle
	cr.nseg = 0
	cr.stateEnd = never
	if !cr.demo {
		cr.stateEnd = t + g.ms(120, 600)
	}
}
