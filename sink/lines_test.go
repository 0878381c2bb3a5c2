package sink

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONLines(&buf)
	evs := []pipeline.Event{testEvent("W-1", 1, pipeline.EvTrackingStarted), testEvent("W-2", 2, pipeline.EvCarLocated)}
	var want []byte
	for i := range evs {
		if err := j.WriteEvent(&evs[i]); err != nil {
			t.Fatal(err)
		}
		want = append(pipeline.AppendEvent(want, &evs[i]), '\n')
	}
	if buf.String() != string(want) {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestConsoleLine(t *testing.T) {
	ts := testEvent("W-1001", 0, 0).TS // 10:15:03.120
	for _, tc := range []struct {
		name string
		ev   pipeline.Event
		want string
	}{
		{"grant", pipeline.Event{Type: pipeline.EvUnlockEligible, WindowID: "W-1001", Kind: pipeline.KindDelivery,
			VIN: "WAUZZZ4G0FN000001", CourierID: "DHL-4711", TS: ts, HasPos: true, Lat: 48.1, Lng: 11.5, DistanceM: 12.34,
			Grant: &pipeline.Grant{ID: "ab12cd34ef", Token: "secret-token"}},
			"10:15:03.120 unlock_eligible     W-1001 delivery car=…0001 courier=DHL-4711 d=12.3m grant=ab12…"},
		{"no courier", pipeline.Event{Type: pipeline.EvTrackingStarted, WindowID: "W-7", Kind: pipeline.KindReturn,
			VIN: "WAUZZZ4G0FN000777", TS: ts},
			"10:15:03.120 tracking_started    W-7 return car=…0777"},
		{"inside, reason", pipeline.Event{Type: pipeline.EvAccessRevoked, WindowID: "W-7", Kind: pipeline.KindDelivery,
			VIN: "V1", TS: ts, Inside: pipeline.True, Reason: "car_moved"},
			"10:15:03.120 access_revoked      W-7 delivery car=V1 inside reason=car_moved"},
		{"longest type", pipeline.Event{Type: pipeline.EvCourierApproaching, WindowID: "W-7", Kind: pipeline.KindDelivery,
			VIN: "ABCDE", TS: ts, Inside: pipeline.False},
			"10:15:03.120 courier_approaching W-7 delivery car=…BCDE outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendConsole(nil, &tc.ev))
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			if strings.Contains(got, "secret") || strings.Contains(got, "48.1") {
				t.Fatalf("token or coordinate in %q", got)
			}
		})
	}
	var buf bytes.Buffer
	ev := testEvent("W-1", 0, pipeline.EvCarParked)
	if err := NewConsole(&buf).WriteEvent(&ev); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "\n") || strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("console wrote %q, want one line", buf.String())
	}
}

// recordingSink is a pipeline.Sink that acknowledges at once.
type recordingSink struct {
	events, dlq, flushes int
}

func (s *recordingSink) Event(_ context.Context, _ *pipeline.Event, ack func(error)) {
	s.events++
	ack(nil)
}

func (s *recordingSink) DeadLetter(_ context.Context, _ *kgo.Record, _ error, ack func(error)) {
	s.dlq++
	ack(nil)
}

func (s *recordingSink) Flush(context.Context) error { s.flushes++; return nil }

func TestTee(t *testing.T) {
	next := &recordingSink{}
	var lines, console bytes.Buffer
	s := Tee(next, NewJSONLines(&lines), NewConsole(&console))
	acked := 0
	ack := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
		acked++
	}
	ev := testEvent("W-1", 0, pipeline.EvCarParked)
	s.Event(context.Background(), &ev, ack)
	s.DeadLetter(context.Background(), &kgo.Record{}, nil, ack)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if next.events != 1 || next.dlq != 1 || next.flushes != 1 || acked != 2 {
		t.Fatalf("next saw %+v, %d acks", next, acked)
	}
	if strings.Count(lines.String(), "\n") != 1 || strings.Count(console.String(), "\n") != 1 {
		t.Fatalf("taps wrote %q and %q", lines.String(), console.String())
	}
}
