package pipeline

import (
	"slices"

	"github.com/trunkline/trunkline/geo"
)

// dispatchTime is the event time of a change dispatch makes to w (a
// tombstone, an update, a route change): such records carry no event time,
// so it is the stream time ref, but never earlier than w's latest event.
func (w *window) dispatchTime(ref int64) int64 { return max(ref, w.lastTS) }

// refTime is the time a window or route change is applied at: the stream
// time, or the wall clock before any input has moved stream time.
func (e *Engine) refTime(now int64) int64 {
	if e.stream > 0 {
		return e.stream
	}
	return now
}

// PutWindow inserts or updates a window; w is copied (a window of the
// router of the broadcast tables, which never changes, is kept instead). A
// window whose end has already passed is filtered (window_expired).
//
// An update keeps the window's runtime state, except when it ends the
// consent under which the car was tracked: a new VIN, or a start moved
// after the current stream time. Tracking then stops (a live grant is
// revoked as cancelled, tracking_stopped is emitted, the car's state is
// purged) and the window opens again for its new car or at its new start.
// An update that changes neither start, end nor car schedules nothing.
func (e *Engine) PutWindow(now int64, in *Window) Reason {
	ref := e.refTime(now)
	old := e.win(e.windows[in.ID])
	if old == nil && in.End <= ref {
		return FilterWindowExpired
	}
	def := in
	if !in.shared || in.RadiusM <= 0 {
		cp := *in
		cp.shared = false
		if cp.RadiusM <= 0 {
			cp.RadiusM = e.cfg.DefaultRadiusM
		}
		def = &cp
	}
	if old == nil {
		r, w := e.wslab.alloc()
		// The slot's generation goes on from its previous window's: that
		// window's timers stay moot.
		*w = window{def: def, incarnation: e.cancelled[def.ID], self: wref(r), gen: w.gen}
		if c, ok := e.serving.get(def.ID); ok {
			w.courier = c
			e.serving.del(def.ID)
		}
		e.windows[def.ID] = w.self
		e.linkVIN(w)
		e.scheduleWindow(w)
		e.advance(now, e.stream) // a window that is already due opens now
		return Applied
	}
	w := old
	prev := w.def
	vinChanged := def.VIN != prev.VIN
	if vinChanged || (w.phase == phaseOpen && def.Start > ref) {
		if w.phase == phaseOpen {
			ts := w.dispatchTime(ref)
			e.revoke(now, w, "cancelled", ts)
			e.emit(now, w, EvTrackingStopped, ts, nil)
			e.open--
			w.phase = phasePending
			w.reopenAt = ts
		}
		if vinChanged {
			e.unlinkVIN(w)
			w.completed = false
		}
		e.purgeCarIfUnused(w.def.VIN)
		w.located, w.parkedSent, w.approachSent, w.arrived, w.inside = false, false, false, false, false
		w.grant, w.relockDue = nil, 0
		e.setDisk(w, 0)
		if vinChanged {
			w.def = def
			e.linkVIN(w)
		}
	}
	reschedule := vinChanged || def.Start != prev.Start || def.End != prev.End
	w.def = def
	if reschedule {
		e.scheduleWindow(w)
		e.advance(now, e.stream)
	}
	return Applied
}

// scheduleWindow (re)schedules the open and close timers of w; timers of an
// earlier generation become moot.
func (e *Engine) scheduleWindow(w *window) {
	w.gen++
	if w.phase == phasePending {
		e.schedule(w.def.Start, timerOpen, w, w.gen, 0)
	}
	e.schedule(w.def.End, timerClose, w, w.gen, 0)
	if w.grant != nil {
		e.schedule(w.grant.ExpiresAt, timerGrantExpiry, w, w.gen, w.grantSeq)
	}
	if w.relockDue != 0 {
		e.schedule(w.relockDue, timerRelock, w, w.gen, 0)
	}
}

// DeleteWindow applies a tombstone: the window is cancelled. An open window
// revokes its grant and stops tracking; its car's state is purged.
func (e *Engine) DeleteWindow(now int64, id string) Reason {
	w := e.win(e.windows[id])
	if w == nil {
		return FilterUnknownWindow
	}
	ts := w.dispatchTime(e.refTime(now))
	if w.phase == phaseOpen {
		e.revoke(now, w, "cancelled", ts)
	}
	e.emit(now, w, EvWindowCancelled, ts, nil)
	if w.phase == phaseOpen {
		e.emit(now, w, EvTrackingStopped, ts, nil)
	}
	// A window created again under the same id gets other event ids.
	e.cancelled[id] = w.incarnation + 1
	e.remove(w)
	return Applied
}

