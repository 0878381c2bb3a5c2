package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
	"github.com/trunkline/trunkline/sink"
)

// TestProcessorAccountsEveryRecord replays the filter and dead-letter
// scenarios of testdata/scenarios through a Processor and the embedded
// broker, one record at a time: each record must end in the outcome the
// scenario expects (applied, a filter reason, or a dead letter with a
// reason), the process must keep running, and consumed = applied +
// filtered + dead-lettered must hold after every record.
func TestProcessorAccountsEveryRecord(t *testing.T) {
	for _, name := range []string{"filters", "dlq", "consent"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 2)
			cfg := e.config("accounting-" + name)
			lines := readScenario(t, filepath.Join("..", "testdata", "scenarios", name+".jsonl"))
			clk := newClock(lines[0].at)
			r := e.start(cfg, clk)
			waitFor(t, "ready", r.p.Ready)
			topics := map[string]string{
				"car": e.topics.CarPings, "courier": e.topics.CourierPings,
				"windows": e.topics.Windows, "routes": e.topics.Routes,
			}
			for i, l := range lines {
				clk.set(l.at)
				if l.topic == "tick" {
					continue
				}
				before := r.p.Snapshot()
				value := l.value
				if string(value) == "OVERSIZED" {
					value = bytes.Repeat([]byte("A"), 2*cfg.MaxRecordBytes)
				}
				e.produce(rec(topics[l.topic], l.key, value))
				var after pipeline.Snapshot
				waitFor(t, "record consumed", func() bool {
					after = r.p.Snapshot()
					return counts(after, l.topic).Consumed == counts(before, l.topic).Consumed+1
				})
				checkInvariant(t, after)
				if got := outcome(before, after, l.topic); l.expect != "" && got != l.expect {
					t.Errorf("line %d (%s): outcome %s, want %s", i+1, l.topic, got, l.expect)
				}
			}
			if err := r.shutdown(t); err != nil {
				t.Fatalf("processor stopped with %v", err)
			}
			checkInvariant(t, r.p.Snapshot())
		})
	}
}

type replayLine struct {
	at     time.Time
	topic  string
	key    string
	value  []byte // nil: tombstone
	expect string
}

