package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Sink is where a Processor's output goes: events to the events topic and
// the records that cannot be processed to the dead-letter topic. Package
// sink provides the Kafka implementation.
//
// The Processor calls a Sink from many goroutines at once. Event and
// DeadLetter may block while the sink is at its buffering limit, until ctx
// is done. Each call leads to exactly one call of ack, from any goroutine,
// once the record is durably written (nil) or has failed for good; ack must
// not block.
type Sink interface {
	// Event hands over one event; ev is only read during the call.
	Event(ctx context.Context, ev *Event, ack func(error))
	// DeadLetter hands over a consumed record that cannot be processed;
	// cause says why. rec itself is only read during the call (the
	// processor recycles it afterwards: copy what you keep of it), but the
	// bytes of its Key, Value and headers stay valid and unmodified until
	// ack is called.
	DeadLetter(ctx context.Context, rec *kgo.Record, cause error, ack func(error))
	// Flush waits until every record handed over so far is acknowledged,
	// or ctx is done.
	Flush(ctx context.Context) error
}

// The processor's Kafka clients, by client id (and client label of their
// metrics).
const (
	clientAdmin    = "trunkline-admin"
	clientTables   = "trunkline-tables"
	clientConsumer = "trunkline-consumer"
)

// Processor is the Kafka runtime of the pipeline: it loads the broadcast
// tables, joins the consumer group of the car-pings topic, runs one Engine
// per assigned partition and hands their events to the Sink, committing
// offsets only for records whose output the broker has acknowledged.
//
// # Metrics
//
// With Options.Registerer set, it exports (labels: topic, reason, type,
// partition, client; never an id from the input):
//
//   - trunkline_records_{consumed,applied}_total{topic},
//     trunkline_records_filtered_total{topic,reason},
//     trunkline_records_dead_lettered_total{topic,reason}: consumed =
//     applied + filtered + dead-lettered per input topic;
//   - trunkline_events_emitted_total{type}, trunkline_events_acked_total,
//     trunkline_produce_errors_total{topic};
//   - trunkline_ping_to_event_seconds (event time of the ping that caused
//     an event → the event handed to the sink, processor clock) and
//     trunkline_append_to_ack_seconds (Kafka timestamp of the record that
//     caused it → the broker's acknowledgement, wall clock), one
//     observation per event, buckets from 0.5 ms to 10 s;
//   - trunkline_consumer_lag_records{topic,partition} per owned partition,
//     trunkline_partitions_owned, trunkline_rebalances_total;
//   - trunkline_open_windows, trunkline_tracked_cars, trunkline_couriers,
//     trunkline_routes, trunkline_state_entries, trunkline_state_bytes;
//   - trunkline_last_record_timestamp_seconds{topic} (processor clock);
//   - trunkline_broker_reachable, trunkline_ready;
//   - trunkline_kafka_*{client} of its three Kafka clients (KafkaMetrics).
//
// Counters are added once per batch from a goroutine's tally and gauges
// are published once per batch; a scrape reads atomics (and the state
// stores' sizes), so it never waits for a worker.
//
// Its methods are safe for concurrent use; Run is called once.
type Processor struct {
	cfg      Config
	opts     Options
	sink     Sink
	log      *slog.Logger
	clock    func() time.Time
	counters *counters
	lat      latency
	reach    *reach
	workers  workerSet   // running partition workers, for the metrics
	records  *recordPool // slabs of the consumers' fetched records

	started atomic.Bool
	loaded  atomic.Bool // broadcast tables read up to their end offsets at startup
	joined  atomic.Bool // consumer group joined, partitions (possibly none) assigned
	stopped atomic.Bool

	// Set by Run before any goroutine starts.
	produceCtx context.Context // canceled only when a stop gives up waiting
	routerDone chan struct{}   // closed when the router has returned
	cancel     context.CancelCauseFunc
	failMu     sync.Mutex
	failErr    error
}

// NewProcessor validates cfg and returns a Processor that is not running
// yet. opts.Sink is required. The metrics are registered with
// opts.Registerer when it is not nil.
func NewProcessor(cfg Config, opts Options) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if opts.Sink == nil {
		return nil, errors.New("pipeline: Options.Sink is nil: pass the Kafka sink of package sink")
	}
	p := &Processor{
		cfg:      cfg,
		opts:     opts,
		sink:     opts.Sink,
		log:      opts.Logger,
		clock:    opts.Clock,
		counters: new(counters),
		lat:      newLatency(),
		reach:    newReach(),
		records:  newRecordPool(),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.clock == nil {
		p.clock = time.Now
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(newCollector(p)); err != nil {
			return nil, fmt.Errorf("cannot register the processor's metrics: %w", err)
		}
	}
	return p, nil
}

