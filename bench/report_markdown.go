package bench

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteMarkdown writes the report as markdown; chart is the file name of
// the latency chart written beside it (WriteLatencyChart).
func (r *Report) WriteMarkdown(w io.Writer, chart string) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	m := &r.Machine
	p("# trunkline benchmark report (%s)\n\n", r.Mode)
	cmd := "make bench"
	if r.Mode == "quick" {
		cmd = "make bench-quick"
	}
	p("Produced by `%s` (`bin/trunkline-bench`, built from `cmd/trunkline-bench`) on %s in %s. [NOTES.md](NOTES.md) says what the profiles showed.\n\n", cmd, r.Date.Format("2006-01-02 15:04 MST"), r.Elapsed.Round(1e9))
	p("| machine | |\n|---|---|\n")
	p("| CPU | %s |\n| cores | %d (GOMAXPROCS %d) |\n| memory | %.1f GiB |\n| Go | %s %s/%s |\n| commit | `%s` |\n| load average (1, 5, 15 min) at start / end | %s / %s |\n\n",
		m.CPU, m.Cores, m.GOMAXPROCS, float64(m.MemTotal)/(1<<30), m.GoVersion, m.OS, m.Arch, orNone(m.Commit), orNone(m.LoadStart), orNone(m.LoadEnd))

	p("## How it is measured\n\n")
	p("- One embedded Kafka-protocol broker (franz-go's kfake) on 127.0.0.1 per scenario, in the harness's process; every client talks the Kafka protocol to it over loopback TCP. ")
	p("The car-pings and events topics have %d partitions. ", r.Config.Partitions)
	if d := r.Config.LiveBrokerDir; d != "" {
		p("The live scenario's brokers keep their logs in files under %s (kfake's data directory), the other scenarios' brokers in their own memory (NOTES.md says why).\n", d)
	} else {
		p("The brokers keep their logs in their own memory.\n")
	}
	if r.Config.ChildProcess {
		p("- The processor (`pipeline.Processor` with the Kafka sink of package `sink`, wired as `trunkline run` wires them; settings: %s, except where a scenario says otherwise) and each baseline run in a child process of their own: ", r.Config.Settings)
		p("their heap, GC and RSS are their own, as next to a real broker, while the broker and the load generator share the same %d cores with them.\n", m.Cores)
	} else {
		p("- The processor and the baselines ran in the harness's process (`--in-process`): memory figures include the broker and its records.\n")
	}
	p("- Catch-up: the topics are preloaded first and read once by an untimed bare consumer (the first read of a freshly preloaded topic is slower for any reader). A run is timed from the start of the processor (or consumer) until it has consumed every preloaded car ping and every event and dead letter it emitted is acknowledged (`Processor.Snapshot`); ")
	p("the events are then counted on the events topic (end offsets through kadm) and must equal the acknowledged ones. Rates are car-ping records / elapsed time, startup included (the table load and group join are also shown apart).\n")
	p("- Baselines, same topic, same broker, same run, a consumer group each, the processor's consumer settings: **bare** reads and discards; **decode+H3** decodes every ping (`pipeline.DecodeCarPing`) and computes its H3 cell (`geo.Cell`), one goroutine per partition. Ratios are taken per run, then summarised.\n")
	p("- CPU time is read from each process (getrusage) and from /proc/stat for the whole machine: \"other processes\" is what the rest of the machine used meanwhile, which these figures cannot control; before each timed run the harness waits (bounded) for the machine to be quiet.\n")
	if r.Config.Profiled {
		p("- The processor's first run of each catch-up scenario is CPU-profiled (pprof), which costs it a few per cent.\n")
	}
	p("- Each figure is min / median / max over %d run(s).\n\n", r.Config.Runs)

	p("## Targets\n\n| figure | target | measured (median) | range over runs | met |\n|---|---|---|---|---|\n")
	for _, t := range r.targets() {
		met := "no"
		if t.met {
			met = "yes"
		}
		p("| %s | %s | %s | %s | %s |\n", t.figure, t.target, t.measured, t.span, met)
	}
	p("\n")

	for _, s := range r.Scenarios {
		p("## %s\n\n%s.\n\n", s.Name, capitalise(s.Description))
		switch {
		case len(s.Live) > 0:
			row := func(l *LivePoint) {
				p("| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s (%s) |\n", rate(l.OfferedPerS), rate(l.AchievedPerS.Median),
					msRange(l.P50Ms), msRange(l.P90Ms), msRange(l.P99Ms), msRange(l.MaxMs), count(l.Events.Median), count(l.Missing.Max),
					cores(l.ProcessorCores.Median), cores(l.HarnessCores.Median), cores(l.OtherCores.Median),
					gcRange(l.ProcessorGCs), gcCores(l.ProcessorGCCores.Median))
			}
			p("The processor:\n\n| offered | achieved | p50 | p90 | p99 | max | events read | pings without event | CPU cores: processor / harness / other processes | processor's collections (their CPU, cores) |\n|---|---|---|---|---|---|---|---|---|---|\n")
			for i := range s.Live {
				row(&s.Live[i])
			}
			if slices.ContainsFunc(s.Live, func(l LivePoint) bool { return l.Relay != nil }) {
				p("\nThe relay baseline (no processing: ping consumed, produced unchanged, read back):\n\n| offered | achieved | p50 | p90 | p99 | max | pings read back | pings not read back | CPU cores: relay / harness / other processes | relay's collections (their CPU, cores) |\n|---|---|---|---|---|---|---|---|---|---|\n")
				for i := range s.Live {
					if r := s.Live[i].Relay; r != nil {
						row(r)
					}
				}
			}
			p("\nLatencies in ms: median over runs [min–max]. ![latency percentiles vs offered load](%s)\n\n", chart)
		case !s.RSSBytes.IsZero():
			p("| figure | min | median | max |\n|---|---|---|---|\n")
			for _, f := range []struct {
				name string
				v    Figure
			}{{"RSS", s.RSSBytes}, {"RSS peak (VmHWM)", s.RSSPeakBytes}, {"RSS once free pages are released (debug.FreeOSMemory)", s.RSSReleasedBytes}, {"Go heap in use after GC", s.HeapInuseBytes}, {"Go heap allocated after GC", s.HeapAllocBytes}} {
				p("| %s | %s | %s | %s |\n", f.name, mibf(f.v.Min), mibf(f.v.Median), mibf(f.v.Max))
			}
			p("| events written per run | %s | %s | %s |\n\n", count(s.Events.Min), count(s.Events.Median), count(s.Events.Max))
			p("State the processor reports (gauges; -1 when not exported): open windows %d, tracked cars %d, couriers %d, state bytes %d.\n\n",
				s.OpenWindows, s.TrackedCars, s.Couriers, s.StateBytes)
		default:
			p("| figure | min | median | max | runs |\n|---|---|---|---|---|\n")
			for _, f := range []struct {
				name string
				v    Figure
				fmt  func(float64) string
			}{
				{"processor, pings/s", s.PingsPerS, rate},
				{"processor after ready, pings/s", s.PingsPerSAfterReady, rate},
				{"processor ready after (s)", s.ReadySeconds, secs},
				{"bare consumer, pings/s", s.BarePingsPerS, rate},
				{"decode+H3 consumer, pings/s", s.DecodeH3PingsPerS, rate},
				{"ratio vs bare", s.RatioVsBare, ratio},
				{"ratio vs decode+H3", s.RatioVsH3, ratio},
				{"events written (read back)", s.Events, count},
				{"processor CPU, cores", s.ProcessorCores, cores},
				{"broker and harness CPU meanwhile, cores", s.HarnessCores, cores},
				{"other processes on the machine meanwhile, cores", s.OtherCores, cores},
			} {
				runs := make([]string, len(f.v.Runs))
				for i, v := range f.v.Runs {
					runs[i] = f.fmt(v)
				}
				p("| %s | %s | %s | %s | %s |\n", f.name, f.fmt(f.v.Min), f.fmt(f.v.Median), f.fmt(f.v.Max), strings.Join(runs, ", "))
			}
			p("\nPer run: %s car pings consumed; filtered %s, dead-lettered %s.", count(float64(s.Pings)), count(float64(s.Filtered)), count(float64(s.DeadLettered)))
			if len(s.EventsByType) > 0 {
				p(" Events by type (last run): %s.", eventsByType(s.EventsByType))
			}
			p("\n\n")
		}
	}
	return bw.Flush()
}

