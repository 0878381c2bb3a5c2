package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordsQueue is how many polled batches of records a worker may hold
// before its partition is paused.
const recordsQueue = 64

// inboxSize is how many broadcast updates a worker may hold before the
// router waits for it.
const inboxSize = 1024

// worker owns one car-pings partition: its Engine, the batches it handed to
// the sink that are not acknowledged yet, and the partition's commit mark.
// One goroutine (run) does all of the work; the poll loop hands it records,
// the router hands it updates, and the sink's acknowledgements wake it.
//
// At-least-once: each batch of records (and each broadcast update or tick
// that emitted events) is a batch with a count of outstanding
// acknowledgements. Batches complete in any order but are retired in order;
// the offset after the last record of the longest completed prefix is
// marked for commit. A batch whose event or dead letter failed stops the
// worker and the processor: nothing past it is ever marked.
type worker struct {
	p    *Processor
	cl   *kgo.Client // group client: marks and pause/resume
	part int32
	tps  map[string][]int32 // this partition, for pause and resume

	records chan []*kgo.Record
	inbox   chan tableUpdate
	acked   chan struct{} // a batch completed
	stop    chan struct{} // closed by the owner to stop the worker
	done    chan struct{} // closed when run returns
	lost    bool          // set before stop is closed: do not wait for acks, do not mark
	wait    time.Duration // set before stop is closed: how long to wait for acks

	// pctx is the context of the worker's sink calls; the watchdog cancels
	// it when a call has blocked longer than ProduceTimeout. sinkSince is
	// when the current sink call began (Unix ns), 0 outside one.
	pctx      context.Context
	pcancel   context.CancelFunc
	sinkSince atomic.Int64

	flow     sync.Mutex // guards buffered and paused
	buffered int        // records handed over and not yet processed
	paused   bool

	// Published for the metrics, read by the collector at scrape time:
	// the engine's sizes after each batch, the partition's high watermark
	// from the last fetch (set by the poll loop) and the offset after the
	// last record processed (-1 until known).
	openWindows, cars atomic.Int64
	highWater, next   atomic.Int64

	// Owned by the run goroutine.
	eng   *Engine
	ping  CarPing
	cur   *batch   // the batch being built, nil until it hands something to the sink
	queue []*batch // batches handed over, oldest first
	tally tally
	now   int64 // the clock read of the current batch, Unix ms
	cause int64 // Kafka timestamp (Unix ms) of the first input of the current batch that emitted; 0 = none
	// The input being applied: its event time for the ping-to-event
	// latency (0 = none: a table update or a tick) and its Kafka timestamp
	// (Unix ms); seen is how many of the engine's events observe has
	// accounted for.
	inTS, inAppend int64
	seen           int
	ticks          uint64 // ticks so far: the wall time that bounds waiting for acks
	logDLQ         limiter
	err            error
}

