package pipeline

import (
	"github.com/trunkline/trunkline/geo"
)

// NoOpenWindow is the consent check of a car ping read by PeekCarPing: it
// first moves stream time to ts as CarPing would (step 1 below), then
// reports whether the car of vin has no open window here, in which case the
// ping is filtered as FilterNoWindow. When it reports false, the ping is
// decoded and goes to CarPing, whose step 1 then changes nothing.
func (e *Engine) NoOpenWindow(now int64, vin []byte, ts int64) bool {
	if ts <= now+e.cfg.FutureSkew.Milliseconds() {
		e.observe(now, ts) // may open the car's window
	}
	if !e.vins.mayContain(vin) {
		return true
	}
	if car := e.carOf(e.byVIN[string(vin)]); car != nil {
		for w := e.win(car.first); w != nil; w = e.win(w.next) {
			if w.phase == phaseOpen {
				return false
			}
		}
	}
	return true
}

// CarPing applies one car ping and returns Applied or the filter reason.
//
// The order of the checks:
//
//  1. Stream time moves to the ping's timestamp (unless it is beyond the
//     future skew of now), firing the window timers due until then.
//  2. Consent: the VIN must have an open window, and the fix must be taken
//     inside one (no_window, outside_window). Nothing about a car without
//     consent is read or stored.
//  3. Stateless GPS checks: future beyond skew, null island, accuracy.
//  4. Against the last accepted fix: older (stale), same time (duplicate),
//     implied speed beyond the maximum (speed).
//  5. The accepted fix updates the car: rest anchor and parking, trunk,
//     lock; then every open window of the car takes the change. The fix's
//     H3 cell is computed when an event carries it.
//
// Parking: a car is at rest while it stays within ParkDistanceM of its rest
// anchor; it counts as parked once it has been at rest for ParkDwell (event
// time, on the fix or on a timer if no fix follows), or at once when the feed
// says location_type "last_parked". A parked car that moves beyond
// ParkDistanceM has moved: its grants are revoked.
func (e *Engine) CarPing(now int64, p *CarPing) Reason {
	skew := e.cfg.FutureSkew.Milliseconds()
	future := p.TS > now+skew
	if !future {
		e.observe(now, p.TS)
	}
	var cr cref
	if e.vins.mayContain(p.VIN) {
		cr = e.byVIN[string(p.VIN)]
	}
	car := e.carOf(cr)
	var ws *window // the car's first window, linked by next
	if car != nil {
		ws = e.win(car.first)
	}
	open, inside := false, false
	for w := ws; w != nil; w = e.win(w.next) {
		if w.phase == phaseOpen {
			open = true
			if p.TS >= w.def.Start && p.TS < w.def.End {
				inside = true
			}
		}
	}
	switch {
	case !open:
		return FilterNoWindow
	case future:
		return FilterFuture
	case !inside:
		return FilterOutsideWindow
	}
	c, existed := e.loadCar(car)
	var last *lastFix
	if existed {
		last = &lastFix{c.ts, c.lat, c.lng}
	}
	if r := checkFix(&e.cfg, now, p.TS, p.Lat, p.Lng, p.HasAccuracy, p.AccuracyM, last); r != Applied {
		return r
	}

	prevTrunk := c.trunk
	c.ts, c.lat, c.lng = p.TS, p.Lat, p.Lng
	// The fix's H3 cell is computed when an event carries it: most fixes
	// emit nothing, and the cgo call is the dearest step of a fix.
	var cell int64
	fixCell := func() int64 {
		if cell == 0 {
			if p.Lat == c.anchorLat && p.Lng == c.anchorLng {
				cell = e.anchorCell(c)
			} else {
				cell = geo.Cell(p.Lat, p.Lng, e.cfg.H3Resolution)
			}
		}
		return cell
	}
	if p.Source != SourceUnknown {
		c.source = p.Source
	}
	if p.Trunk != TrunkUnknown {
		c.trunk = p.Trunk
	}
	if p.Locked != Unknown {
		c.locked = p.Locked
	}
	if p.Ignition != Unknown {
		c.ignition = p.Ignition
	}

	// Rest anchor and parking.
	moved, parked := false, false
	if !existed {
		c.anchorTS, c.anchorLat, c.anchorLng = p.TS, p.Lat, p.Lng
	} else if geo.Beyond(c.anchorLat, c.anchorLng, p.Lat, p.Lng, e.cfg.ParkDistanceM) {
		moved = c.parked
		c.parked = false
		c.anchorTS, c.anchorLat, c.anchorLng, c.anchorCell = p.TS, p.Lat, p.Lng, 0
		// A proximity disk is around the anchor it was made for.
		for w := ws; w != nil; w = e.win(w.next) {
			e.setDisk(w, 0)
		}
	}
	if !c.parked {
		if p.LocationType == LocationLastParked || p.TS-c.anchorTS >= e.cfg.ParkDwell.Milliseconds() {
			c.parked, parked = true, true
		} else if c.dwellAt == 0 {
			c.dwellAt = c.anchorTS + e.cfg.ParkDwell.Milliseconds()
			e.scheduleDwell(c.dwellAt, cr)
		}
	}
	e.saveCar(car, existed)

	for w := ws; w != nil; w = e.win(w.next) {
		if w.phase != phaseOpen || p.TS < w.def.Start || p.TS >= w.def.End {
			// Not this window's consent period: a fix of another window of
			// the same car.
			continue
		}
		if !w.located {
			w.located = true
			d := geo.DistanceM(w.def.Lat, w.def.Lng, p.Lat, p.Lng)
			e.emitPos(now, w, EvCarLocated, p.TS, p.Lat, p.Lng, fixCell(), d, insideFill(d <= w.def.RadiusM))
		}
		if moved && w.parkedSent {
			// The courier's arrival was at the old spot.
			w.parkedSent, w.inside, w.arrived = false, false, false
			d := geo.DistanceM(w.def.Lat, w.def.Lng, p.Lat, p.Lng)
			e.emitPos(now, w, EvCarMoved, p.TS, p.Lat, p.Lng, fixCell(), d, nil)
			e.revoke(now, w, "car_moved", p.TS)
		}
		if c.parked && (parked || !w.parkedSent) {
			e.carParked(now, w, c, p.TS)
		}
		e.trunkAndLock(now, w, c, prevTrunk, p.Locked, p.TS)
		e.evaluate(now, w, c, p.TS)
	}
	return Applied
}