// target is one row of the targets table.
type target struct {
	figure, target, measured, span string
	met                            bool
}

// targets compares the report with the benchmark's targets, for the
// scenarios it holds.
func (r *Report) targets() []target {
	var ts []target
	for _, s := range r.Scenarios {
		switch s.Name {
		case ScenarioCatchupCity:
			ts = append(ts,
				target{"catch-up, city mix", "≥ 1.5 M pings/s", rate(s.PingsPerS.Median), rate(s.PingsPerS.Min) + " – " + rate(s.PingsPerS.Max), s.PingsPerS.Median >= 1.5e6},
				target{"catch-up, city mix vs bare consumer", "≥ 0.5×", ratio(s.RatioVsBare.Median), ratio(s.RatioVsBare.Min) + " – " + ratio(s.RatioVsBare.Max), s.RatioVsBare.Median >= 0.5})
		case ScenarioCatchupWorst:
			ts = append(ts,
				target{"catch-up, worst case", "≥ 500 K pings/s", rate(s.PingsPerS.Median), rate(s.PingsPerS.Min) + " – " + rate(s.PingsPerS.Max), s.PingsPerS.Median >= 5e5},
				target{"catch-up, worst case vs decode+H3", "≥ 0.6×", ratio(s.RatioVsH3.Median), ratio(s.RatioVsH3.Min) + " – " + ratio(s.RatioVsH3.Max), s.RatioVsH3.Median >= 0.6})
		case ScenarioLive:
			for _, t := range latencyTargets {
				i := slices.IndexFunc(s.Live, func(l LivePoint) bool { return l.OfferedPerS == t.rate })
				if i < 0 {
					continue
				}
				l := s.Live[i]
				measured := fmtMs(l.P99Ms.Median) + " ms"
				if l.Relay != nil {
					measured += " (relay baseline " + fmtMs(l.Relay.P99Ms.Median) + " ms)"
				}
				ts = append(ts, target{"live p99 at " + rate(t.rate), fmt.Sprintf("≤ %s ms", fmtMs(t.p99Ms)), measured,
					fmtMs(l.P99Ms.Min) + " – " + fmtMs(l.P99Ms.Max) + " ms", l.P99Ms.Median <= t.p99Ms && l.Missing.Max == 0})
			}
		case ScenarioMemory:
			// The peak, and its largest run: a container of 1 GiB is
			// killed by the first run that goes beyond it.
			name := "memory scenario RSS peak"
			if s.MemoryLimitBytes > 0 {
				name += fmt.Sprintf(" (memory_limit %d MiB)", s.MemoryLimitBytes>>20)
			}
			ts = append(ts, target{name, "≤ 1 GiB", mibf(s.RSSPeakBytes.Max) + " (largest run)", mibf(s.RSSPeakBytes.Min) + " – " + mibf(s.RSSPeakBytes.Max), s.RSSPeakBytes.Max <= 1<<30})
		}
	}
	return ts
}