func newWorker(p *Processor, cl *kgo.Client, part int32) *worker {
	w := &worker{
		p:       p,
		cl:      cl,
		part:    part,
		tps:     map[string][]int32{p.cfg.Topics.CarPings: {part}},
		records: make(chan []*kgo.Record, recordsQueue),
		inbox:   make(chan tableUpdate, inboxSize),
		acked:   make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	w.highWater.Store(-1)
	w.next.Store(-1)
	return w
}

// lag is the partition's consumer lag: the high watermark of the last
// fetch minus the offset after the last record processed; ok is false
// until both are known.
func (w *worker) lag() (lag int64, ok bool) {
	hw, next := w.highWater.Load(), w.next.Load()
	if hw < 0 || next < 0 {
		return 0, false
	}
	return max(hw-next, 0), true
}

// publish stores the engine's sizes for the metrics; once per batch.
func (w *worker) publish() {
	open, cars := w.eng.gauges()
	w.openWindows.Store(int64(open))
	w.cars.Store(int64(cars))
}

// appendMs is the Kafka timestamp of rec in Unix ms, 0 when it has none.
func appendMs(rec *kgo.Record) int64 {
	if rec.Timestamp.IsZero() {
		return 0
	}
	return rec.Timestamp.UnixMilli()
}

// setEngine gives the worker its engine, which hands its events to the
// sink every emitChunk events.
func (w *worker) setEngine(eng *Engine) {
	w.eng = eng
	eng.OnEvents(emitChunk, w.emit)
}

// run is the worker's goroutine: it waits for its snapshot of the broadcast
// tables, then processes records, updates and ticks until stopped. On stop it
// waits (within the owner's wait) for the acknowledgements of everything it
// emitted and marks the offsets they cover.
func (w *worker) run() {
	defer close(w.done)
	eng, err := NewEngine(w.p.cfg.Engine)
	if err != nil {
		w.p.fail(fmt.Errorf("cannot start the engine of %s partition %d: %w", w.p.cfg.Topics.CarPings, w.part, err))
		return
	}
	w.setEngine(eng)
	defer eng.Close()
	w.pctx, w.pcancel = context.WithCancel(w.p.produceCtx)
	defer w.pcancel()
	wdStop, wdDone := make(chan struct{}), make(chan struct{})
	go w.watchdog(wdStop, wdDone)
	defer func() { close(wdStop); <-wdDone }()

	select {
	case u := <-w.inbox: // the router always sends the snapshot first
		w.apply(&u)
	case <-w.stop:
		return
	}
	tick := time.NewTicker(w.p.cfg.TickInterval)
	defer tick.Stop()
	for w.err == nil {
		select {
		case <-w.stop:
			w.finish()
			return
		case recs := <-w.records:
			w.applyPending() // window updates that came before these records first
			w.process(recs)
		case u := <-w.inbox:
			w.apply(&u)
		case <-tick.C:
			w.tick()
		case <-w.acked:
			w.advance()
		}
	}
}

// process applies one polled batch of car pings: one clock read, then per
// record size check, decode, engine; the events go to the sink. The events
// of a ping are observed for the ping-to-event latency; the first record
// that emitted is the batch's cause for the append-to-ack latency.
func (w *worker) process(recs []*kgo.Record) {
	now := w.p.now()
	w.now = now
	for _, rec := range recs {
		w.carPing(now, rec)
		w.observe()
	}
	w.emit()
	last := recs[len(recs)-1]
	next := last.Offset + 1
	w.seal(last)
	recycle(recs)
	w.p.counters.flush(inCarPings, &w.tally)
	w.p.counters.lastRecord[inCarPings].Store(now)
	w.next.Store(next)
	w.publish()
	w.drained(len(recs))
}

// emitChunk is how many events a worker lets the engine buffer before they
// go to the sink (Engine.OnEvents), within a batch of records or a single
// input: a poll of thousands of windowed pings (catching up), a snapshot of
// a million windows or the timers of the windows that open on one ping then
// reuse one small buffer instead of growing one past maxKeptEvents.
const emitChunk = 1024

// applyPending applies the updates waiting in the inbox.
func (w *worker) applyPending() {
	for {
		select {
		case u := <-w.inbox:
			w.apply(&u)
		default:
			return
		}
	}
}

// apply applies one broadcast update. The router has counted the record.
func (w *worker) apply(u *tableUpdate) {
	now := w.p.now()
	w.now = now
	w.inTS, w.inAppend = 0, u.appendMs
	switch u.kind {
	case updSnapshot:
		w.eng.reserve(len(u.snap.windows))
		for _, win := range u.snap.windows {
			w.eng.PutWindow(now, win)
		}
		for _, rt := range u.snap.routes {
			w.eng.PutRoute(now, rt)
		}
		for i := range u.snap.couriers {
			w.eng.CourierPing(now, &u.snap.couriers[i])
		}
	case updPutWindow:
		w.eng.PutWindow(now, u.window)
	case updDeleteWindow:
		w.eng.DeleteWindow(now, u.id)
	case updHandOffWindow:
		w.eng.HandOffWindow(now, u.id)
	case updPutRoute:
		w.eng.PutRoute(now, u.route)
	case updDeleteRoute:
		w.eng.DeleteRoute(now, u.id)
	case updCourier:
		w.inTS = u.courier.TS
		w.eng.CourierPing(now, &u.courier)
	}
	w.emit()
	w.seal(nil)
	w.p.counters.flush(inCarPings, &w.tally)
	w.publish()
}

// tick fires the engine's due timers, and fails the processor when the
// oldest outstanding batch has waited for acknowledgements longer than
// ProduceTimeout. That wait is counted in ticks of the real ticker, not on
// the injectable clock, which may jump.
func (w *worker) tick() {
	w.ticks++
	w.now = w.p.now()
	w.inTS, w.inAppend = 0, 0
	w.eng.Tick(w.now)
	w.emit()
	w.seal(nil)
	w.p.counters.flush(inCarPings, &w.tally)
	w.publish()
	if w.err == nil && len(w.queue) > 0 {
		if b := w.queue[0]; b.pending.Load() != 0 && time.Duration(w.ticks-b.tick)*w.p.cfg.TickInterval > w.p.cfg.ProduceTimeout {
			w.err = w.produceTimeout("no acknowledgement from the broker")
			w.p.fail(w.err)
		}
	}
}

// produceTimeout is the error of output that waited longer than
// ProduceTimeout.
func (w *worker) produceTimeout(what string) error {
	return fmt.Errorf("%s for output of %s partition %d within produce_timeout (%v); offsets were not committed past it: check the broker and the topics %s and %s, then restart",
		what, w.p.cfg.Topics.CarPings, w.part, w.p.cfg.ProduceTimeout, w.p.cfg.Topics.Events, w.p.cfg.Topics.DLQ)
}

// watchdog fails the processor and cancels the worker's sink calls when
// one of them has blocked longer than ProduceTimeout (a producer whose
// buffer is full while the brokers are down blocks in Produce), since the
// blocked worker cannot notice itself. It runs until stop is closed.
func (w *worker) watchdog(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(w.p.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if s := w.sinkSince.Load(); s != 0 && time.Since(time.Unix(0, s)) > w.p.cfg.ProduceTimeout {
				w.p.fail(w.produceTimeout("the sink did not take records"))
				w.pcancel()
				return
			}
		}
	}
}

