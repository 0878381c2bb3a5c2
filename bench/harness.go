package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The benchmark harness. Each scenario starts an embedded broker (kfake on
// 127.0.0.1), preloads or feeds its topics with real records, runs the
// real pipeline.Processor with the Kafka sink of package sink, and
// verifies from the broker that the events it claims were written. The
// processor and the baselines run in child processes (Spawner) so that
// their heap, GC and RSS are their own, as next to a real broker; the
// broker and the load generator share the machine with them, as the
// targets say.

// Scenario names.
const (
	ScenarioCatchupCity  = "catchup-city"
	ScenarioCatchupWorst = "catchup-worst"
	ScenarioLive         = "live"
	ScenarioMemory       = "memory"
)

// Scenarios lists every scenario in the order the harness runs them.
func Scenarios() []string {
	return []string{ScenarioCatchupCity, ScenarioCatchupWorst, ScenarioLive, ScenarioMemory}
}

// HarnessConfig says which scenarios to run, at what size and how often.
type HarnessConfig struct {
	// Mode names the configuration in the report ("full", "quick").
	Mode string
	Seed int64
	// Runs is how many times each timed figure is measured.
	Runs int
	// Partitions of the car-pings and events topics.
	Partitions int
	// Scenarios to run; empty runs all.
	Scenarios []string

	// Catch-up, city mix: a fleet of CityCars cars and CityCouriers
	// couriers with CityWindows windows open, CityPings car-ping records
	// preloaded.
	CityCars, CityCouriers, CityWindows, CityPings int
	// Catch-up, worst case: WorstCars cars, every one in an open window
	// and driving; WorstPings pings.
	WorstCars, WorstPings int
	// Live: LiveCars cars in open windows; each rate of LiveRates (car
	// pings per second) is offered for LiveDuration, after a warm-up.
	LiveCars     int
	LiveRates    []float64
	LiveDuration time.Duration
	// Memory: MemWindows open windows, as many tracked cars, MemCouriers
	// couriers with a route and a position. The processor runs with
	// memory_limit MemLimit (bytes), the setting configs/trunkline.yaml
	// gives for a container of 1 GiB, the memory target, unless
	// Overrides.MemoryLimit sets another; 0 runs it with the defaults,
	// which set no limit.
	MemWindows, MemCouriers int
	MemLimit                int64

	// LiveBrokerDir, if set, is where the live scenario's brokers keep
	// their logs, in files (kfake's data directory: one of its own under
	// LiveBrokerDir, removed when the broker closes); empty keeps the log
	// in the broker's memory, as the other scenarios do. FullConfig and
	// QuickConfig take DefaultBrokerDir. In files the broker serves a
	// steady stream of small batches with far shorter stalls; reading a
	// preloaded topic back in large fetches it is slower than in memory,
	// a system call per batch (NOTES.md).
	LiveBrokerDir string

	// Overrides change settings of the processor (and the consumer
	// settings the baselines share with it) for experiments; the zero
	// value keeps the defaults, which the reported figures use.
	Overrides Overrides
	// CPUProfileDir, if set, receives a CPU profile of the processor's
	// first catch-up run of each catch-up scenario (<scenario>.pprof).
	CPUProfileDir string
	// QuietWait is how long, at most, the harness waits before a timed
	// run for the machine to be quiet (other processes using less than
	// a quarter of a core); QuietBudget bounds the sum of those waits.
	// 0 does not wait. The report shows what other processes used.
	QuietWait, QuietBudget time.Duration
	// MachineLock makes harnesses on one machine take turns: the run
	// waits until no other harness holding the lock is running.
	MachineLock bool
	// Spawn starts the child process of a job; nil runs the jobs in this
	// process (RSS then includes the broker).
	Spawn Spawner
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

// FullConfig is `make bench`: the sizes the targets are stated for, three
// runs of each figure.
func FullConfig() HarnessConfig {
	return HarnessConfig{
		Mode: "full", Seed: 1, Runs: 3, Partitions: 6,
		CityCars: 1_000_000, CityCouriers: 5_000, CityWindows: 100_000, CityPings: 10_000_000,
		WorstCars: 100_000, WorstPings: 5_000_000,
		LiveCars: 300_000, LiveRates: []float64{50_000, 100_000, 200_000, 300_000}, LiveDuration: 20 * time.Second,
		MemWindows: 1_000_000, MemCouriers: 50_000, MemLimit: 900 << 20,
		LiveBrokerDir: DefaultBrokerDir(),
		QuietWait:     30 * time.Second, QuietBudget: 3 * time.Minute,
	}
}

// QuickConfig is `make bench-quick`: a tenth of the sizes, one run, short
// live phases.
func QuickConfig() HarnessConfig {
	return HarnessConfig{
		Mode: "quick", Seed: 1, Runs: 1, Partitions: 6,
		CityCars: 100_000, CityCouriers: 500, CityWindows: 10_000, CityPings: 1_000_000,
		WorstCars: 20_000, WorstPings: 500_000,
		LiveCars: 180_000, LiveRates: []float64{50_000, 100_000, 200_000, 300_000}, LiveDuration: 2 * time.Second,
		MemWindows: 100_000, MemCouriers: 5_000, MemLimit: 900 << 20,
		LiveBrokerDir: DefaultBrokerDir(),
		QuietWait:     2 * time.Second, QuietBudget: 6 * time.Second,
	}
}

// Validate says which setting to fix.
func (c HarnessConfig) Validate() error {
	var errs []error
	if c.Runs < 1 {
		errs = append(errs, fmt.Errorf("runs must be >= 1, got %d", c.Runs))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions must be >= 1, got %d", c.Partitions))
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios(), s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q: use one of %s", s, strings.Join(Scenarios(), ", ")))
		}
	}
	if c.runs(ScenarioCatchupCity) && (c.CityCars < 1 || c.CityWindows < 1 || c.CityCouriers < 1 || c.CityPings < 1 || c.CityWindows > c.CityCars) {
		errs = append(errs, errors.New("catch-up city: cars, couriers, windows (<= cars) and pings must be >= 1"))
	}
	if c.runs(ScenarioCatchupWorst) && (c.WorstCars < 1 || c.WorstPings < c.WorstCars) {
		errs = append(errs, errors.New("catch-up worst case: cars must be >= 1 and pings >= cars"))
	}
	if c.runs(ScenarioLive) {
		if c.LiveCars < 1 || len(c.LiveRates) == 0 || c.LiveDuration <= 0 {
			errs = append(errs, errors.New("live: cars, rates and duration must be set"))
		}
		for _, r := range c.LiveRates {
			// A live car moves stepM between two of its pings: its pings
			// must be liveMinIntervalS apart or more.
			if maxRate := float64(c.LiveCars) / liveMinIntervalS; !(r > 0) || r > maxRate {
				errs = append(errs, fmt.Errorf("live: rate %v out of range: use up to cars/%v (%.0f), each car pings at most every %v s", r, liveMinIntervalS, maxRate, liveMinIntervalS))
			}
		}
	}
	if c.runs(ScenarioMemory) && (c.MemWindows < 1 || c.MemCouriers < 1) {
		errs = append(errs, errors.New("memory: windows and couriers must be >= 1"))
	}
	if c.MemLimit < 0 || c.MemLimit > 0 && c.MemLimit < 64<<20 {
		errs = append(errs, fmt.Errorf("memory scenario's memory_limit %d bytes: use 0 (none) or at least 64 MiB", c.MemLimit))
	}
	return errors.Join(errs...)
}

func (c HarnessConfig) runs(s string) bool {
	return len(c.Scenarios) == 0 || slices.Contains(c.Scenarios, s)
}

// Overrides are settings that differ from the defaults in an experiment.
type Overrides struct {
	// ProduceLinger replaces produce_linger when not nil.
	ProduceLinger *time.Duration `json:"produce_linger,omitempty"`
	// MaxBufferedRecords and MaxPollRecords replace the processor's
	// settings when > 0; MaxPollRecords also bounds the baselines' polls.
	MaxBufferedRecords int `json:"max_buffered_records,omitempty"`
	MaxPollRecords     int `json:"max_poll_records,omitempty"`
	// FetchMaxPartitionBytes replaces the processor's
	// fetch_max_partition_bytes (and the relay's, which follows it) when
	// > 0, and sets the other baselines' kgo.FetchMaxPartitionBytes, which
	// otherwise is franz-go's default of 1 MiB.
	FetchMaxPartitionBytes int32 `json:"fetch_max_partition_bytes,omitempty"`
	// FetchMaxWait replaces fetch_max_wait when > 0, for the processor and
	// the baselines alike.
	FetchMaxWait time.Duration `json:"fetch_max_wait,omitempty"`
	// FetchMinBytes replaces fetch_min_bytes when > 0, for the processor
	// and the relay, which follows it; the other baselines keep franz-go's
	// default of 1.
	FetchMinBytes int32 `json:"fetch_min_bytes,omitempty"`
	// MemoryLimit is the processor's memory_limit (debug.SetMemoryLimit)
	// in bytes when > 0; the default configuration sets none.
	MemoryLimit int64 `json:"memory_limit,omitempty"`
	// GCPercent replaces the processor's gc_percent when not nil (GOGC in
	// the environment wins over both, as with trunkline run).
	GCPercent *int `json:"gc_percent,omitempty"`
}

// memLimit is the memory_limit the memory scenario's processor runs with:
// the override, else MemLimit (0: none).
func (c *HarnessConfig) memLimit() int64 {
	if c.Overrides.MemoryLimit > 0 {
		return c.Overrides.MemoryLimit
	}
	return c.MemLimit
}

// String lists the overrides, "defaults" when there are none.
func (o Overrides) String() string {
	var parts []string
	if o.ProduceLinger != nil {
		parts = append(parts, "produce_linger "+o.ProduceLinger.String())
	}
	if o.MaxBufferedRecords > 0 {
		parts = append(parts, fmt.Sprintf("max_buffered_records %d", o.MaxBufferedRecords))
	}
	if o.MaxPollRecords > 0 {
		parts = append(parts, fmt.Sprintf("max_poll_records %d", o.MaxPollRecords))
	}
	if o.FetchMaxWait > 0 {
		parts = append(parts, "fetch_max_wait "+o.FetchMaxWait.String())
	}
	if o.FetchMaxPartitionBytes > 0 {
		parts = append(parts, fmt.Sprintf("fetch max partition bytes %d", o.FetchMaxPartitionBytes))
	}
	if o.FetchMinBytes > 0 {
		parts = append(parts, fmt.Sprintf("fetch_min_bytes %d", o.FetchMinBytes))
	}
	if o.MemoryLimit > 0 {
		parts = append(parts, fmt.Sprintf("memory_limit %d MiB", o.MemoryLimit>>20))
	}
	if o.GCPercent != nil {
		parts = append(parts, fmt.Sprintf("gc_percent %d", *o.GCPercent))
	}
	if len(parts) == 0 {
		return "defaults"
	}
	return strings.Join(parts, ", ")
}

// harness is one run of the harness.
type harness struct {
	cfg    HarnessConfig
	out    io.Writer
	t0     time.Time
	waited time.Duration // spent in awaitQuiet
}

// quietCores is the most CPU other processes may use for the machine to
// count as quiet.
const quietCores = 0.25

// awaitQuiet waits, within QuietWait and what is left of QuietBudget,
// until the machine is quiet: over half a second, less than quietCores of
// busy CPU. The harness itself is idle while it waits.
func (h *harness) awaitQuiet(ctx context.Context) {
	limit := min(h.cfg.QuietWait, h.cfg.QuietBudget-h.waited)
	if limit <= 0 {
		return
	}
	const window = 500 * time.Millisecond
	start := time.Now()
	defer func() { h.waited += time.Since(start) }()
	for {
		b0 := machineBusy()
		select {
		case <-ctx.Done():
			return
		case <-time.After(window):
		}
		used := (machineBusy() - b0).Seconds() / window.Seconds()
		if used < quietCores {
			return
		}
		if time.Since(start) >= limit {
			h.logf("the machine is busy (%.2f cores used by other processes); measuring anyway", used)
			return
		}
	}
}

// logf writes one progress line.
func (h *harness) logf(format string, args ...any) {
	if h.out == nil {
		return
	}
	el := time.Since(h.t0).Truncate(100 * time.Millisecond)
	fmt.Fprintf(h.out, "[%6s] %s\n", el, fmt.Sprintf(format, args...))
}

// RunHarness runs the scenarios of cfg and returns the report. It blocks;
// it stops early with ctx's error when ctx is done.
func RunHarness(ctx context.Context, cfg HarnessConfig) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, out: cfg.Progress, t0: time.Now()}
	if cfg.MachineLock {
		lk, err := lockMachine(ctx, machineLockPath(), h.logf)
		if err != nil {
			return nil, err
		}
		defer lk.unlock()
		h.t0 = time.Now()
	}
	rep := newReport(cfg)
	for _, s := range Scenarios() {
		if !cfg.runs(s) {
			continue
		}
		h.logf("%s: starting", s)
		var (
			sr  []ScenarioReport
			err error
		)
		switch s {
		case ScenarioCatchupCity:
			sr, err = h.catchupCity(ctx)
		case ScenarioCatchupWorst:
			sr, err = h.catchupWorst(ctx)
		case ScenarioLive:
			sr, err = h.live(ctx)
		case ScenarioMemory:
			sr, err = h.memory(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		rep.Scenarios = append(rep.Scenarios, sr...)
	}
	rep.Elapsed = time.Since(h.t0)
	rep.Machine.LoadEnd = loadAvg()
	return rep, nil
}

// rate formats a rate per second compactly (1.52M/s).
func rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fK/s", v/1e3)
	}
	return fmt.Sprintf("%.0f/s", v)
}

// count formats a count compactly (10.0M).
func count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fK", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