// HandOffWindow gives up window id because its car (after a change of VIN)
// belongs to another partition, whose engine takes the window over: as on
// a change of car, a live grant is revoked (cancelled) and tracking_stopped
// is emitted, but the window is not cancelled.
func (e *Engine) HandOffWindow(now int64, id string) Reason {
	w := e.win(e.windows[id])
	if w == nil {
		return FilterUnknownWindow
	}
	if w.phase == phaseOpen {
		ts := w.dispatchTime(e.refTime(now))
		e.revoke(now, w, "cancelled", ts)
		e.emit(now, w, EvTrackingStopped, ts, nil)
	}
	e.remove(w)
	return Applied
}

// openWindow starts tracking: consent begins.
func (e *Engine) openWindow(now int64, w *window, ts int64) {
	if w.phase != phasePending {
		return
	}
	w.phase = phaseOpen
	e.open++
	e.emit(now, w, EvTrackingStarted, max(ts, w.reopenAt), nil)
}

// closeWindow ends the window at its end time: a live grant is revoked, a
// pending relock check resolves as missing, a window without completion is
// missed, and the car's position state is purged.
func (e *Engine) closeWindow(now int64, w *window, ts int64) {
	if w.phase == phaseOpen {
		e.revoke(now, w, "window_closed", ts)
		if w.relockDue != 0 {
			w.relockDue = 0
			e.emit(now, w, EvRelockMissing, ts, func(ev *Event) { ev.Reason = "window_closed" })
		}
		if !w.completed {
			e.emit(now, w, EvWindowMissed, ts, nil)
		}
		e.emit(now, w, EvTrackingStopped, ts, nil)
	} else if !w.completed {
		// The window ended before it could open (start >= end never
		// decodes, so this is a window updated to end in the past).
		e.emit(now, w, EvWindowMissed, ts, nil)
	}
	e.remove(w)
}

// remove forgets w and purges its car's state unless another open window of
// the same car still needs it. The courier serving w stays recorded, as for
// any window a route names that is not here. w's slot is free afterwards:
// w must not be used any more.
func (e *Engine) remove(w *window) {
	if w.phase == phaseOpen {
		e.open--
	}
	w.gen++ // every pending timer of w is moot
	delete(e.windows, w.def.ID)
	if w.courier != "" {
		e.serving.set(w.def.ID, w.courier)
	}
	e.setDisk(w, 0)
	e.unlinkVIN(w)
	self := w.self
	*w = window{gen: w.gen} // nothing for the collector to follow; the generation stays
	e.wslab.release(int32(self))
}

// linkVIN adds w to the windows of its car, last.
func (e *Engine) linkVIN(w *window) {
	c := e.carOf(e.byVIN[w.def.VIN])
	if c == nil {
		r, c := e.cslab.alloc()
		*c = car{first: w.self, gen: c.gen + 1}
		e.byVIN[w.def.VIN] = cref(r)
		e.vins.add(w.def.VIN, e.byVIN)
		return
	}
	last := e.win(c.first)
	for last.next != 0 {
		last = e.win(last.next)
	}
	last.next = w.self
}

// unlinkVIN takes w from the windows of its car and purges the car's state
// unless another open window of the car still needs it; a car left without
// windows is forgotten.
func (e *Engine) unlinkVIN(w *window) {
	r := e.byVIN[w.def.VIN]
	c := e.carOf(r)
	if c == nil {
		return
	}
	for p := &c.first; *p != 0; p = &e.win(*p).next {
		if *p == w.self {
			*p = w.next
			w.next = 0
			break
		}
	}
	e.purgeCar(c)
	if c.first == 0 {
		delete(e.byVIN, w.def.VIN)
		e.vins.remove(e.byVIN)
		*c = car{gen: c.gen} // its park-dwell timers stay moot
		e.cslab.release(int32(r))
	}
}

// purgeCarIfUnused deletes the state of vin when none of its windows is
// open: outside a window nothing about the car is kept.
func (e *Engine) purgeCarIfUnused(vin string) {
	if c := e.carOf(e.byVIN[vin]); c != nil {
		e.purgeCar(c)
	}
}

// purgeCar is purgeCarIfUnused for car c.
func (e *Engine) purgeCar(c *car) {
	for w := e.win(c.first); w != nil; w = e.win(w.next) {
		if w.phase == phaseOpen {
			return
		}
	}
	e.dropCar(c)
}

// setDisk gives w the proximity disk around origin (a cell at the proximity
// resolution), shared with the other windows whose cars are parked in that
// cell; origin 0 takes w's disk away.
func (e *Engine) setDisk(w *window, origin int64) {
	if w.disk != nil && w.disk.origin == origin {
		return
	}
	if d := w.disk; d != nil {
		w.disk = nil
		if d.refs--; d.refs == 0 {
			delete(e.disks, d.origin)
		}
	}
	if origin == 0 {
		return
	}
	d := e.disks[origin]
	if d == nil {
		d = &sharedDisk{cells: geo.Disk(origin, e.diskK), origin: origin}
		e.disks[origin] = d
	}
	d.refs++
	w.disk = d
}