func insideFill(inside bool) func(*Event) {
	if inside {
		return func(ev *Event) { ev.Inside = True }
	}
	return func(ev *Event) { ev.Inside = False }
}

// carParked announces that the car of w is parked (at its rest anchor) and
// checks the window's courier against it.
func (e *Engine) carParked(now int64, w *window, c *carState, ts int64) {
	w.parkedSent = true
	cell := e.anchorCell(c)
	d := geo.DistanceM(w.def.Lat, w.def.Lng, c.anchorLat, c.anchorLng)
	// The car is inside when it is within the radius of the address (both
	// valid coordinates, which decoding guarantees).
	w.inside = d <= w.def.RadiusM &&
		geo.ValidLatLng(w.def.Lat, w.def.Lng) && geo.ValidLatLng(c.anchorLat, c.anchorLng)
	e.emitPos(now, w, EvCarParked, ts, c.anchorLat, c.anchorLng, cell, d, insideFill(w.inside))
	if id := w.courier; id != "" {
		if f := e.couriers[id]; f != nil && e.fresh(f, ts) {
			e.proximity(now, w, c, f, ts)
		}
	}
}

// parkDwellDue runs when car may have been at rest for ParkDwell without a
// fix arriving to say so. A car forgotten since (its windows gone) has
// nothing to do: a car created later, of the same VIN or in the same slot
// (a later generation), has timers of its own.
func (e *Engine) parkDwellDue(now int64, r cref, gen uint32, at int64) {
	car := e.carOf(r)
	if car.gen != gen || car.first == 0 {
		return
	}
	c, ok := e.loadCar(car)
	if !ok {
		return
	}
	c.dwellAt = 0
	if c.parked {
		e.saveCar(car, true)
		return
	}
	if due := c.anchorTS + e.cfg.ParkDwell.Milliseconds(); due > at {
		// The car moved since: wait for the new anchor.
		c.dwellAt = due
		e.scheduleDwell(due, r)
		e.saveCar(car, true)
		return
	}
	c.parked = true
	e.saveCar(car, true)
	for w := e.win(car.first); w != nil; w = e.win(w.next) {
		if w.phase == phaseOpen {
			e.carParked(now, w, c, at)
			e.evaluate(now, w, c, at)
		}
	}
}

// trunkAndLock turns trunk changes into events while a grant is live,
// completes the delivery when the trunk closes again under the grant, and
// resolves the relock check: only a ping that itself reports locked
// confirms the relock (an absent field is unknown, not the old value).
func (e *Engine) trunkAndLock(now int64, w *window, c *carState, prevTrunk TrunkState, locked Tri, ts int64) {
	if g := w.grant; g != nil && c.trunk != prevTrunk {
		switch c.trunk {
		case TrunkOpen:
			g.trunkOpened = true
			e.emit(now, w, EvTrunkOpened, ts, nil)
		case TrunkClosed:
			if g.trunkOpened {
				e.emit(now, w, EvTrunkClosed, ts, nil)
				e.revoke(now, w, "trunk_closed", ts)
				w.completed = true
				typ := EvDeliveryCompleted
				if w.def.Kind == KindReturn {
					typ = EvReturnCollected
				}
				e.emit(now, w, typ, ts, nil)
				if locked == True {
					e.emit(now, w, EvRelockConfirmed, ts, nil)
				} else {
					w.relockDue = ts + e.cfg.RelockTimeout.Milliseconds()
					e.schedule(w.relockDue, timerRelock, w, w.gen, 0)
				}
				return
			}
		}
	}
	if w.relockDue != 0 && locked == True {
		w.relockDue = 0
		e.emit(now, w, EvRelockConfirmed, ts, nil)
	}
}
