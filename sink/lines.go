package sink

import (
	"context"
	"io"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

// EventWriter writes events somewhere for people or tests. JSONLines and
// Console are the two; Tee feeds them.
type EventWriter interface {
	WriteEvent(ev *pipeline.Event) error
}

// JSONLines writes one event per line in the wire form of delivery.events
// (pipeline.AppendEvent), for tests, replays and piping into other tools.
// It is safe for concurrent use; each line is written with one Write call.
type JSONLines struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewJSONLines returns a JSONLines writing to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{w: w} }

// WriteEvent writes ev as one line.
func (j *JSONLines) WriteEvent(ev *pipeline.Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(pipeline.AppendEvent(j.buf[:0], ev), '\n')
	_, err := j.w.Write(j.buf)
	return err
}

// Console writes one short readable line per event, what `trunkline dev`
// prints:
//
//	10:15:03.120 unlock_eligible     W-1001 delivery car=…0001 courier=DHL-4711 d=12.3m grant=ab12…
//
// The time is the event time (UTC). A VIN shows only its last 4 characters,
// a grant only the start of its id; tokens and coordinates never appear.
// It is safe for concurrent use.
type Console struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewConsole returns a Console writing to w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// WriteEvent writes ev as one line.
func (c *Console) WriteEvent(ev *pipeline.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(AppendConsole(c.buf[:0], ev), '\n')
	_, err := c.w.Write(c.buf)
	return err
}

// typeWidth is the width of the type column: the longest event type name.
const typeWidth = len("courier_approaching")

// AppendConsole appends the Console form of ev (without a newline) to dst.
func AppendConsole(dst []byte, ev *pipeline.Event) []byte {
	var tb [32]byte
	t := pipeline.AppendTime(tb[:0], ev.TS) // 2026-11-24T10:15:03.120Z
	if len(t) >= 24 {
		dst = append(dst, t[11:23]...)
	} else {
		dst = append(dst, t...)
	}
	dst = append(dst, ' ')
	name := ev.Type.String()
	dst = append(dst, name...)
	for i := len(name); i < typeWidth; i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, ' ')
	dst = append(dst, ev.WindowID...)
	dst = append(dst, ' ')
	dst = append(dst, ev.Kind.String()...)
	dst = append(dst, " car="...)
	dst = appendTail(dst, ev.VIN, 4)
	if ev.CourierID != "" {
		dst = append(dst, " courier="...)
		dst = append(dst, ev.CourierID...)
	}
	if ev.HasPos {
		dst = append(dst, " d="...)
		dst = strconv.AppendFloat(dst, ev.DistanceM, 'f', 1, 64)
		dst = append(dst, 'm')
	}
	switch ev.Inside {
	case pipeline.True:
		dst = append(dst, " inside"...)
	case pipeline.False:
		dst = append(dst, " outside"...)
	}
	if ev.Reason != "" {
		dst = append(dst, " reason="...)
		dst = append(dst, ev.Reason...)
	}
	if g := ev.Grant; g != nil {
		dst = append(dst, " grant="...)
		dst = appendHead(dst, g.ID, 4)
	}
	return dst
}

// appendTail appends "…" and the last n bytes of s, or s when it is that
// short.
func appendTail(dst []byte, s string, n int) []byte {
	if len(s) <= n {
		return append(dst, s...)
	}
	return append(append(dst, "…"...), s[len(s)-n:]...)
}

// appendHead appends the first n bytes of s and "…", or s when it is that
// short.
func appendHead(dst []byte, s string, n int) []byte {
	if len(s) <= n {
		return append(dst, s...)
	}
	return append(append(dst, s[:n]...), "…"...)
}

// Tee returns a sink that writes every event to each of taps, then hands it
// to next; dead letters go to next only. The taps are a view for people and
// tests: their write errors are ignored and never hold up next.
func Tee(next pipeline.Sink, taps ...EventWriter) pipeline.Sink {
	return &tee{next: next, taps: taps}
}

type tee struct {
	next pipeline.Sink
	taps []EventWriter
}

func (t *tee) Event(ctx context.Context, ev *pipeline.Event, ack func(error)) {
	for _, w := range t.taps {
		_ = w.WriteEvent(ev)
	}
	t.next.Event(ctx, ev, ack)
}

func (t *tee) DeadLetter(ctx context.Context, rec *kgo.Record, cause error, ack func(error)) {
	t.next.DeadLetter(ctx, rec, cause, ack)
}

func (t *tee) Flush(ctx context.Context) error { return t.next.Flush(ctx) }
