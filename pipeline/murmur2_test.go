package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMurmur2KafkaVectors(t *testing.T) {
	// The vectors of Kafka's UtilsTest.testMurmur2 (Java ints).
	for _, tc := range []struct {
		key  []byte
		want int32
	}{
		{[]byte("21"), -973932308},
		{[]byte("foobar"), -790332482},
		{[]byte("a-little-bit-long-string"), -985981536},
		{[]byte("a-little-bit-longer-string"), -1486304829},
		{[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971},
		{[]byte{'a', 'b', 'c'}, 479470107},
	} {
		if got := int32(murmur2(tc.key)); got != tc.want {
			t.Errorf("murmur2(%q) = %d, want %d", tc.key, got, tc.want)
		}
		if got := int32(murmur2(string(tc.key))); got != tc.want {
			t.Errorf("murmur2(string %q) = %d, want %d", tc.key, got, tc.want)
		}
	}
}

// testKeys returns n distinct VIN-like keys of every length from 0 to 20 bytes
// and beyond, so every tail case of the hash is covered.
func testKeys(n int) []string {
	keys := make([]string, 0, n+21)
	for l := 0; l <= 20; l++ {
		b := make([]byte, l)
		for i := range b {
			b[i] = byte(0x80 + 7*i + l) // high bytes: Java's signed bytes must not leak
		}
		keys = append(keys, string(b))
	}
	for i := 0; i < n; i++ {
		keys = append(keys, fmt.Sprintf("WAUZZZ4G0FN%06d", i))
	}
	return keys
}

func TestKeyPartitionMatchesFranzGo(t *testing.T) {
	tp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int{1, 2, 3, 4, 6, 12, 64, 1000} {
		for _, k := range testKeys(500) {
			want := tp.Partition(&kgo.Record{Key: []byte(k)}, n)
			if got := keyPartition(k, int32(n)); int(got) != want {
				t.Fatalf("keyPartition(%q, %d) = %d, franz-go says %d", k, n, got, want)
			}
		}
	}
}

// TestKeyPartitionMatchesBroker produces keyed records through a client with
// the default partitioner to a loopback broker and checks that every record
// lands in the partition keyPartition predicts.
func TestKeyPartitionMatchesBroker(t *testing.T) {
	const parts = 7
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, "cars"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("cars"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	keys := testKeys(200)
	recs := make([]*kgo.Record, len(keys))
	for i, k := range keys {
		recs[i] = &kgo.Record{Key: []byte(k), Value: []byte("x")}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if want := keyPartition(r.Key, parts); r.Partition != want {
			t.Errorf("key %q landed in partition %d, keyPartition says %d", r.Key, r.Partition, want)
		}
	}
}
