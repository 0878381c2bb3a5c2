package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/bench"
)

var devUsage = usage{
	synopsis: "trunkline dev [--http ADDR] [--listen HOST:PORT] [--partitions N] [--data-dir DIR] [--rate PINGS_PER_S] [--windows W] [--seed S] [--config FILE]",
	about: `Runs everything in one process, with no outside service: the embedded
Kafka-protocol broker, the fleet simulator with its scripted showcase
windows (W-DEMO-*), the processor, and a live console that prints every
delivery event as one readable line, plus a status line every 5 s: records
in/s, events out/s, filtered and dead-lettered totals, ping-to-event p99
latency, open windows, consumer lag, partitions, readiness.

The status page at http://ADDR/ shows the same metrics live (counters per
topic, reason and event type, throughput and latency charts) and the latest
events; http://ADDR/?format=json is what it polls. Both read the registry
that http://ADDR/metrics exports. The broker listens on a free loopback port unless --listen is given;
any Kafka client can connect to the address it prints.

Grants are signed with TRUNKLINE_GRANT_KEY when it is set, otherwise with a
random key generated for this process.

Ctrl-C (SIGINT) or SIGTERM stops everything cleanly within a few seconds.`,
	examples: `  trunkline dev
  make run
  trunkline dev --http 127.0.0.1:0 --rate 200
  trunkline dev --listen 127.0.0.1:9092 --data-dir ./data   # then: kcat -b 127.0.0.1:9092 -L`,
}

// devShutdownTimeout keeps dev's Ctrl-C under 5 s, whatever the
// configuration's processor shutdown_timeout says.
const (
	devWindows             = 40
	devShutdownTimeout     = 4 * time.Second
	devProcessorStopBudget = 2500 * time.Millisecond
)

func runDev(ctx context.Context, e *env, args []string) int {
	d := defaultConfig()
	fs := newFlagSet("dev")
	var (
		configPath = fs.String("config", "", "configuration `FILE` (YAML); the compiled-in defaults when empty")
		httpAddr   = fs.String("http", d.HTTP.Addr, "`ADDR` serving the status page, /metrics, /healthz, /readyz (port 0 picks a free port)")
		listen     = fs.String("listen", "127.0.0.1:0", "`HOST:PORT` of the embedded broker (port 0 picks a free port)")
		partitions = fs.Int("partitions", d.Broker.Partitions, "partition count of car pings, events and state `N`")
		dataDir    = fs.String("data-dir", "", "`DIR` keeping the broker's data across restarts (in memory when empty)")
		rate       = fs.Float64("rate", d.Sim.Rate, "simulated car pings per second `PINGS_PER_S`")
		seed       = fs.Int64("seed", d.Sim.Seed, "simulator seed `S`")
		windows    = fs.Int("windows", devWindows, "random delivery windows besides the scripted showcase ones `W`")
	)
	cfg, set, code, ok := commandConfig(e, fs, devUsage, args, configPath)
	if !ok {
		return code
	}
	cfg.Broker.Listen = *listen // dev never takes the broker address of the file: 9092 may be in use
	if set["partitions"] {
		cfg.Broker.Partitions = *partitions
	}
	if set["data-dir"] {
		cfg.Broker.DataDir = *dataDir
	}
	if set["http"] {
		cfg.HTTP.Addr = *httpAddr
	}
	if set["rate"] {
		cfg.Sim.Rate = *rate
	}
	if set["seed"] {
		cfg.Sim.Seed = *seed
	}
	// A smaller random fleet of windows than sim's default keeps the
	// scripted showcase legible on the console.
	if set["windows"] || *configPath == "" {
		cfg.Sim.Windows = *windows
	}
	generatedKey := len(cfg.Engine.GrantKey) == 0
	if generatedKey {
		cfg.Engine.GrantKey = make([]byte, 32)
		rand.Read(cfg.Engine.GrantKey)
	}
	cfg.ShutdownTimeout = min(cfg.ShutdownTimeout, devProcessorStopBudget)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(e.stderr, "trunkline dev: invalid configuration: %v\n", err)
		return exitFail
	}
	log, err := newLogger(cfg.Log, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "trunkline dev: %v\n", err)
		return exitFail
	}
	if generatedKey {
		log.Info("generated a random grant key for this process; set " + envGrantKey + " to sign with a key of your own")
	}
	if err := dev(ctx, e, log, cfg); err != nil {
		return exitFail
	}
	return exitOK
}

