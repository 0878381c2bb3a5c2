package pipeline

import (
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// Input topics, as indexes of the counters.
const (
	inCarPings = iota
	inCourierPings
	inWindows
	inRoutes
	numInputs
)

// Output topics, as indexes of the produce error counters.
const (
	outEvents = iota
	outDLQ
	numOutputs
)

// dlqOther counts dead letters whose reason is not one of the DLQ*
// constants (a cause that is not a *DecodeError).
const dlqOther = "other"

var dlqReasonNames = append(DLQReasons(), dlqOther)

// numDLQReasons is the number of dead-letter reason labels, dlqOther
// included.
const numDLQReasons = 9

// dlqIndex returns the counter index of a dead-letter reason.
func dlqIndex(reason string) int {
	switch reason {
	case DLQMalformed:
		return 0
	case DLQWrongType:
		return 1
	case DLQMissingField:
		return 2
	case DLQInvalidValue:
		return 3
	case DLQOutOfRange:
		return 4
	case DLQNotFinite:
		return 5
	case DLQOversized:
		return 6
	case DLQEmpty:
		return 7
	}
	return 8
}

// counters are the processor's counts. Every field is written with atomic
// adds (once per batch, from a goroutine's tally) and read by Snapshot and
// by the Prometheus collector; they are the one source of both.
type counters struct {
	consumed [numInputs]atomic.Uint64
	applied  [numInputs]atomic.Uint64
	filtered [numInputs][numReasons]atomic.Uint64
	dead     [numInputs][numDLQReasons]atomic.Uint64

	events          [numEventTypes]atomic.Uint64 // emitted, by type
	eventsAcked     atomic.Uint64
	deadLetters     atomic.Uint64 // handed to the sink
	deadLettersAckd atomic.Uint64
	produceErrors   [numOutputs]atomic.Uint64

	partitions atomic.Int64 // car-pings partitions owned now
	rebalances atomic.Uint64

	// lastRecord is the processor clock (Unix ms) when the last record of
	// each input topic was consumed; 0 before any.
	lastRecord [numInputs]atomic.Int64
	// routes and couriers are published by the router after each poll.
	routes, couriers atomic.Int64
}

// tally accumulates the counts of one batch of one input topic in the
// goroutine that processes it; flush adds them to the counters at once.
type tally struct {
	consumed uint64
	applied  uint64
	filtered [numReasons]uint64
	dead     [numDLQReasons]uint64
	events   [numEventTypes]uint64
	dlqs     uint64
}

// outcome counts one consumed record that ended in r.
func (t *tally) outcome(r Reason) {
	t.consumed++
	if r == Applied {
		t.applied++
		return
	}
	if r >= numReasons {
		r = numReasons - 1 // never: every Reason the engine returns is known
	}
	t.filtered[r]++
}

// deadLettered counts one consumed record that was dead-lettered.
func (t *tally) deadLettered(reason string) {
	t.consumed++
	t.dead[dlqIndex(reason)]++
	t.dlqs++
}

// flush adds t to c for input topic in and clears t. Outcomes are added
// before the consumed count, so a concurrent reader never sees more records
// consumed than accounted for.
func (c *counters) flush(in int, t *tally) {
	if t.applied != 0 {
		c.applied[in].Add(t.applied)
	}
	for r, n := range t.filtered {
		if n != 0 {
			c.filtered[in][r].Add(n)
		}
	}
	for i, n := range t.dead {
		if n != 0 {
			c.dead[in][i].Add(n)
		}
	}
	for i, n := range t.events {
		if n != 0 {
			c.events[i].Add(n)
		}
	}
	if t.dlqs != 0 {
		c.deadLetters.Add(t.dlqs)
	}
	if t.consumed != 0 {
		c.consumed[in].Add(t.consumed)
	}
	*t = tally{}
}

// TopicCounts are the outcomes of the records consumed from one input topic:
// Consumed = Applied + Filtered + DeadLettered once the processor is idle or
// stopped (a concurrent reader may see outcomes a little ahead).
type TopicCounts struct {
	Consumed     uint64
	Applied      uint64
	Filtered     uint64
	DeadLettered uint64
	// FilteredBy is indexed by Reason (Applied is always 0).
	FilteredBy [numReasons]uint64
	// deadBy is indexed by dlqIndex.
	deadBy [numDLQReasons]uint64
}

// DeadLetteredFor returns the records dead-lettered with reason, one of the
// DLQ* constants.
func (t TopicCounts) DeadLetteredFor(reason string) uint64 { return t.deadBy[dlqIndex(reason)] }

// Snapshot is a point-in-time copy of a Processor's counters, cheap to take.
type Snapshot struct {
	Ready bool
	// Partitions is the number of car-pings partitions owned now.
	Partitions int

	CarPings     TopicCounts
	CourierPings TopicCounts
	Windows      TopicCounts
	Routes       TopicCounts

	// Events is indexed by EventType: events emitted and handed to the sink.
	Events        [numEventTypes]uint64
	EventsEmitted uint64
	EventsAcked   uint64
	// DeadLetters counts records handed to the sink's dead-letter topic.
	DeadLetters      uint64
	DeadLettersAcked uint64
	// ProduceErrors counts events and dead letters that failed for good.
	ProduceErrors uint64
}

func (c *counters) topic(in int) TopicCounts {
	var t TopicCounts
	t.Consumed = c.consumed[in].Load()
	t.Applied = c.applied[in].Load()
	for r := range t.FilteredBy {
		t.FilteredBy[r] = c.filtered[in][r].Load()
		t.Filtered += t.FilteredBy[r]
	}
	for i := range t.deadBy {
		t.deadBy[i] = c.dead[in][i].Load()
		t.DeadLettered += t.deadBy[i]
	}
	return t
}

func (c *counters) snapshot() Snapshot {
	s := Snapshot{
		Partitions:   int(c.partitions.Load()),
		CarPings:     c.topic(inCarPings),
		CourierPings: c.topic(inCourierPings),
		Windows:      c.topic(inWindows),
		Routes:       c.topic(inRoutes),
	}
	for i := range s.Events {
		s.Events[i] = c.events[i].Load()
		s.EventsEmitted += s.Events[i]
	}
	s.EventsAcked = c.eventsAcked.Load()
	s.DeadLetters = c.deadLetters.Load()
	s.DeadLettersAcked = c.deadLettersAckd.Load()
	for i := range c.produceErrors {
		s.ProduceErrors += c.produceErrors[i].Load()
	}
	return s
}

// latencyBuckets resolve 0.5 ms to 10 s (seconds).
var latencyBuckets = []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}

