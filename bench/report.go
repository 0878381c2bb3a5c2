package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Figure is one measured figure over the runs of a scenario.
type Figure struct {
	Min    float64   `json:"min"`
	Median float64   `json:"median"`
	Max    float64   `json:"max"`
	Runs   []float64 `json:"runs"`
}

// newFigure summarises the values of the runs; no values give a zero
// Figure.
func newFigure(runs []float64) Figure {
	if len(runs) == 0 {
		return Figure{}
	}
	s := slices.Clone(runs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Figure{Min: s[0], Median: med, Max: s[len(s)-1], Runs: slices.Clone(runs)}
}

// IsZero reports whether f holds no runs.
func (f Figure) IsZero() bool { return len(f.Runs) == 0 }

// LivePoint is the live scenario at one offered rate.
type LivePoint struct {
	// OfferedPerS is the rate offered (car pings per second);
	// AchievedPerS the rate the load generator handed to its client.
	OfferedPerS  float64 `json:"offered_per_s"`
	AchievedPerS Figure  `json:"achieved_per_s"`
	// Latencies from the ping's scheduled send time to its event read
	// back from the events topic, in milliseconds.
	P50Ms Figure `json:"p50_ms"`
	P90Ms Figure `json:"p90_ms"`
	P99Ms Figure `json:"p99_ms"`
	MaxMs Figure `json:"max_ms"`
	// Pings offered and events read back per run; Missing is pings whose
	// event was not read back within the drain deadline.
	Pings   Figure `json:"pings"`
	Events  Figure `json:"events"`
	Missing Figure `json:"missing"`
	// CPU while the rate was offered, in cores: the processor's, the
	// harness's (broker, load generator, events consumer) and other
	// processes'.
	ProcessorCores Figure `json:"processor_cores"`
	HarnessCores   Figure `json:"harness_cores"`
	OtherCores     Figure `json:"other_cores"`
	// ProcessorGCs is the collections the processor's process completed
	// while the rate was offered; ProcessorGCCores the CPU its collector
	// used meanwhile (the Go runtime's estimate), in cores.
	ProcessorGCs     Figure `json:"processor_gcs"`
	ProcessorGCCores Figure `json:"processor_gc_cores"`
	// Relay is the same rate with the relay baseline in place of the
	// processor: latencies of the pings it relayed, read back; its
	// ProcessorCores are the relay's.
	Relay *LivePoint `json:"relay,omitempty"`
}

// ScenarioReport is the outcome of one scenario.
type ScenarioReport struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Pings is the number of car-ping records each timed run consumed.
	Pings int64 `json:"pings,omitempty"`

	// Catch-up figures: the processor's rate from start to all events
	// acknowledged, the baselines' rates, and the per-run ratios.
	PingsPerS           Figure `json:"pings_per_s"`
	PingsPerSAfterReady Figure `json:"pings_per_s_after_ready"`
	ReadySeconds        Figure `json:"ready_s"`
	BarePingsPerS       Figure `json:"bare_pings_per_s"`
	DecodeH3PingsPerS   Figure `json:"decode_h3_pings_per_s"`
	RatioVsBare         Figure `json:"ratio_vs_bare"`
	RatioVsH3           Figure `json:"ratio_vs_h3"`
	// ProcessorCores is the processor process's CPU time over its
	// elapsed time; HarnessCores the harness's (the broker's) meanwhile.
	ProcessorCores Figure `json:"processor_cores"`
	HarnessCores   Figure `json:"harness_cores"`
	// OtherCores is the rest of the machine's busy time meanwhile: other
	// processes on the machine, which the figures cannot control.
	OtherCores Figure `json:"other_cores"`
	// Events is the number of events each run wrote, read back from the
	// events topic's end offsets.
	Events       Figure            `json:"events"`
	EventsByType map[string]uint64 `json:"events_by_type,omitempty"`
	Filtered     uint64            `json:"filtered,omitempty"`
	DeadLettered uint64            `json:"dead_lettered,omitempty"`

	// Live figures, one point per offered rate.
	Live []LivePoint `json:"live,omitempty"`
	// LiveWarmup is the warm-up's description.
	LiveNotes string `json:"live_notes,omitempty"`

	// Memory figures, in bytes and counts. MemoryLimitBytes is the
	// processor's memory_limit in the memory scenario (0: none).
	MemoryLimitBytes int64  `json:"memory_limit_bytes,omitempty"`
	RSSBytes         Figure `json:"rss_bytes"`
	RSSPeakBytes     Figure `json:"rss_peak_bytes"`
	// RSSReleasedBytes is the RSS after debug.FreeOSMemory.
	RSSReleasedBytes Figure `json:"rss_released_bytes"`
	HeapInuseBytes   Figure `json:"heap_inuse_bytes"`
	HeapAllocBytes   Figure `json:"heap_alloc_bytes"`
	OpenWindows      int64  `json:"open_windows,omitempty"`
	TrackedCars      int64  `json:"tracked_cars,omitempty"`
	Couriers         int64  `json:"couriers,omitempty"`
	StateBytes       int64  `json:"state_bytes,omitempty"`
}

// Machine describes where the harness ran.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	MemTotal   uint64 `json:"mem_total_bytes"`
	Commit     string `json:"commit"`
	// LoadStart and LoadEnd are the 1, 5 and 15 minute load averages when
	// the harness started and ended: other work on the machine shows
	// here.
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
}

// Report is the harness's output.
type Report struct {
	Mode      string           `json:"mode"`
	Date      time.Time        `json:"date"`
	Machine   Machine          `json:"machine"`
	Config    ReportConfig     `json:"config"`
	Elapsed   time.Duration    `json:"elapsed_ns"`
	Scenarios []ScenarioReport `json:"scenarios"`
}

