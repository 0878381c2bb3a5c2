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
		kgo.FetchMaxWait(time.Second),
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
			report(jobMsg{Kind: "progress", Progress: jobCounts{Consumed: uint64(polled), CPU: cpuTime() - cpu0}})
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
