package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The broadcast tables: every instance reads all of dispatch.windows and
// dispatch.routes (from the start) and the courier pings of the last
// CourierLookback, like a Kafka Streams GlobalKTable. One goroutine, the
// router, owns them: it decodes and counts these records, keeps every
// window, route and last courier position, and feeds the partition workers.
//
// Routing rules:
//   - A window goes only to the worker that owns the car-pings partition
//     its VIN hashes to (Config.CarPingsPartitioner); windows of partitions not owned now
//     stay with the router and are handed over on assignment.
//   - Every route goes to every worker, but with only the stops that worker
//     needs: those of its windows, and those of windows the router does not
//     know (not yet arrived, or ended and purged here while a lagging
//     engine may still track them). So each stop is held by one engine,
//     not by all of them.
//   - Accepted courier positions go to every worker.
//   - Before a worker gets a window it does not have (a new window, or one
//     that moves to it from another partition), it gets a hand-over route
//     (Route.handOver): the courier serving the window, which the router
//     tracks by the engines' rules (the latest route naming a window wins,
//     until that route drops it or is withdrawn), and the worker's stops of
//     that courier's route, now with the window.
//   - A new worker first gets a snapshot: its windows, all routes (with its
//     stops), all courier positions; afterwards it gets every change, in
//     order.
//   - Windows are shared with the engines, which keep them instead of a copy;
//     they are never modified once sent.
//
// Counting (once per instance, here): a window is applied when stored,
// filtered window_expired when its end has passed on arrival, a tombstone of
// an unknown window is filtered unknown_window; a route or route tombstone
// is applied; a courier ping is filtered no_route (its courier has no
// route), then by checkFix, the GPS checks the engine applies to car and
// courier pings (future, null_island, accuracy, stale, duplicate, speed),
// else applied.
//
// Limits: a broadcast record that cannot be decoded is dead-lettered by
// every instance, each time it starts (the topics are read from the start).
// Loading waits until the last record before the startup end offset of
// every windows and routes partition has been read, so a partition that
// ends in transaction markers (a transactional producer) never counts as
// loaded. Partitions added to the car-pings topic are noticed when one of
// them is assigned; windows then follow the new key partitioning.

// updateKind says what an update carries.
type updateKind uint8

const (
	updSnapshot updateKind = iota + 1
	updPutWindow
	updDeleteWindow
	updHandOffWindow
	updPutRoute
	updDeleteRoute
	updCourier
)

// tableUpdate is one message from the router to a partition worker. Windows and
// routes are shared and never modified once sent.
type tableUpdate struct {
	kind     updateKind
	id       string // window id or courier id of a delete
	window   *Window
	route    *Route
	courier  CourierPing
	snap     *tableSnapshot
	appendMs int64 // Kafka timestamp of the record that caused it (Unix ms); 0 = none
}

// tableSnapshot is what a new partition worker starts from.
type tableSnapshot struct {
	windows  []*Window
	routes   []*Route
	couriers []CourierPing
}

// storedWindow is a window, the courier serving it and the car-pings
// partition its VIN hashes to. They live in a slab (see slab): the map of
// windows holds slot numbers, which cost a map entry less than the values
// would and the collector nothing to follow.
type storedWindow struct {
	w       *Window
	courier string // when served
	part    int32
	served  bool
}

// routerCtl asks the router to start or stop feeding a worker.
type routerCtl struct {
	register   *worker
	unregister *worker
	nparts     int32 // when > 0: the car-pings topic now has this many partitions
}

// tp names a topic partition.
type tp struct {
	topic string
	part  int32
}

// router owns the broadcast tables; see the comment at the top of the file.
type router struct {
	p *Processor

	windows  map[string]int32 // slots of wslab
	wslab    slab[storedWindow]
	routes   map[string]*Route
	routeSeq map[string]uint64 // order in which the routes were stored
	serving  stringMap[string] // window id -> courier serving it, of windows not in windows
	seq      uint64
	couriers map[string]CourierPing
	workers  map[int32]*worker
	nparts   int32

	fetches chan kgo.Fetches
	ctl     chan routerCtl

	// pending holds the windows and routes partitions whose end offset at
	// startup has not been reached yet; loaded is closed when it empties.
	// Workers that register before then wait in deferred for their
	// snapshot, which holds the whole tables.
	pending  map[tp]int64
	loaded   chan struct{}
	deferred []routerCtl

	courier CourierPing // decode buffer
	rbuf    Route       // decode buffer
	tallies [numInputs]tally
	dlqAck  func(error)
	logDLQ  limiter
	logFtch limiter
}

