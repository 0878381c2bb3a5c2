package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

// TestKcatInterop runs `trunkline broker` and `trunkline run` as processes
// and drives a whole delivery with kcat, the Kafka command-line client most
// operators reach for: kcat produces the window, the route and the pings,
// and reads delivery.events back.
func TestKcatInterop(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed (Debian package kcat; .ci/run installs it)")
	}
	const key = "kcat-interop-key-0123456789abcdef"
	broker := startProc(t, nil, "broker", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--partitions", "3")
	addr := broker.waitOut(t, `broker listening on (\S+)`, 30*time.Second)[1]

	produce := func(topic string, lines ...string) {
		t.Helper()
		// Kafka's Java clients and trunkline place a key with murmur2;
		// librdkafka (kcat) must be told to do the same.
		cmd := exec.Command(kcat, "-b", addr, "-P", "-t", topic, "-K", "|", "-X", "topic.partitioner=murmur2_random")
		cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat produce to %s: %v\n%s", topic, err, out)
		}
	}
	ms := func(d time.Duration) int64 { return time.Now().Add(d).UnixMilli() }
	rfc := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339Nano) }

	const (
		vin     = "WAUZZZ4G0FN0KCAT1"
		window  = "W-KCAT-1"
		courier = "KCAT-COURIER-1"
		lat     = 48.1372
		lng     = 11.5756
	)
	produce("dispatch.windows", fmt.Sprintf(`%s|{"window_id":%q,"order_id":"O-KCAT","kind":"delivery","vin":%q,"start":%q,"end":%q,"address":{"lat":%v,"lng":%v},"radius_m":300}`,
		window, window, vin, rfc(-time.Minute), rfc(time.Hour), lat, lng))
	produce("dispatch.routes", fmt.Sprintf(`%s|{"courier_id":%q,"stops":[{"window_id":%q}]}`, courier, courier, window))

	run := startProc(t, []string{"TRUNKLINE_GRANT_KEY=" + key},
		"run", "--brokers", addr, "--http", "127.0.0.1:0", "--group", "kcat-interop")
	httpAddr := run.waitErr(t, `http listening.* addr=(\S+)`, 30*time.Second)[1]
	waitReady(t, "http://"+httpAddr+"/readyz", 60*time.Second)

	events := startKcatConsumer(t, kcat, addr, "delivery.events")

	carPing := func(d time.Duration, trunk string, locked bool) string {
		return fmt.Sprintf(`%s|{"vin":%q,"ts":%d,"lat":%v,"lng":%v,"speed_kmh":0,"accuracy_m":5,"ignition":false,"trunk":%q,"locked":%v,"location_type":"last_parked","source":"gps"}`,
			vin, vin, ms(d), lat+0.00002, lng+0.00002, trunk, locked)
	}
	produce("telematics.car-pings", carPing(0, "closed", true))
	events.waitFor(t, `"type":"car_parked","window_id":"`+window+`"`, 30*time.Second)

	produce("telematics.courier-pings", fmt.Sprintf(`%s|{"courier_id":%q,"ts":%q,"lat":%v,"lng":%v,"accuracy_m":5}`,
		courier, courier, rfc(0), lat+0.0002, lng+0.00002))
	m := events.waitFor(t, `^(\S*)\t.*"type":"unlock_eligible","window_id":"`+window+`".*"token":"([^"]+)"`, 30*time.Second)
	headers, token := m[1], m[2]
	for _, h := range []string{"ce_specversion=1.0", "ce_type=", "ce_id=", "ce_source=", "ce_time=", "content-type=application/json"} {
		if !strings.Contains(headers, h) {
			t.Errorf("unlock_eligible headers %q lack %s", headers, h)
		}
	}
	if code, out, errOut := runProc(t, []string{"TRUNKLINE_GRANT_KEY=" + key}, "grant", "verify", token); code != 0 {
		t.Errorf("grant verify of the emitted token: exit %d\n%s%s", code, out, errOut)
	}

	produce("telematics.car-pings", carPing(3*time.Second, "open", false))
	events.waitFor(t, `"type":"trunk_opened","window_id":"`+window+`"`, 30*time.Second)
	produce("telematics.car-pings", carPing(5*time.Second, "closed", true))
	events.waitFor(t, `"type":"delivery_completed","window_id":"`+window+`"`, 30*time.Second)

	if code := run.interrupt(t, 10*time.Second); code != 0 {
		t.Errorf("trunkline run exited %d after SIGINT\nstderr:\n%s", code, run.stderr)
	}
	if code := broker.interrupt(t, 10*time.Second); code != 0 {
		t.Errorf("trunkline broker exited %d after SIGINT", code)
	}
}

// kcatConsumer is a running `kcat -C` whose lines are collected.
type kcatConsumer struct {
	out *output
}

// startKcatConsumer reads topic from the beginning, printing each record as
// "headers<TAB>value".
func startKcatConsumer(t *testing.T, kcat, addr, topic string) *kcatConsumer {
	t.Helper()
	cmd := exec.Command(kcat, "-b", addr, "-C", "-t", topic, "-o", "beginning", "-u", "-f", "%h\t%s\n")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &kcatConsumer{out: newOutput()}
	done := make(chan struct{})
	go func() { defer close(done); c.out.read(stdout) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	return c
}

func (c *kcatConsumer) waitFor(t *testing.T, re string, timeout time.Duration) []string {
	t.Helper()
	m, err := c.out.waitFor(regexp.MustCompile(re), timeout)
	if err != nil {
		t.Fatalf("kcat: %v (want %s)\nread so far:\n%s", err, re, c.out)
	}
	return m
}

// waitReady polls url until it answers 200, failing the test at timeout.
func waitReady(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v (last error %v)", url, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKcatPartitioners checks car_pings_partitioner against a real
// librdkafka producer: kcat's default partitioner places keys as crc32
// does, and murmur2_random as murmur2 (Kafka's default) does.
func TestKcatPartitioners(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed (Debian package kcat; .ci/run installs it)")
	}
	const parts = 6
	broker := startProc(t, nil, "broker", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--partitions", fmt.Sprint(parts))
	addr := broker.waitOut(t, `broker listening on (\S+)`, 30*time.Second)[1]
	tests := []struct {
		name  string
		flags []string
		p     pipeline.Partitioner
	}{
		{"kcat default", nil, pipeline.PartitionerCRC32},
		{"murmur2_random", []string{"-X", "topic.partitioner=murmur2_random"}, pipeline.PartitionerMurmur2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("partitioner-test-%d", i)
			var lines []string
			for n := range 60 {
				lines = append(lines, fmt.Sprintf("WAUZZZ4G0FN%06d|{}", n*7919))
			}
			args := append([]string{"-b", addr, "-P", "-t", topic, "-K", "|"}, tt.flags...)
			cmd := exec.Command(kcat, args...)
			cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			adm := kadmClient(t, addr)
			if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat: %v\n%s", err, out)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			seen := 0
			for seen < len(lines) {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil {
					t.Fatalf("read %d of %d records", seen, len(lines))
				}
				fs.EachRecord(func(r *kgo.Record) {
					seen++
					if want := tt.p.Partition(r.Key, parts); r.Partition != want {
						t.Errorf("key %s in partition %d, %s says %d", r.Key, r.Partition, tt.p, want)
					}
				})
			}
		})
	}
}

func kadmClient(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}