// ReportConfig is the part of HarnessConfig a report records.
type ReportConfig struct {
	Seed          int64     `json:"seed"`
	Runs          int       `json:"runs"`
	Partitions    int       `json:"partitions"`
	ChildProcess  bool      `json:"child_process"`
	Settings      string    `json:"settings"`
	Profiled      bool      `json:"profiled"`
	LiveBrokerDir string    `json:"live_broker_dir,omitempty"` // where the live scenario's brokers kept their logs in files; "" in memory
	CityCars      int       `json:"city_cars"`
	CityCouriers  int       `json:"city_couriers"`
	CityWindows   int       `json:"city_windows"`
	CityPings     int       `json:"city_pings"`
	WorstCars     int       `json:"worst_cars"`
	WorstPings    int       `json:"worst_pings"`
	LiveCars      int       `json:"live_cars"`
	LiveRates     []float64 `json:"live_rates"`
	LiveDuration  string    `json:"live_duration"`
	MemWindows    int       `json:"mem_windows"`
	MemCouriers   int       `json:"mem_couriers"`
}

func newReport(c HarnessConfig) *Report {
	return &Report{
		Mode:    c.Mode,
		Date:    time.Now().UTC().Truncate(time.Second),
		Machine: readMachine(),
		Config: ReportConfig{
			Seed: c.Seed, Runs: c.Runs, Partitions: c.Partitions, ChildProcess: c.Spawn != nil, Settings: c.Overrides.String(), Profiled: c.CPUProfileDir != "", LiveBrokerDir: c.LiveBrokerDir,
			CityCars: c.CityCars, CityCouriers: c.CityCouriers, CityWindows: c.CityWindows, CityPings: c.CityPings,
			WorstCars: c.WorstCars, WorstPings: c.WorstPings,
			LiveCars: c.LiveCars, LiveRates: c.LiveRates, LiveDuration: c.LiveDuration.String(),
			MemWindows: c.MemWindows, MemCouriers: c.MemCouriers,
		},
	}
}

// readMachine describes this machine: CPU model from /proc/cpuinfo, the
// commit from git (empty outside a checkout).
func readMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb uint64
				fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
				m.MemTotal = kb << 10
			}
		}
		f.Close()
	}
	m.LoadStart = loadAvg()
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
			m.Commit += "+dirty"
		}
	}
	return m
}

// loadAvg returns the load averages of /proc/loadavg ("0.52 0.61 0.70").
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// summaryLine is one scenario's line of WriteSummaryLines.
type summaryLine struct {
	Scenario    string   `json:"scenario"`
	OfferedPerS *float64 `json:"offered_per_s,omitempty"`
	PingsPerS   *float64 `json:"pings_per_s,omitempty"`
	RatioVsBare *float64 `json:"ratio_vs_bare,omitempty"`
	RatioVsH3   *float64 `json:"ratio_vs_h3,omitempty"`
	Events      *float64 `json:"events,omitempty"`
	P50Ms       *float64 `json:"p50_ms,omitempty"`
	P90Ms       *float64 `json:"p90_ms,omitempty"`
	P99Ms       *float64 `json:"p99_ms,omitempty"`
	MaxMs       *float64 `json:"max_ms,omitempty"`
	RelayP50Ms  *float64 `json:"relay_p50_ms,omitempty"`
	RelayP99Ms  *float64 `json:"relay_p99_ms,omitempty"`
	RSSBytes    *float64 `json:"rss_bytes,omitempty"`
	HeapBytes   *float64 `json:"heap_bytes,omitempty"`
}

// WriteSummaryLines writes one JSON object per scenario, each on its own
// line, with the medians of its figures; fields that do not apply are
// left out. The live scenario gives one line per offered rate, named
// live-<rate> (live-100k).
func (r *Report) WriteSummaryLines(w io.Writer) error {
	med := func(f Figure) *float64 {
		if f.IsZero() {
			return nil
		}
		v := round(f.Median)
		return &v
	}
	enc := json.NewEncoder(w)
	for _, s := range r.Scenarios {
		if len(s.Live) > 0 {
			for _, p := range s.Live {
				offered := p.OfferedPerS
				l := summaryLine{Scenario: liveName(p.OfferedPerS), OfferedPerS: &offered, PingsPerS: med(p.AchievedPerS),
					Events: med(p.Events), P50Ms: med(p.P50Ms), P90Ms: med(p.P90Ms), P99Ms: med(p.P99Ms), MaxMs: med(p.MaxMs)}
				if p.Relay != nil {
					l.RelayP50Ms, l.RelayP99Ms = med(p.Relay.P50Ms), med(p.Relay.P99Ms)
				}
				if err := enc.Encode(l); err != nil {
					return err
				}
			}
			continue
		}
		l := summaryLine{Scenario: s.Name, PingsPerS: med(s.PingsPerS), RatioVsBare: med(s.RatioVsBare), RatioVsH3: med(s.RatioVsH3),
			Events: med(s.Events), RSSBytes: med(s.RSSBytes), HeapBytes: med(s.HeapInuseBytes)}
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}

// liveName names the live scenario at rate r: live-100k.
func liveName(r float64) string {
	if r >= 1000 && math.Mod(r, 1000) == 0 {
		return fmt.Sprintf("live-%dk", int64(r)/1000)
	}
	return fmt.Sprintf("live-%d", int64(r))
}

// round keeps 4 significant decimals for small numbers and none for large
// ones, so the summary lines stay short.
func round(v float64) float64 {
	switch a := math.Abs(v); {
	case a >= 1000:
		return math.Round(v)
	case a >= 1:
		return math.Round(v*100) / 100
	}
	return math.Round(v*10000) / 10000
}