// latency holds the end-to-end histograms. They are observed once per
// event; Observe takes no lock and does not allocate.
type latency struct {
	// pingToEvent: event time (ts) of the car or courier ping that caused
	// an event → the event handed to the sink, on the processor clock.
	// Events no ping caused (window and route changes, timers fired by the
	// idle fallback) are not observed.
	pingToEvent prometheus.Histogram
	// appendToAck: the Kafka timestamp of the input record that caused an
	// event (the broker's append time on a LogAppendTime topic, the
	// producer's create time otherwise) → the broker's acknowledgement of
	// the last event of its batch, on the wall clock. Events of timers and
	// of startup snapshots have no such record and are not observed.
	appendToAck prometheus.Histogram
}

func newLatency() latency {
	return latency{
		pingToEvent: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trunkline_ping_to_event_seconds",
			Help:    "Event time of the ping that caused an event to the event handed to the sink (processor clock).",
			Buckets: latencyBuckets,
		}),
		appendToAck: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trunkline_append_to_ack_seconds",
			Help:    "Kafka timestamp of the input record that caused an event to the broker's acknowledgement of the event (wall clock).",
			Buckets: latencyBuckets,
		}),
	}
}

// sinceMs returns to-from in seconds, 0 when negative (an input time a
// little ahead of the clock).
func sinceMs(from, to int64) float64 {
	if to <= from {
		return 0
	}
	return float64(to-from) / 1e3
}

