package pipeline

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicBatchMetricsAllocs: counting a fetched or produced batch
// allocates nothing once its topic has been seen, and counts by topic.
func TestTopicBatchMetricsAllocs(t *testing.T) {
	m := newTopicBatchMetrics(&lenientRegisterer{reg: prometheus.NewRegistry()}, "c")
	var meta kgo.BrokerMetadata
	fetch := kgo.FetchBatchMetrics{NumRecords: 2, UncompressedBytes: 100}
	produce := kgo.ProduceBatchMetrics{NumRecords: 3, UncompressedBytes: 50}
	for _, topic := range []string{"a", "b"} {
		m.OnFetchBatchRead(meta, topic, 0, fetch)
		m.OnProduceBatchWritten(meta, topic, 0, produce)
	}
	if n := testing.AllocsPerRun(100, func() {
		m.OnFetchBatchRead(meta, "a", 0, fetch)
		m.OnProduceBatchWritten(meta, "b", 0, produce)
	}); n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
	const runs = 1 + 101 // the first call, then AllocsPerRun's warm-up and 100 runs
	for _, tc := range []struct {
		vec   *prometheus.CounterVec
		topic string
		want  float64
	}{
		{m.fetchRecords, "a", 2 * runs},
		{m.fetchRecords, "b", 2},
		{m.fetchBytes, "a", 100 * runs},
		{m.prodRecords, "a", 3},
		{m.prodRecords, "b", 3 * runs},
		{m.prodBytes, "b", 50 * runs},
	} {
		var out dto.Metric
		if err := tc.vec.WithLabelValues(tc.topic).Write(&out); err != nil {
			t.Fatal(err)
		}
		if got := out.GetCounter().GetValue(); got != tc.want {
			t.Errorf("topic %q: %v, want %v", tc.topic, got, tc.want)
		}
	}
}
