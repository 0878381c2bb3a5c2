package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/bench"
	"github.com/trunkline/trunkline/pipeline"
)

// SimConfig is the sim section of the configuration: the simulated fleet of
// `trunkline sim` and `trunkline dev`.
type SimConfig struct {
	// Seed makes a run reproducible.
	Seed int64 `yaml:"seed"`
	// Cars is the fleet size; most cars never have a delivery.
	Cars int `yaml:"cars"`
	// Couriers is the number of couriers.
	Couriers int `yaml:"couriers"`
	// Windows is the number of delivery and return windows open at once.
	Windows int `yaml:"windows"`
	// Rate is the offered rate of car pings per second over the fleet.
	Rate float64 `yaml:"rate"`
	// Duration is how long to run; 0 runs until stopped.
	Duration time.Duration `yaml:"duration"`
	// CenterLat, CenterLng and RadiusM place the simulated city.
	CenterLat float64 `yaml:"center_lat"`
	CenterLng float64 `yaml:"center_lng"`
	RadiusM   float64 `yaml:"radius_m"`
	// BadFraction is the fraction of car pings followed by an invalid
	// record, to exercise the dead-letter path.
	BadFraction float64 `yaml:"bad_fraction"`
}

// defaultSimConfig returns the simulator's defaults.
func defaultSimConfig() SimConfig {
	b := bench.DefaultConfig()
	return SimConfig{
		Seed:        b.Seed,
		Cars:        b.Cars,
		Couriers:    b.Couriers,
		Windows:     b.Windows,
		Rate:        b.Rate,
		Duration:    b.Duration,
		CenterLat:   b.CenterLat,
		CenterLng:   b.CenterLng,
		RadiusM:     b.RadiusM,
		BadFraction: b.BadFraction,
	}
}

// bench returns the simulator's configuration for these settings, writing
// to topics.
func (c SimConfig) bench(topics pipeline.Topics, demo bool) bench.Config {
	b := bench.DefaultConfig()
	b.Seed = c.Seed
	b.Cars, b.Couriers, b.Windows = c.Cars, c.Couriers, c.Windows
	b.Rate = c.Rate
	b.Duration = c.Duration
	b.CenterLat, b.CenterLng, b.RadiusM = c.CenterLat, c.CenterLng, c.RadiusM
	b.BadFraction = c.BadFraction
	b.Topics = topics
	b.Demo = demo
	return b
}

// simStats holds the simulator's latest counts for the status line and the
// metrics. It is safe for concurrent use.
type simStats struct {
	mu sync.Mutex
	s  bench.Stats
}

func (s *simStats) set(v bench.Stats) {
	s.mu.Lock()
	s.s = v
	s.mu.Unlock()
}

func (s *simStats) get() bench.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s
}

// register exports the counts as trunkline_sim_records_total{kind}.
func (s *simStats) register(reg prometheus.Registerer) {
	for _, k := range []struct {
		kind string
		v    func(bench.Stats) uint64
	}{
		{"car_ping", func(b bench.Stats) uint64 { return b.CarPings }},
		{"courier_ping", func(b bench.Stats) uint64 { return b.CourierPings }},
		{"window", func(b bench.Stats) uint64 { return b.Windows }},
		{"route", func(b bench.Stats) uint64 { return b.Routes }},
		{"tombstone", func(b bench.Stats) uint64 { return b.Tombstones }},
		{"bad", func(b bench.Stats) uint64 { return b.Bad }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "trunkline_sim_records_total",
			Help:        "Records the fleet simulator produced, by kind.",
			ConstLabels: prometheus.Labels{"kind": k.kind},
		}, func() float64 { return float64(k.v(s.get())) }))
	}
}

var simUsage = usage{
	synopsis: "trunkline sim --brokers HOST:PORT[,HOST:PORT] [--cars N] [--couriers M] [--windows W] [--rate PINGS_PER_S] [--duration D] [--seed S] [--demo]",
	about: `Runs the fleet simulator / load generator: a simulated city of cars,
couriers and dispatch writes car pings, courier pings, windows and routes to
the cluster, as carmaker feeds and dispatch would. Car pings are capped at
--rate per second. Some records are deliberately invalid (bad_fraction in the
configuration) to exercise the dead-letter path.

The same --seed and settings yield the same records. Runs for --duration,
or until SIGINT or SIGTERM when it is 0. Prints a status line every 5 s.`,
	examples: `  trunkline sim --brokers 127.0.0.1:9092
  trunkline sim --brokers 127.0.0.1:9092 --cars 100000 --couriers 500 --windows 2000 --rate 20000 --duration 10m
  TRUNKLINE_BROKERS=kafka-1:9092,kafka-2:9092 trunkline sim --demo`,
}

