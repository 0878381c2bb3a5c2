package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
	"github.com/trunkline/trunkline/sink"
)

// console consumes the events topic, as dispatch would, and prints each
// event as one readable line (sink.AppendConsole).
type console struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	events atomic.Uint64 // events printed

	mu     sync.Mutex
	recent []string // the latest lines, oldest first
}

// consoleRecent is how many lines the status page shows.
const consoleRecent = 20

// startConsole starts printing the events of cfg.Topics.Events to w, from
// the start of the topic when fromStart, else from its end.
func startConsole(cfg Config, w io.Writer, fromStart bool, log *slog.Logger) (*console, error) {
	offset := kgo.NewOffset().AtEnd()
	if fromStart {
		offset = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("trunkline-console"),
		kgo.ConsumeTopics(cfg.Topics.Events),
		kgo.ConsumeResetOffset(offset),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot create the console's Kafka client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &console{cl: cl, cancel: cancel, done: make(chan struct{})}
	go c.run(ctx, w, log)
	return c, nil
}

func (c *console) run(ctx context.Context, w io.Writer, log *slog.Logger) {
	defer close(c.done)
	fetchLog := slog.New(newLimitedHandler(log.Handler(), 10*time.Second)) // a down broker fails every poll
	var (
		buf []byte
		ev  pipeline.Event
		bad int
	)
	for {
		fs := c.cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			fetchLog.Warn("console cannot fetch events (logged at most every 10s)", "topic", topic, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if err := decodeEvent(r.Value, &ev); err != nil {
				if bad++; bad == 1 {
					log.Warn("console cannot decode an event (further ones are not logged)", "partition", r.Partition, "offset", r.Offset, "err", err)
				}
				return
			}
			// The scripted showcase windows stand out with a marker.
			buf = append(buf[:0], "  "...)
			if strings.HasPrefix(ev.WindowID, "W-DEMO-") {
				buf = append(buf[:0], "> "...)
			}
			buf = append(sink.AppendConsole(buf, &ev), '\n')
			w.Write(buf)
			c.events.Add(1)
			c.remember(string(buf[:len(buf)-1]))
		})
	}
}

func (c *console) remember(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.recent) == consoleRecent {
		copy(c.recent, c.recent[1:])
		c.recent = c.recent[:consoleRecent-1]
	}
	c.recent = append(c.recent, line)
}

// latest returns the latest lines, newest first.
func (c *console) latest() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.recent))
	for i, l := range c.recent {
		out[len(out)-1-i] = l
	}
	return out
}

func (c *console) stop(ctx context.Context) error {
	c.cancel()
	err := waitDone(ctx, c.done)
	return errors.Join(err, closeWithin(ctx, c.cl.Close))
}

// wireEvent is the JSON form of an event on delivery.events (DESIGN.md,
// "Events").
type wireEvent struct {
	EventID   string   `json:"event_id"`
	Type      string   `json:"type"`
	WindowID  string   `json:"window_id"`
	OrderID   string   `json:"order_id"`
	Kind      string   `json:"kind"`
	VIN       string   `json:"vin"`
	CourierID string   `json:"courier_id"`
	TS        string   `json:"ts"`
	EmittedAt string   `json:"emitted_at"`
	Lat       *float64 `json:"lat"`
	Lng       *float64 `json:"lng"`
	H3        string   `json:"h3"`
	DistanceM *float64 `json:"distance_m"`
	Inside    *bool    `json:"inside"`
	Reason    string   `json:"reason"`
	Grant     *struct {
		GrantID   string `json:"grant_id"`
		NotBefore string `json:"not_before"`
		ExpiresAt string `json:"expires_at"`
		Token     string `json:"token"`
	} `json:"grant"`
}

// eventTypes maps wire names to event types.
var eventTypes = func() map[string]pipeline.EventType {
	m := make(map[string]pipeline.EventType)
	for _, t := range pipeline.EventTypes() {
		m[t.String()] = t
	}
	return m
}()

// decodeEvent decodes one record value of delivery.events into ev. It is
// the console's reader, one event at a time, not a hot path.
func decodeEvent(data []byte, ev *pipeline.Event) error {
	var w wireEvent
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("cannot decode event: %w", err)
	}
	typ, ok := eventTypes[w.Type]
	if !ok {
		return fmt.Errorf("cannot decode event: unknown type %q", w.Type)
	}
	ts, err := parseMillis(w.TS)
	if err != nil {
		return fmt.Errorf("cannot decode event: ts: %w", err)
	}
	emitted, _ := parseMillis(w.EmittedAt)
	*ev = pipeline.Event{
		ID: w.EventID, Type: typ, WindowID: w.WindowID, OrderID: w.OrderID,
		VIN: w.VIN, CourierID: w.CourierID, TS: ts, EmittedAt: emitted, Reason: w.Reason,
	}
	switch w.Kind {
	case "delivery":
		ev.Kind = pipeline.KindDelivery
	case "return":
		ev.Kind = pipeline.KindReturn
	}
	if w.Lat != nil && w.Lng != nil {
		ev.HasPos, ev.Lat, ev.Lng = true, *w.Lat, *w.Lng
		if w.DistanceM != nil {
			ev.DistanceM = *w.DistanceM
		}
		if h, err := strconv.ParseUint(w.H3, 16, 64); err == nil {
			ev.H3 = int64(h)
		}
	}
	if w.Inside != nil {
		ev.Inside = pipeline.False
		if *w.Inside {
			ev.Inside = pipeline.True
		}
	}
	if g := w.Grant; g != nil {
		nbf, _ := parseMillis(g.NotBefore)
		exp, _ := parseMillis(g.ExpiresAt)
		ev.Grant = &pipeline.Grant{ID: g.GrantID, NotBefore: nbf, ExpiresAt: exp, Token: g.Token}
	}
	return nil
}

// parseMillis parses an RFC 3339 time into Unix milliseconds.
func parseMillis(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}