// dev runs the parts of `trunkline dev` until ctx ends, then stops them in
// reverse order: http, simulator, processor, console, broker. It logs its
// own errors.
func dev(ctx context.Context, e *env, log *slog.Logger, cfg Config) error {
	reg := newRegistry()
	st := &stopper{log: log}
	fail := func(what string, err error) error {
		log.Error("cannot start "+what, "err", err)
		st.stop(devShutdownTimeout)
		return err
	}

	b, err := startBroker(ctx, cfg.Broker, cfg.Topics, log)
	if err != nil {
		return fail("broker", err)
	}
	st.add("broker", func(ctx context.Context) error { return closeWithin(ctx, b.Close) })
	cfg.Brokers = []string{b.Addr()}

	con, err := startConsole(cfg, e.stdout, cfg.Broker.DataDir == "", log)
	if err != nil {
		return fail("console", err)
	}
	st.add("console", con.stop)

	proc, err := startProcessor(cfg, reg, log, e.now, st)
	if err != nil {
		return fail("processor", err)
	}

	simCl, err := kgo.NewClient(append(kafkaClientOpts(cfg.Brokers, "trunkline-sim", reg),
		kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return fail("simulator", err)
	}
	st.add("simulator client", func(ctx context.Context) error { return closeWithin(ctx, simCl.Close) })
	stats := &simStats{}
	stats.register(reg)
	bcfg := cfg.Sim.bench(cfg.Topics, true)
	sim := startTask(func(ctx context.Context) error { return bench.Run(ctx, simCl, bcfg, e.now, stats.set) })
	st.add("simulator", sim.stop)

	// The status line and the status page read the registry /metrics
	// exports, sampled every second; the first sample is taken before the
	// page can be asked for.
	reader := newStatusReader(reg, cfg.Topics)
	hist := &statusHistory{}
	gatherFailed := false
	sample := func(now time.Time) statusSample {
		s, err := reader.read(now)
		if err != nil && !gatherFailed {
			log.Warn("cannot gather every metric for the status line", "err", err)
			gatherFailed = true
		}
		hist.add(s)
		return s
	}
	last := sample(time.Now())
	page := &statusPage{hist: hist, broker: b.Addr(), started: last.At, recent: con.latest}
	hs, err := startOps(cfg.HTTP, reg, proc.Ready, page, log) // http.pprof of a --config file applies
	if err != nil {
		return fail("status page", fmt.Errorf("%w; try --http 127.0.0.1:0", err))
	}
	st.add("http", hs.Shutdown)

	fmt.Fprintf(e.stdout, "trunkline dev: broker %s, status page http://%s/ — Ctrl-C stops\n", b.Addr(), hs.Addr())

	ticker := time.NewTicker(statusSampleInterval)
	defer ticker.Stop()
	var runErr error
	simFinished := sim.done // nil once the simulator has finished its duration
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping", "cause", context.Cause(ctx))
			break loop
		case <-proc.done:
			runErr = proc.err
			if runErr == nil {
				runErr = errors.New("processor stopped unexpectedly")
			}
			log.Error("processor stopped", "err", runErr)
			break loop
		case <-simFinished:
			if sim.err != nil {
				runErr = sim.err
				log.Error("simulator stopped", "err", sim.err)
				break loop
			}
			log.Info("simulator finished its duration; the processor keeps running")
			simFinished = nil
		case now := <-ticker.C:
			cur := sample(now)
			if cur.At.Sub(last.At) >= statusInterval-statusSampleInterval/2 {
				io.WriteString(e.stdout, cur.line(last))
				last = cur
			}
		}
	}
	return errors.Join(runErr, st.stop(devShutdownTimeout))
}
