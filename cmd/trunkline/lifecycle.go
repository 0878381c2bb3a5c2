package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// stopper stops the parts of a command in the reverse order of their start,
// all under one deadline, and logs how long each part took.
type stopper struct {
	log   *slog.Logger
	parts []stopPart
}

type stopPart struct {
	name string
	stop func(context.Context) error
}

// add registers the stop function of a part that has started. stop must
// return once ctx ends, even if the part has not finished stopping.
func (s *stopper) add(name string, stop func(context.Context) error) {
	s.parts = append(s.parts, stopPart{name, stop})
}

// stop stops every part, the last added first, under one deadline of
// timeout, and returns their errors joined.
func (s *stopper) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	var errs []error
	for i := len(s.parts) - 1; i >= 0; i-- {
		p := s.parts[i]
		t := time.Now()
		err := p.stop(ctx)
		took := time.Since(t).Round(time.Millisecond)
		if err != nil {
			s.log.Warn("stopped with error", "part", p.name, "took", took, "err", err)
			errs = append(errs, fmt.Errorf("stop %s: %w", p.name, err))
			continue
		}
		s.log.Info("stopped", "part", p.name, "took", took)
	}
	s.parts = nil
	s.log.Info("shutdown complete", "took", time.Since(start).Round(time.Millisecond))
	return errors.Join(errs...)
}

// waitDone waits for done to be closed or ctx to end. It stops a part whose
// own stop call does not take a context (a client Close) without letting it
// overrun the shutdown deadline.
func waitDone(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gave up waiting: %w", ctx.Err())
	}
}

// closeWithin runs closeFn in its own goroutine and waits for it until ctx
// ends.
func closeWithin(ctx context.Context, closeFn func()) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		closeFn()
	}()
	return waitDone(ctx, done)
}

// task is a function running in its own goroutine until it returns or its
// context is canceled.
type task struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the function has returned
	err    error         // its result, context.Canceled dropped; set before done closes
}

// startTask runs fn in its own goroutine.
func startTask(fn func(ctx context.Context) error) *task {
	ctx, cancel := context.WithCancel(context.Background())
	t := &task{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		t.err = ignoreCanceled(fn(ctx))
	}()
	return t
}

// stop cancels the task and waits for it until ctx ends, returning its
// error. A task that had already returned on its own returns nil here: its
// error went to whoever watched done.
func (t *task) stop(ctx context.Context) error {
	select {
	case <-t.done:
		return nil
	default:
	}
	t.cancel()
	if err := waitDone(ctx, t.done); err != nil {
		return err
	}
	return t.err
}

// ignoreCanceled returns nil for an error that only says the context ended.
func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
