package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

// TestSimAndRun runs `trunkline sim` and `trunkline run` as processes
// against a broker, as on a real cluster: the simulator's demo windows
// reach delivery.events through the processor, /readyz turns 200, and both
// stop with exit status 0 (sim at the end of --duration, run on SIGINT).
func TestSimAndRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topics := pipeline.DefaultTopics()
	b := testBroker(ctx, t, topics)

	run := startProc(t, []string{envGrantKey + "=sim-and-run-key-0123456789abcdef", envBrokers + "=" + b.Addr()},
		"run", "--http", "127.0.0.1:0", "--group", "sim-and-run")
	runHTTP := run.waitErr(t, `msg="http listening" addr=(\S+)`, 30*time.Second)[1]

	sim := startProc(t, nil, "sim", "--brokers", b.Addr(), "--http", "127.0.0.1:0", "--demo",
		"--cars", "200", "--couriers", "5", "--windows", "20", "--rate", "200", "--duration", "3s", "--seed", "7")
	simHTTP := sim.waitErr(t, `msg="http listening" addr=(\S+)`, 30*time.Second)[1]
	if code, _ := httpGet(t, "http://"+simHTTP+"/readyz"); code != http.StatusOK {
		t.Errorf("sim /readyz = %d, want 200", code)
	}

	// The demo windows yield events within seconds.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(topics.Events),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var first *kgo.Record
	for first == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no event on %s: %v\nrun stderr:\n%s\nsim stderr:\n%s", topics.Events, ctx.Err(), run.stderr, sim.stderr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if first == nil {
				first = r
			}
		})
	}
	var ev pipeline.Event
	if err := decodeEvent(first.Value, &ev); err != nil {
		t.Fatalf("first event does not decode: %v\n%s", err, first.Value)
	}
	if string(first.Key) != ev.WindowID {
		t.Errorf("event key %q, want its window id %q", first.Key, ev.WindowID)
	}

	if code, body := httpGet(t, "http://"+runHTTP+"/readyz"); code != http.StatusOK {
		t.Errorf("run /readyz = %d %q, want 200 once events flow", code, body)
	}
	if _, body := httpGet(t, "http://"+runHTTP+"/metrics"); !strings.Contains(body, "trunkline_records_consumed_total") {
		t.Errorf("run /metrics lacks the processor's counters")
	}

	if code := sim.wait(t, 60*time.Second); code != exitOK {
		t.Errorf("sim exit code %d at the end of its duration, want 0\nstderr:\n%s", code, sim.stderr)
	}
	if !strings.Contains(sim.stderr.String(), "simulator finished") {
		t.Errorf("sim did not log that it finished")
	}
	if code := run.interrupt(t, 10*time.Second); code != exitOK {
		t.Errorf("run exit code %d after SIGINT, want 0\nstderr:\n%s", code, run.stderr)
	}
}