// deadLetter sends rec to the dead-letter topic as part of the current
// batch and counts it.
func (w *worker) deadLetter(now int64, rec *kgo.Record, err error) {
	reason := dlqOther
	var de *DecodeError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	w.tally.deadLettered(reason)
	b := w.batch()
	b.pending.Add(1)
	w.sinkSince.Store(time.Now().UnixNano())
	w.p.sink.DeadLetter(w.pctx, rec, err, b.deadLetterAck())
	w.sinkSince.Store(0)
	if w.logDLQ.allow(now) {
		args := []any{"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "reason", reason}
		if de != nil && de.Field != "" {
			args = append(args, "field", de.Field)
		}
		w.p.log.Warn("dead-lettered a car ping (further ones are logged at most every 10s)", args...)
	}
}

// observe accounts for the events the input being applied (inTS,
// inAppend) emitted since the last call: the first input of a batch that
// emits is the batch's cause, and a ping's events are observed for the
// ping-to-event latency.
func (w *worker) observe() {
	evs := w.eng.Events()
	if len(evs) <= w.seen {
		return
	}
	if w.cause == 0 {
		w.cause = w.inAppend
	}
	if w.inTS != 0 {
		for range len(evs) - w.seen {
			w.p.lat.pingToEvent.Observe(sinceMs(w.inTS, w.now))
		}
	}
	w.seen = len(evs)
}

// emit hands the engine's events to the sink as part of the current batch.
// The engine calls it too (Engine.OnEvents), in the middle of an input.
func (w *worker) emit() {
	w.observe()
	evs := w.eng.Events()
	if len(evs) == 0 {
		return
	}
	b := w.batch()
	if b.cause == 0 {
		b.cause = w.cause
	}
	b.pending.Add(int32(len(evs)))
	ack := b.eventAck()
	w.sinkSince.Store(time.Now().UnixNano())
	for i := range evs {
		if t := evs[i].Type; t < numEventTypes {
			w.tally.events[t]++
		}
		w.p.sink.Event(w.pctx, &evs[i], ack)
	}
	w.sinkSince.Store(0)
	w.eng.ResetEvents()
	w.seen = 0
}

// batch returns the batch being built, starting one if needed.
func (w *worker) batch() *batch {
	if w.cur == nil {
		w.cur = &batch{w: w, tick: w.ticks}
		w.cur.pending.Store(1) // the worker's own reference, dropped by seal
	}
	return w.cur
}

// seal ends the current batch; last is the last record it covers (nil for an
// update or a tick), which the caller may recycle afterwards: a batch keeps
// a copy of what marking reads. A batch that handed nothing to the sink
// needs no acknowledgement: its offset is marked at once unless earlier
// batches are still outstanding.
func (w *worker) seal(last *kgo.Record) {
	b := w.cur
	w.cur = nil
	w.cause = 0
	if b == nil {
		switch {
		case last == nil:
		case len(w.queue) == 0:
			w.cl.MarkCommitRecords(last)
		default:
			w.queue = append(w.queue, &batch{w: w, last: commitMark(last)}) // complete already
		}
		return
	}
	if last != nil {
		b.last = commitMark(last)
	}
	w.queue = append(w.queue, b)
	b.release()
	w.advance()
}

// advance retires the completed batches at the head of the queue and marks
// the offset after the last record they cover.
func (w *worker) advance() {
	var last *kgo.Record
	n := 0
	for _, b := range w.queue {
		if b.pending.Load() != 0 {
			break
		}
		if err := b.failure(); err != nil {
			w.err = err
			w.p.fail(err)
			break
		}
		if b.last != nil {
			last = b.last
		}
		n++
	}
	if n > 0 {
		k := copy(w.queue, w.queue[n:])
		clear(w.queue[k:])
		w.queue = w.queue[:k]
	}
	if last != nil {
		w.cl.MarkCommitRecords(last)
	}
}

// finish waits, for at most w.wait, until every batch is acknowledged and
// marked. A lost partition is not waited for: it cannot be committed.
func (w *worker) finish() {
	if w.lost {
		return
	}
	w.advance()
	if len(w.queue) == 0 || w.err != nil {
		return
	}
	deadline := time.NewTimer(w.wait)
	defer deadline.Stop()
	for len(w.queue) > 0 && w.err == nil {
		select {
		case <-w.acked:
			w.advance()
		case <-deadline.C:
			w.p.log.Warn("stopped waiting for acknowledgements; later records of the partition will be processed again",
				"topic", w.p.cfg.Topics.CarPings, "partition", w.part, "batches", len(w.queue), "after", w.wait)
			return
		}
	}
}

// enqueue hands a polled batch to the worker; it is called by the poll loop
// only. It reports whether the worker now holds MaxBufferedRecords records
// or more (or its queue is nearly full) and its partition is not paused yet:
// the poll loop then pauses it with pauseIfFull once the client holds no
// more fetched records of it, since pausing a partition drops what the
// client has buffered for it, to be fetched again on resume.
func (w *worker) enqueue(stop <-chan struct{}, recs []*kgo.Record) (full bool) {
	w.flow.Lock()
	w.buffered += len(recs)
	full = !w.paused && w.full()
	w.flow.Unlock()
	select {
	case w.records <- recs:
	case <-w.done:
	case <-stop:
	}
	return full
}

// full reports whether the partition should pause. w.flow is held.
func (w *worker) full() bool {
	return w.buffered >= w.p.cfg.MaxBufferedRecords || len(w.records) >= cap(w.records)-1
}

// pauseIfFull pauses the partition if the worker is still full and not
// stopped; it is called by the poll loop only, before it allows a
// rebalance, so a stopped worker's partition is never paused after its
// owner resumed it.
func (w *worker) pauseIfFull() {
	select {
	case <-w.stop:
		return
	default:
	}
	w.flow.Lock()
	if !w.paused && w.full() {
		w.paused = true
		w.cl.PauseFetchPartitions(w.tps)
	}
	w.flow.Unlock()
}

// drained tells the flow control that n records were processed, resuming
// the partition once half of the buffer is free.
func (w *worker) drained(n int) {
	w.flow.Lock()
	w.buffered -= n
	if w.paused && w.buffered <= w.p.cfg.MaxBufferedRecords/2 && len(w.records) <= cap(w.records)/2 {
		w.paused = false
		w.cl.ResumeFetchPartitions(w.tps)
	}
	w.flow.Unlock()
}

// batch is one unit of acknowledgement: the events and dead letters a batch
// of records, an update or a tick handed to the sink.
type batch struct {
	w       *worker
	last    *kgo.Record // last input record covered; nil for updates and ticks
	tick    uint64      // the worker's tick count when it was started
	cause   int64       // Kafka timestamp (Unix ms) of the input that caused its events; 0 = none
	pending atomic.Int32
	evOK    atomic.Int32 // events acknowledged without error
	failed  atomic.Pointer[error]
	evAck   func(error)
	dlqAck  func(error)
}

func (b *batch) eventAck() func(error) {
	if b.evAck == nil {
		b.evAck = b.eventAcked
	}
	return b.evAck
}

func (b *batch) deadLetterAck() func(error) {
	if b.dlqAck == nil {
		b.dlqAck = b.deadLetterAcked
	}
	return b.dlqAck
}

// eventAcked and deadLetterAcked are called by the sink, from its delivery
// goroutine: they only count and signal.
func (b *batch) eventAcked(err error) {
	c := b.w.p.counters
	if err != nil {
		c.produceErrors[outEvents].Add(1)
		b.fail(b.w.p.cfg.Topics.Events, err)
	} else {
		c.eventsAcked.Add(1)
		b.evOK.Add(1)
	}
	b.release()
}

func (b *batch) deadLetterAcked(err error) {
	c := b.w.p.counters
	if err != nil {
		c.produceErrors[outDLQ].Add(1)
		b.fail(b.w.p.cfg.Topics.DLQ, err)
	} else {
		c.deadLettersAckd.Add(1)
	}
	b.release()
}

func (b *batch) fail(topic string, err error) {
	w := b.w
	e := fmt.Errorf("cannot produce to %s for %s partition %d: %w; offsets were not committed past the records that caused it: check that the topic exists and the broker accepts writes, then restart (those records are processed again)",
		topic, w.p.cfg.Topics.CarPings, w.part, err)
	b.failed.CompareAndSwap(nil, &e)
}

func (b *batch) failure() error {
	if e := b.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// release drops one reference; the last one observes the append-to-ack
// latency of the batch's events (one clock read) and wakes the worker.
func (b *batch) release() {
	if b.pending.Add(-1) == 0 {
		if n := b.evOK.Load(); n > 0 && b.cause != 0 {
			d := sinceMs(b.cause, time.Now().UnixMilli())
			for range n {
				b.w.p.lat.appendToAck.Observe(d)
			}
		}
		select {
		case b.w.acked <- struct{}{}:
		default:
		}
	}
}
