package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

// KafkaConfig configures the Kafka sink.
type KafkaConfig struct {
	// Brokers is the seed broker list, host:port.
	Brokers []string
	// Events and DLQ are the topics of events and of dead letters.
	Events string
	DLQ    string
	// Source is the CloudEvents ce_source of every event.
	Source string
	// Linger is how long the producer waits to batch records.
	Linger time.Duration
	// MaxDeadLetterBytes caps the value of a dead letter: a longer value
	// (an oversized record) is cut to this length and the record carries
	// its original length in the value-truncated header, so that one huge
	// record cannot fail the dead-letter produce and stop the processor.
	// 0 means no cap.
	MaxDeadLetterBytes int
}

// KafkaConfigFrom returns the sink configuration a processor with cfg
// uses.
func KafkaConfigFrom(cfg pipeline.Config) KafkaConfig {
	return KafkaConfig{
		Brokers: cfg.Brokers,
		Events:  cfg.Topics.Events,
		DLQ:     cfg.Topics.DLQ,
		Source:  cfg.Engine.Source,
		Linger:  cfg.ProduceLinger,

		MaxDeadLetterBytes: cfg.MaxRecordBytes,
	}
}

// CloudEvents Kafka-binding header names, and the constant values.
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderTime        = "ce_time"
	HeaderContentType = "content-type"

	// TypePrefix prefixes the event type in ce_type
	// (trunkline.unlock_eligible).
	TypePrefix = "trunkline."
)

// Dead-letter header names.
const (
	HeaderError           = "error"
	HeaderSourceTopic     = "source-topic"
	HeaderSourcePartition = "source-partition"
	HeaderSourceOffset    = "source-offset"
	// HeaderValueTruncated, present only on a dead letter whose value was
	// cut to MaxDeadLetterBytes, holds the original value's length.
	HeaderValueTruncated = "value-truncated"
)

var (
	specVersion = []byte("1.0")
	contentType = []byte("application/json")
)

// Kafka produces events and dead letters with its own franz-go client
// (idempotent, acks=all, the default key partitioner: records with the same
// key go to the same partition, in the order they were produced). Records
// are retried until they succeed, fail for good (a missing topic, a record
// too large, no authorization) or their context is done; the processor
// bounds the wait for acknowledgements (produce_timeout). No delivery
// timeout is set on the client, because the client measures it from the
// record timestamp, which is event time here.
//
// It is safe for concurrent use. Event and DeadLetter do not wait for the
// broker: they buffer the record and return, blocking only while the
// client's buffer is full (until ctx is done). The ack passed with a record
// is called once, from the client's delivery goroutine, in produce order per
// output partition.
type Kafka struct {
	cl     *kgo.Client
	events string
	dlq    string
	source []byte
	types  [][]byte // ce_type per pipeline.EventType
	pool   sync.Pool
	maxDL  int
}

// NewKafka returns a Kafka sink with a client of its own; opts are added to
// the client's options (hooks, TLS, SASL). Close it after the processor has
// stopped.
func NewKafka(cfg KafkaConfig, opts ...kgo.Opt) (*Kafka, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("sink: no brokers: set at least one host:port")
	case cfg.Events == "" || cfg.DLQ == "":
		return nil, errors.New("sink: the events and dlq topics must be named")
	}
	all := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ProducerLinger(cfg.Linger),
	}
	cl, err := kgo.NewClient(append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("sink: cannot create the producer: %w", err)
	}
	k := &Kafka{cl: cl, events: cfg.Events, dlq: cfg.DLQ, source: []byte(cfg.Source), maxDL: cfg.MaxDeadLetterBytes}
	for _, t := range pipeline.EventTypes() {
		for int(t) >= len(k.types) {
			k.types = append(k.types, nil)
		}
		k.types[t] = []byte(TypePrefix + t.String())
	}
	return k, nil
}

