package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/trunkline/trunkline/pipeline"
	"github.com/trunkline/trunkline/sink"
)

var runUsage = usage{
	synopsis: "trunkline run --brokers HOST:PORT[,HOST:PORT] [--config FILE] [--group ID] [--http ADDR] [--pprof] [--memory-limit SIZE] [--check-config]",
	about: `Runs the processor against any Kafka cluster: it consumes car pings in the
consumer group (each instance owns the cars of its partitions) and courier
pings, windows and routes in full, and writes delivery events and dead
letters (the state changelog topic is created but not written yet). Run N
instances with the same --group to share the load.

The grant signing key comes from TRUNKLINE_GRANT_KEY (16 bytes or more; 32
random bytes recommended); run refuses to start without it.

--pprof serves the Go profiler under /debug/pprof/ on the --http address
(http.pprof in the configuration); leave it off unless you are profiling.

--memory-limit (memory_limit in the configuration) sets the soft limit of
the Go runtime's memory, e.g. 900MiB for a 1 GiB container: near it the
garbage collector runs more often instead of letting the heap grow to twice
its live data. 0 (the default) leaves GOMEMLIMIT from the environment, or no
limit.

--gc-percent (gc_percent) sets the garbage collector's target percentage,
unless GOGC is in the environment: 300 by default, so collections, which
mark every window and car, come a third as often as with Go's 100, for a
heap up to four times its live data; memory_limit bounds it.

--check-config loads and validates the configuration (file, environment and
flags, as run would), prints the effective settings without the key, and
exits 0 when valid, 1 when not.

Stops cleanly on SIGINT or SIGTERM: the operations endpoint first, then the
processor drains, commits and closes its clients.`,
	examples: `  export TRUNKLINE_GRANT_KEY=$(openssl rand -hex 32)
  trunkline run --brokers 127.0.0.1:9092
  trunkline run --brokers kafka-1:9092,kafka-2:9092 --group trunkline-eu --config prod.yaml --http :8080
  trunkline run --config prod.yaml --check-config`,
}

