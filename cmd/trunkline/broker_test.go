package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testBroker starts the embedded broker on a free loopback port with topics
// of 3 partitions; it is closed when the test ends.
func testBroker(ctx context.Context, t *testing.T, topics pipeline.Topics) *embeddedBroker {
	t.Helper()
	b, err := startBroker(ctx, BrokerConfig{Listen: "127.0.0.1:0", Partitions: 3}, topics, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// testClient is a franz-go client of the broker at addr, closed when the
// test ends.
func testClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestBrokerCreatesTopics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := pipeline.DefaultTopics()
	b := testBroker(ctx, t, topics)
	cl := testClient(t, b.Addr())
	adm := kadm.NewClient(cl)

	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic      string
		partitions int
		policy     string
	}{
		{topics.CarPings, 3, "delete"},
		{topics.CourierPings, 1, "delete"},
		{topics.Windows, 1, "compact"},
		{topics.Routes, 1, "compact"},
		{topics.Events, 3, "delete"},
		{topics.DLQ, 1, "delete"},
		{topics.State, 3, "compact"},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			d, ok := details[tt.topic]
			if !ok {
				t.Fatalf("topic %s not created; have %v", tt.topic, details.Names())
			}
			if got := len(d.Partitions); got != tt.partitions {
				t.Errorf("partitions = %d, want %d", got, tt.partitions)
			}
			rc, err := adm.DescribeTopicConfigs(ctx, tt.topic)
			if err != nil {
				t.Fatal(err)
			}
			r, err := rc.On(tt.topic, nil)
			if err != nil {
				t.Fatal(err)
			}
			var policy string
			for _, c := range r.Configs {
				if c.Key == "cleanup.policy" {
					policy = c.MaybeValue()
				}
			}
			if policy != tt.policy {
				t.Errorf("cleanup.policy = %q, want %q", policy, tt.policy)
			}
		})
	}

	// In memory, the broker keeps small segments.
	bc, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var segment string
	for _, rc := range bc {
		for _, c := range rc.Configs {
			if c.Key == "log.segment.bytes" {
				segment = c.MaybeValue()
			}
		}
	}
	if want := strconv.Itoa(memSegmentBytes); segment != want {
		t.Errorf("log.segment.bytes = %q, want %q", segment, want)
	}

	// A second start against the same broker creates nothing and fails
	// nothing: creating topics is idempotent.
	created, err := createTopics(ctx, b.Addr(), defaultTopicSpecs(topics, 3))
	if err != nil || len(created) != 0 {
		t.Fatalf("createTopics on existing topics = %v, %v; want none, nil", created, err)
	}

	// Real clients produce and consume.
	want := produceRecords(t, ctx, b.Addr(), topics.CarPings, 20)
	if got := consumeRecords(t, ctx, b.Addr(), topics.CarPings, len(want)); !slices.Equal(got, want) {
		t.Fatalf("consumed %v, want %v", got, want)
	}
}

// TestBrokerRollsSegments checks that records spanning many of the in-memory
// broker's small segments are all read back, in order, by a real client.
func TestBrokerRollsSegments(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := pipeline.DefaultTopics()
	b := testBroker(ctx, t, topics)
	const n, size = 400, 16 << 10 // 6.25 MiB: several segments
	cl := testClient(t, b.Addr(), kgo.DefaultProduceTopic(topics.DLQ), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := range n {
		v := []byte(strings.Repeat(string(rune('a'+i%26)), size))
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: v}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	rd := testClient(t, b.Addr(), kgo.ConsumeTopics(topics.DLQ), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for next := 0; next < n; {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", next, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) != strconv.Itoa(next) || r.Offset != int64(next) || len(r.Value) != size || r.Value[size-1] != byte('a'+next%26) {
				t.Fatalf("record %d: key %q offset %d, %d bytes", next, r.Key, r.Offset, len(r.Value))
			}
			next++
		})
	}
}

// produceRecords produces n keyed records to topic and returns them as
// "key=value" strings, sorted.
func produceRecords(t *testing.T, ctx context.Context, addr, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	var rs []*kgo.Record
	for i := range n {
		k, v := fmt.Sprintf("VIN%03d", i), fmt.Sprintf(`{"i":%d}`, i)
		rs = append(rs, &kgo.Record{Key: []byte(k), Value: []byte(v)})
		out = append(out, k+"="+v)
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	slices.Sort(out)
	return out
}

// consumeRecords reads n records of topic from the start and returns them
// as "key=value" strings, sorted.
func consumeRecords(t *testing.T, ctx context.Context, addr, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Key)+"="+string(r.Value)) })
	}
	slices.Sort(out)
	return out
}

// httpGet returns the status code and body of a GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestBrokerKeepsDataAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	topic := pipeline.DefaultTopics().CarPings

	start := func() (p *proc, addr, httpAddr string) {
		p = startProc(t, nil, "broker", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", dir, "--partitions", "2")
		addr = p.waitOut(t, `^broker listening on (\S+)$`, 20*time.Second)[1]
		httpAddr = p.waitErr(t, `msg="http listening" addr=(\S+)`, 20*time.Second)[1]
		return p, addr, httpAddr
	}

	p, addr, httpAddr := start()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := httpGet(t, "http://"+httpAddr+path); code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, code)
		}
	}
	if code, body := httpGet(t, "http://"+httpAddr+"/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("GET /metrics = %d without go_goroutines", code)
	}
	want := produceRecords(t, ctx, addr, topic, 30)
	if code := p.interrupt(t, 5*time.Second); code != exitOK {
		t.Fatalf("first run exit code %d, want 0\nstderr:\n%s", code, p.stderr)
	}

	p, addr, _ = start()
	if got := consumeRecords(t, ctx, addr, topic, len(want)); !slices.Equal(got, want) {
		t.Fatalf("after restart consumed %v, want %v", got, want)
	}
	if code := p.interrupt(t, 5*time.Second); code != exitOK {
		t.Fatalf("second run exit code %d, want 0\nstderr:\n%s", code, p.stderr)
	}
}