func newRouter(p *Processor, nparts int32, pending map[tp]int64) *router {
	r := &router{
		p:        p,
		windows:  make(map[string]int32),
		routes:   make(map[string]*Route),
		routeSeq: make(map[string]uint64),
		couriers: make(map[string]CourierPing),
		workers:  make(map[int32]*worker),
		nparts:   nparts,
		fetches:  make(chan kgo.Fetches, 1),
		ctl:      make(chan routerCtl),
		pending:  pending,
		loaded:   make(chan struct{}),
	}
	r.dlqAck = r.deadLetterAcked
	if len(pending) == 0 {
		close(r.loaded)
	}
	return r
}

// fetch polls the broadcast client and hands its fetches to the router. It
// returns when ctx is done or the client is closed.
func (r *router) fetch(ctx context.Context, cl *kgo.Client) {
	for {
		fs := cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		select {
		case r.fetches <- fs:
		case <-ctx.Done():
			return
		}
	}
}

// run is the router's loop. It returns when ctx is done.
func (r *router) run(ctx context.Context) {
	purge := time.NewTicker(time.Minute)
	defer purge.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case fs := <-r.fetches:
			r.apply(ctx, fs)
		case c := <-r.ctl:
			r.control(ctx, c)
		case <-purge.C:
			r.purge(r.p.now())
		}
	}
}

// rehome applies a new partition count of the car-pings topic: each window
// whose car now hashes to another partition is handed over from its old
// owner to its new one (in window id order, so the workers see a fixed
// sequence).
func (r *router) rehome(ctx context.Context, nparts int32) {
	r.nparts = nparts
	var moved []string
	for id, ref := range r.windows {
		if sw := r.wslab.at(ref); r.p.cfg.CarPingsPartitioner.Partition([]byte(sw.w.VIN), nparts) != sw.part {
			moved = append(moved, id)
		}
	}
	slices.Sort(moved)
	for _, id := range moved {
		sw := r.stored(id)
		if ow := r.workers[sw.part]; ow != nil {
			r.send(ctx, ow, tableUpdate{kind: updHandOffWindow, id: id})
		}
		sw.part = r.p.cfg.CarPingsPartitioner.Partition([]byte(sw.w.VIN), nparts)
		if nw := r.workers[sw.part]; nw != nil {
			r.handOver(ctx, nw, id, 0)
			r.send(ctx, nw, tableUpdate{kind: updPutWindow, window: sw.w})
		}
	}
}

// control registers or unregisters a worker; before the tables are
// loaded, it defers both (in order) until they are.
func (r *router) control(ctx context.Context, c routerCtl) {
	if c.nparts > 0 && c.nparts != r.nparts {
		r.rehome(ctx, c.nparts)
	}
	if len(r.pending) > 0 {
		if c.register != nil || c.unregister != nil {
			r.deferred = append(r.deferred, routerCtl{register: c.register, unregister: c.unregister})
		}
		return
	}
	if w := c.unregister; w != nil && r.workers[w.part] == w {
		delete(r.workers, w.part)
	}
	if w := c.register; w != nil {
		r.workers[w.part] = w
		snap := &tableSnapshot{
			routes:   make([]*Route, 0, len(r.routes)),
			couriers: make([]CourierPing, 0, len(r.couriers)),
		}
		for _, ref := range r.windows {
			if sw := r.wslab.at(ref); sw.part == w.part {
				snap.windows = append(snap.windows, sw.w)
			}
		}
		for _, rt := range r.routes {
			snap.routes = append(snap.routes, r.project(rt, w.part, false))
		}
		for _, cp := range r.couriers {
			snap.couriers = append(snap.couriers, cp)
		}
		// The worker applies the snapshot in the order the router took the
		// records in (routes: the latest route naming a window wins), or in
		// a fixed order where that does not matter, so that what it emits
		// does not depend on map iteration.
		slices.SortFunc(snap.windows, func(a, b *Window) int {
			return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.ID, b.ID))
		})
		slices.SortFunc(snap.routes, func(a, b *Route) int {
			return cmp.Compare(r.routeSeq[a.CourierID], r.routeSeq[b.CourierID])
		})
		slices.SortFunc(snap.couriers, func(a, b CourierPing) int {
			return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.CourierID, b.CourierID))
		})
		r.send(ctx, w, tableUpdate{kind: updSnapshot, snap: snap})
	}
}