// PutRoute inserts or replaces a courier's route; r is copied (a route the
// router of the broadcast tables made for this engine is kept instead). Each stop's
// window is then served by this courier (the latest route naming a window
// wins); a window whose courier changes starts approach and arrival afresh.
// A live grant issued to a courier who no longer serves its window is
// revoked (reason cancelled).
//
// A route of the router of the broadcast tables that hands a window over
// (see Route) only records who serves that window and this engine's stops
// of the route; it emits nothing.
func (e *Engine) PutRoute(now int64, r *Route) Reason {
	if r.handOver != "" {
		e.takeOver(r)
		return Applied
	}
	old := e.routes[r.CourierID]
	cp := r
	if !r.handed {
		cp = &Route{CourierID: r.CourierID, Stops: slices.Clone(r.Stops)}
	}
	if old != nil {
		for _, s := range old.Stops {
			if e.servedBy(s.WindowID) == old.CourierID && !cp.serves(s.WindowID) {
				e.unserve(s.WindowID)
			}
		}
	}
	e.routes[cp.CourierID] = cp
	for _, s := range cp.Stops {
		if e.servedBy(s.WindowID) != cp.CourierID {
			e.unserve(s.WindowID)
			e.setServing(s.WindowID, cp.CourierID)
		}
	}
	ts := e.refTime(now)
	if old != nil {
		e.revokeStale(now, old, ts)
	}
	for _, s := range cp.Stops {
		if w := e.win(e.windows[s.WindowID]); w != nil && w.grant != nil && w.grant.courier != cp.CourierID {
			e.revoke(now, w, "cancelled", w.dispatchTime(ts))
		}
	}
	// A courier already near a parked car counts at once, at the time of
	// its fix.
	if c := e.couriers[cp.CourierID]; c != nil && e.fresh(c, ts) {
		e.courierNear(now, cp, c, c.ts)
	}
	return Applied
}

// takeOver applies a hand-over route: the window r.handOver, which this
// engine did not have when the routes naming it came, is served by
// r.CourierID, and r.Stops are this engine's stops of that courier's route
// (in route order). Nothing else changes: the window is not here yet.
func (e *Engine) takeOver(r *Route) {
	e.setServing(r.handOver, r.CourierID)
	if r.CourierID == "" {
		return
	}
	if rt := e.routes[r.CourierID]; rt != nil {
		if r.handed {
			rt.Stops = r.Stops
		} else {
			rt.Stops = slices.Clone(r.Stops)
		}
	}
}

func (r *Route) serves(windowID string) bool {
	for _, s := range r.Stops {
		if s.WindowID == windowID {
			return true
		}
	}
	return false
}

// unserve takes a window from its courier: approach and arrival start
// afresh with the next.
func (e *Engine) unserve(windowID string) {
	if w := e.win(e.windows[windowID]); w != nil {
		w.courier = ""
		w.approachSent, w.arrived = false, false
		return
	}
	e.serving.del(windowID)
}

// servedBy returns the courier serving window id, "" for none.
func (e *Engine) servedBy(id string) string {
	if w := e.win(e.windows[id]); w != nil {
		return w.courier
	}
	c, _ := e.serving.get(id)
	return c
}

// setServing records that courier serves window id ("" for no one). A
// window here holds its courier; serving holds the others'.
func (e *Engine) setServing(id, courier string) {
	if w := e.win(e.windows[id]); w != nil {
		w.courier = courier
		return
	}
	if courier == "" {
		e.serving.del(id)
		return
	}
	e.serving.set(id, courier)
}

// DeleteRoute withdraws a courier's route: its windows have no courier until
// another route names them.
func (e *Engine) DeleteRoute(now int64, courierID string) Reason {
	r := e.routes[courierID]
	if r == nil {
		return Applied
	}
	for _, s := range r.Stops {
		if e.servedBy(s.WindowID) == r.CourierID {
			e.unserve(s.WindowID)
		}
	}
	delete(e.routes, courierID)
	delete(e.couriers, courierID)
	e.revokeStale(now, r, e.refTime(now))
	return Applied
}

// revokeStale revokes the live grants of r's windows that r's courier no
// longer serves.
func (e *Engine) revokeStale(now int64, r *Route, ts int64) {
	for _, s := range r.Stops {
		w := e.win(e.windows[s.WindowID])
		if w != nil && w.grant != nil && w.grant.courier == r.CourierID && w.courier != r.CourierID {
			e.revoke(now, w, "cancelled", w.dispatchTime(ts))
		}
	}
}