// workerSet is the set of running partition workers the collector reads,
// by partition. A worker is added when it starts and removed when it
// returns; a new worker of the same partition replaces an old one that is
// still stopping.
type workerSet struct {
	mu sync.Mutex
	m  map[int32]*worker
}

func (s *workerSet) add(w *worker) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[int32]*worker)
	}
	s.m[w.part] = w
	s.mu.Unlock()
}

func (s *workerSet) remove(w *worker) {
	s.mu.Lock()
	if s.m[w.part] == w {
		delete(s.m, w.part)
	}
	s.mu.Unlock()
}

func (s *workerSet) list() []*worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := make([]*worker, 0, len(s.m))
	for _, w := range s.m {
		ws = append(ws, w)
	}
	return ws
}

// collector exports the processor's state to Prometheus. Every series is
// built at scrape time from atomics the goroutines publish once per batch
// (the histograms excepted), never per record. The labelled series are
// fixed: topic × reason, type, and one lag series per owned partition.
type collector struct {
	p       *Processor
	inputs  [numInputs]string  // topic label per input
	outputs [numOutputs]string // topic label per output

	consumed, applied, filtered, dead *prometheus.Desc
	events, acked, produceErrors      *prometheus.Desc
	partitions, readyDesc             *prometheus.Desc
	lag, rebalances, lastRecord       *prometheus.Desc
	openWindows, cars                 *prometheus.Desc
	couriers, routes                  *prometheus.Desc
	stateEntries, stateBytes          *prometheus.Desc
	reachable                         *prometheus.Desc
}