func readScenario(t *testing.T, path string) []replayLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []replayLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l struct {
			At     time.Time       `json:"at"`
			Topic  string          `json:"topic"`
			Key    string          `json:"key"`
			Value  json.RawMessage `json:"value"`
			Raw    *string         `json:"raw"`
			Expect string          `json:"expect"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		v := []byte(l.Value)
		if string(v) == "null" {
			v = nil
		}
		if l.Raw != nil {
			v = []byte(*l.Raw)
		}
		out = append(out, replayLine{at: l.At, topic: l.Topic, key: l.Key, value: v, expect: l.Expect})
	}
	return out
}

func counts(s pipeline.Snapshot, topic string) pipeline.TopicCounts {
	switch topic {
	case "car":
		return s.CarPings
	case "courier":
		return s.CourierPings
	case "windows":
		return s.Windows
	}
	return s.Routes
}

// outcome names what happened to the one record consumed between two
// snapshots, in the scenario files' terms.
func outcome(before, after pipeline.Snapshot, topic string) string {
	b, a := counts(before, topic), counts(after, topic)
	var found []string
	if a.Applied > b.Applied {
		found = append(found, "applied")
	}
	for _, r := range pipeline.Reasons() {
		if a.FilteredBy[r] > b.FilteredBy[r] {
			found = append(found, r.String())
		}
	}
	for _, r := range pipeline.DLQReasons() {
		if a.DeadLetteredFor(r) > b.DeadLetteredFor(r) {
			found = append(found, "dlq:"+r)
		}
	}
	return strings.Join(found, "+")
}

// syncBuffer is a log destination that tests can read while the processor
// writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestProcessorWaitsForBrokers starts a processor before its broker: it
// must wait, not ready and saying why, and start working once the broker
// is up.
func TestProcessorWaitsForBrokers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	e := &env{t: t, topics: pipeline.DefaultTopics(), addrs: []string{addr}}
	cfg := e.config("late-broker")
	logs := &syncBuffer{}
	k, err := sink.NewKafka(sink.KafkaConfigFrom(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close(5 * time.Second) })
	p, err := pipeline.NewProcessor(cfg, pipeline.Options{Sink: k, Clock: newClock(t0).now,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, "a log line saying the brokers cannot be reached", func() bool {
		return strings.Contains(logs.String(), "cannot reach the Kafka brokers")
	})
	if p.Ready() {
		t.Fatal("ready without a broker")
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while waiting for the broker", err)
	default:
	}

	topics := pipeline.DefaultTopics()
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(2,
		topics.CarPings, topics.CourierPings, topics.Windows, topics.Routes, topics.Events, topics.DLQ, topics.State))
	if err != nil {
		t.Fatalf("cannot start the broker on the reserved port %d: %v", port, err)
	}
	t.Cleanup(c.Close)
	waitFor(t, "ready once the broker is up", p.Ready)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	done <- nil
}

// TestProcessorSurvivesHugeRecord: a car ping larger than the producer's
// batch limit is dead-lettered with its value cut (value-truncated header),
// not retried forever as a produce failure that stops the processor.
func TestProcessorSurvivesHugeRecord(t *testing.T) {
	e := newEnv(t, 1)
	big, err := kgo.NewClient(kgo.SeedBrokers(e.addrs...), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(big.Close)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	huge := append([]byte(`{"vin":"`), bytes.Repeat([]byte("A"), 1_100_000)...)
	if err := big.ProduceSync(ctx, rec(e.topics.CarPings, "WAUZZZ4G0FN000001", huge)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.produce(rec(e.topics.CarPings, "WAUZZZ4G0FN000002", parkedPing("WAUZZZ4G0FN000002", t0)))

	cfg := e.config("huge")
	r := e.start(cfg, newClock(t0))
	dlq := e.reader(e.topics.DLQ).until("the dead letter", func(rs []*kgo.Record) bool { return len(rs) == 1 })
	if got := header(dlq[0], sink.HeaderValueTruncated); got != fmt.Sprint(len(huge)) {
		t.Errorf("value-truncated header %q, want %d", got, len(huge))
	}
	if len(dlq[0].Value) != cfg.MaxRecordBytes {
		t.Errorf("dead letter value has %d bytes, want %d", len(dlq[0].Value), cfg.MaxRecordBytes)
	}
	waitFor(t, "both records consumed", func() bool { return r.p.Snapshot().CarPings.Consumed == 2 })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("processor stopped with %v", err)
	}
	s := r.p.Snapshot()
	checkInvariant(t, s)
	if s.CarPings.DeadLetteredFor(pipeline.DLQOversized) != 1 || s.CarPings.FilteredBy[pipeline.FilterNoWindow] != 1 {
		t.Errorf("car pings %+v", s.CarPings)
	}
	e.checkCommitted("huge", e.topics.CarPings)
}

// TestProcessorWindowChangesPartition: dispatch moves a window to a car of
// another partition. The old owner stops tracking the old car without
// cancelling the window; the new owner tracks the new car; no event id
// repeats.
func TestProcessorWindowChangesPartition(t *testing.T) {
	e := newEnv(t, 2)
	p := pipeline.PartitionerMurmur2
	vin1 := "WAUZZZ4G0FN000001"
	var vin2 string
	for i := 2; vin2 == ""; i++ {
		if v := fmt.Sprintf("WAUZZZ4G0FN%06d", i); p.Partition([]byte(v), 2) != p.Partition([]byte(vin1), 2) {
			vin2 = v
		}
	}
	clk := newClock(t0)
	e.produce(rec(e.topics.Windows, "W-1", window("W-1", vin1)))
	r := e.start(e.config("handoff"), clk)
	waitFor(t, "ready", r.p.Ready)
	events := e.reader(e.topics.Events)
	e.produce(rec(e.topics.CarPings, vin1, parkedPing(vin1, t0)))
	events.until("car_parked", hasType("car_parked"))

	e.produce(rec(e.topics.Windows, "W-1", window("W-1", vin2)))
	events.until("tracking_stopped", hasType("tracking_stopped"))
	e.produce(rec(e.topics.CarPings, vin2, parkedPing(vin2, t0.Add(time.Second))))
	recs := events.until("the new car parked", func(rs []*kgo.Record) bool {
		n := 0
		for _, r := range rs {
			if eventType(r) == "car_parked" {
				n++
			}
		}
		return n == 2
	})
	var types []string
	ids := map[string]bool{}
	for _, r := range recs {
		types = append(types, eventType(r))
		id := header(r, sink.HeaderID)
		if ids[id] {
			t.Errorf("event id %s repeats", id)
		}
		ids[id] = true
	}
	want := "tracking_started car_located car_parked tracking_stopped tracking_started car_located car_parked"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("events\n got: %s\nwant: %s", got, want)
	}
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
}

// blockSink blocks every call until ctx is done, as the Sink contract
// allows and as a Kafka producer does when its buffer is full and the
// brokers are down.
type blockSink struct {
	called chan struct{}
	once   sync.Once
}

