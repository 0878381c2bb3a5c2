package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/geo"
	"github.com/trunkline/trunkline/pipeline"
)

func TestWindowIDRoundTrip(t *testing.T) {
	for _, i := range []int{0, 7, 123456, 2_999_999} {
		if got := carOfWindow(windowID(nil, i)); got != i {
			t.Errorf("carOfWindow(windowID(%d)) = %d", i, got)
		}
	}
	for _, id := range []string{"", "WB-", "W-100001", "WB-12x", "XB-12"} {
		if got := carOfWindow([]byte(id)); got != -1 {
			t.Errorf("carOfWindow(%q) = %d, want -1", id, got)
		}
	}
}

func TestEventTS(t *testing.T) {
	ev := pipeline.Event{ID: "0123456789abcdef0123456789abcdef", Type: pipeline.EvCarMoved, WindowID: "WB-1", OrderID: "OB-1",
		Kind: pipeline.KindDelivery, VIN: "WBA3A5C50PN000001", TS: 1795600000123, EmittedAt: 1795600000456}
	ts, ok := eventTS(pipeline.AppendEvent(nil, &ev))
	if !ok || ts != ev.TS {
		t.Errorf("eventTS = %d, %v; want %d", ts, ok, ev.TS)
	}
	if _, ok := eventTS([]byte(`{"type":"car_moved"}`)); ok {
		t.Error("eventTS found a ts in an event without one")
	}
}

// TestLivePings checks the live fleet's cycle: pings decode, alternate
// between a parked report and a move of stepM, and every move stays
// under the engine's speed limit at the shortest interval.
func TestLivePings(t *testing.T) {
	f := newSyntheticFleet(3, 10, 1795600000000)
	cfg := pipeline.DefaultEngineConfig()
	var prev pipeline.CarPing
	for k := range uint32(8) {
		ts := f.start + int64(float64(k)*liveMinIntervalS*1000)
		var p pipeline.CarPing
		if err := pipeline.DecodeCarPing(&p, f.livePing(nil, 4, k, ts)); err != nil {
			t.Fatalf("ping %d: %v", k, err)
		}
		wantParked := k%2 == 0
		if got := p.LocationType == pipeline.LocationLastParked; got != wantParked {
			t.Errorf("ping %d: last_parked %v, want %v", k, got, wantParked)
		}
		if p.TS != ts || string(p.VIN) != string(f.cars[4].vin) {
			t.Errorf("ping %d: ts %d vin %s", k, p.TS, p.VIN)
		}
		if k > 0 {
			d := geo.DistanceM(prev.Lat, prev.Lng, p.Lat, p.Lng)
			moved := k%2 == 1
			switch {
			case moved && !(d > cfg.ParkDistanceM):
				t.Errorf("ping %d moved %.1f m, want beyond the park distance %v", k, d, cfg.ParkDistanceM)
			case !moved && d > 1:
				t.Errorf("ping %d moved %.1f m, want to stay put", k, d)
			}
			if kmh := d / liveMinIntervalS * 3.6; kmh >= cfg.MaxSpeedKmh {
				t.Errorf("ping %d implies %.0f km/h, the engine filters beyond %v", k, kmh, cfg.MaxSpeedKmh)
			}
		}
		prev = p
		prev.VIN = nil
	}
}

func TestHarnessConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*HarnessConfig)
		ok   bool
	}{
		{"full", func(*HarnessConfig) {}, true},
		{"no runs", func(c *HarnessConfig) { c.Runs = 0 }, false},
		{"unknown scenario", func(c *HarnessConfig) { c.Scenarios = []string{"fast"} }, false},
		{"live rate beyond the cars", func(c *HarnessConfig) { c.LiveRates = []float64{1e6} }, false},
		{"live rate beyond the cars, live not run", func(c *HarnessConfig) {
			c.LiveRates = []float64{1e6}
			c.Scenarios = []string{ScenarioMemory}
		}, true},
		{"more windows than cars", func(c *HarnessConfig) { c.CityWindows = c.CityCars + 1 }, false},
	} {
		c := FullConfig()
		tc.edit(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	if err := QuickConfig().Validate(); err != nil {
		t.Errorf("QuickConfig: %v", err)
	}
}

func TestLockMachine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	var logged []string
	logf := func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	first, err := lockMachine(context.Background(), path, logf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := lockMachine(ctx, path, logf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock while the first is held: %v, want the context's deadline", err)
	}
	if len(logged) == 0 || !strings.Contains(logged[0], fmt.Sprint(os.Getpid())) {
		t.Errorf("the wait was not reported with the holder's pid: %q", logged)
	}
	first.unlock()
	second, err := lockMachine(context.Background(), path, logf)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	second.unlock()
}

// TestGCTotals checks the collection counters the jobs report per live
// phase: a forced collection is counted, and the collector's CPU time
// never goes back.
func TestGCTotals(t *testing.T) {
	n0, cpu0 := gcTotals()
	runtime.GC()
	n1, cpu1 := gcTotals()
	if n1 < n0+1 {
		t.Errorf("collections went from %d to %d across runtime.GC, want at least one more", n0, n1)
	}
	if cpu1 < cpu0 {
		t.Errorf("collector CPU went back from %v to %v", cpu0, cpu1)
	}
	c := counts(1, 2, 3, 0)
	if c.GCs < n1 || c.Consumed != 1 || c.EventsEmitted != 2 || c.EventsAcked != 3 || c.CPU <= 0 {
		t.Errorf("counts = %+v, want the given counters, CPU time and at least %d collections", c, n1)
	}
}

// TestHarnessBrokerLog checks both places a harness broker can keep its
// log: records produced across several segments are read back in order,
// and a broker with a data directory writes its log there and removes the
// directory when it closes.
func TestHarnessBrokerLog(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files bool
	}{{"memory", false}, {"files", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			base := ""
			if tt.files {
				base = t.TempDir()
			}
			b, err := startHarnessBroker(ctx, 1, base)
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			defer func() {
				if !closed {
					b.Close()
				}
			}()
			l, err := newLoader(ctx, b.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer l.close()
			// 20 MiB in 64 KiB records: beyond one segment in memory (1 MiB)
			// and in files (16 MiB).
			const n = 320
			value := make([]byte, 64<<10)
			recs := make([]Record, n)
			for i := range recs {
				recs[i] = Record{Topic: b.topics.CarPings, Key: []byte("k"), Value: append([]byte(fmt.Sprintf("%06d", i)), value...)}
			}
			if err := l.produce(recs); err != nil {
				t.Fatal(err)
			}
			if err := l.flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := readBack(ctx, t, b.addr, b.topics.CarPings, n)
			for i, v := range got {
				if want := fmt.Sprintf("%06d", i); string(v[:6]) != want {
					t.Fatalf("record %d starts %q, want %q", i, v[:6], want)
				}
			}
			if !tt.files {
				if b.dir != "" {
					t.Fatalf("broker in memory has a data directory %s", b.dir)
				}
				return
			}
			var size int64
			filepath.Walk(b.dir, func(_ string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					size += fi.Size()
				}
				return nil
			})
			if size < n*int64(len(value)) {
				t.Fatalf("%d bytes of files under %s, want the %d bytes produced at least", size, b.dir, n*len(value))
			}
			b.Close()
			closed = true
			if _, err := os.Stat(b.dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data directory %s not removed on Close: %v", b.dir, err)
			}
		})
	}
}

// readBack reads the first n records of topic's partitions from the start
// and returns their values in offset order (one partition).
func readBack(ctx context.Context, t *testing.T, addr, topic string, n int) [][]byte {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got [][]byte
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%d of %d records read back: %v", len(got), n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	return got
}