// Ready reports whether the broadcast tables are loaded, the consumer
// group is joined with an assignment (possibly empty) and the brokers are
// reachable (see BrokerReachable). It does not block.
func (p *Processor) Ready() bool {
	return p.loaded.Load() && p.joined.Load() && !p.stopped.Load() && p.reach.reachable()
}

// BrokerReachable reports whether the processor's Kafka clients are getting
// answers from the brokers: false before the first answer, and once
// connections and requests have failed with no answer for
// brokerGrace (so one broker of several going away, or one failed
// request, does not count). It does not block.
func (p *Processor) BrokerReachable() bool { return p.reach.reachable() }

// kafkaOpts returns the options of the processor's Kafka client named
// client: base, the reachability hooks, franz-go's metrics when a
// Registerer is set, then Options.ClientOpts.
func (p *Processor) kafkaOpts(client string, base ...kgo.Opt) []kgo.Opt {
	opts := append(base, kgo.SeedBrokers(p.cfg.Brokers...), kgo.ClientID(client), kgo.WithHooks(p.reach))
	if p.opts.Registerer != nil {
		opts = append(opts, KafkaMetrics(p.opts.Registerer, client))
	}
	return append(opts, p.opts.ClientOpts...)
}

// brokerGrace is how long the brokers count as reachable after the last
// answer once connections or requests fail.
const brokerGrace = 5 * time.Second

// reach is a kgo hook that tells whether the brokers answer: the last
// answer (a connection opened, a response read) against the last failure
// (a connection or request that failed). Its hooks run per connection and
// per request, not per record; they only store atomics.
type reach struct {
	start    time.Time     // monotonic origin of the times below
	grace    time.Duration // brokerGrace; shorter in tests
	lastOK   atomic.Int64  // ns since start + 1; 0 = never
	lastFail atomic.Int64
}

func newReach() *reach { return &reach{start: time.Now(), grace: brokerGrace} }

func (r *reach) stamp() int64 { return int64(time.Since(r.start)) + 1 }

func (r *reach) outcome(err error) {
	switch {
	case err == nil:
		r.lastOK.Store(r.stamp())
	case errors.Is(err, context.Canceled):
		// The client gave up on the request itself: no news of the broker.
	default:
		r.lastFail.Store(r.stamp())
	}
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (r *reach) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	r.outcome(err)
}

// OnBrokerE2E implements kgo.HookBrokerE2E.
func (r *reach) OnBrokerE2E(_ kgo.BrokerMetadata, _ int16, e2e kgo.BrokerE2E) {
	r.outcome(e2e.Err())
}

func (r *reach) reachable() bool {
	ok := r.lastOK.Load()
	if ok == 0 {
		return false
	}
	if ok >= r.lastFail.Load() {
		return true
	}
	return r.stamp()-ok < int64(r.grace)
}

// Snapshot returns the processor's counters. It does not block.
func (p *Processor) Snapshot() Snapshot {
	s := p.counters.snapshot()
	s.Ready = p.Ready()
	return s
}

// now is the processor's clock in Unix milliseconds.
func (p *Processor) now() int64 { return p.clock().UnixMilli() }

// fail records the first fatal error and stops Run.
func (p *Processor) fail(err error) {
	p.failMu.Lock()
	if p.failErr == nil {
		p.failErr = err
	}
	p.failMu.Unlock()
	p.cancel(err)
}

func (p *Processor) failure() error {
	p.failMu.Lock()
	defer p.failMu.Unlock()
	return p.failErr
}

