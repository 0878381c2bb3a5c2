package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// runTick is how often Run steps the generator.
	runTick = 10 * time.Millisecond
	// stepSliceMs is the most simulated time one Step covers, so the rate
	// cap can hold the simulation back within a tick.
	stepSliceMs = 100
	// rateBurst is how many seconds of pings Run may catch up at once.
	rateBurst = 1.0
	// statsEvery is how often Run reports its stats.
	statsEvery = time.Second
	// flushTimeout bounds the flush when Run is stopped.
	flushTimeout = 10 * time.Second
)

// Run simulates cfg and produces the records to cl's brokers until
// cfg.Duration of simulated time is produced, or until ctx is done.
//
// It first produces the Setup records (windows and routes) and waits until
// the brokers have them. Then, every few milliseconds, it steps the
// generator to the simulated time that corresponds to now(): cfg.Start
// (now() when zero) plus the wall time elapsed since the first step. Car
// pings, invalid ones included, are capped at cfg.Rate per second with a
// one-second burst: when the cap or a full producer buffer holds the
// simulation back, simulated time falls behind the wall clock rather than
// the rate going over.
//
// Run blocks. It returns nil once the last record is acknowledged, or, when
// ctx is done, once what it produced is flushed; it returns an error if cfg
// is invalid, if a record cannot be produced, or if the flush after ctx is
// done does not finish within 10 s (the records still buffered are then
// failed). now
// defaults to time.Now; it is read once per tick. onStats, if not nil, is
// called on Run's goroutine about once a second and once at the end. cl is
// not closed.
func Run(ctx context.Context, cl *kgo.Client, cfg Config, now func() time.Time, onStats func(Stats)) error {
	if now == nil {
		now = time.Now
	}
	if cfg.Start.IsZero() {
		cfg.Start = now()
	}
	g, err := NewGenerator(cfg)
	if err != nil {
		return err
	}
	// Records are produced under pctx, not ctx: when ctx is done, what is
	// buffered still has flushTimeout to reach the brokers (kgo fails the
	// buffered records of a cancelled produce context).
	pctx, cancelProduce := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelProduce()
	stopWatch := context.AfterFunc(ctx, func() { time.AfterFunc(flushTimeout, cancelProduce) })
	defer stopWatch()

	p := newProducer(cl, pctx)
	report := func() {
		if onStats != nil {
			onStats(g.Stats())
		}
	}

	recs := g.Setup(nil)
	p.produce(recs)
	if err := cl.Flush(ctx); err != nil {
		if ctx.Err() != nil {
			return p.stop(report)
		}
		return fmt.Errorf("cannot flush setup records: %w", err)
	}
	if err := p.err(); err != nil {
		return err
	}

	var (
		pc       = newPacer(cfg.Rate, g.start, cfg.Duration, now())
		lastStat = pc.wall0
		timer    = time.NewTimer(runTick)
	)
	defer timer.Stop()
	for {
		w := now()
		pc.tick(w)
		for ctx.Err() == nil {
			next, ok := pc.next()
			if !ok {
				break
			}
			before := g.stats.CarPings + g.stats.Bad
			recs = g.Step(recs[:0], time.UnixMilli(next))
			p.produce(recs)
			clear(recs) // let the client own the only references
			pc.spent(next, g.stats.CarPings+g.stats.Bad-before)
		}
		if err := p.err(); err != nil {
			cancelProduce()
			return err
		}
		if w.Sub(lastStat) >= statsEvery {
			report()
			lastStat = w
		}
		if pc.finished() {
			break
		}
		select {
		case <-ctx.Done():
			return p.stop(report)
		case <-timer.C:
			timer.Reset(runTick)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		if ctx.Err() != nil {
			return p.stop(report)
		}
		return fmt.Errorf("cannot flush: %w", err)
	}
	report()
	return p.err()
}

// pacer maps wall time to simulated time and holds the simulation back
// when car pings would exceed the rate. Simulated time is stepped in slices
// of at most stepSliceMs; a slice is started while the budget of car pings
// is positive, and what it produced is charged afterwards.
type pacer struct {
	rate   float64
	budget float64 // car pings that may still be produced
	wall0  time.Time
	last   time.Time
	start  int64 // simulated start, Unix ms
	end    int64 // simulated end; 0 = none
	target int64 // simulated time that corresponds to the last tick
	done   int64 // simulated time stepped so far
}

func newPacer(rate float64, start int64, d time.Duration, wall0 time.Time) *pacer {
	p := &pacer{rate: rate, wall0: wall0, last: wall0, start: start, done: start - 1, target: start - 1}
	if d > 0 {
		p.end = start + d.Milliseconds()
	}
	return p
}

// tick moves the target to the simulated time of wall time w and refills
// the budget, keeping at most rateBurst seconds of it.
func (p *pacer) tick(w time.Time) {
	p.budget = min(p.budget+p.rate*w.Sub(p.last).Seconds(), p.rate*rateBurst)
	p.last = w
	p.target = max(p.target, p.start+w.Sub(p.wall0).Milliseconds())
	if p.end > 0 {
		p.target = min(p.target, p.end)
	}
}

// next returns the end of the next slice to step, if one may be stepped.
func (p *pacer) next() (int64, bool) {
	if p.done >= p.target || p.budget <= 0 {
		return 0, false
	}
	return min(p.done+stepSliceMs, p.target), true
}

// spent records that the slice up to until was stepped and produced n car
// pings.
func (p *pacer) spent(until int64, n uint64) {
	p.done = until
	p.budget -= float64(n)
}

// finished reports whether the simulated end has been stepped.
func (p *pacer) finished() bool { return p.end > 0 && p.done >= p.end }

// producer hands generated records to a franz-go client.
type producer struct {
	cl *kgo.Client
	// ctx is the produce context: Produce waits under it for buffer space
	// and the client fails the buffered records when it ends.
	ctx     context.Context
	slab    []kgo.Record // records are carved from here, a chunk at a time
	promise func(*kgo.Record, error)
	failed  atomic.Pointer[error]
}

func newProducer(cl *kgo.Client, ctx context.Context) *producer {
	p := &producer{cl: cl, ctx: ctx}
	p.promise = p.done
	return p
}

// produce hands recs to the client, blocking while its buffer is full.
func (p *producer) produce(recs []Record) {
	for i := range recs {
		if len(p.slab) == 0 {
			p.slab = make([]kgo.Record, 1024)
		}
		r := &p.slab[0]
		p.slab = p.slab[1:]
		*r = kgo.Record{Topic: recs[i].Topic, Key: recs[i].Key, Value: recs[i].Value, Timestamp: recs[i].TS}
		p.cl.Produce(p.ctx, r, p.promise)
	}
}

// done is the produce promise. It runs on the client's promise goroutine
// and keeps the first failure. A record failed because the produce context
// ended is not a failure of its own: the flush on stop reports it.
func (p *producer) done(r *kgo.Record, err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	err = fmt.Errorf("cannot produce to %s: %w", r.Topic, err)
	p.failed.CompareAndSwap(nil, &err)
}

func (p *producer) err() error {
	if e := p.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// stop flushes what is buffered until the produce context ends (flushTimeout
// after Run's context), reports, and returns the first produce failure.
func (p *producer) stop(report func()) error {
	ferr := p.cl.Flush(p.ctx)
	if report != nil {
		report()
	}
	if err := p.err(); err != nil {
		return err
	}
	if ferr != nil {
		return fmt.Errorf("cannot flush on stop within %v: %w", flushTimeout, ferr)
	}
	return nil
}
