package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

// BrokerConfig is the broker section of the configuration: the embedded
// Kafka-protocol broker of `trunkline broker` and `trunkline dev`.
type BrokerConfig struct {
	// Listen is the host:port the broker listens on and advertises.
	Listen string `yaml:"listen"`
	// Partitions is the partition count of the partitioned topics (car
	// pings, events, state) when the broker creates them.
	Partitions int `yaml:"partitions"`
	// DataDir keeps topics, records and committed offsets across restarts;
	// empty keeps everything in memory.
	DataDir string `yaml:"data_dir"`
}

// Validate says which broker setting to fix.
func (c BrokerConfig) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("broker.listen %q is not host:port: %w", c.Listen, err))
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("broker.partitions must be 1..1024, got %d", c.Partitions))
	}
	return errors.Join(errs...)
}

// topicSpec is a topic the broker creates at start.
type topicSpec struct {
	name       string
	partitions int32
	compact    bool
}

// defaultTopicSpecs returns the contract's topics. The high-volume
// partitioned topics get partitions partitions; the broadcast topics, read in
// full by every instance, and the DLQ get one. Windows, routes and the state
// changelog are compacted.
func defaultTopicSpecs(t pipeline.Topics, partitions int) []topicSpec {
	n := int32(partitions)
	return []topicSpec{
		{t.CarPings, n, false},
		{t.CourierPings, 1, false},
		{t.Windows, 1, true},
		{t.Routes, 1, true},
		{t.Events, n, false},
		{t.DLQ, 1, false},
		{t.State, n, true},
	}
}

// memSegmentBytes is the in-memory broker's log.segment.bytes.
const memSegmentBytes = 1 << 20

// embeddedBroker is a one-node Kafka-protocol broker in this process.
type embeddedBroker struct {
	cluster *kfake.Cluster
	addr    string
}

// startBroker starts the embedded broker on cfg.Listen and creates the topics
// that do not exist yet (with cfg.DataDir, topics created by an earlier run
// are reloaded with their records). It blocks until the topics exist.
func startBroker(ctx context.Context, cfg BrokerConfig, topics pipeline.Topics, log *slog.Logger) (*embeddedBroker, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, cfg.Listen)
		}),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.AllowAutoTopicCreation(),
		kfake.WithLogger(kfakeLogger{log}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	} else {
		// In memory, a partition's active segment is one slice that grows
		// by copying, on the goroutine that serves every client: at the
		// default 100 MiB segments each doubling stalls the broker for tens
		// of milliseconds.
		opts = append(opts, kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(memSegmentBytes)}))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot start broker on %s: %w", cfg.Listen, err)
	}
	b := &embeddedBroker{cluster: cluster, addr: cluster.ListenAddrs()[0]}
	if host, _, _ := net.SplitHostPort(b.addr); net.ParseIP(host).IsUnspecified() {
		log.Warn("broker listens on an unspecified address and advertises it; clients on other hosts need a concrete --listen host", "addr", b.addr)
	}
	created, err := createTopics(ctx, b.addr, defaultTopicSpecs(topics, cfg.Partitions))
	if err != nil {
		cluster.Close()
		return nil, err
	}
	log.Info("broker started", "addr", b.addr, "data_dir", cfg.DataDir, "topics_created", len(created))
	return b, nil
}

// Addr returns the broker's host:port.
func (b *embeddedBroker) Addr() string { return b.addr }

// Close stops the broker; with a data directory it writes its state first.
func (b *embeddedBroker) Close() { b.cluster.Close() }

// createTopics creates the specs' topics through the Kafka protocol against
// addr and returns the names it created; topics that exist are left as
// they are.
func createTopics(ctx context.Context, addr string, specs []topicSpec) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, fmt.Errorf("cannot create admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var created []string
	for _, s := range specs {
		var configs map[string]*string
		if s.compact {
			configs = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		}
		_, err := adm.CreateTopic(ctx, s.partitions, 1, configs, s.name)
		switch {
		case err == nil:
			created = append(created, s.name)
		case errors.Is(err, kerr.TopicAlreadyExists):
		default:
			return created, fmt.Errorf("cannot create topic %s: %w", s.name, err)
		}
	}
	return created, nil
}