func newCollector(p *Processor) *collector {
	t := &p.cfg.Topics
	return &collector{
		p:       p,
		inputs:  [numInputs]string{t.CarPings, t.CourierPings, t.Windows, t.Routes},
		outputs: [numOutputs]string{t.Events, t.DLQ},
		consumed: prometheus.NewDesc("trunkline_records_consumed_total",
			"Records consumed, per input topic.", []string{"topic"}, nil),
		applied: prometheus.NewDesc("trunkline_records_applied_total",
			"Consumed records applied to the state, per input topic.", []string{"topic"}, nil),
		filtered: prometheus.NewDesc("trunkline_records_filtered_total",
			"Consumed records filtered, per input topic and reason.", []string{"topic", "reason"}, nil),
		dead: prometheus.NewDesc("trunkline_records_dead_lettered_total",
			"Consumed records sent to the dead-letter topic, per input topic and reason.", []string{"topic", "reason"}, nil),
		events: prometheus.NewDesc("trunkline_events_emitted_total",
			"Events emitted, per event type.", []string{"type"}, nil),
		acked: prometheus.NewDesc("trunkline_events_acked_total",
			"Events acknowledged by the broker.", nil, nil),
		produceErrors: prometheus.NewDesc("trunkline_produce_errors_total",
			"Events and dead letters that could not be produced, per output topic.", []string{"topic"}, nil),
		partitions: prometheus.NewDesc("trunkline_partitions_owned",
			"Car-pings partitions this instance owns.", nil, nil),
		readyDesc: prometheus.NewDesc("trunkline_ready",
			"1 when the broadcast tables are loaded, the consumer group is joined and the brokers are reachable.", nil, nil),
		lag: prometheus.NewDesc("trunkline_consumer_lag_records",
			"High watermark minus the offset after the last record processed, per owned car-pings partition (from the last fetch).", []string{"topic", "partition"}, nil),
		rebalances: prometheus.NewDesc("trunkline_rebalances_total",
			"Assignments, revocations and losses of car-pings partitions.", nil, nil),
		lastRecord: prometheus.NewDesc("trunkline_last_record_timestamp_seconds",
			"Unix time when the last record of each input topic was consumed; 0 before any.", []string{"topic"}, nil),
		openWindows: prometheus.NewDesc("trunkline_open_windows",
			"Windows the partition engines are tracking.", nil, nil),
		cars: prometheus.NewDesc("trunkline_tracked_cars",
			"Cars with state in the partition engines' stores.", nil, nil),
		couriers: prometheus.NewDesc("trunkline_couriers",
			"Couriers with a known position.", nil, nil),
		routes: prometheus.NewDesc("trunkline_routes",
			"Courier routes known.", nil, nil),
		stateEntries: prometheus.NewDesc("trunkline_state_entries",
			"Entries in the partition engines' state stores.", nil, nil),
		stateBytes: prometheus.NewDesc("trunkline_state_bytes",
			"Bytes held by the partition engines' state stores.", nil, nil),
		reachable: prometheus.NewDesc("trunkline_broker_reachable",
			"1 while the processor's Kafka clients get answers from the brokers.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.consumed, m.applied, m.filtered, m.dead,
		m.events, m.acked, m.produceErrors, m.partitions, m.readyDesc,
		m.lag, m.rebalances, m.lastRecord, m.openWindows, m.cars, m.couriers, m.routes,
		m.stateEntries, m.stateBytes, m.reachable} {
		ch <- d
	}
	m.p.lat.pingToEvent.Describe(ch)
	m.p.lat.appendToAck.Describe(ch)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (m *collector) Collect(ch chan<- prometheus.Metric) {
	p := m.p
	c := p.counters
	for in, topic := range m.inputs {
		ch <- counter(m.consumed, c.consumed[in].Load(), topic)
		ch <- counter(m.applied, c.applied[in].Load(), topic)
		for _, r := range Reasons() {
			ch <- counter(m.filtered, c.filtered[in][r].Load(), topic, r.String())
		}
		for i, reason := range dlqReasonNames {
			ch <- counter(m.dead, c.dead[in][i].Load(), topic, reason)
		}
		ch <- gauge(m.lastRecord, float64(c.lastRecord[in].Load())/1e3, topic)
	}
	for _, t := range EventTypes() {
		ch <- counter(m.events, c.events[t].Load(), t.String())
	}
	ch <- counter(m.acked, c.eventsAcked.Load())
	for out, topic := range m.outputs {
		ch <- counter(m.produceErrors, c.produceErrors[out].Load(), topic)
	}
	ch <- gauge(m.partitions, float64(c.partitions.Load()))
	ch <- counter(m.rebalances, c.rebalances.Load())
	ch <- gauge(m.readyDesc, bit(p.Ready()))
	ch <- gauge(m.reachable, bit(p.reach.reachable()))
	ch <- gauge(m.routes, float64(c.routes.Load()))
	ch <- gauge(m.couriers, float64(c.couriers.Load()))

	var open, cars int64
	for _, w := range p.workers.list() {
		open += w.openWindows.Load()
		cars += w.cars.Load()
		if lag, ok := w.lag(); ok {
			ch <- gauge(m.lag, float64(lag), m.inputs[inCarPings], strconv.FormatInt(int64(w.part), 10))
		}
	}
	ch <- gauge(m.openWindows, float64(open))
	ch <- gauge(m.cars, float64(cars))
	// The state store holds one fixed-size record per tracked car.
	ch <- gauge(m.stateEntries, float64(cars))
	ch <- gauge(m.stateBytes, float64(cars*carStateSize))

	p.lat.pingToEvent.Collect(ch)
	p.lat.appendToAck.Collect(ch)
}

// KafkaMetrics returns the option that adds franz-go's client metrics
// (plugin/kprom, trunkline_kafka_*) of one Kafka client to reg, labelled
// client=client. A kprom hook serves one client: call KafkaMetrics for
// each client, with a distinct client value. The Processor does so for
// its own clients (trunkline-admin, trunkline-tables, trunkline-consumer);
// a command uses it for the clients it creates (the sink's).
//
// Labels are client and, on fetch and produce metrics, topic; not the
// broker's node id. kprom's gauges of buffered records are named like
// counters (…_records_total), which Prometheus's linters reject, so they
// are replaced by trunkline_kafka_buffered_{produce,fetch}_{records,bytes}.
//
// Registration never panics inside the client: metrics that clash with
// ones already registered (the same client value twice) are left out, and
// they are unregistered when the client is closed. A nil reg adds nothing.
func KafkaMetrics(reg prometheus.Registerer, client string) kgo.Opt {
	if reg == nil {
		return kgo.WithHooks()
	}
	lr := &lenientRegisterer{reg: reg}
	// The per-topic counters register first, so that kprom's collectors of
	// the same names clash and are left out: kprom would build a label map
	// for every batch fetched or produced (2 allocations per batch, 17 % of
	// the processor's allocations at 100 K live pings/s).
	tm := newTopicBatchMetrics(lr, client)
	m := kprom.NewMetrics("trunkline",
		kprom.Subsystem("kafka"),
		kprom.Registerer(lr),
		kprom.WithStaticLabel(prometheus.Labels{"client": client}),
		kprom.BrokerLabels(),
		kprom.FetchAndProduceDetail(kprom.ByTopic, kprom.Records, kprom.UncompressedBytes),
	)
	return kgo.WithHooks(kpromBrokerHooks{m}, tm, &kafkaBuffered{reg: lr, client: client})
}

// kpromBrokerHooks passes on to kprom every hook but the per-batch ones,
// which topicBatchMetrics serves.
type kpromBrokerHooks struct{ m *kprom.Metrics }

func (h kpromBrokerHooks) OnNewClient(cl *kgo.Client)    { h.m.OnNewClient(cl) }
func (h kpromBrokerHooks) OnClientClosed(cl *kgo.Client) { h.m.OnClientClosed(cl) }
func (h kpromBrokerHooks) OnBrokerConnect(meta kgo.BrokerMetadata, d time.Duration, c net.Conn, err error) {
	h.m.OnBrokerConnect(meta, d, c, err)
}
func (h kpromBrokerHooks) OnBrokerDisconnect(meta kgo.BrokerMetadata, c net.Conn) {
	h.m.OnBrokerDisconnect(meta, c)
}
func (h kpromBrokerHooks) OnBrokerThrottle(meta kgo.BrokerMetadata, d time.Duration, after bool) {
	h.m.OnBrokerThrottle(meta, d, after)
}
func (h kpromBrokerHooks) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	h.m.OnBrokerE2E(meta, key, e2e)
}

// topicBatchMetrics counts the records and uncompressed bytes a client
// fetches and produces, by topic, under kprom's names
// (trunkline_kafka_{fetch,produce}_{records,bytes}_total{client,topic}).
// The counters of a topic are looked up once; after that a batch costs a
// map read and four atomic adds, and allocates nothing.
type topicBatchMetrics struct {
	reg                                              *lenientRegisterer
	fetchRecords, fetchBytes, prodRecords, prodBytes *prometheus.CounterVec
	registered                                       []prometheus.Collector

	mu     sync.Mutex                                // serialises adding a topic
	topics atomic.Pointer[map[string]*topicCounters] // copied on write
}

// topicCounters are the counters of one topic.
type topicCounters struct {
	fetchRecords, fetchBytes, prodRecords, prodBytes prometheus.Counter
}

func newTopicBatchMetrics(reg *lenientRegisterer, client string) *topicBatchMetrics {
	vec := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "trunkline", Subsystem: "kafka", Name: name, Help: help,
			ConstLabels: prometheus.Labels{"client": client},
		}, []string{"topic"})
	}
	m := &topicBatchMetrics{
		reg:          reg,
		fetchRecords: vec("fetch_records_total", "Total number of records fetched"),
		fetchBytes:   vec("fetch_bytes_total", "Total number of uncompressed bytes fetched"),
		prodRecords:  vec("produce_records_total", "Total number of records produced"),
		prodBytes:    vec("produce_bytes_total", "Total number of uncompressed bytes produced"),
	}
	for _, c := range []prometheus.Collector{m.fetchRecords, m.fetchBytes, m.prodRecords, m.prodBytes} {
		if reg.Register(c) == nil {
			m.registered = append(m.registered, c)
		}
	}
	return m
}

