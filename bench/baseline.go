package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/geo"
	"github.com/trunkline/trunkline/pipeline"
)

// The baselines read the same car-pings topic from the same broker as the
// processor, in a consumer group of their own, with the client settings of
// the processor's group consumer (franz-go defaults, a 1 s fetch wait and
// polls of up to MaxPollRecords records):
//
//   - bare reads and discards: the most any consumer of this topic can do
//     on this machine and broker;
//   - decode-h3 decodes each ping (pipeline.DecodeCarPing) and computes its
//     H3 cell at the engine's resolution (geo.Cell), one goroutine per
//     partition as in the processor: the least per-ping work a processor
//     that indexes every fix must do.

// baselineClient returns the group consumer of a baseline job.
func baselineClient(j job) (*kgo.Client, error) {
	cfg := pipeline.DefaultConfig()
	opts := []kgo.Opt{
		kgo.SeedBrokers(j.Brokers...),
		kgo.ClientID("trunkline-bench-" + j.Role),
		kgo.ConsumerGroup(j.Group),
		kgo.ConsumeTopics(cfg.Topics.CarPings),
		kgo.FetchMaxWait(j.Overrides.fetchMaxWait(cfg)),
	}
	if n := j.Overrides.FetchMaxPartitionBytes; n > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(n))
	}
	return kgo.NewClient(opts...)
}

// runBaselineJob consumes j.Expect car-ping records (or until ctx is done
// when Expect is 0) and reports the time it took.
func runBaselineJob(ctx context.Context, j job, report func(jobMsg)) (*jobResult, error) {
	stopProfile, err := startProfile(j)
	if err != nil {
		return nil, err
	}
	defer stopProfile()
	start, cpu0 := time.Now(), cpuTime()
	cl, err := baselineClient(j)
	if err != nil {
		return nil, fmt.Errorf("cannot create the consumer: %w", err)
	}
	defer cl.Close()

	var h3 *decodeH3
	if j.Role == roleDecodeH3 {
		h3 = newDecodeH3()
		defer h3.stop()
	}
	maxPoll := pipeline.DefaultConfig().MaxPollRecords
	if n := j.Overrides.MaxPollRecords; n > 0 {
		maxPoll = n
	}
	var polled int64
	lastProgress := start
	ready := false
	for {
		if j.Expect > 0 && polled >= j.Expect {
			break
		}
		fs := cl.PollRecords(ctx, maxPoll)
		if fs.IsClientClosed() || ctx.Err() != nil {
			if j.Expect > 0 {
				return nil, errors.New("stopped before it was done")
			}
			break
		}
		var ferr error
		fs.EachError(func(topic string, part int32, err error) {
			ferr = fmt.Errorf("cannot consume %s partition %d: %w", topic, part, err)
		})
		if ferr != nil {
			return nil, ferr
		}
		if !ready && fs.NumRecords() > 0 {
			ready = true
			report(jobMsg{Kind: "ready"})
		}
		if h3 == nil {
			polled += int64(fs.NumRecords())
		} else {
			fs.EachPartition(func(fp kgo.FetchTopicPartition) {
				if len(fp.Records) > 0 {
					polled += int64(len(fp.Records))
					h3.enqueue(fp.Partition, fp.Records)
				}
			})
		}
		if now := time.Now(); now.Sub(lastProgress) >= progressEvery {
			lastProgress = now
			report(jobMsg{Kind: "progress", Progress: counts(uint64(polled), 0, 0, cpu0)})
		}
	}
	res := &jobResult{Role: j.Role, Consumed: uint64(polled)}
	if h3 != nil {
		h3.wait(polled)
		res.Consumed, res.DeadLettered, res.Checksum = h3.done.Load(), h3.bad.Load(), h3.sum.Load()
	}
	res.Elapsed, res.CPU = time.Since(start), cpuTime()-cpu0
	return res, nil
}

// decodeH3 is the work of the decode-h3 baseline: one goroutine per
// partition decodes each ping and computes its cell.
type decodeH3 struct {
	mu      sync.Mutex
	workers map[int32]chan []*kgo.Record
	wg      sync.WaitGroup
	done    atomic.Uint64 // records processed
	bad     atomic.Uint64 // records that did not decode
	sum     atomic.Int64  // sum of the cells, so the work cannot be optimised away
	signal  chan struct{}
}

func newDecodeH3() *decodeH3 {
	return &decodeH3{workers: make(map[int32]chan []*kgo.Record), signal: make(chan struct{}, 1)}
}

func (d *decodeH3) enqueue(part int32, recs []*kgo.Record) {
	d.mu.Lock()
	ch := d.workers[part]
	if ch == nil {
		ch = make(chan []*kgo.Record, recordsQueueBaseline)
		d.workers[part] = ch
		d.wg.Add(1)
		go d.work(ch)
	}
	d.mu.Unlock()
	ch <- recs
}

