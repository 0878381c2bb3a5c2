package pipeline

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
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

// collector exports the counters to Prometheus. The labelled series are
// fixed (topic × reason, type): they are built at scrape time from the
// atomic counters, never per record.
type collector struct {
	c       *counters
	ready   func() bool
	inputs  [numInputs]string  // topic label per input
	outputs [numOutputs]string // topic label per output

	consumed, applied, filtered, dead *prometheus.Desc
	events, acked, produceErrors      *prometheus.Desc
	partitions, readyDesc             *prometheus.Desc
}

func newCollector(c *counters, t Topics, ready func() bool) *collector {
	return &collector{
		c:       c,
		ready:   ready,
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
			"1 when the broadcast tables are loaded and the consumer group is joined.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.consumed, m.applied, m.filtered, m.dead,
		m.events, m.acked, m.produceErrors, m.partitions, m.readyDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *collector) Collect(ch chan<- prometheus.Metric) {
	c := m.c
	for in, topic := range m.inputs {
		ch <- prometheus.MustNewConstMetric(m.consumed, prometheus.CounterValue, float64(c.consumed[in].Load()), topic)
		ch <- prometheus.MustNewConstMetric(m.applied, prometheus.CounterValue, float64(c.applied[in].Load()), topic)
		for _, r := range Reasons() {
			ch <- prometheus.MustNewConstMetric(m.filtered, prometheus.CounterValue, float64(c.filtered[in][r].Load()), topic, r.String())
		}
		for i, reason := range dlqReasonNames {
			ch <- prometheus.MustNewConstMetric(m.dead, prometheus.CounterValue, float64(c.dead[in][i].Load()), topic, reason)
		}
	}
	for _, t := range EventTypes() {
		ch <- prometheus.MustNewConstMetric(m.events, prometheus.CounterValue, float64(c.events[t].Load()), t.String())
	}
	ch <- prometheus.MustNewConstMetric(m.acked, prometheus.CounterValue, float64(c.eventsAcked.Load()))
	for out, topic := range m.outputs {
		ch <- prometheus.MustNewConstMetric(m.produceErrors, prometheus.CounterValue, float64(c.produceErrors[out].Load()), topic)
	}
	ch <- prometheus.MustNewConstMetric(m.partitions, prometheus.GaugeValue, float64(c.partitions.Load()))
	ready := 0.0
	if m.ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(m.readyDesc, prometheus.GaugeValue, ready)
}
