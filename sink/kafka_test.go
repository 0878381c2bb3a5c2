package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

const (
	eventsTopic = "delivery.events"
	dlqTopic    = "trunkline.dlq"
)

func newCluster(t *testing.T, partitions int32) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, eventsTopic, dlqTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newKafka(t *testing.T, c *kfake.Cluster) *Kafka {
	t.Helper()
	k, err := NewKafka(KafkaConfig{Brokers: c.ListenAddrs(), Events: eventsTopic, DLQ: dlqTopic,
		Source: "trunkline-test", Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close(5 * time.Second) })
	return k
}

// readAll consumes topic from the start until it has n records or the
// deadline passes.
func readAll(t *testing.T, c *kfake.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s before the deadline", len(recs), n, topic)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// acks counts acknowledgements and remembers the first error.
type acks struct {
	mu   sync.Mutex
	n    int
	err  error
	done chan struct{}
	want int
}

func newAcks(want int) *acks { return &acks{want: want, done: make(chan struct{})} }

func (a *acks) ack(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	if err != nil && a.err == nil {
		a.err = err
	}
	if a.n == a.want {
		close(a.done)
	}
}

func (a *acks) wait(t *testing.T) {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d acks before the deadline", a.n, a.want)
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
}

func testEvent(window string, seq int, typ pipeline.EventType) pipeline.Event {
	base := time.Date(2026, 11, 24, 10, 15, 3, 120e6, time.UTC).UnixMilli()
	return pipeline.Event{
		ID:        fmt.Sprintf("%032x", seq+1000*len(window)),
		Type:      typ,
		WindowID:  window,
		OrderID:   "O-" + window,
		Kind:      pipeline.KindDelivery,
		VIN:       "WAUZZZ4G0FN000001",
		CourierID: "DHL-4711",
		TS:        base + int64(seq),
		EmittedAt: base + int64(seq) + 5,
	}
}

func TestKafkaEventsHeadersAndOrder(t *testing.T) {
	c := newCluster(t, 3)
	k := newKafka(t, c)
	types := pipeline.EventTypes()
	windows := []string{"W-1", "W-2", "W-3", "W-4", "W-5"}
	const perWindow = 40
	a := newAcks(len(windows) * perWindow)
	want := map[string][]pipeline.Event{}
	ctx := context.Background()
	for i := 0; i < perWindow; i++ {
		for _, w := range windows {
			ev := testEvent(w, i, types[i%len(types)])
			want[w] = append(want[w], ev)
			k.Event(ctx, &ev, a.ack)
			ev.WindowID = "mutated after the call" // the sink must not keep ev
		}
	}
	a.wait(t)

	recs := readAll(t, c, eventsTopic, a.want)
	got := map[string][]*kgo.Record{}
	part := map[string]int32{}
	for _, r := range recs {
		w := string(r.Key)
		if p, ok := part[w]; ok && p != r.Partition {
			t.Fatalf("window %s spread over partitions %d and %d", w, p, r.Partition)
		}
		part[w] = r.Partition
		got[w] = append(got[w], r)
	}
	for _, w := range windows {
		if len(got[w]) != perWindow {
			t.Fatalf("window %s: %d records, want %d", w, len(got[w]), perWindow)
		}
		for i, r := range got[w] {
			ev := want[w][i]
			if string(r.Value) != string(pipeline.AppendEvent(nil, &ev)) {
				t.Fatalf("window %s record %d out of order or wrong:\n got %s\nwant %s", w, i, r.Value, pipeline.AppendEvent(nil, &ev))
			}
			if r.Timestamp.UnixMilli() != ev.EmittedAt {
				t.Errorf("timestamp %v, want emitted_at %d", r.Timestamp, ev.EmittedAt)
			}
			for _, h := range []struct{ key, want string }{
				{HeaderSpecVersion, "1.0"},
				{HeaderID, ev.ID},
				{HeaderType, "trunkline." + ev.Type.String()},
				{HeaderSource, "trunkline-test"},
				{HeaderTime, string(pipeline.AppendTime(nil, ev.EmittedAt))},
				{HeaderContentType, "application/json"},
			} {
				if v, ok := header(r, h.key); !ok || v != h.want {
					t.Errorf("header %s = %q (present %v), want %q", h.key, v, ok, h.want)
				}
			}
		}
	}
}

func TestKafkaDeadLetter(t *testing.T) {
	c := newCluster(t, 1)
	k := newKafka(t, c)
	src := []*kgo.Record{
		{Topic: "telematics.car-pings", Partition: 3, Offset: 12345, Key: []byte("VIN1"), Value: []byte("{not json"),
			Timestamp: time.UnixMilli(1764000000000)},
		{Topic: "dispatch.windows", Partition: 0, Offset: 0, Key: nil, Value: []byte(`{"window_id":1}`),
			Timestamp: time.UnixMilli(1764000000001)},
	}
	causes := []error{
		&pipeline.DecodeError{Reason: pipeline.DLQMalformed, Msg: "unexpected end"},
		fmt.Errorf("cannot decode window: %w", &pipeline.DecodeError{Reason: pipeline.DLQWrongType, Field: "window_id", Msg: "want a string"}),
	}
	a := newAcks(len(src))
	for i := range src {
		k.DeadLetter(context.Background(), src[i], causes[i], a.ack)
	}
	a.wait(t)
	recs := readAll(t, c, dlqTopic, len(src))
	for i, r := range recs {
		s := src[i]
		if string(r.Key) != string(s.Key) || string(r.Value) != string(s.Value) {
			t.Errorf("record %d: key %q value %q, want %q %q", i, r.Key, r.Value, s.Key, s.Value)
		}
		if !r.Timestamp.Equal(s.Timestamp) {
			t.Errorf("record %d: timestamp %v, want %v", i, r.Timestamp, s.Timestamp)
		}
		for _, h := range []struct{ key, want string }{
			{HeaderError, causes[i].Error()},
			{HeaderSourceTopic, s.Topic},
			{HeaderSourcePartition, strconv.Itoa(int(s.Partition))},
			{HeaderSourceOffset, strconv.FormatInt(s.Offset, 10)},
		} {
			if v, ok := header(r, h.key); !ok || v != h.want {
				t.Errorf("record %d: header %s = %q (present %v), want %q", i, h.key, v, ok, h.want)
			}
		}
	}
}

func TestKafkaProduceFailureIsAcked(t *testing.T) {
	c := newCluster(t, 1)
	k, err := NewKafka(KafkaConfig{Brokers: c.ListenAddrs(), Events: "no.such.topic", DLQ: dlqTopic,
		Source: "s"}, kgo.UnknownTopicRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(time.Second)
	var n atomic.Int32
	errc := make(chan error, 1)
	ev := testEvent("W-1", 1, pipeline.EvCarLocated)
	k.Event(context.Background(), &ev, func(err error) { n.Add(1); errc <- err })
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("produce to a missing topic was acknowledged without error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no ack before the deadline")
	}
	if n.Load() != 1 {
		t.Fatalf("ack called %d times", n.Load())
	}
}

func TestNewKafkaRejectsIncompleteConfig(t *testing.T) {
	for _, cfg := range []KafkaConfig{
		{Events: "e", DLQ: "d"},
		{Brokers: []string{"127.0.0.1:1"}, DLQ: "d"},
		{Brokers: []string{"127.0.0.1:1"}, Events: "e"},
	} {
		if _, err := NewKafka(cfg); err == nil {
			t.Errorf("NewKafka(%+v) accepted", cfg)
		}
	}
}

func TestKafkaConfigFrom(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	cfg.Brokers = []string{"b:1"}
	cfg.Engine.Source = "src"
	kc := KafkaConfigFrom(cfg)
	if kc.Events != cfg.Topics.Events || kc.DLQ != cfg.Topics.DLQ || kc.Source != "src" ||
		kc.Brokers[0] != "b:1" || kc.Linger != cfg.ProduceLinger {
		t.Fatalf("KafkaConfigFrom = %+v", kc)
	}
}

// BenchmarkKafkaEvent measures the sink's cost per event, broker round trip
// included (a loopback broker): the record, its headers and its buffer are
// reused once acknowledged.
func BenchmarkKafkaEvent(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, eventsTopic, dlqTopic))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	k, err := NewKafka(KafkaConfig{Brokers: c.ListenAddrs(), Events: eventsTopic, DLQ: dlqTopic, Source: "s"})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close(10 * time.Second)
	ev := testEvent("W-1001", 1, pipeline.EvUnlockEligible)
	ev.Grant = &pipeline.Grant{ID: "ab12cd34", NotBefore: ev.TS, ExpiresAt: ev.TS + 120000, Token: "t0k3n"}
	var failed atomic.Int64
	ack := func(err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		k.Event(ctx, &ev, ack)
	}
	if err := k.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if failed.Load() > 0 {
		b.Fatal(errors.New("events failed"))
	}
}
