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
// Run blocks. It returns nil once the last record is acknowledged, or when
// ctx is done after flushing what it produced (for at most 10 s); it
// returns an error if cfg is invalid or a record cannot be produced. now
// defaults to time.Now; it is read once per step. onStats, if not nil, is
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
	p := newProducer(cl, ctx)
	report := func() {
		if onStats != nil {
			onStats(g.Stats())
		}
	}

	recs := g.Setup(nil)
	p.produce(ctx, recs)
	if err := cl.Flush(ctx); err != nil {
		if ctx.Err() != nil {
			return p.stop(ctx, report)
		}
		return fmt.Errorf("cannot flush setup records: %w", err)
	}
	if err := p.err(); err != nil {
		return err
	}

	var (
		start    = g.start
		end      = start + cfg.Duration.Milliseconds()
		done     = start - 1 // simulated time stepped so far
		budget   = 0.0       // car pings that may be produced now
		wall0    = now()
		lastWall = wall0
		lastStat = wall0
		timer    = time.NewTimer(runTick)
	)
	defer timer.Stop()
	for {
		w := now()
		budget = min(budget+cfg.Rate*w.Sub(lastWall).Seconds(), cfg.Rate*rateBurst)
		lastWall = w
		target := start + w.Sub(wall0).Milliseconds()
		if cfg.Duration > 0 {
			target = min(target, end)
		}
		for done < target && budget > 0 && ctx.Err() == nil {
			next := min(done+stepSliceMs, target)
			before := g.stats.CarPings + g.stats.Bad
			recs = g.Step(recs[:0], time.UnixMilli(next))
			p.produce(ctx, recs)
			clear(recs) // let the client own the only references
			budget -= float64(g.stats.CarPings + g.stats.Bad - before)
			done = next
		}
		if err := p.err(); err != nil {
			_ = p.stop(ctx, nil)
			return err
		}
		if w.Sub(lastStat) >= statsEvery {
			report()
			lastStat = w
		}
		if cfg.Duration > 0 && done >= end {
			break
		}
		select {
		case <-ctx.Done():
			return p.stop(ctx, report)
		case <-timer.C:
			timer.Reset(runTick)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		if ctx.Err() != nil {
			return p.stop(ctx, report)
		}
		return fmt.Errorf("cannot flush: %w", err)
	}
	report()
	return p.err()
}

// producer hands generated records to a franz-go client.
type producer struct {
	cl *kgo.Client
	// rctx is every record's context: it is not cancelled with Run's, so
	// records already buffered are still delivered when Run stops.
	rctx    context.Context
	slab    []kgo.Record // records are carved from here, a chunk at a time
	promise func(*kgo.Record, error)
	failed  atomic.Pointer[error]
}

func newProducer(cl *kgo.Client, ctx context.Context) *producer {
	p := &producer{cl: cl, rctx: context.WithoutCancel(ctx)}
	p.promise = p.done
	return p
}

// produce hands recs to the client, blocking while its buffer is full
// (until ctx is done).
func (p *producer) produce(ctx context.Context, recs []Record) {
	for i := range recs {
		if len(p.slab) == 0 {
			p.slab = make([]kgo.Record, 1024)
		}
		r := &p.slab[0]
		p.slab = p.slab[1:]
		*r = kgo.Record{Topic: recs[i].Topic, Key: recs[i].Key, Value: recs[i].Value, Timestamp: recs[i].TS, Context: p.rctx}
		p.cl.Produce(ctx, r, p.promise)
	}
}

// done is the produce promise. It runs on the client's promise goroutine
// and keeps the first failure. A record failed because Run's context ended
// while it waited for buffer space is not a failure: Run is stopping.
func (p *producer) done(r *kgo.Record, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
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

// stop flushes what is buffered, for at most flushTimeout, reports and
// returns the first produce failure.
func (p *producer) stop(ctx context.Context, report func()) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	ferr := p.cl.Flush(fctx)
	if report != nil {
		report()
	}
	if err := p.err(); err != nil {
		return err
	}
	if ferr != nil {
		return fmt.Errorf("cannot flush on stop: %w", ferr)
	}
	return nil
}
