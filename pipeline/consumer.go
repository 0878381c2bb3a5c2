package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumer is the consumer-group side of a Processor: the group client of
// the car-pings topic, its poll loop and its rebalance callbacks, one
// worker per assigned partition. The group client blocks rebalances while
// the poll loop hands out a poll (BlockRebalanceOnPoll), so the callbacks
// never run while records of a revoked partition are being handed over.
type consumer struct {
	p   *Processor
	r   *router
	adm *kadm.Client // for the partition count of the car-pings topic
	cl  *kgo.Client  // used by Run's goroutine only: the callbacks get theirs

	mu      sync.Mutex // guards workers, nparts and closing
	workers map[int32]*worker
	nparts  int32
	closing bool // no new workers: the processor is stopping

	wg sync.WaitGroup // worker goroutines
}

func newConsumer(p *Processor, r *router, adm *kadm.Client, nparts int32) (*consumer, error) {
	c := &consumer{p: p, r: r, adm: adm, workers: make(map[int32]*worker), nparts: nparts}
	cfg := &p.cfg
	cl, err := kgo.NewClient(p.kafkaOpts(clientConsumer,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics.CarPings),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(cfg.CommitInterval),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
		kgo.FetchMaxWait(cfg.FetchMaxWait),
		kgo.FetchMinBytes(cfg.FetchMinBytes),
		kgo.FetchMaxPartitionBytes(cfg.FetchMaxPartitionBytes),
		kgo.WithPools(p.records),
	)...)
	if err != nil {
		return nil, fmt.Errorf("cannot create the consumer group client: %w", err)
	}
	c.cl = cl
	return c, nil
}

// poll is the poll loop: it hands each partition's records to its worker
// until ctx is done. It returns a fatal error, or nil when ctx is done.
func (c *consumer) poll(ctx context.Context) error {
	var logErr limiter
	max := c.p.cfg.MaxPollRecords
	var full []*worker // to pause once the client holds none of their records
	for {
		fs := c.cl.PollRecords(ctx, max)
		if fs.IsClientClosed() || ctx.Err() != nil {
			c.cl.AllowRebalance()
			return nil
		}
		var fatal error
		fs.EachError(func(topic string, part int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			if isFatal(err) {
				fatal = fmt.Errorf("cannot consume %s partition %d: %w", topic, part, err)
				return
			}
			if logErr.allow(c.p.now()) {
				c.p.log.Warn("fetch error, retrying (further ones are logged at most every 10s)", "topic", topic, "partition", part, "err", err)
			}
		})
		if fatal != nil {
			c.cl.AllowRebalance()
			return fatal
		}
		c.mu.Lock()
		workers := c.workers
		c.mu.Unlock()
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			w := workers[fp.Partition]
			if w == nil {
				return
			}
			if fp.Err == nil {
				w.highWater.Store(fp.HighWatermark)
			}
			if len(fp.Records) == 0 {
				if fp.Err == nil {
					// Fetched with nothing to read: caught up, unless
					// the worker has processed records already.
					w.next.CompareAndSwap(-1, fp.HighWatermark)
				}
				return
			}
			if w.enqueue(ctx.Done(), fp.Records) {
				full = append(full, w)
			}
		})
		// A poll that returned fewer records than it asked for took every
		// record the client had fetched: pausing now drops nothing.
		if len(full) > 0 && fs.NumRecords() < max {
			for _, w := range full {
				w.pauseIfFull()
			}
			clear(full)
			full = full[:0]
		}
		c.cl.AllowRebalance()
	}
}

