package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/bench"
)

// TestMain lets the test binary serve as the harness's child process, as
// the command's own executable does.
func TestMain(m *testing.M) {
	if os.Getenv(bench.ChildEnv) == "1" {
		if err := bench.RunChild(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "job: %v\n", err)
			os.Exit(exitFail)
		}
		os.Exit(exitOK)
	}
	os.Exit(m.Run())
}

// testSpawner runs jobs in a child process of the test binary.
func testSpawner(ctx context.Context) *exec.Cmd { return exec.CommandContext(ctx, os.Args[0]) }

// tinyConfig is every scenario at a size that runs in seconds.
func tinyConfig() bench.HarnessConfig {
	return bench.HarnessConfig{
		Mode: "tiny", Seed: 7, Runs: 1, Partitions: 3,
		CityCars: 2_000, CityCouriers: 20, CityWindows: 200, CityPings: 20_000,
		WorstCars: 500, WorstPings: 5_000,
		LiveCars: 1_000, LiveRates: []float64{500, 1_000}, LiveDuration: time.Second,
		MemWindows: 2_000, MemCouriers: 50,
		Spawn: testSpawner,
	}
}

// TestHarnessTiny runs every scenario end to end, each in a child process,
// and checks that each produced events and sane figures, and that the
// outputs are written.
func TestHarnessTiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := tinyConfig()
	var progress bytes.Buffer
	cfg.Progress = &progress
	rep, err := bench.RunHarness(ctx, cfg)
	if err != nil {
		t.Fatalf("RunHarness: %v\nprogress:\n%s", err, progress.String())
	}
	t.Logf("progress:\n%s", progress.String())
	byName := map[string]bench.ScenarioReport{}
	for _, s := range rep.Scenarios {
		byName[s.Name] = s
	}
	for _, name := range []string{bench.ScenarioCatchupCity, bench.ScenarioCatchupWorst} {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no %s in the report", name)
		}
		for _, f := range []struct {
			what string
			v    bench.Figure
		}{{"pings/s", s.PingsPerS}, {"bare", s.BarePingsPerS}, {"decode+H3", s.DecodeH3PingsPerS}, {"ratio vs bare", s.RatioVsBare}, {"ratio vs H3", s.RatioVsH3}, {"events", s.Events}} {
			if len(f.v.Runs) != 1 || !(f.v.Min > 0) || f.v.Min > f.v.Median || f.v.Median > f.v.Max {
				t.Errorf("%s %s = %+v, want one positive run", name, f.what, f.v)
			}
		}
	}
	if s := byName[bench.ScenarioCatchupWorst]; s.Events.Median != 2*float64(cfg.WorstCars) {
		t.Errorf("worst case wrote %v events, want %d (tracking_started and car_located per car)", s.Events.Median, 2*cfg.WorstCars)
	}
	live := byName[bench.ScenarioLive]
	if len(live.Live) != len(cfg.LiveRates) {
		t.Fatalf("live has %d points, want %d", len(live.Live), len(cfg.LiveRates))
	}
	for _, p := range live.Live {
		want := p.OfferedPerS * cfg.LiveDuration.Seconds()
		if p.Events.Median != want || p.Missing.Max != 0 {
			t.Errorf("live at %v: %v events read, %v missing; want %v, 0", p.OfferedPerS, p.Events.Median, p.Missing.Max, want)
		}
		if !(p.P50Ms.Median > 0) || p.P50Ms.Median > p.P90Ms.Median || p.P90Ms.Median > p.P99Ms.Median || p.P99Ms.Median > p.MaxMs.Median {
			t.Errorf("live at %v: percentiles out of order: p50 %v p90 %v p99 %v max %v", p.OfferedPerS, p.P50Ms.Median, p.P90Ms.Median, p.P99Ms.Median, p.MaxMs.Median)
		}
		r := p.Relay
		if r == nil {
			t.Errorf("live at %v: no relay baseline", p.OfferedPerS)
			continue
		}
		if r.Events.Median != want || r.Missing.Max != 0 || !(r.P50Ms.Median > 0) || r.P50Ms.Median > r.P99Ms.Median {
			t.Errorf("live at %v, relay: %v pings read back, %v missing, p50 %v p99 %v; want %v, 0, 0 < p50 <= p99", p.OfferedPerS, r.Events.Median, r.Missing.Max, r.P50Ms.Median, r.P99Ms.Median, want)
		}
	}
	mem := byName[bench.ScenarioMemory]
	if !(mem.RSSBytes.Median > 0) || !(mem.HeapInuseBytes.Median > 0) || mem.RSSBytes.Median < mem.HeapInuseBytes.Median {
		t.Errorf("memory: RSS %v, heap %v: want RSS >= heap > 0", mem.RSSBytes.Median, mem.HeapInuseBytes.Median)
	}
	if mem.Events.Median < 2*float64(cfg.MemWindows) {
		t.Errorf("memory: %v events, want at least %d (tracking_started and car_located per car)", mem.Events.Median, 2*cfg.MemWindows)
	}

	dir := t.TempDir()
	if err := writeOutputs(rep, dir, "report"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.md", "report.json", "report-latency.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v (%d bytes)", f, err, len(b))
		}
		switch filepath.Ext(f) {
		case ".json":
			var back bench.Report
			if err := json.Unmarshal(b, &back); err != nil || len(back.Scenarios) != len(rep.Scenarios) {
				t.Errorf("%s does not read back: %v", f, err)
			}
		case ".svg":
			if err := xml.Unmarshal(b, new(struct{})); err != nil {
				t.Errorf("%s is not well-formed XML: %v", f, err)
			}
		}
	}
	var lines bytes.Buffer
	if err := rep.WriteSummaryLines(&lines); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(lines.String(), "\n"), "\n")
	if want := 3 + len(cfg.LiveRates); len(got) != want {
		t.Fatalf("%d summary lines, want %d:\n%s", len(got), want, lines.String())
	}
	for _, l := range got {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["scenario"] == nil {
			t.Errorf("summary line %q: %v", l, err)
		}
	}
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, exitOK},
		{[]string{"--no-such-flag"}, exitUsage},
		{[]string{"extra"}, exitUsage},
		{[]string{"--live-rates", "fast"}, exitUsage},
		{[]string{"--scenarios", "nope"}, exitFail},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr, testSpawner); code != tc.code {
			t.Errorf("run %q = %d, want %d; stderr: %s", tc.args, code, tc.code, stderr.String())
		}
	}
}

func TestRender(t *testing.T) {
	dir := t.TempDir()
	rep := &bench.Report{Mode: "full", Scenarios: []bench.ScenarioReport{{Name: bench.ScenarioMemory, Description: "memory"}}}
	in := filepath.Join(dir, "earlier.json")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--render", in}, io.Discard, &stderr, testSpawner); code != exitUsage {
		t.Errorf("--render without --out = %d, want %d", code, exitUsage)
	}
	out := filepath.Join(dir, "out")
	if code := run(context.Background(), []string{"--render", in, "--out", out}, io.Discard, &stderr, testSpawner); code != exitOK {
		t.Fatalf("--render = %d: %s", code, stderr.String())
	}
	for _, name := range []string{"earlier.md", "earlier.json", "earlier-latency.svg"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
}