// kfakeLogger sends the broker's warnings and errors to the command's log.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.Error("broker: " + fmt.Sprintf(format, args...))
	case kfake.LogLevelWarn:
		l.log.Warn("broker: " + fmt.Sprintf(format, args...))
	}
}

var brokerUsage = usage{
	synopsis: "trunkline broker [--listen HOST:PORT] [--partitions N] [--data-dir DIR] [--http ADDR] [--config FILE]",
	about: `Runs the embedded Kafka-protocol broker alone (franz-go's kfake, one node)
and creates the default topics: car pings, events and the state changelog
with --partitions partitions; courier pings, windows, routes and the DLQ
with one. Windows, routes and state are compacted (cleanup.policy=compact).
Any Kafka client (kcat, librdkafka, franz-go) can produce and consume.
Produce keyed records with the Java client's murmur2 partitioner (franz-go's
default; kcat and librdkafka need -X partitioner=murmur2_random): the
processor expects a car's pings in the partition of its VIN.

Without --data-dir everything is kept in memory and lost on exit; with it,
topics, records and committed offsets survive a restart.

Stops cleanly on SIGINT or SIGTERM. /readyz is 200 once the topics exist.`,
	examples: `  trunkline broker
  trunkline broker --listen 127.0.0.1:9092 --partitions 12 --data-dir /var/lib/trunkline
  kcat -b 127.0.0.1:9092 -L
  kcat -b 127.0.0.1:9092 -X partitioner=murmur2_random -t telematics.car-pings -P -K '|' < pings.txt
  trunkline run --brokers 127.0.0.1:9092`,
}

func runBroker(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("broker")
	var (
		configPath = fs.String("config", "", "configuration `FILE` (YAML); the compiled-in defaults when empty")
		listen     = fs.String("listen", defaultConfig().Broker.Listen, "`HOST:PORT` to listen on (port 0 picks a free port)")
		partitions = fs.Int("partitions", defaultConfig().Broker.Partitions, "partition count of car pings, events and state `N`")
		dataDir    = fs.String("data-dir", "", "`DIR` keeping data across restarts (in memory when empty)")
		httpAddr   = fs.String("http", defaultConfig().HTTP.Addr, "`ADDR` serving /metrics, /healthz, /readyz (port 0 picks a free port)")
	)
	cfg, set, code, ok := commandConfig(e, fs, brokerUsage, args, configPath)
	if !ok {
		return code
	}
	if set["listen"] {
		cfg.Broker.Listen = *listen
	}
	if set["partitions"] {
		cfg.Broker.Partitions = *partitions
	}
	if set["data-dir"] {
		cfg.Broker.DataDir = *dataDir
	}
	if set["http"] {
		cfg.HTTP.Addr = *httpAddr
	}
	if err := cfg.Broker.Validate(); err != nil {
		fmt.Fprintf(e.stderr, "trunkline broker: invalid configuration: %v\n", err)
		return exitFail
	}
	log, err := newLogger(cfg.Log, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "trunkline broker: %v\n", err)
		return exitFail
	}

	st := &stopper{log: log}
	b, err := startBroker(ctx, cfg.Broker, cfg.Topics, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFail
	}
	st.add("broker", func(ctx context.Context) error { return closeWithin(ctx, b.Close) })
	// The broker serves before the endpoint starts: always ready.
	hs, err := startOps(cfg.HTTP, newRegistry(), func() bool { return true }, nil, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		st.stop(shutdownTimeout)
		return exitFail
	}
	st.add("http", hs.Shutdown)
	fmt.Fprintf(e.stdout, "broker listening on %s\n", b.Addr())
	fmt.Fprintf(e.stdout, "try:   kcat -b %s -L\n", b.Addr())
	fmt.Fprintf(e.stdout, "       kcat -b %s -t %s -C -f '%%k %%s\\n'\n", b.Addr(), cfg.Topics.Events)
	fmt.Fprintf(e.stdout, "       kcat -b %s -X partitioner=murmur2_random -t %s -P -K '|'   # keyed like the Java client\n", b.Addr(), cfg.Topics.CarPings)

	<-ctx.Done()
	log.Info("stopping", "cause", context.Cause(ctx))
	if err := st.stop(shutdownTimeout); err != nil {
		return exitFail
	}
	return exitOK
}