// send hands u to w unless w has stopped.
func (r *router) send(ctx context.Context, w *worker, u tableUpdate) {
	select {
	case w.inbox <- u:
	case <-w.done:
	case <-ctx.Done():
	}
}

// project returns the stops of rt that the worker of partition part needs:
// those of its windows and, when unknown is set, those of windows the router
// does not know. A new worker has no window the router does not know.
func (r *router) project(rt *Route, part int32, unknown bool) *Route {
	p := &Route{CourierID: rt.CourierID, handed: true}
	n := 0
	for _, s := range rt.Stops {
		if r.needs(s.WindowID, part, unknown) {
			n++
		}
	}
	if n == 0 {
		return p
	}
	p.Stops = make([]Stop, 0, n)
	for _, s := range rt.Stops {
		if r.needs(s.WindowID, part, unknown) {
			p.Stops = append(p.Stops, s)
		}
	}
	return p
}

func (r *router) needs(windowID string, part int32, unknown bool) bool {
	sw := r.stored(windowID)
	return sw != nil && sw.part == part || sw == nil && unknown
}

// serve records who serves the windows of rt, which replaces old (rt nil:
// old is withdrawn), by the engines' rules: each stop of rt is served by
// rt's courier; a window old served and rt does not name is served by no
// one.
func (r *router) serve(old, rt *Route) {
	if old != nil {
		for _, s := range old.Stops {
			if c, ok := r.servedBy(s.WindowID); ok && c == old.CourierID && (rt == nil || !rt.serves(s.WindowID)) {
				r.setServing(s.WindowID, "", false)
			}
		}
	}
	if rt != nil {
		for _, s := range rt.Stops {
			r.setServing(s.WindowID, rt.CourierID, true)
		}
	}
}

// servedBy returns the courier serving window id, known or not.
func (r *router) servedBy(id string) (string, bool) {
	if sw := r.stored(id); sw != nil {
		return sw.courier, sw.served
	}
	return r.serving.get(id)
}

// setServing records that courier serves window id (served false: no one
// does). A known window holds its courier; serving holds the others'.
func (r *router) setServing(id, courier string, served bool) {
	if sw := r.stored(id); sw != nil {
		sw.courier, sw.served = courier, served
		if !served {
			sw.courier = ""
		}
		return
	}
	if served {
		r.serving.set(id, courier)
	} else {
		r.serving.del(id)
	}
}

// stored returns window id, nil when the router does not know it.
func (r *router) stored(id string) *storedWindow {
	if ref, ok := r.windows[id]; ok {
		return r.wslab.at(ref)
	}
	return nil
}

// storeWindow stores sw as window id. A known window keeps its courier; an
// unknown one takes over the courier that serving recorded for it.
func (r *router) storeWindow(id string, sw storedWindow) {
	if cur := r.stored(id); cur != nil {
		sw.courier, sw.served = cur.courier, cur.served
		*cur = sw
		return
	}
	if c, ok := r.serving.get(id); ok {
		r.serving.del(id)
		sw.courier, sw.served = c, true
	}
	ref, p := r.wslab.alloc()
	*p = sw
	r.windows[id] = ref
}

// forgetWindow deletes window id; serving keeps its courier, as for any
// window the router does not know.
func (r *router) forgetWindow(id string) {
	if ref, ok := r.windows[id]; ok {
		sw := r.wslab.at(ref)
		delete(r.windows, id)
		if sw.served {
			r.serving.set(id, sw.courier)
		}
		*sw = storedWindow{}
		r.wslab.release(ref)
	}
}

// handOver tells w, before it gets window id, which it does not have, who
// serves that window, with w's stops of that courier's route.
func (r *router) handOver(ctx context.Context, w *worker, id string, appendMs int64) {
	rt := &Route{handOver: id, handed: true}
	if c, ok := r.servedBy(id); ok {
		rt.CourierID = c
		rt.Stops = r.project(r.routes[c], w.part, true).Stops
	}
	r.send(ctx, w, tableUpdate{kind: updPutRoute, route: rt, appendMs: appendMs})
}

// broadcast hands u to every worker.
func (r *router) broadcast(ctx context.Context, u tableUpdate) {
	for _, w := range r.workers {
		r.send(ctx, w, u)
	}
}