func msRange(f Figure) string {
	if f.IsZero() {
		return "–"
	}
	if len(f.Runs) == 1 {
		return fmtMs(f.Median)
	}
	return fmt.Sprintf("%s [%s–%s]", fmtMs(f.Median), fmtMs(f.Min), fmtMs(f.Max))
}

// gcRange is a count of collections: the median and, over several runs,
// the range.
func gcRange(f Figure) string {
	switch {
	case f.IsZero():
		return "–"
	case len(f.Runs) == 1:
		return fmt.Sprintf("%.0f", f.Median)
	}
	return fmt.Sprintf("%.0f [%.0f–%.0f]", f.Median, f.Min, f.Max)
}

func gcCores(v float64) string { return fmt.Sprintf("%.3f", v) }

func mibf(v float64) string  { return fmt.Sprintf("%.0f MiB", v/(1<<20)) }
func ratio(v float64) string { return fmt.Sprintf("%.2f×", v) }
func secs(v float64) string  { return fmt.Sprintf("%.2f", v) }
func cores(v float64) string { return fmt.Sprintf("%.2f", v) }

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// eventsByType lists counts by type, largest first.
func eventsByType(m map[string]uint64) string {
	type kv struct {
		k string
		v uint64
	}
	var kvs []kv
	for k, v := range m {
		kvs = append(kvs, kv{k, v})
	}
	slices.SortFunc(kvs, func(a, b kv) int {
		if a.v != b.v {
			if a.v > b.v {
				return -1
			}
			return 1
		}
		return strings.Compare(a.k, b.k)
	})
	parts := make([]string, len(kvs))
	for i, e := range kvs {
		parts[i] = fmt.Sprintf("%s %s", e.k, count(float64(e.v)))
	}
	return strings.Join(parts, ", ")
}
