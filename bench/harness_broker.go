package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

// harnessBroker is the embedded Kafka-protocol broker (kfake) a scenario
// runs against: one node on a loopback port, with the contract's topics.
// Each scenario starts a broker of its own and closes it at the end, so
// the records of one scenario never weigh on the next.
type harnessBroker struct {
	cluster *kfake.Cluster
	addr    string
	topics  pipeline.Topics
	adm     *kadm.Client
	admCl   *kgo.Client
	dir     string // the broker's data directory, removed on Close; "" in memory
}

// memSegmentBytes is the broker's log.segment.bytes when it keeps its log
// in memory. The embedded broker then keeps each partition's active segment
// as one growing slice and writes to it from the goroutine that serves every
// request: at its default of 100 MiB, each doubling of that slice copies
// tens of MiB into fresh memory and holds up every client meanwhile. With
// 1 MiB segments the live relay baseline's p99 at 100 K pings/s fell from 30
// to 10 ms and the city mix went from 1.40 to 1.64-1.70 M pings/s
// (NOTES.md).
const memSegmentBytes = 1 << 20

// fileSegmentBytes is the broker's log.segment.bytes when it keeps its log
// in files: appends cost nothing more as a segment grows, and a live run's
// 12 GB of records stay within a thousand open files.
const fileSegmentBytes = 16 << 20

// DefaultBrokerDir returns where the live scenario's brokers keep their
// logs: /dev/shm, a file system in memory, when this machine has one that
// can be written, else "" (the broker's own memory). A steady stream of
// small batches costs the broker far less in files than in its in-memory
// log, whose segments grow by doubling on the goroutine that serves every
// client (NOTES.md).
func DefaultBrokerDir() string {
	const shm = "/dev/shm"
	d, err := os.MkdirTemp(shm, "trunkline-bench-probe-")
	if err != nil {
		return ""
	}
	os.Remove(d)
	return shm
}

// startHarnessBroker starts a broker on 127.0.0.1 and creates the topics:
// car pings, events and state with partitions partitions, the broadcast
// topics and the DLQ with one (as `trunkline broker` does), and the live
// scenario's relay topic. With dir set, the broker keeps its log in files
// in a directory of its own under dir, removed on Close; else in memory.
func startHarnessBroker(ctx context.Context, partitions int, dir string) (*harnessBroker, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, "127.0.0.1:0")
		}),
		kfake.DefaultNumPartitions(partitions),
	}
	segment, data := memSegmentBytes, ""
	if dir != "" {
		var err error
		if data, err = os.MkdirTemp(dir, "trunkline-bench-broker-"); err != nil {
			return nil, fmt.Errorf("cannot make the broker's data directory: %w", err)
		}
		segment = fileSegmentBytes
		opts = append(opts, kfake.DataDir(data))
	}
	opts = append(opts, kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(segment)}))
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		removeDir(data)
		return nil, fmt.Errorf("cannot start the broker: %w", err)
	}
	b := &harnessBroker{cluster: cluster, addr: cluster.ListenAddrs()[0], topics: pipeline.DefaultTopics(), dir: data}
	b.admCl, err = kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ClientID("trunkline-bench-admin"))
	if err != nil {
		cluster.Close()
		removeDir(data)
		return nil, fmt.Errorf("cannot create the admin client: %w", err)
	}
	b.adm = kadm.NewClient(b.admCl)
	t := b.topics
	n := int32(partitions)
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for _, s := range []struct {
		name    string
		parts   int32
		configs map[string]*string
	}{
		{t.CarPings, n, nil}, {t.CourierPings, 1, nil}, {t.Windows, 1, compact}, {t.Routes, 1, compact},
		{t.Events, n, nil}, {t.DLQ, 1, nil}, {t.State, n, compact}, {relayTopic, n, nil},
	} {
		if _, err := b.adm.CreateTopic(ctx, s.parts, 1, s.configs, s.name); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			b.Close()
			return nil, fmt.Errorf("cannot create topic %s: %w", s.name, err)
		}
	}
	return b, nil
}

// Close stops the broker and drops its records.
func (b *harnessBroker) Close() {
	b.admCl.Close()
	b.cluster.Close()
	removeDir(b.dir)
}

func removeDir(dir string) {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// endOffsets returns the sum over topic's partitions of the high watermark:
// the number of records ever written to it (nothing is deleted during a
// scenario).
func (b *harnessBroker) endOffsets(ctx context.Context, topic string) (int64, error) {
	ends, err := b.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("cannot list the end offsets of %s: %w", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, nil
}
