package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is the configuration of a Processor: where the Kafka cluster is,
// which topics and consumer group to use, the rules of the engine and the
// limits of the runtime. DefaultConfig holds every default; Validate says
// which setting to fix.
type Config struct {
	// Brokers is the seed broker list, host:port.
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group of the car-pings topic.
	Group  string       `yaml:"group"`
	Topics Topics       `yaml:"topics"`
	Engine EngineConfig `yaml:"engine"`

	// CarPingsPartitioner is how the producers of the car-pings topic
	// partition by VIN: murmur2 (Kafka's default) or crc32 (librdkafka's
	// default). Each window is owned by the partition its car's pings land
	// in, so this must match the feeds' producers.
	CarPingsPartitioner Partitioner `yaml:"car_pings_partitioner"`
	// MaxRecordBytes is the largest input record value that is decoded;
	// larger ones are dead-lettered as oversized.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// CourierLookback is how far back courier pings are read at startup:
	// from now minus this duration.
	CourierLookback time.Duration `yaml:"courier_lookback"`
	// MaxBufferedRecords bounds the car-ping records fetched for one
	// partition but not yet processed; fetching the partition pauses beyond
	// it and resumes once half of them are processed.
	MaxBufferedRecords int `yaml:"max_buffered_records"`
	// MaxPollRecords bounds the records taken from the client per poll.
	MaxPollRecords int `yaml:"max_poll_records"`
	// FetchMaxWait is how long the broker may hold a fetch request of the
	// processor's consumers while it has no new record to return. A fetch
	// in flight holds only the partitions that had nothing buffered when it
	// was sent: a partition resumed after flow control paused it waits for
	// that fetch to return, so a long wait stalls a consumer catching up
	// (when the fetch holds only partitions already caught up). An idle
	// consumer sends a fetch per broker this often.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// FetchMinBytes is how many bytes of new records a fetch of the
	// car-pings consumer asks the broker to gather, within FetchMaxWait,
	// before it answers: Kafka's fetch.min.bytes. The default, Kafka's 1,
	// answers as soon as any record is there: the lowest latency, and at low
	// rates a fetch round trip per few pings. At 5 K pings/s on the
	// benchmark machine 16 KiB took the processor from 0.52 to 0.13 cores
	// and the harness (the embedded broker, mostly) from 0.60 to 0.20, and
	// the median latency from 1.6 to 8.2 ms; at 100 K pings/s it changed
	// neither (the fetches are that large anyway).
	FetchMinBytes int32 `yaml:"fetch_min_bytes"`
	// FetchMaxPartitionBytes bounds what one fetch of the car-pings
	// consumer returns per partition (a larger record batch still comes
	// whole): Kafka's max.partition.fetch.bytes. The default is Kafka's and
	// franz-go's 1 MiB; on the benchmark machine 512 KiB made the catch-up
	// city mix about a tenth faster and the worst case stall more often.
	FetchMaxPartitionBytes int32 `yaml:"fetch_max_partition_bytes"`
	// TickInterval is how often (wall time) every partition's engine fires
	// its due timers.
	TickInterval time.Duration `yaml:"tick_interval"`
	// CommitInterval is how often acknowledged offsets are committed.
	// Offsets are also committed when partitions are revoked and on stop.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// ProduceTimeout is how long an event or dead letter may wait for the
	// broker's acknowledgement before it fails; a failure stops the
	// processor without committing past the record that caused it.
	ProduceTimeout time.Duration `yaml:"produce_timeout"`
	// ProduceLinger is how long the producer waits to batch records. Every
	// event waits this long before it is sent unless a batch fills; under
	// load the producer batches anyway while requests are in flight, so a
	// short linger keeps latency low and requests few.
	ProduceLinger time.Duration `yaml:"produce_linger"`
	// ShutdownTimeout bounds a clean stop: draining the partition workers,
	// waiting for the acknowledgements of what they emitted, committing.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// DefaultConfig returns the defaults of every setting.
func DefaultConfig() Config {
	return Config{
		Brokers:                []string{"127.0.0.1:9092"},
		Group:                  "trunkline",
		Topics:                 DefaultTopics(),
		Engine:                 DefaultEngineConfig(),
		MaxRecordBytes:         64 << 10,
		CarPingsPartitioner:    PartitionerMurmur2,
		CourierLookback:        10 * time.Minute,
		MaxBufferedRecords:     10000,
		MaxPollRecords:         10000,
		FetchMaxWait:           25 * time.Millisecond,
		FetchMinBytes:          1,
		FetchMaxPartitionBytes: 1 << 20,
		TickInterval:           250 * time.Millisecond,
		CommitInterval:         time.Second,
		ProduceTimeout:         time.Minute,
		ProduceLinger:          time.Millisecond,
		ShutdownTimeout:        20 * time.Second,
	}
}

// Validate checks every setting and says which one to fix.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers is empty: set at least one host:port (flag --brokers or TRUNKLINE_BROKERS)"))
	}
	for _, b := range c.Brokers {
		if b == "" {
			errs = append(errs, errors.New("brokers contains an empty entry: use host:port"))
			break
		}
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group is empty: set a consumer group id"))
	}
	errs = append(errs, c.Topics.Validate(), c.Engine.Validate())
	seen := map[string]string{}
	for _, f := range []struct{ name, v string }{
		{"car_pings", c.Topics.CarPings}, {"courier_pings", c.Topics.CourierPings},
		{"windows", c.Topics.Windows}, {"routes", c.Topics.Routes},
		{"events", c.Topics.Events}, {"dlq", c.Topics.DLQ}, {"state", c.Topics.State},
	} {
		if other, dup := seen[f.v]; dup && f.v != "" {
			errs = append(errs, fmt.Errorf("topics.%s and topics.%s are both %q: every topic must be distinct", other, f.name, f.v))
		}
		seen[f.v] = f.name
	}
	if err := c.CarPingsPartitioner.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxRecordBytes < 1<<10 || c.MaxRecordBytes > 512<<10 {
		errs = append(errs, fmt.Errorf("max_record_bytes %d out of range: use 1 KiB..512 KiB", c.MaxRecordBytes))
	}
	if c.CourierLookback < 0 {
		errs = append(errs, fmt.Errorf("courier_lookback must be >= 0, got %v", c.CourierLookback))
	}
	if c.MaxBufferedRecords < 1 {
		errs = append(errs, fmt.Errorf("max_buffered_records must be >= 1, got %d", c.MaxBufferedRecords))
	}
	if c.MaxPollRecords < 1 {
		errs = append(errs, fmt.Errorf("max_poll_records must be >= 1, got %d", c.MaxPollRecords))
	}
	if c.FetchMaxPartitionBytes < 16<<10 || c.FetchMaxPartitionBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("fetch_max_partition_bytes %d out of range: use 16 KiB..64 MiB", c.FetchMaxPartitionBytes))
	}
	if c.FetchMinBytes < 1 || c.FetchMinBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("fetch_min_bytes %d out of range: use 1 B..16 MiB", c.FetchMinBytes))
	}
	if c.FetchMaxWait < 10*time.Millisecond || c.FetchMaxWait > 30*time.Second {
		errs = append(errs, fmt.Errorf("fetch_max_wait %v out of range: use 10ms..30s", c.FetchMaxWait))
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"tick_interval", c.TickInterval}, {"commit_interval", c.CommitInterval},
		{"produce_timeout", c.ProduceTimeout}, {"shutdown_timeout", c.ShutdownTimeout},
	} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be > 0, got %v", f.name, f.v))
		}
	}
	if c.ProduceLinger < 0 {
		errs = append(errs, fmt.Errorf("produce_linger must be >= 0, got %v", c.ProduceLinger))
	}
	return errors.Join(errs...)
}

// Options are the dependencies of a Processor that do not come from
// configuration.
type Options struct {
	// Sink receives the events and dead letters. Required: the Kafka sink
	// of package sink in production, possibly wrapped by sink.Tee.
	Sink Sink
	// Registerer registers the processor's metrics (trunkline_*) and
	// franz-go's metrics of its Kafka clients (trunkline_kafka_*, see
	// KafkaMetrics, labelled client="trunkline-admin", "trunkline-tables"
	// and "trunkline-consumer"); nil registers none.
	Registerer prometheus.Registerer
	// Logger receives the processor's logs; nil discards them.
	Logger *slog.Logger
	// Clock is the wall clock the processor reads once per batch; nil is
	// time.Now.
	Clock func() time.Time
	// ClientOpts are added to the options of every Kafka client the
	// processor creates (TLS, SASL, metadata ages): an admin client, the
	// broadcast-tables consumer and the group consumer, whose client ids
	// are trunkline-admin, trunkline-tables and trunkline-consumer unless
	// ClientOpts sets one. A hook in it is shared by the three clients, so
	// it must not be one that serves a single client, like a kprom
	// Metrics: franz-go's metrics come with Registerer.
	ClientOpts []kgo.Opt
}
