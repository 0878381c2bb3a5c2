package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

func TestNewFigure(t *testing.T) {
	for _, tc := range []struct {
		runs             []float64
		min, median, max float64
	}{
		{nil, 0, 0, 0},
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 1, 3, 5},
		{[]float64{4, 1, 3, 2}, 1, 2.5, 4},
	} {
		f := newFigure(tc.runs)
		if f.Min != tc.min || f.Median != tc.median || f.Max != tc.max || len(f.Runs) != len(tc.runs) {
			t.Errorf("newFigure(%v) = %+v, want min %v median %v max %v", tc.runs, f, tc.min, tc.median, tc.max)
		}
		for i := range tc.runs {
			if f.Runs[i] != tc.runs[i] {
				t.Errorf("newFigure(%v) reordered the runs: %v", tc.runs, f.Runs)
			}
		}
	}
}

// sampleReport has one scenario of each kind, with made-up figures.
func sampleReport() *Report {
	fig := func(v ...float64) Figure { return newFigure(v) }
	return &Report{
		Mode:    "full",
		Machine: Machine{CPU: "Test CPU <x86>", Cores: 2, GoVersion: "go1.26", Commit: "abc"},
		Config:  ReportConfig{Runs: 3, Partitions: 6, ChildProcess: true, Settings: "defaults"},
		Scenarios: []ScenarioReport{
			{Name: ScenarioCatchupCity, Description: "city", Pings: 1000, PingsPerS: fig(1.6e6, 1.5e6, 1.7e6),
				BarePingsPerS: fig(3e6, 3e6, 3e6), DecodeH3PingsPerS: fig(1e6, 1e6, 1e6), RatioVsBare: fig(0.53, 0.5, 0.57),
				RatioVsH3: fig(1.6, 1.5, 1.7), Events: fig(10, 10, 10), EventsByType: map[string]uint64{"car_located": 4, "tracking_started": 6}},
			{Name: ScenarioLive, Description: "live", Live: []LivePoint{
				{OfferedPerS: 100_000, AchievedPerS: fig(1e5), P50Ms: fig(1, 1.2), P90Ms: fig(2, 2.5), P99Ms: fig(4, 6), MaxMs: fig(9, 12), Events: fig(10), Missing: fig(0), ProcessorGCs: fig(1, 2, 2), ProcessorGCCores: fig(0.02)},
				{OfferedPerS: 300_000, AchievedPerS: fig(3e5), P50Ms: fig(2), P90Ms: fig(5), P99Ms: fig(30), MaxMs: fig(80), Events: fig(10), Missing: fig(0)},
			}},
			{Name: ScenarioMemory, Description: "memory", MemoryLimitBytes: 900 << 20, RSSBytes: fig(900 << 20), RSSPeakBytes: fig(1000 << 20), HeapInuseBytes: fig(500 << 20), Events: fig(2)},
		},
	}
}

func TestWriteSummaryLines(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteSummaryLines(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []struct {
		scenario string
		has      []string
		hasNot   []string
	}{
		{"catchup-city", []string{"pings_per_s", "ratio_vs_bare", "ratio_vs_h3", "events"}, []string{"p50_ms", "rss_bytes"}},
		{"live-100k", []string{"offered_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms"}, []string{"ratio_vs_bare", "rss_bytes"}},
		{"live-300k", []string{"p99_ms"}, []string{"rss_bytes"}},
		{"memory", []string{"rss_bytes", "heap_bytes"}, []string{"pings_per_s", "p50_ms"}},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, w := range want {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %d %q: %v", i, lines[i], err)
		}
		if m["scenario"] != w.scenario {
			t.Errorf("line %d scenario %v, want %s", i, m["scenario"], w.scenario)
		}
		for _, k := range w.has {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d (%s) lacks %s", i, w.scenario, k)
			}
		}
		for _, k := range w.hasNot {
			if _, ok := m[k]; ok {
				t.Errorf("line %d (%s) has %s, which does not apply", i, w.scenario, k)
			}
		}
	}
	if !strings.Contains(lines[1], `"p99_ms":5`) {
		t.Errorf("live-100k p99 should be the median of 4 and 6: %s", lines[1])
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteMarkdown(&b, "report-latency.svg"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| catch-up, city mix | ≥ 1.5 M pings/s | 1.60M/s | 1.50M/s – 1.70M/s | yes |",
		"| live p99 at 100.0K/s | ≤ 5.0 ms | 5.0 ms | 4.0 – 6.0 ms | yes |",
		"| live p99 at 300.0K/s | ≤ 20 ms | 30 ms | 30 – 30 ms | no |",
		"| memory scenario RSS peak (memory_limit 900 MiB) | ≤ 1 GiB | 1000 MiB (largest run) | 1000 MiB – 1000 MiB | yes |",
		"![latency percentiles vs offered load](report-latency.svg)",
		"tracking_started 6, car_located 4",
		"| 2 [1–2] (0.020) |", // the processor's collections at 100 K, over three runs
		"| – (0.000) |",       // none recorded at 300 K (a report from before they were)
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteLatencyChart(t *testing.T) {
	for _, r := range []*Report{sampleReport(), {Mode: "empty"}} {
		var b bytes.Buffer
		if err := r.WriteLatencyChart(&b); err != nil {
			t.Fatal(err)
		}
		var svg struct {
			XMLName xml.Name
			Paths   []struct{} `xml:"path"`
		}
		if err := xml.Unmarshal(b.Bytes(), &svg); err != nil || svg.XMLName.Local != "svg" {
			t.Fatalf("%s chart is not SVG: %v\n%s", r.Mode, err, b.String())
		}
		if r.Mode == "full" && len(svg.Paths) < len(chartSeriesList) {
			t.Errorf("chart has %d paths, want a line per series (%d) and the target markers", len(svg.Paths), len(chartSeriesList))
		}
	}
}
