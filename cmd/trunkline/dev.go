package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/bench"
	"github.com/trunkline/trunkline/pipeline"
)

var devUsage = usage{
	synopsis: "trunkline dev [--http ADDR] [--listen HOST:PORT] [--partitions N] [--data-dir DIR] [--rate PINGS_PER_S] [--windows W] [--seed S] [--config FILE]",
	about: `Runs everything in one process, with no outside service: the embedded
Kafka-protocol broker, the fleet simulator with its scripted showcase
windows (W-DEMO-*), the processor, and a live console that prints every
delivery event as one readable line, plus a status line every 5 s
(pings/s in, events/s out, filtered, dead-lettered).

The status page at http://ADDR/ shows the same counters and the latest
events. The broker listens on a free loopback port unless --listen is given;
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

	status := &devStatus{proc: proc, sim: stats, con: con, broker: b.Addr(), started: time.Now()}
	hs, err := startHTTP(cfg.HTTP.Addr, reg, proc.Ready, status, log)
	if err != nil {
		return fail("status page", fmt.Errorf("%w; try --http 127.0.0.1:0", err))
	}
	st.add("http", hs.Shutdown)

	fmt.Fprintf(e.stdout, "trunkline dev: broker %s, status page http://%s/ — Ctrl-C stops\n", b.Addr(), hs.Addr())

	ticker := time.NewTicker(statusInterval)
	defer ticker.Stop()
	var runErr error
	simFinished := sim.done // nil once the simulator has finished its duration
	last := status.sample(time.Now())
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
			cur := status.sample(now)
			io.WriteString(e.stdout, cur.line(last))
			last = cur
		}
	}
	return errors.Join(runErr, st.stop(devShutdownTimeout))
}

// devStatus is the state behind dev's status line and status page.
type devStatus struct {
	proc    *runningProcessor
	sim     *simStats
	con     *console
	broker  string
	started time.Time
}

// devSample is the counters at one instant.
type devSample struct {
	at          time.Time
	snap        pipeline.Snapshot
	sim         bench.Stats
	printed     uint64
	filtered    uint64
	deadLetters uint64
}

func (s *devStatus) sample(now time.Time) devSample {
	snap := s.proc.Snapshot()
	return devSample{
		at:          now,
		snap:        snap,
		sim:         s.sim.get(),
		printed:     s.con.events.Load(),
		filtered:    snap.CarPings.Filtered + snap.CourierPings.Filtered + snap.Windows.Filtered + snap.Routes.Filtered,
		deadLetters: snap.CarPings.DeadLettered + snap.CourierPings.DeadLettered + snap.Windows.DeadLettered + snap.Routes.DeadLettered,
	}
}

// line is the status line for the interval from prev to s.
func (s devSample) line(prev devSample) string {
	secs := s.at.Sub(prev.at).Seconds()
	if secs <= 0 {
		secs = 1
	}
	rate := func(cur, old uint64) float64 { return float64(cur-old) / secs }
	return fmt.Sprintf("status: pings in %.0f/s | events out %.1f/s (%d) | filtered %.0f/s (%d) | dead-lettered %d | partitions %d | ready %v\n",
		rate(s.snap.CarPings.Consumed, prev.snap.CarPings.Consumed),
		rate(s.snap.EventsEmitted, prev.snap.EventsEmitted), s.snap.EventsEmitted,
		rate(s.filtered, prev.filtered), s.filtered,
		s.deadLetters, s.snap.Partitions, s.snap.Ready)
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>trunkline dev</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{padding:2px 12px;text-align:right}th{text-align:left}
pre{background:#f4f4f4;padding:1em;overflow-x:auto}</style></head><body>
<h1>trunkline dev</h1>
<p>broker <code>{{.Broker}}</code> · up {{.Uptime}} · processor {{if .Snap.Ready}}ready{{else}}starting{{end}} · {{.Snap.Partitions}} partitions ·
<a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a></p>
<h2>Input</h2>
<table><tr><th>topic</th><td>consumed</td><td>applied</td><td>filtered</td><td>dead-lettered</td></tr>
{{range .Topics}}<tr><th>{{.Name}}</th><td>{{.C.Consumed}}</td><td>{{.C.Applied}}</td><td>{{.C.Filtered}}</td><td>{{.C.DeadLettered}}</td></tr>
{{end}}</table>
<h2>Output</h2>
<table><tr><th>events emitted</th><td>{{.Snap.EventsEmitted}}</td></tr><tr><th>events acknowledged</th><td>{{.Snap.EventsAcked}}</td></tr>
<tr><th>dead letters</th><td>{{.Snap.DeadLetters}}</td></tr><tr><th>produce errors</th><td>{{.Snap.ProduceErrors}}</td></tr>
{{range .Types}}<tr><th>{{.Name}}</th><td>{{.N}}</td></tr>
{{end}}</table>
<h2>Simulator</h2>
<table><tr><th>car pings</th><td>{{.Sim.CarPings}}</td></tr><tr><th>courier pings</th><td>{{.Sim.CourierPings}}</td></tr>
<tr><th>windows</th><td>{{.Sim.Windows}}</td></tr><tr><th>routes</th><td>{{.Sim.Routes}}</td></tr>
<tr><th>tombstones</th><td>{{.Sim.Tombstones}}</td></tr><tr><th>invalid records</th><td>{{.Sim.Bad}}</td></tr></table>
<h2>Latest events</h2>
<pre>{{range .Recent}}{{.}}
{{else}}(none yet){{end}}</pre>
</body></html>
`))

// ServeHTTP renders the status page.
func (s *devStatus) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	cur := s.sample(time.Now())
	type topic struct {
		Name string
		C    pipeline.TopicCounts
	}
	type typeCount struct {
		Name string
		N    uint64
	}
	var types []typeCount
	for _, t := range pipeline.EventTypes() {
		types = append(types, typeCount{t.String(), cur.snap.Events[t]})
	}
	data := struct {
		Broker string
		Uptime time.Duration
		Snap   pipeline.Snapshot
		Topics []topic
		Types  []typeCount
		Sim    bench.Stats
		Recent []string
	}{
		Broker: s.broker,
		Uptime: time.Since(s.started).Round(time.Second),
		Snap:   cur.snap,
		Topics: []topic{
			{"car pings", cur.snap.CarPings}, {"courier pings", cur.snap.CourierPings},
			{"windows", cur.snap.Windows}, {"routes", cur.snap.Routes},
		},
		Types:  types,
		Sim:    cur.sim,
		Recent: s.con.latest(),
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