// recordsQueueBaseline is how many polled batches a partition's goroutine
// may hold, as in the processor.
const recordsQueueBaseline = 64

func (d *decodeH3) work(ch chan []*kgo.Record) {
	defer d.wg.Done()
	res := pipeline.DefaultEngineConfig().H3Resolution
	var p pipeline.CarPing
	for recs := range ch {
		var sum int64
		var bad uint64
		for _, r := range recs {
			if err := pipeline.DecodeCarPing(&p, r.Value); err != nil {
				bad++
				continue
			}
			sum += geo.Cell(p.Lat, p.Lng, res)
		}
		d.sum.Add(sum)
		d.bad.Add(bad)
		d.done.Add(uint64(len(recs)))
		select {
		case d.signal <- struct{}{}:
		default:
		}
	}
}

// wait blocks until n records are processed.
func (d *decodeH3) wait(n int64) {
	for int64(d.done.Load()) < n {
		<-d.signal
	}
}

func (d *decodeH3) stop() {
	d.mu.Lock()
	for _, ch := range d.workers {
		close(ch)
	}
	d.workers = nil
	d.mu.Unlock()
	d.wg.Wait()
}

// relayTopic is where the relay baseline of the live scenario writes: the
// car pings it consumed, unchanged, with as many partitions as the events
// topic.
const relayTopic = "trunkline-bench.relay"

// runRelayJob is the relay baseline of the live scenario: a group consumer
// of the car pings, with the processor's client settings (a 1 s fetch
// wait, polls of up to MaxPollRecords), that produces every record it reads
// to relayTopic, key, value and timestamp unchanged, through a producer
// with the sink's settings (the default produce_linger, franz-go's default
// compression). Its latency, ping produced to relayed record read back, is
// what the broker, the clients and the machine cost with no processing at
// all: the floor under the processor's figure. It runs until ctx is done;
// it is ready once its partitions are assigned (on a broker of its own, so
// it reads every ping from the first).
func runRelayJob(ctx context.Context, j job, report func(jobMsg)) (*jobResult, error) {
	start, cpu0 := time.Now(), cpuTime()
	cfg := pipeline.DefaultConfig()
	linger := cfg.ProduceLinger
	if l := j.Overrides.ProduceLinger; l != nil {
		linger = *l
	}
	var assigned atomic.Bool
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(j.Brokers...),
		kgo.ClientID("trunkline-bench-relay"),
		kgo.ConsumerGroup(j.Group),
		kgo.ConsumeTopics(cfg.Topics.CarPings),
		kgo.FetchMaxWait(j.Overrides.fetchMaxWait(cfg)),
		kgo.FetchMaxPartitionBytes(j.Overrides.fetchMaxPartitionBytes(cfg)),
		kgo.FetchMinBytes(j.Overrides.fetchMinBytes(cfg)),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { assigned.Store(true) }),
		kgo.ProducerLinger(linger),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot create the relay client: %w", err)
	}
	defer cl.Close()
	maxPoll := cfg.MaxPollRecords
	if n := j.Overrides.MaxPollRecords; n > 0 {
		maxPoll = n
	}
	pctx := context.WithoutCancel(ctx) // what was read is relayed, even while stopping
	var relayed, failed atomic.Int64
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	ready := false
	lastProgress := start
	for ctx.Err() == nil {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if !ready { // wake up to report readiness even with nothing to read
			wctx, cancel = context.WithTimeout(ctx, 10*time.Millisecond)
		}
		fs := cl.PollRecords(wctx, maxPoll)
		cancel()
		if fs.IsClientClosed() {
			break
		}
		if !ready && assigned.Load() {
			ready = true
			report(jobMsg{Kind: "ready"})
		}
		fs.EachRecord(func(r *kgo.Record) {
			cl.Produce(pctx, &kgo.Record{Topic: relayTopic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}, promise)
			relayed.Add(1)
		})
		if now := time.Now(); now.Sub(lastProgress) >= progressEvery {
			lastProgress = now
			report(jobMsg{Kind: "progress", Progress: counts(uint64(relayed.Load()), 0, 0, cpu0)})
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		return nil, fmt.Errorf("relay: cannot flush: %w", err)
	}
	if n := failed.Load(); n > 0 {
		return nil, fmt.Errorf("relay: %d records could not be produced", n)
	}
	n := uint64(relayed.Load())
	return &jobResult{Role: j.Role, Consumed: n, Emitted: n, Acked: n, Elapsed: time.Since(start), CPU: cpuTime() - cpu0}, nil
}