// apply decodes, counts and routes the records of one poll.
func (r *router) apply(ctx context.Context, fs kgo.Fetches) {
	t := &r.p.cfg.Topics
	now := r.p.now()
	fs.EachError(func(topic string, part int32, err error) {
		if r.logFtch.allow(now) {
			r.p.log.Warn("cannot fetch broadcast topic", "topic", topic, "partition", part, "err", err)
		}
	})
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		if in := r.input(fp.Topic); in >= 0 {
			r.p.counters.lastRecord[in].Store(now)
		}
		switch fp.Topic {
		case t.Windows:
			for _, rec := range fp.Records {
				r.window(ctx, now, rec)
			}
		case t.Routes:
			for _, rec := range fp.Records {
				r.route(ctx, now, rec)
			}
		case t.CourierPings:
			for _, rec := range fp.Records {
				r.courierPing(ctx, now, rec)
			}
		}
		if len(r.pending) > 0 {
			key := tp{fp.Topic, fp.Partition}
			if end, ok := r.pending[key]; ok && fp.Records[len(fp.Records)-1].Offset+1 >= end {
				delete(r.pending, key)
				if len(r.pending) == 0 {
					close(r.loaded)
				}
			}
		}
		recycle(fp.Records) // decoded, copied or dead-lettered (a copy)
	})
	if len(r.pending) == 0 && r.deferred != nil {
		deferred := r.deferred
		r.deferred = nil
		for _, c := range deferred {
			r.control(ctx, c)
		}
	}
	for in := range r.tallies {
		r.p.counters.flush(in, &r.tallies[in])
	}
	r.p.counters.routes.Store(int64(len(r.routes)))
	r.p.counters.couriers.Store(int64(len(r.couriers)))
}

// input returns the counter index of a broadcast topic, -1 for another.
func (r *router) input(topic string) int {
	switch t := &r.p.cfg.Topics; topic {
	case t.Windows:
		return inWindows
	case t.Routes:
		return inRoutes
	case t.CourierPings:
		return inCourierPings
	}
	return -1
}