// Run loads the broadcast tables, joins the consumer group and processes
// until ctx is canceled or a fatal error occurs. It blocks. On cancel it
// stops cleanly: stop fetching, drain the partition workers, wait for the
// acknowledgements of what they emitted, commit, leave the group, close its
// clients; it then returns nil. Otherwise it returns the error that stopped
// it, which says what to do.
func (p *Processor) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("pipeline: Processor.Run called more than once")
	}
	defer p.stopped.Store(true)
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.cancel = cancel
	produceCtx, stopProduce := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProduce()
	p.produceCtx = produceCtx
	p.routerDone = make(chan struct{})
	cfg := &p.cfg

	adm, err := kgo.NewClient(p.kafkaOpts(clientAdmin)...)
	if err != nil {
		return fmt.Errorf("cannot create the admin client: %w", err)
	}
	defer adm.Close()
	admin := kadm.NewClient(adm)
	start, err := p.startOffsets(runCtx, admin)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	bc, err := kgo.NewClient(p.kafkaOpts(clientTables,
		kgo.ConsumePartitions(start.consume),
		kgo.FetchMaxWait(p.cfg.FetchMaxWait),
		kgo.WithPools(p.records),
	)...)
	if err != nil {
		return fmt.Errorf("cannot create the broadcast client: %w", err)
	}
	r := newRouter(p, start.nparts, start.pending)
	routerCtx, stopRouter := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); r.fetch(routerCtx, bc) }()
	go func() { defer bg.Done(); defer close(p.routerDone); r.run(routerCtx) }()
	stopBroadcast := func() {
		stopRouter()
		bg.Wait()
		bc.Close()
	}

	// The group is joined while the tables load: the router hands the
	// partition workers their snapshots, and so lets them process car
	// pings, only once the tables are loaded.
	p.log.Info("loading broadcast tables and joining the consumer group", "windows", cfg.Topics.Windows, "routes", cfg.Topics.Routes,
		"group", cfg.Group, "topic", cfg.Topics.CarPings)
	c, err := newConsumer(p, r, admin, start.nparts)
	if err != nil {
		stopBroadcast()
		return err
	}
	select {
	case <-r.loaded:
		p.loaded.Store(true)
		p.log.Info("broadcast tables loaded")
	case <-runCtx.Done():
	}
	var pollErr error
	if runCtx.Err() == nil {
		pollErr = c.poll(runCtx)
	}
	if pollErr != nil {
		p.fail(pollErr)
	}

	p.log.Info("stopping: draining partition workers and committing")
	stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer stopCancel()
	// A worker blocked handing records to a sink that cannot take them
	// (brokers down, buffer full) gives up when the stop deadline passes,
	// so a stop never outlasts ShutdownTimeout.
	defer context.AfterFunc(stopCtx, stopProduce)()
	commitErr := c.close(stopCtx)
	stopBroadcast()
	if err := p.sink.Flush(stopCtx); err != nil && commitErr == nil {
		commitErr = fmt.Errorf("cannot flush the sink on stop: %w", err)
	}
	return p.exitErr(commitErr)
}

// exitErr is Run's result: the fatal error if there was one, else err.
func (p *Processor) exitErr(err error) error {
	if f := p.failure(); f != nil {
		return f
	}
	return err
}

// startup is what Run reads from the cluster before it consumes.
type startup struct {
	nparts  int32                           // partitions of the car-pings topic
	consume map[string]map[int32]kgo.Offset // where the broadcast client starts
	pending map[tp]int64                    // windows/routes partitions to read up to their end
}

// awaitBrokers waits until the cluster answers a metadata request, so that
// a processor started before its brokers waits for them (not ready) instead
// of failing; it logs the failure at most every 10 s.
func (p *Processor) awaitBrokers(ctx context.Context, adm *kadm.Client) error {
	var lim limiter
	for {
		_, err := adm.BrokerMetadata(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cannot reach the Kafka brokers %v: %w; check --brokers (or TRUNKLINE_BROKERS) and that the cluster is up", p.cfg.Brokers, err)
		}
		if lim.allow(p.now()) {
			p.log.Warn("cannot reach the Kafka brokers; retrying (check --brokers or TRUNKLINE_BROKERS)", "brokers", p.cfg.Brokers, "err", err)
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// startOffsets reads the partitions of the input topics and the end offsets
// of the windows and routes topics.
func (p *Processor) startOffsets(ctx context.Context, adm *kadm.Client) (startup, error) {
	t := &p.cfg.Topics
	var s startup
	if err := p.awaitBrokers(ctx, adm); err != nil {
		return s, err
	}
	n, err := partitionCount(ctx, adm, t.CarPings)
	if err != nil {
		return s, fmt.Errorf("cannot read the car-pings topic: %w; create it or fix topics.car_pings", err)
	}
	s.nparts = n
	starts, err := adm.ListStartOffsets(ctx, t.Windows, t.Routes, t.CourierPings)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return s, fmt.Errorf("cannot list the start offsets of %s, %s, %s: %w; check that the topics exist", t.Windows, t.Routes, t.CourierPings, err)
	}
	ends, err := adm.ListEndOffsets(ctx, t.Windows, t.Routes)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return s, fmt.Errorf("cannot list the end offsets of %s, %s: %w", t.Windows, t.Routes, err)
	}
	for _, topic := range []string{t.Windows, t.Routes, t.CourierPings} {
		if len(starts[topic]) == 0 {
			return s, fmt.Errorf("topic %s does not exist: create it or fix the topics section", topic)
		}
	}
	s.consume = make(map[string]map[int32]kgo.Offset, 3)
	s.pending = make(map[tp]int64)
	lookback := p.now() - p.cfg.CourierLookback.Milliseconds()
	for topic, parts := range starts {
		m := make(map[int32]kgo.Offset, len(parts))
		for part, lo := range parts {
			if topic == t.CourierPings {
				m[part] = kgo.NewOffset().AfterMilli(lookback)
				continue
			}
			m[part] = kgo.NewOffset().AtStart()
			if end, ok := ends.Lookup(topic, part); ok && end.Offset > lo.Offset {
				s.pending[tp{topic, part}] = end.Offset
			}
		}
		s.consume[topic] = m
	}
	return s, nil
}