func runSim(ctx context.Context, e *env, args []string) int {
	d := defaultConfig()
	fs := newFlagSet("sim")
	var (
		configPath = fs.String("config", "", "configuration `FILE` (YAML); the compiled-in defaults when empty")
		brokers    = fs.String("brokers", "", "seed brokers `HOST:PORT[,HOST:PORT]` (default from config or "+envBrokers+")")
		cars       = fs.Int("cars", d.Sim.Cars, "fleet size `N`")
		couriers   = fs.Int("couriers", d.Sim.Couriers, "number of couriers `M`")
		windows    = fs.Int("windows", d.Sim.Windows, "delivery and return windows `W` open at once")
		rate       = fs.Float64("rate", d.Sim.Rate, "car pings per second `PINGS_PER_S`")
		duration   = fs.Duration("duration", d.Sim.Duration, "how long to run `D` (0: until stopped)")
		seed       = fs.Int64("seed", d.Sim.Seed, "random seed `S`")
		demo       = fs.Bool("demo", false, "add the scripted showcase windows (W-DEMO-*)")
		httpAddr   = fs.String("http", d.HTTP.Addr, "`ADDR` serving /metrics, /healthz, /readyz (port 0 picks a free port)")
	)
	cfg, set, code, ok := commandConfig(e, fs, simUsage, args, configPath)
	if !ok {
		return code
	}
	if set["brokers"] {
		cfg.Brokers = hostPorts(*brokers)
	}
	if set["http"] {
		cfg.HTTP.Addr = *httpAddr
	}
	if set["cars"] {
		cfg.Sim.Cars = *cars
	}
	if set["couriers"] {
		cfg.Sim.Couriers = *couriers
	}
	if set["windows"] {
		cfg.Sim.Windows = *windows
	}
	if set["rate"] {
		cfg.Sim.Rate = *rate
	}
	if set["duration"] {
		cfg.Sim.Duration = *duration
	}
	if set["seed"] {
		cfg.Sim.Seed = *seed
	}
	bcfg := cfg.Sim.bench(cfg.Topics, *demo)
	if err := errors.Join(cfg.Validate(), bcfg.Validate()); err != nil {
		fmt.Fprintf(e.stderr, "trunkline sim: invalid configuration: %v\n", err)
		return exitFail
	}
	log, err := newLogger(cfg.Log, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "trunkline sim: %v\n", err)
		return exitFail
	}
	if err := simulate(ctx, e, log, cfg, bcfg); err != nil {
		return exitFail
	}
	return exitOK
}

// simulate runs the simulator until it is done or ctx ends, then stops its
// parts. It logs its own errors.
func simulate(ctx context.Context, e *env, log *slog.Logger, cfg Config, bcfg bench.Config) error {
	reg := newRegistry()
	st := &stopper{log: log}
	cl, err := kgo.NewClient(append(kafkaClientOpts(cfg.Brokers, "trunkline-sim", reg),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100_000),
	)...)
	if err != nil {
		log.Error("cannot create Kafka client", "err", err)
		return err
	}
	st.add("kafka client", func(ctx context.Context) error { return closeWithin(ctx, cl.Close) })
	stats := &simStats{}
	stats.register(reg)
	hs, err := startOps(cfg.HTTP, reg, func() bool { return true }, nil, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		st.stop(shutdownTimeout)
		return err
	}
	st.add("http", hs.Shutdown)

	sim := startTask(func(ctx context.Context) error { return bench.Run(ctx, cl, bcfg, e.now, stats.set) })
	st.add("simulator", sim.stop)
	log.Info("simulator started", "brokers", cfg.Brokers, "cars", bcfg.Cars, "couriers", bcfg.Couriers,
		"windows", bcfg.Windows, "rate", bcfg.Rate, "duration", bcfg.Duration, "seed", bcfg.Seed, "demo", bcfg.Demo)

	ticker := time.NewTicker(statusInterval)
	defer ticker.Stop()
	var (
		runErr error
		last   = stats.get()
		lastAt = time.Now()
	)
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping", "cause", context.Cause(ctx))
			break loop
		case <-sim.done:
			runErr = sim.err
			if runErr != nil {
				log.Error("simulator failed", "err", runErr)
			} else {
				log.Info("simulator finished", "duration", bcfg.Duration)
			}
			break loop
		case now := <-ticker.C:
			cur := stats.get()
			secs := now.Sub(lastAt).Seconds()
			fmt.Fprintf(e.stdout, "sim: car pings %d (%.0f/s), courier pings %d, windows %d, routes %d, tombstones %d, bad %d\n",
				cur.CarPings, float64(cur.CarPings-last.CarPings)/secs, cur.CourierPings, cur.Windows, cur.Routes, cur.Tombstones, cur.Bad)
			last, lastAt = cur, now
		}
	}
	return errors.Join(runErr, st.stop(shutdownTimeout))
}

// statusInterval is how often long-running commands print a status line.
const statusInterval = 5 * time.Second