// deadLetter sends rec to the dead-letter topic and counts it.
func (r *router) deadLetter(ctx context.Context, in int, now int64, rec *kgo.Record, err error) {
	reason := dlqOther
	var de *DecodeError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	r.tallies[in].deadLettered(reason)
	r.p.sink.DeadLetter(r.p.produceCtx, rec, err, r.dlqAck)
	if r.logDLQ.allow(now) {
		args := []any{"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "reason", reason}
		if de != nil && de.Field != "" {
			args = append(args, "field", de.Field)
		}
		r.p.log.Warn("dead-lettered a broadcast record (further ones are logged at most every 10s)", args...)
	}
}

// deadLetterAcked is the ack of the router's dead letters: a failure is
// fatal, as the record was counted as dead-lettered.
func (r *router) deadLetterAcked(err error) {
	c := r.p.counters
	if err != nil {
		c.produceErrors[outDLQ].Add(1)
		r.p.fail(fmt.Errorf("cannot produce a dead letter to %s: %w; check that the topic exists and the broker accepts writes, then restart", r.p.cfg.Topics.DLQ, err))
		return
	}
	c.deadLettersAckd.Add(1)
}

func (r *router) window(ctx context.Context, now int64, rec *kgo.Record) {
	tl := &r.tallies[inWindows]
	if len(rec.Value) == 0 { // tombstone: the window is cancelled
		id := string(rec.Key)
		sw := r.stored(id)
		if sw == nil {
			tl.outcome(FilterUnknownWindow)
			return
		}
		part := sw.part
		r.forgetWindow(id)
		if w := r.workers[part]; w != nil {
			r.send(ctx, w, tableUpdate{kind: updDeleteWindow, id: id, appendMs: appendMs(rec)})
		}
		tl.outcome(Applied)
		return
	}
	if err := CheckRecordSize(rec.Value, r.p.cfg.MaxRecordBytes); err != nil {
		r.deadLetter(ctx, inWindows, now, rec, err)
		return
	}
	w := new(Window)
	if err := DecodeWindow(w, rec.Value); err != nil {
		r.deadLetter(ctx, inWindows, now, rec, fmt.Errorf("cannot decode window: %w", err))
		return
	}
	w.shared = true
	w.pack()
	old := r.stored(w.ID)
	known := old != nil
	if !known && w.End <= now {
		tl.outcome(FilterWindowExpired)
		return
	}
	var oldPart int32
	if known {
		oldPart = old.part
	}
	part := r.p.cfg.CarPingsPartitioner.Partition([]byte(w.VIN), r.nparts)
	r.storeWindow(w.ID, storedWindow{w: w, part: part})
	moved := known && oldPart != part
	if moved {
		// The window moved to a car of another partition: its old owner
		// stops tracking the old car and hands the window over.
		if ow := r.workers[oldPart]; ow != nil {
			r.send(ctx, ow, tableUpdate{kind: updHandOffWindow, id: w.ID, appendMs: appendMs(rec)})
		}
	}
	if ow := r.workers[part]; ow != nil {
		if !known || moved {
			r.handOver(ctx, ow, w.ID, 0)
		}
		r.send(ctx, ow, tableUpdate{kind: updPutWindow, window: w, appendMs: appendMs(rec)})
	}
	tl.outcome(Applied)
}

func (r *router) route(ctx context.Context, now int64, rec *kgo.Record) {
	tl := &r.tallies[inRoutes]
	if len(rec.Value) == 0 { // tombstone: the route is withdrawn
		id := string(rec.Key)
		if old := r.routes[id]; old != nil {
			r.serve(old, nil)
		}
		delete(r.routes, id)
		delete(r.routeSeq, id)
		r.broadcast(ctx, tableUpdate{kind: updDeleteRoute, id: id, appendMs: appendMs(rec)})
		tl.outcome(Applied)
		return
	}
	if err := CheckRecordSize(rec.Value, r.p.cfg.MaxRecordBytes); err != nil {
		r.deadLetter(ctx, inRoutes, now, rec, err)
		return
	}
	if err := DecodeRoute(&r.rbuf, rec.Value); err != nil {
		r.deadLetter(ctx, inRoutes, now, rec, fmt.Errorf("cannot decode route: %w", err))
		return
	}
	// Decoded into a buffer, kept at its size: a decoder's slice grows
	// by doubling, and 50 K routes are kept for good.
	rt := &Route{CourierID: r.rbuf.CourierID, Stops: slices.Clone(r.rbuf.Stops)}
	for i := range rt.Stops {
		// The stop shares the window's id string.
		if sw := r.stored(rt.Stops[i].WindowID); sw != nil {
			rt.Stops[i].WindowID = sw.w.ID
		}
	}
	r.serve(r.routes[rt.CourierID], rt)
	r.routes[rt.CourierID] = rt
	r.seq++
	r.routeSeq[rt.CourierID] = r.seq
	for _, w := range r.workers {
		r.send(ctx, w, tableUpdate{kind: updPutRoute, route: r.project(rt, w.part, true), appendMs: appendMs(rec)})
	}
	tl.outcome(Applied)
}

func (r *router) courierPing(ctx context.Context, now int64, rec *kgo.Record) {
	tl := &r.tallies[inCourierPings]
	if err := CheckRecordSize(rec.Value, r.p.cfg.MaxRecordBytes); err != nil {
		r.deadLetter(ctx, inCourierPings, now, rec, err)
		return
	}
	cp := &r.courier
	if err := DecodeCourierPing(cp, rec.Value); err != nil {
		r.deadLetter(ctx, inCourierPings, now, rec, fmt.Errorf("cannot decode courier ping: %w", err))
		return
	}
	if reason := r.filterCourier(now, cp); reason != Applied {
		tl.outcome(reason)
		return
	}
	r.couriers[cp.CourierID] = *cp
	r.broadcast(ctx, tableUpdate{kind: updCourier, courier: *cp, appendMs: appendMs(rec)})
	tl.outcome(Applied)
}

// filterCourier applies the router's courier filter; see the top of the
// file.
func (r *router) filterCourier(now int64, cp *CourierPing) Reason {
	if _, ok := r.routes[cp.CourierID]; !ok {
		return FilterNoRoute
	}
	var last *lastFix
	if l, ok := r.couriers[cp.CourierID]; ok {
		last = &lastFix{l.TS, l.Lat, l.Lng}
	}
	return checkFix(&r.p.cfg.Engine, now, cp.TS, cp.Lat, cp.Lng, cp.HasAccuracy, cp.AccuracyM, last)
}

// purge drops the windows that have ended: they are never handed to a new
// worker (an engine that had them closed them on its own timers).
func (r *router) purge(now int64) {
	for id, ref := range r.windows {
		if r.wslab.at(ref).w.End <= now {
			r.forgetWindow(id)
		}
	}
}

// limiter lets a log line through at most once per interval of the caller's
// clock (Unix ms). It is used by one goroutine.
type limiter struct{ next int64 }

const logEvery = 10 * time.Second

func (l *limiter) allow(now int64) bool {
	if now < l.next {
		return false
	}
	l.next = now + logEvery.Milliseconds()
	return true
}
