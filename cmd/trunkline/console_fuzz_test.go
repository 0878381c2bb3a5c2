package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/trunkline/trunkline/pipeline"
	"github.com/trunkline/trunkline/sink"
)

// FuzzConsoleDecodeEvent feeds the console's event decoder arbitrary
// records of delivery.events: it never panics, and an event it accepts
// encodes and decodes again to the same event.
func FuzzConsoleDecodeEvent(f *testing.F) {
	golden, err := filepath.Glob(filepath.Join("..", "..", "testdata", "scenarios", "*.golden.jsonl"))
	if err != nil || len(golden) == 0 {
		f.Fatalf("no golden event files: %v", err)
	}
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			f.Add(l)
		}
	}
	for _, s := range []string{``, `{`, `null`, `[]`, `{"type":"unknown_type"}`, `{"type":"car_parked","ts":"yesterday"}`,
		`{"type":"car_parked","ts":"2026-11-24T10:00:00.000Z","lat":1e999,"lng":0,"h3":"zz"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev pipeline.Event
		if decodeEvent(data, &ev) != nil {
			return
		}
		_ = sink.AppendConsole(nil, &ev)
		var again pipeline.Event
		if err := decodeEvent(pipeline.AppendEvent(nil, &ev), &again); err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if again.ID != ev.ID || again.Type != ev.Type || again.WindowID != ev.WindowID || again.TS != ev.TS ||
			again.Kind != ev.Kind || again.VIN != ev.VIN || again.CourierID != ev.CourierID || again.Reason != ev.Reason {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, again)
		}
	})
}
