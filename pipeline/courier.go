package pipeline

import (
	"math"

	"github.com/trunkline/trunkline/geo"
)

// CourierPing applies one courier ping: after the GPS checks against the
// courier's last fix, the courier's position is compared with the parked car
// of every window on its route that this engine owns. Courier pings do not
// move stream time: that is the time of the partition's car pings, so a car
// feed lagging behind the couriers' does not expire grants early.
func (e *Engine) CourierPing(now int64, p *CourierPing) Reason {
	r := e.routes[p.CourierID]
	if r == nil {
		return FilterNoRoute
	}
	f := e.couriers[p.CourierID]
	var last *lastFix
	if f != nil {
		last = &lastFix{f.ts, f.lat, f.lng}
	}
	if reason := checkFix(&e.cfg, now, p.TS, p.Lat, p.Lng, p.HasAccuracy, p.AccuracyM, last); reason != Applied {
		return reason
	}
	if f == nil {
		f = new(courierFix)
		e.couriers[p.CourierID] = f
	}
	f.ts, f.lat, f.lng = p.TS, p.Lat, p.Lng
	f.cell, f.proxCell = 0, 0 // computed when first needed: most engines own none of the route's parked cars
	e.courierNear(now, r, f, p.TS)
	return Applied
}

// courierCell returns the H3 cell of courier fix f at the indexing
// resolution, computing it on first use (0 is never a valid cell).
func (e *Engine) courierCell(f *courierFix) int64 {
	if f.cell == 0 {
		f.cell = geo.Cell(f.lat, f.lng, e.cfg.H3Resolution)
	}
	return f.cell
}

// courierProxCell is courierCell at the proximity resolution.
func (e *Engine) courierProxCell(f *courierFix) int64 {
	if f.proxCell == 0 {
		f.proxCell = geo.Cell(f.lat, f.lng, e.proxRes)
	}
	return f.proxCell
}

// courierNear checks courier fix f against the windows of route r that are
// open here and served by r's courier.
func (e *Engine) courierNear(now int64, r *Route, f *courierFix, ts int64) {
	for _, s := range r.Stops {
		w := e.win(e.windows[s.WindowID])
		if w == nil || w.phase != phaseOpen || w.courier != r.CourierID || !w.parkedSent {
			continue
		}
		c := e.trackedState(w.def.VIN)
		if c == nil {
			continue
		}
		e.proximity(now, w, c, f, ts)
	}
}

// proximity applies the courier rules of window w whose car is parked:
//
//   - the courier's cell must lie in the grid disk around the car (which
//     covers the approach radius) before any exact distance is computed;
//   - within ApproachRadiusM: courier_approaching, once per window;
//   - within ArrivalRadiusM: courier_arrived, once until the courier has
//     left DepartureRadiusM (hysteresis), after which it may arrive again.
func (e *Engine) proximity(now int64, w *window, c *carState, f *courierFix, ts int64) {
	if !c.parked {
		return
	}
	if w.disk == nil {
		// Made when a courier is first compared with the parked car, not
		// when it parks: most parked cars see no courier before they move.
		e.setDisk(w, geo.Cell(c.anchorLat, c.anchorLng, e.proxRes))
	}
	d := math.Inf(1)
	if w.disk != nil && w.disk.cells.Contains(e.courierProxCell(f)) {
		d = geo.DistanceM(c.anchorLat, c.anchorLng, f.lat, f.lng)
	}
	if w.arrived && d > e.cfg.DepartureRadiusM {
		w.arrived = false
	}
	if d <= e.cfg.ApproachRadiusM && !w.approachSent {
		w.approachSent = true
		e.emitPos(now, w, EvCourierApproaching, ts, f.lat, f.lng, e.courierCell(f), d, nil)
	}
	if d <= e.cfg.ArrivalRadiusM && !w.arrived {
		w.arrived = true
		e.emitPos(now, w, EvCourierArrived, ts, f.lat, f.lng, e.courierCell(f), d, nil)
	}
	e.evaluate(now, w, c, ts)
}

// evaluate issues a grant when every condition of unlock_eligible holds:
// the window is open and not completed, no grant is live, the courier has
// arrived, the car is parked inside the window's area, its trunk is known to
// be closed, its last fix is usable (a GPS or dead-reckoning fix, not an
// approximate one), and the courier's arrival is current: its last fix is
// younger than GrantTTL. So an unused grant that expired is replaced only
// while the courier keeps reporting from the car.
func (e *Engine) evaluate(now int64, w *window, c *carState, ts int64) {
	if w.phase != phaseOpen || w.completed || w.grant != nil || !w.arrived || !c.parked ||
		c.trunk != TrunkClosed || c.source == SourceApproximate {
		return
	}
	if !w.inside {
		return
	}
	courierID := w.courier
	if courierID == "" {
		return
	}
	if ts < w.def.Start || ts >= w.def.End {
		return
	}
	f := e.couriers[courierID]
	if f == nil || !e.fresh(f, ts) {
		return
	}
	w.grantSeq++
	lg := &liveGrant{courier: courierID}
	g := &lg.Grant
	g.ID = grantID(w.def.ID, w.grantSeq, ts)
	g.NotBefore = ts
	g.ExpiresAt = ts + e.cfg.GrantTTL.Milliseconds()
	g.Token = SignGrant(e.cfg.GrantKey, GrantClaims{
		WindowID: w.def.ID, VIN: w.def.VIN, CourierID: courierID,
		GrantID: g.ID, NotBefore: g.NotBefore, ExpiresAt: g.ExpiresAt,
	})
	w.grant = lg
	d := geo.DistanceM(c.anchorLat, c.anchorLng, f.lat, f.lng)
	cell := e.anchorCell(c)
	e.emitPos(now, w, EvUnlockEligible, ts, c.anchorLat, c.anchorLng, cell, d, func(ev *Event) { ev.Grant = g })
	e.schedule(g.ExpiresAt, timerGrantExpiry, w, w.gen, w.grantSeq)
}

// revoke ends the live grant of w, if any, with the given reason. The
// event names the courier the grant was issued to.
func (e *Engine) revoke(now int64, w *window, reason string, ts int64) {
	if w.grant == nil {
		return
	}
	courier := w.grant.courier
	w.grant = nil
	e.emit(now, w, EvAccessRevoked, ts, func(ev *Event) { ev.Reason, ev.CourierID = reason, courier })
}

// grantExpired ends grant n of w at its expiry unless it is in use (the
// trunk is open under it: the grant then ends when the trunk closes). An
// unused grant that expired is replaced while the conditions still hold.
func (e *Engine) grantExpired(now int64, w *window, n uint32, at int64) {
	if w.grant == nil || w.grantSeq != n {
		return
	}
	c := e.trackedState(w.def.VIN)
	if w.grant.trunkOpened && c != nil && c.trunk == TrunkOpen {
		return
	}
	e.revoke(now, w, "expired", at)
	if c != nil {
		e.evaluate(now, w, c, at)
	}
}

// fresh reports whether courier fix f still says where the courier is at
// time ts: it is younger than GrantTTL. An older position neither makes a
// courier approach or arrive nor keeps a grant going.
func (e *Engine) fresh(f *courierFix, ts int64) bool {
	return ts-f.ts < e.cfg.GrantTTL.Milliseconds()
}
