// Command trunkline-bench is trunkline's end-to-end benchmark harness: it
// runs the scenarios of package bench (catch-up city mix, catch-up worst
// case, live latency, memory) against an embedded broker, with the
// processor and the baselines in child processes of its own executable,
// and writes the report (markdown, JSON, latency chart) to --out.
//
//	trunkline-bench [--quick] [--out DIR] [--runs N] [--scenarios a,b] [--cpuprofile DIR]
//
// Progress goes to stderr. With --summary (the default with --quick) it
// ends by printing one JSON object per scenario on stdout, one per line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trunkline/trunkline/bench"
)

const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	if os.Getenv(bench.ChildEnv) == "1" {
		if err := bench.RunChild(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "trunkline-bench job: %v\n", err)
			os.Exit(exitFail)
		}
		os.Exit(exitOK)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, selfSpawner)
	stop()
	os.Exit(code)
}

// selfSpawner runs a job in a child process of this executable.
func selfSpawner(ctx context.Context) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.CommandContext(ctx, exe)
}

// run parses args, runs the harness and writes its outputs; it returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, spawn bench.Spawner) int {
	fs := flag.NewFlagSet("trunkline-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		quick     = fs.Bool("quick", false, "small sizes, one run, short live phases (make bench-quick)")
		out       = fs.String("out", "", "`DIR` to write the report to (report.md, report.json, latency.svg); nothing is written when empty")
		name      = fs.String("name", "", "report file `NAME` without extension (default: report, or quick with --quick)")
		runs      = fs.Int("runs", 0, "runs of each figure `N` (default 3, 1 with --quick)")
		scenarios = fs.String("scenarios", "", "comma-separated `LIST` of scenarios to run: "+strings.Join(bench.Scenarios(), ", ")+" (default all)")
		profile   = fs.String("cpuprofile", "", "`DIR` to write CPU profiles of the processor's first run of each catch-up scenario and of the live scenario to, each with its allocation profile (NAME.allocs.pprof), and a heap profile of its first memory run (memory-heap.pprof)")
		inProcess = fs.Bool("in-process", false, "run the processor and the baselines in this process instead of child processes (RSS then includes the broker)")
		linger    = fs.Duration("produce-linger", -1, "experiment: the processor's produce_linger `D` (default: the default configuration's)")
		buffered  = fs.Int("max-buffered-records", 0, "experiment: the processor's max_buffered_records `N`")
		poll      = fs.Int("max-poll-records", 0, "experiment: max_poll_records `N` of the processor and the baselines")
		hprofile  = fs.String("harness-cpuprofile", "", "`FILE` to write a CPU profile of the harness's own process to (broker, load generator, events consumer), and its allocation profile beside it (FILE with .allocs before the extension)")
		memLimit  = fs.Int64("memory-limit-mib", 0, "experiment: the processor's memory_limit in `MiB` in every scenario (default: none, as in the default configuration, except in the memory scenario: see --memory-scenario-limit-mib)")
		memScen   = fs.Int64("memory-scenario-limit-mib", -1, "the memory scenario processor's memory_limit in `MiB`, 0 for none (default 900, what configs/trunkline.yaml gives for a container of 1 GiB)")
		gcPercent = fs.Int("gc-percent", 0, "experiment: the processor's gc_percent `PERCENT` (default: the default configuration's; GOGC in the environment wins)")
		render    = fs.String("render", "", "write the outputs of an earlier run from its JSON report `FILE` to --out, without running anything")
		commit    = fs.String("commit", "", "`SHA` to record as the commit measured (default: git rev-parse HEAD in the working directory, +dirty when tracked files changed)")
		fetchWait = fs.Duration("fetch-max-wait", 0, "experiment: fetch_max_wait `D` of the processor and the baselines (default: the default configuration's)")
		fetchPart = fs.Int("fetch-max-partition-bytes", 0, "experiment: fetch_max_partition_bytes `N` of the processor and the relay, kgo.FetchMaxPartitionBytes of the other baselines (default: the processor's configuration, 1 MiB; franz-go's 1 MiB for the bare and decode+H3 consumers)")
		fetchMin  = fs.Int("fetch-min-bytes", 0, "experiment: fetch_min_bytes `N` of the processor and the relay (default: the processor's configuration, 1)")
		summary   = fs.Bool("summary", false, "end by printing one JSON object per scenario on stdout (always with --quick)")
		rates     = fs.String("live-rates", "", "comma-separated offered `RATES` of the live scenario, car pings per second (default 50000,100000,200000,300000)")
		brokerDir = fs.String("live-broker-dir", "", "`DIR` under which the live scenario's brokers keep their logs in files, or memory to keep them in the brokers' own memory as the other scenarios do (default /dev/shm when it can be written, else memory)")
		liveFor   = fs.Duration("live-duration", 0, "how long each live rate is offered `D` (default 20s, 2s with --quick)")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: trunkline-bench [--quick] [--out DIR] [--runs N] [--scenarios LIST] [--cpuprofile DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "trunkline-bench: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	if *render != "" {
		return renderReport(*render, *out, *name, stderr)
	}
	cfg := bench.FullConfig()
	if *quick {
		cfg = bench.QuickConfig()
	}
	if *runs > 0 {
		cfg.Runs = *runs
	}
	if *scenarios != "" {
		cfg.Scenarios = strings.Split(*scenarios, ",")
	}
	if *rates != "" {
		cfg.LiveRates = nil
		for _, r := range strings.Split(*rates, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
			if err != nil {
				fmt.Fprintf(stderr, "trunkline-bench: --live-rates: %q is not a number\n", r)
				return exitUsage
			}
			cfg.LiveRates = append(cfg.LiveRates, v)
		}
	}
	if *liveFor > 0 {
		cfg.LiveDuration = *liveFor
	}
	switch *brokerDir {
	case "":
	case "memory":
		cfg.LiveBrokerDir = ""
	default:
		cfg.LiveBrokerDir = *brokerDir
	}
	if *linger >= 0 {
		cfg.Overrides.ProduceLinger = linger
	}
	cfg.Overrides.MaxBufferedRecords = *buffered
	cfg.Overrides.MaxPollRecords = *poll
	cfg.Overrides.FetchMaxPartitionBytes = int32(*fetchPart)
	cfg.Overrides.FetchMaxWait = *fetchWait
	cfg.Overrides.FetchMinBytes = int32(*fetchMin)
	cfg.Overrides.MemoryLimit = *memLimit << 20
	if *memScen >= 0 {
		cfg.MemLimit = *memScen << 20
	}
	if *gcPercent != 0 {
		cfg.Overrides.GCPercent = gcPercent
	}
	cfg.CPUProfileDir = *profile
	cfg.Progress = stderr
	cfg.MachineLock = true
	if !*inProcess {
		cfg.Spawn = spawn
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			fmt.Fprintf(stderr, "trunkline-bench: %v\n", err)
			return exitFail
		}
	}
	if *hprofile != "" {
		f, err := os.Create(*hprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "trunkline-bench: cannot profile: %v\n", err)
			return exitFail
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
			if err := bench.WriteProfile("allocs", bench.AllocsProfilePath(*hprofile)); err != nil {
				fmt.Fprintf(stderr, "trunkline-bench: %v\n", err)
			}
		}()
	}
	rep, err := bench.RunHarness(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "trunkline-bench: %v\n", err)
		return exitFail
	}
	if *commit != "" {
		rep.Machine.Commit = *commit
	}
	if *out != "" {
		base := *name
		if base == "" {
			base = "report"
			if *quick {
				base = "quick"
			}
		}
		if err := writeOutputs(rep, *out, base); err != nil {
			fmt.Fprintf(stderr, "trunkline-bench: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stderr, "trunkline-bench: report written to %s (%s.md, %s.json, %s-latency.svg) after %v\n",
			*out, base, base, base, rep.Elapsed.Truncate(time.Second))
	}
	if *quick || *summary {
		if err := rep.WriteSummaryLines(stdout); err != nil {
			fmt.Fprintf(stderr, "trunkline-bench: %v\n", err)
			return exitFail
		}
	}
	return exitOK
}

// renderReport writes the outputs of the JSON report in file to dir.
func renderReport(file, dir, base string, stderr io.Writer) int {
	if dir == "" {
		fmt.Fprintln(stderr, "trunkline-bench: --render needs --out")
		return exitUsage
	}
	b, err := os.ReadFile(file)
	var rep bench.Report
	if err == nil {
		err = json.Unmarshal(b, &rep)
	}
	if err == nil {
		if base == "" {
			base = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		}
		err = writeOutputs(&rep, dir, base)
	}
	if err != nil {
		fmt.Fprintf(stderr, "trunkline-bench: %v\n", err)
		return exitFail
	}
	return exitOK
}

// writeOutputs writes the report's markdown, JSON and chart to dir.
func writeOutputs(rep *bench.Report, dir, base string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	chart := base + "-latency.svg"
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{base + ".json", rep.WriteJSON},
		{base + ".md", func(w io.Writer) error { return rep.WriteMarkdown(w, chart) }},
		{chart, rep.WriteLatencyChart},
	} {
		if err := writeFile(filepath.Join(dir, f.name), f.write); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return f.Close()
}