// counters returns the counters of topic.
func (m *topicBatchMetrics) counters(topic string) *topicCounters {
	if t := m.topics.Load(); t != nil {
		if c := (*t)[topic]; c != nil {
			return c
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.topics.Load()
	if old != nil && (*old)[topic] != nil {
		return (*old)[topic]
	}
	next := make(map[string]*topicCounters, 1)
	if old != nil {
		maps.Copy(next, *old)
	}
	c := &topicCounters{
		fetchRecords: m.fetchRecords.WithLabelValues(topic),
		fetchBytes:   m.fetchBytes.WithLabelValues(topic),
		prodRecords:  m.prodRecords.WithLabelValues(topic),
		prodBytes:    m.prodBytes.WithLabelValues(topic),
	}
	next[topic] = c
	m.topics.Store(&next)
	return c
}

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (m *topicBatchMetrics) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, b kgo.FetchBatchMetrics) {
	c := m.counters(topic)
	c.fetchRecords.Add(float64(b.NumRecords))
	c.fetchBytes.Add(float64(b.UncompressedBytes))
}

// OnProduceBatchWritten implements kgo.HookProduceBatchWritten.
func (m *topicBatchMetrics) OnProduceBatchWritten(_ kgo.BrokerMetadata, topic string, _ int32, b kgo.ProduceBatchMetrics) {
	c := m.counters(topic)
	c.prodRecords.Add(float64(b.NumRecords))
	c.prodBytes.Add(float64(b.UncompressedBytes))
}

// OnClientClosed implements kgo.HookClientClosed.
func (m *topicBatchMetrics) OnClientClosed(*kgo.Client) {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

// kafkaBuffered exports what a client holds in its buffers.
type kafkaBuffered struct {
	reg    *lenientRegisterer
	client string
	gauges []prometheus.Collector
}

// OnNewClient implements kgo.HookNewClient.
func (h *kafkaBuffered) OnNewClient(cl *kgo.Client) {
	for _, g := range []struct {
		name, help string
		fn         func() int64
	}{
		{"buffered_produce_records", "Records buffered in the client, not yet acknowledged by the broker.", cl.BufferedProduceRecords},
		{"buffered_produce_bytes", "Bytes of the records buffered in the client, not yet acknowledged by the broker.", cl.BufferedProduceBytes},
		{"buffered_fetch_records", "Records fetched and buffered in the client, not yet polled.", cl.BufferedFetchRecords},
		{"buffered_fetch_bytes", "Bytes of the records fetched and buffered in the client, not yet polled.", cl.BufferedFetchBytes},
	} {
		fn := g.fn
		c := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace:   "trunkline",
			Subsystem:   "kafka",
			Name:        g.name,
			Help:        g.help,
			ConstLabels: prometheus.Labels{"client": h.client},
		}, func() float64 { return float64(fn()) })
		if h.reg.Register(c) == nil {
			h.gauges = append(h.gauges, c)
		}
	}
}

