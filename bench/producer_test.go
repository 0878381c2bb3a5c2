package bench

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newCluster starts a kfake broker on a loopback port with the four
// simulator topics and returns a client for it.
func newCluster(t *testing.T, cfg Config) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.SeedTopics(3,
		cfg.Topics.CarPings, cfg.Topics.CourierPings, cfg.Topics.Windows, cfg.Topics.Routes))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(cl.Close)
	return c, cl
}

// fastClock returns a clock that runs speed times faster than the wall
// clock from start.
func fastClock(start time.Time, speed float64) func() time.Time {
	wall := time.Now()
	return func() time.Time { return start.Add(time.Duration(float64(time.Since(wall)) * speed)) }
}

// consumeAll reads every record of topics until n have arrived or the
// deadline passes.
func consumeAll(t *testing.T, addrs []string, n int, topics ...string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// TestRun produces a short demo simulation to a loopback broker: every
// generated record arrives on its topic under its key, with its simulated
// timestamp.
func TestRun(t *testing.T) {
	cfg := testConfig(func(c *Config) {
		c.Cars, c.Couriers, c.Windows, c.Rate, c.Demo = 300, 5, 20, 300, true
		c.BadFraction = 0.01
		c.Duration = 20 * time.Second
		c.Start = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	})
	cluster, cl := newCluster(t, cfg)

	var reports atomic.Int64
	var last Stats
	err := Run(context.Background(), cl, cfg, fastClock(cfg.Start, 20), func(s Stats) {
		reports.Add(1)
		last = s
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if reports.Load() == 0 {
		t.Fatal("no stats reported")
	}

	// The same records, generated directly.
	g := newGen(t, cfg)
	want := g.Step(g.Setup(nil), cfg.Start.Add(cfg.Duration))
	if g.Stats() != last {
		t.Fatalf("Run reported %+v, the generator made %+v", last, g.Stats())
	}

	got := consumeAll(t, cluster.ListenAddrs(), len(want),
		cfg.Topics.CarPings, cfg.Topics.CourierPings, cfg.Topics.Windows, cfg.Topics.Routes)
	type rec struct{ topic, key, value string }
	count := map[rec]int{}
	for _, r := range want {
		count[rec{r.Topic, string(r.Key), string(r.Value)}]++
	}
	perTopic := map[string]int{}
	for _, r := range got {
		k := rec{r.Topic, string(r.Key), string(r.Value)}
		if count[k] == 0 {
			t.Fatalf("unexpected record %s %s %s", r.Topic, r.Key, r.Value)
		}
		count[k]--
		perTopic[r.Topic]++
		if r.Timestamp.Before(cfg.Start) || r.Timestamp.After(cfg.Start.Add(cfg.Duration)) {
			t.Fatalf("record %s at %v", r.Key, r.Timestamp)
		}
		var key struct {
			VIN       string `json:"vin"`
			CourierID string `json:"courier_id"`
			WindowID  string `json:"window_id"`
		}
		switch {
		case r.Value == nil || r.Topic == cfg.Topics.CarPings && isBad(r.Value):
		case json.Unmarshal(r.Value, &key) != nil:
			t.Fatalf("%s: %s", r.Topic, r.Value)
		case r.Topic == cfg.Topics.CarPings && key.VIN != string(r.Key),
			r.Topic == cfg.Topics.CourierPings && key.CourierID != string(r.Key),
			r.Topic == cfg.Topics.Routes && key.CourierID != string(r.Key),
			r.Topic == cfg.Topics.Windows && key.WindowID != string(r.Key):
			t.Fatalf("%s: key %s for %s", r.Topic, r.Key, r.Value)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("consumed %d records, produced %d", len(got), len(want))
	}
	for _, topic := range []string{cfg.Topics.CarPings, cfg.Topics.CourierPings, cfg.Topics.Windows, cfg.Topics.Routes} {
		if perTopic[topic] == 0 {
			t.Errorf("nothing on %s", topic)
		}
	}
}

// TestRunStops: cancelling Run's context stops it with nil after flushing,
// and a Run that cannot produce reports why.
func TestRunStops(t *testing.T) {
	cfg := testConfig(func(c *Config) { c.Cars, c.Couriers, c.Windows, c.Rate = 300, 5, 20, 2000 })
	cluster, cl := newCluster(t, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		stats Stats
	)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cl, cfg, nil, func(s Stats) { mu.Lock(); stats = s; mu.Unlock() })
	}()
	// Wait until some pings have gone out, then stop.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := stats.CarPings
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no car pings reported before the deadline")
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
	}
	mu.Lock()
	n := int(stats.CarPings + stats.CourierPings + stats.Windows + stats.Routes + stats.Tombstones + stats.Bad)
	mu.Unlock()
	consumeAll(t, cluster.ListenAddrs(), n,
		cfg.Topics.CarPings, cfg.Topics.CourierPings, cfg.Topics.Windows, cfg.Topics.Routes)

	bad := cfg
	bad.Cars = 0
	if err := Run(context.Background(), cl, bad, nil, nil); err == nil {
		t.Fatal("Run accepted an invalid config")
	}

	missing := cfg
	missing.Topics.Windows = "no-such-topic"
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	short, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordDeliveryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	if err := Run(ctx, short, missing, nil, nil); err == nil || ctx.Err() != nil {
		t.Fatalf("Run to a missing topic: %v (context %v)", err, ctx.Err())
	}
}

// TestPacer: simulated time follows the wall clock while the fleet pings at
// the rate, and falls behind, never over the rate, when it pings faster.
func TestPacer(t *testing.T) {
	wall0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	const start = int64(1_000_000)
	for _, tc := range []struct {
		name      string
		rate      float64
		perSlice  uint64 // car pings each 100 ms slice produces
		d         time.Duration
		wantDone  int64 // simulated ms stepped after 10 s of ticks
		wantPings uint64
	}{
		{"at the rate", 100, 10, 0, 10_000, 1000},
		{"fleet twice too fast", 100, 20, 0, 5_100, 1020},
		{"fleet ten times too fast", 100, 100, 0, 1_100, 1100},
		{"duration ends it", 100, 10, 4 * time.Second, 4_000, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPacer(tc.rate, start, tc.d, wall0)
			var pings uint64
			for w := wall0; !w.After(wall0.Add(10 * time.Second)); w = w.Add(runTick) {
				p.tick(w)
				for {
					next, ok := p.next()
					if !ok {
						break
					}
					n := tc.perSlice * uint64(next-p.done) / stepSliceMs
					pings += n
					p.spent(next, n)
				}
				if elapsed := w.Sub(wall0).Seconds(); float64(pings) > tc.rate*(elapsed+rateBurst)+float64(tc.perSlice) {
					t.Fatalf("at %v: %d pings", w.Sub(wall0), pings)
				}
				if p.done > start+w.Sub(wall0).Milliseconds() {
					t.Fatalf("simulated time ahead of the wall clock at %v", w.Sub(wall0))
				}
			}
			if got := p.done - start; got < tc.wantDone-100 || got > tc.wantDone+100 {
				t.Errorf("stepped %d ms of simulated time, want about %d", got, tc.wantDone)
			}
			if pings < tc.wantPings*9/10 || pings > tc.wantPings*11/10 {
				t.Errorf("%d pings, want about %d", pings, tc.wantPings)
			}
			if p.finished() != (tc.d > 0) {
				t.Errorf("finished = %v", p.finished())
			}
		})
	}
}