// eventRecord is one event in flight: the record, its headers and one
// buffer for the key, value and header values. It is reused once the
// broker has acknowledged it, so a steady stream of events does not
// allocate.
type eventRecord struct {
	k       *Kafka
	rec     kgo.Record
	hdr     [6]kgo.RecordHeader
	buf     []byte
	ack     func(error)
	promise func(*kgo.Record, error) // bound once to done
}

func (k *Kafka) getRecord() *eventRecord {
	if er, ok := k.pool.Get().(*eventRecord); ok {
		return er
	}
	er := &eventRecord{k: k}
	er.promise = er.done
	return er
}

func (er *eventRecord) done(_ *kgo.Record, err error) {
	ack := er.ack
	er.ack = nil
	er.rec = kgo.Record{}
	er.buf = er.buf[:0]
	er.k.pool.Put(er)
	ack(err)
}

// Event produces ev to the events topic, keyed by its window id, with the
// CloudEvents headers; the record's timestamp is ev.EmittedAt. ev is only
// read during the call.
func (k *Kafka) Event(ctx context.Context, ev *pipeline.Event, ack func(error)) {
	er := k.getRecord()
	b := pipeline.AppendEvent(er.buf[:0], ev)
	nv := len(b)
	b = append(b, ev.WindowID...)
	nk := len(b)
	b = append(b, ev.ID...)
	ni := len(b)
	b = pipeline.AppendTime(b, ev.EmittedAt)
	er.buf = b

	var typ []byte
	if int(ev.Type) < len(k.types) {
		typ = k.types[ev.Type]
	}
	er.hdr = [6]kgo.RecordHeader{
		{Key: HeaderSpecVersion, Value: specVersion},
		{Key: HeaderID, Value: b[nk:ni:ni]},
		{Key: HeaderType, Value: typ},
		{Key: HeaderSource, Value: k.source},
		{Key: HeaderTime, Value: b[ni:]},
		{Key: HeaderContentType, Value: contentType},
	}
	er.rec = kgo.Record{
		Topic:     k.events,
		Key:       b[nv:nk:nk],
		Value:     b[:nv:nv],
		Headers:   er.hdr[:],
		Timestamp: time.UnixMilli(ev.EmittedAt),
	}
	er.ack = ack
	k.cl.Produce(ctx, &er.rec, er.promise)
}

// DeadLetter produces rec's key and value to the dead-letter topic with the
// error, source-topic, source-partition and source-offset headers and rec's
// timestamp.
func (k *Kafka) DeadLetter(ctx context.Context, rec *kgo.Record, cause error, ack func(error)) {
	msg := "unknown"
	if cause != nil {
		msg = cause.Error()
	}
	value := rec.Value
	dl := &kgo.Record{
		Topic: k.dlq,
		Key:   rec.Key,
		Headers: []kgo.RecordHeader{
			{Key: HeaderError, Value: []byte(msg)},
			{Key: HeaderSourceTopic, Value: []byte(rec.Topic)},
			{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
			{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
		},
		Timestamp: rec.Timestamp,
	}
	if k.maxDL > 0 && len(value) > k.maxDL {
		dl.Headers = append(dl.Headers, kgo.RecordHeader{Key: HeaderValueTruncated, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
		value = value[:k.maxDL]
	}
	dl.Value = value
	k.cl.Produce(ctx, dl, func(_ *kgo.Record, err error) { ack(err) })
}

// Flush waits until every record produced so far is acknowledged or has
// failed, or ctx is done.
func (k *Kafka) Flush(ctx context.Context) error { return k.cl.Flush(ctx) }

// Close flushes what is buffered (for at most timeout) and closes the
// client. Records still unacknowledged then fail.
func (k *Kafka) Close(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := k.cl.Flush(ctx)
	k.cl.Close()
	if err != nil {
		return fmt.Errorf("sink: records were still unacknowledged after %v: %w", timeout, err)
	}
	return nil
}

var _ pipeline.Sink = (*Kafka)(nil)