// OnClientClosed implements kgo.HookClientClosed.
func (h *kafkaBuffered) OnClientClosed(*kgo.Client) {
	for _, g := range h.gauges {
		h.reg.Unregister(g)
	}
	h.gauges = nil
}

// lenientRegisterer registers what it can and unregisters only what it
// registered: kprom registers from a client hook with MustRegister, where a
// clash must not bring the process down. MustRegister (kprom's way in)
// leaves out kprom's gauge funcs, the buffered gauges kafkaBuffered
// replaces; kprom's per-topic fetch and produce counters clash with those
// of topicBatchMetrics, registered first, and are left out too.
type lenientRegisterer struct {
	reg  prometheus.Registerer
	mu   sync.Mutex
	mine map[prometheus.Collector]bool
}

func (r *lenientRegisterer) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	if r.mine == nil {
		r.mine = make(map[prometheus.Collector]bool)
	}
	r.mine[c] = true
	r.mu.Unlock()
	return nil
}

func (r *lenientRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if _, ok := c.(prometheus.GaugeFunc); ok {
			continue
		}
		_ = r.Register(c) // a clash leaves c out
	}
}

func (r *lenientRegisterer) Unregister(c prometheus.Collector) bool {
	r.mu.Lock()
	mine := r.mine[c]
	delete(r.mine, c)
	r.mu.Unlock()
	return mine && r.reg.Unregister(c)
}