func runRun(ctx context.Context, e *env, args []string) int {
	d := defaultConfig()
	fs := newFlagSet("run")
	var (
		configPath  = fs.String("config", "", "configuration `FILE` (YAML); the compiled-in defaults when empty")
		brokers     = fs.String("brokers", "", "seed brokers `HOST:PORT[,HOST:PORT]` (default from config or "+envBrokers+")")
		group       = fs.String("group", d.Group, "consumer group `ID`")
		httpAddr    = fs.String("http", d.HTTP.Addr, "`ADDR` serving /metrics, /healthz, /readyz (port 0 picks a free port)")
		pprofOn     = fs.Bool("pprof", d.HTTP.PProf, "serve the Go profiler under /debug/pprof/ on the --http address")
		checkConfig = fs.Bool("check-config", false, "validate the configuration, print it and exit (0 valid, 1 invalid)")
		memLimit    = d.MemoryLimit
		gcPercent   = fs.Int("gc-percent", d.GCPercent, "garbage collector target `PERCENT` (GOGC) unless GOGC is set; -1 off (needs --memory-limit)")
	)
	fs.Var(&memLimit, "memory-limit", "soft memory limit `SIZE` of the Go runtime (900MiB, 1GiB); 0 leaves GOMEMLIMIT or none")
	cfg, set, code, ok := commandConfig(e, fs, runUsage, args, configPath)
	if !ok {
		return code
	}
	if set["brokers"] {
		cfg.Brokers = hostPorts(*brokers)
	}
	if set["group"] {
		cfg.Group = *group
	}
	if set["http"] {
		cfg.HTTP.Addr = *httpAddr
	}
	if set["pprof"] {
		cfg.HTTP.PProf = *pprofOn
	}
	if set["memory-limit"] {
		cfg.MemoryLimit = memLimit
	}
	if set["gc-percent"] {
		cfg.GCPercent = *gcPercent
	}
	err := cfg.Validate()
	if len(cfg.Engine.GrantKey) == 0 {
		err = errors.Join(err, errNoGrantKey)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "trunkline run: invalid configuration: %v\n", err)
		return exitFail
	}
	if *checkConfig {
		out, err := yaml.Marshal(cfg)
		if err != nil {
			fmt.Fprintf(e.stderr, "trunkline run: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "# effective configuration (grant key set, not shown)\n%s", out)
		fmt.Fprintln(e.stderr, "configuration is valid")
		return exitOK
	}
	log, err := newLogger(cfg.Log, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "trunkline run: %v\n", err)
		return exitFail
	}

	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimit))
	}
	if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
		log.Info("memory limit", "bytes", limit, "size", byteSize(limit).String())
	}
	if gogc := e.getenv("GOGC"); gogc != "" {
		log.Info("garbage collector target from GOGC, gc_percent not applied", "gogc", gogc)
	} else {
		debug.SetGCPercent(cfg.GCPercent)
		log.Info("garbage collector target", "gc_percent", cfg.GCPercent)
	}

	// The processor bounds its own drain by shutdown_timeout; the rest
	// stops within a second more.
	stopTimeout := cfg.ShutdownTimeout + time.Second
	reg := newRegistry()
	st := &stopper{log: log}
	proc, err := startProcessor(cfg, reg, log, e.now, st)
	if err != nil {
		log.Error("cannot start processor", "err", err)
		st.stop(stopTimeout)
		return exitFail
	}
	hs, err := startOps(cfg.HTTP, reg, proc.Ready, nil, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		st.stop(stopTimeout)
		return exitFail
	}
	st.add("http", hs.Shutdown)
	log.Info("processor started", "brokers", cfg.Brokers, "group", cfg.Group)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping", "cause", context.Cause(ctx))
	case <-proc.done:
		runErr = proc.err
		if runErr == nil {
			runErr = errors.New("processor stopped unexpectedly")
		}
		log.Error("processor stopped", "err", runErr)
	}
	if err := st.stop(stopTimeout); err != nil || runErr != nil {
		return exitFail
	}
	return exitOK
}

// runningProcessor is a processor running in its own goroutine.
type runningProcessor struct {
	*pipeline.Processor
	*task
}

// startProcessor starts the Kafka sink and the processor and registers
// their stop functions with st. Both register their metrics, franz-go's
// client metrics included, with reg.
func startProcessor(cfg Config, reg prometheus.Registerer, log *slog.Logger, now func() time.Time, st *stopper) (*runningProcessor, error) {
	snk, err := startKafkaSink(cfg, reg, st)
	if err != nil {
		return nil, err
	}
	proc, err := pipeline.NewProcessor(cfg.Config, pipeline.Options{
		Sink:       snk,
		Registerer: reg,
		Logger:     log,
		Clock:      now,
	})
	if err != nil {
		return nil, err
	}
	p := &runningProcessor{Processor: proc, task: startTask(proc.Run)}
	st.add("processor", p.stop)
	return p, nil
}

// startKafkaSink creates the Kafka sink of events and dead letters and
// registers its stop (flush, then close) with st.
func startKafkaSink(cfg Config, reg prometheus.Registerer, st *stopper) (*sink.Kafka, error) {
	k, err := sink.NewKafka(sink.KafkaConfigFrom(cfg.Config), kafkaClientOpts(cfg.Brokers, "trunkline-sink", reg)...)
	if err != nil {
		return nil, err
	}
	st.add("sink", func(ctx context.Context) error {
		left := time.Second
		if d, ok := ctx.Deadline(); ok {
			left = time.Until(d)
		}
		return k.Close(max(left, 0))
	})
	return k, nil
}

// kafkaClientOpts returns the options of a Kafka client a command creates
// itself: the seed brokers, the client id, and franz-go's metrics
// (trunkline_kafka_*, labelled client=clientID) registered with reg.
func kafkaClientOpts(brokers []string, clientID string, reg prometheus.Registerer) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID(clientID), pipeline.KafkaMetrics(reg, clientID)}
}