// isFatal reports whether a fetch error cannot heal by retrying: the client
// is not allowed to read the topic or join the group.
func isFatal(err error) bool {
	for _, e := range []error{kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed,
		kerr.ClusterAuthorizationFailed, kerr.SaslAuthenticationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// assigned starts a worker for each newly assigned partition and asks the
// router to hand it its snapshot. It is called after every join, possibly
// with nothing new.
func (c *consumer) assigned(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	parts := m[c.p.cfg.Topics.CarPings]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	// Every rebalance may follow a change of the partition count (adding
	// partitions triggers one): read it, and let the router re-home the
	// windows whose cars now hash elsewhere before any new worker starts.
	if old := c.nparts; c.refreshPartitions(ctx) > 0 && c.nparts != old {
		select {
		case c.r.ctl <- routerCtl{nparts: c.nparts}:
		case <-c.p.routerDone:
		}
	}
	workers := make(map[int32]*worker, len(c.workers)+len(parts))
	for part, w := range c.workers {
		workers[part] = w
	}
	for _, part := range parts {
		w := newWorker(c.p, cl, part) // cl: the callbacks may run before NewClient returns
		workers[part] = w
		c.wg.Add(1)
		c.p.counters.partitions.Add(1)
		c.p.workers.add(w)
		go func() {
			defer c.wg.Done()
			defer c.p.counters.partitions.Add(-1)
			defer c.p.workers.remove(w)
			w.run()
		}()
		select {
		case c.r.ctl <- routerCtl{register: w}:
		case <-c.p.routerDone:
		}
	}
	c.workers = workers
	c.p.joined.Store(true)
	if len(parts) > 0 {
		c.p.counters.rebalances.Add(1)
		c.p.log.Info("partitions assigned", "topic", c.p.cfg.Topics.CarPings, "partitions", parts)
	}
}

// refreshPartitions reads the car-pings partition count from metadata,
// keeping the known one if that fails. c.mu is held.
func (c *consumer) refreshPartitions(ctx context.Context) int32 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := partitionCount(ctx, c.adm, c.p.cfg.Topics.CarPings)
	if err != nil {
		c.p.log.Warn("cannot refresh the partition count", "topic", c.p.cfg.Topics.CarPings, "err", err)
		return 0
	}
	c.nparts = n
	return n
}

// revoked stops the workers of the revoked partitions, waits for them (and
// so for the acknowledgements of what they emitted), and commits, all within
// ShutdownTimeout.
func (c *consumer) revoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	ctx, cancel := context.WithTimeout(ctx, c.p.cfg.ShutdownTimeout)
	defer cancel()
	parts := m[c.p.cfg.Topics.CarPings]
	c.stopWorkers(parts, false, ackWait(ctx))
	if len(parts) > 0 {
		c.p.counters.rebalances.Add(1)
		c.p.log.Info("partitions revoked", "topic", c.p.cfg.Topics.CarPings, "partitions", parts)
	}
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		c.p.log.Warn("cannot commit offsets of revoked partitions; their new owner processes some records again", "err", err)
	}
}

// lost stops the workers of lost partitions without waiting for their
// acknowledgements or committing: the partitions are no longer ours.
func (c *consumer) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	c.p.joined.Store(false)
	parts := m[c.p.cfg.Topics.CarPings]
	c.stopWorkers(parts, true, 0)
	if len(parts) > 0 {
		c.p.counters.rebalances.Add(1)
		c.p.log.Warn("partitions lost; their uncommitted records are processed again", "topic", c.p.cfg.Topics.CarPings, "partitions", parts)
	}
}

// stopWorkers stops the workers of parts, letting them wait up to wait for
// their acknowledgements, waits for them and resumes their partitions.
func (c *consumer) stopWorkers(parts []int32, lost bool, wait time.Duration) {
	c.mu.Lock()
	workers := make(map[int32]*worker, len(c.workers))
	var stopping []*worker
	for part, w := range c.workers {
		workers[part] = w
	}
	for _, part := range parts {
		if w := workers[part]; w != nil {
			stopping = append(stopping, w)
			delete(workers, part)
		}
	}
	c.workers = workers
	c.mu.Unlock()
	c.stop(stopping, lost, wait)
}

// ackWait is how long stopping workers wait for acknowledgements: three
// quarters of what is left until ctx's deadline, the rest is for the commit.
func ackWait(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Minute
	}
	return max(time.Until(d)*3/4, 0)
}

// stop stops ws, waits for them, unregisters them from the router and
// resumes their partitions (a paused partition would stay paused for its
// next owner in this client).
func (c *consumer) stop(ws []*worker, lost bool, wait time.Duration) {
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		w.lost, w.wait = lost, wait
		close(w.stop)
	}
	resume := map[string][]int32{}
	cl := ws[0].cl
	for _, w := range ws {
		<-w.done
		select {
		case c.r.ctl <- routerCtl{unregister: w}:
		case <-c.p.routerDone:
		}
		resume[c.p.cfg.Topics.CarPings] = append(resume[c.p.cfg.Topics.CarPings], w.part)
	}
	cl.ResumeFetchPartitions(resume)
}

// close stops every worker, commits what they marked and leaves the group.
func (c *consumer) close(ctx context.Context) error {
	c.mu.Lock()
	c.closing = true
	ws := make([]*worker, 0, len(c.workers))
	for _, w := range c.workers {
		ws = append(ws, w)
	}
	c.workers = map[int32]*worker{}
	c.mu.Unlock()
	c.stop(ws, false, ackWait(ctx))
	c.wg.Wait()
	err := c.cl.CommitMarkedOffsets(ctx)
	if err != nil {
		err = fmt.Errorf("cannot commit offsets on stop: %w; records after the last commit are processed again on restart", err)
	}
	c.cl.CloseAllowingRebalance()
	c.p.joined.Store(false)
	return err
}

// partitionCount returns the number of partitions of topic.
func partitionCount(ctx context.Context, adm *kadm.Client, topic string) (int32, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return 0, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		if td.Err != nil {
			return 0, fmt.Errorf("topic %s: %w", topic, td.Err)
		}
		return 0, fmt.Errorf("topic %s does not exist", topic)
	}
	if len(td.Partitions) == 0 {
		return 0, fmt.Errorf("topic %s has no partitions", topic)
	}
	return int32(len(td.Partitions)), nil
}