func (s *blockSink) block(ctx context.Context, ack func(error)) {
	s.once.Do(func() { close(s.called) })
	<-ctx.Done()
	ack(ctx.Err())
}
func (s *blockSink) Event(ctx context.Context, _ *pipeline.Event, ack func(error)) { s.block(ctx, ack) }
func (s *blockSink) DeadLetter(ctx context.Context, _ *kgo.Record, _ error, ack func(error)) {
	s.block(ctx, ack)
}
func (s *blockSink) Flush(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// TestProcessorStopsWhileSinkBlocks: a stop gives up on a sink that cannot
// take records once shutdown_timeout has passed, instead of hanging.
func TestProcessorStopsWhileSinkBlocks(t *testing.T) {
	e := newEnv(t, 1)
	const vin = "WAUZZZ4G0FN000001"
	e.produce(rec(e.topics.Windows, "W-1", window("W-1", vin)), rec(e.topics.CarPings, vin, parkedPing(vin, t0)))
	cfg := e.config("blocked-stop")
	cfg.ShutdownTimeout = time.Second
	snk := &blockSink{called: make(chan struct{})}
	p, err := pipeline.NewProcessor(cfg, pipeline.Options{Sink: snk, Clock: newClock(t0).now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-snk.called:
	case <-time.After(testDeadline):
		t.Fatal("the sink was never called")
	}
	cancel()
	select {
	case err := <-done:
		t.Logf("Run returned %v", err)
	case <-time.After(testDeadline):
		t.Fatalf("Run did not return within %v of cancel (shutdown_timeout %v)", testDeadline, cfg.ShutdownTimeout)
	}
}

// TestProcessorProduceTimeoutWhileSinkBlocks: a worker blocked in a sink
// call fails the processor once produce_timeout passes, with an error that
// says what to check, instead of waiting forever.
func TestProcessorProduceTimeoutWhileSinkBlocks(t *testing.T) {
	e := newEnv(t, 1)
	const vin = "WAUZZZ4G0FN000001"
	e.produce(rec(e.topics.Windows, "W-1", window("W-1", vin)), rec(e.topics.CarPings, vin, parkedPing(vin, t0)))
	cfg := e.config("blocked-timeout")
	cfg.ProduceTimeout = 200 * time.Millisecond
	cfg.ShutdownTimeout = time.Second
	snk := &blockSink{called: make(chan struct{})}
	p, err := pipeline.NewProcessor(cfg, pipeline.Options{Sink: snk, Clock: newClock(t0).now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "produce_timeout") {
			t.Errorf("Run returned %v, want the produce_timeout failure", err)
		}
	case <-time.After(testDeadline):
		t.Fatalf("produce_timeout %v never fired: the worker is stuck in the sink", cfg.ProduceTimeout)
	}
}

// TestProcessorPartitionGrowth: partitions added to the car-pings topic
// move some cars to other partitions, also between partitions whose
// workers already run; their windows follow them.
func TestProcessorPartitionGrowth(t *testing.T) {
	e := newEnv(t, 2)
	p := pipeline.PartitionerMurmur2
	vin := ""
	for i := 0; vin == ""; i++ {
		v := fmt.Sprintf("WAUZZZ4G0FN%06d", i)
		if a, b := p.Partition([]byte(v), 2), p.Partition([]byte(v), 3); a != b && b < 2 {
			vin = v
		}
	}
	e.produce(rec(e.topics.Windows, "W-1", window("W-1", vin)))
	cfg := e.config("grow")
	k, err := sink.NewKafka(sink.KafkaConfigFrom(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close(5 * time.Second) })
	tp := &tap{}
	proc, err := pipeline.NewProcessor(cfg, pipeline.Options{Sink: sink.Tee(k, tp), Clock: newClock(t0).now,
		ClientOpts: []kgo.Opt{kgo.MetadataMaxAge(time.Second), kgo.MetadataMinAge(100 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "two partitions", func() bool { s := proc.Snapshot(); return s.Ready && s.Partitions == 2 })
	actx, acancel := context.WithTimeout(context.Background(), testDeadline)
	defer acancel()
	if _, err := e.adm.CreatePartitions(actx, 1, e.topics.CarPings); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three partitions", func() bool { s := proc.Snapshot(); return s.Ready && s.Partitions == 3 })

	manual, err := kgo.NewClient(kgo.SeedBrokers(e.addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(manual.Close)
	r := rec(e.topics.CarPings, vin, parkedPing(vin, t0))
	r.Partition = p.Partition([]byte(vin), 3)
	if err := manual.ProduceSync(actx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ping counted", func() bool { return proc.Snapshot().CarPings.Consumed == 1 })
	if s := proc.Snapshot().CarPings; s.Applied != 1 {
		t.Errorf("the car's ping on its new partition %d was not applied: %+v", r.Partition, s)
	}
}
