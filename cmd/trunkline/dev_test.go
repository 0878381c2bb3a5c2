package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// consoleEvent matches one event line of the console (sink.AppendConsole):
// the event time, the type, the window.
// Lines of the scripted showcase windows start with "> ", the others with
// two spaces.
const consoleEvent = `^[ >] \d\d:\d\d:\d\d\.\d{3} ([a-z_]+) +(W-\S+) (delivery|return) car=`

// statusLine matches dev's status line (statusSample.line). The p99, the
// open windows and the lag are "-" while the registry does not export them.
const statusLine = `^status: in \d+ rec/s \| out [\d.]+ ev/s \(\d+\) \| filtered \d+ \| dead-lettered \d+ \| p99 (\d+\.\d+m?s|-) \| open windows (\d+|-) \| lag (\d+|-) \| partitions \d+ \| (ready|not ready)$`

// TestDev runs `trunkline dev` as `make run` does and checks what a
// newcomer sees: delivery events on the console within 30 s, a status line,
// the status page and the operations endpoint; then Ctrl-C stops it with
// exit status 0 within 5 s.
func TestDev(t *testing.T) {
	t.Parallel()
	p := startProc(t, nil, "dev", "--http", "127.0.0.1:0", "--rate", "500")
	httpAddr := p.waitErr(t, `msg="http listening" addr=(\S+)`, 30*time.Second)[1]
	ev := p.waitOut(t, consoleEvent, 30*time.Second)
	t.Logf("first event: %s", ev[0])
	p.waitOut(t, statusLine, 15*time.Second)

	for _, c := range []struct {
		path string
		code int
		has  []string
	}{
		{"/healthz", http.StatusOK, []string{"ok"}},
		{"/readyz", http.StatusOK, []string{"ready"}},
		{"/", http.StatusOK, []string{"<title>trunkline dev</title>", "Latest events"}},
		{"/?format=json", http.StatusOK, []string{`"ready":true`, `"consumed":`, `"series":[`, " car="}},
		{"/metrics", http.StatusOK, []string{
			"go_goroutines", "process_cpu_seconds_total",
			"trunkline_records_consumed_total", "trunkline_sim_records_total", "trunkline_kafka_",
		}},
		{"/nope", http.StatusNotFound, nil},
	} {
		code, body := httpGet(t, "http://"+httpAddr+c.path)
		if code != c.code {
			t.Errorf("GET %s = %d, want %d", c.path, code, c.code)
		}
		for _, s := range c.has {
			if !strings.Contains(body, s) {
				t.Errorf("GET %s lacks %q", c.path, s)
			}
		}
	}

	if code := p.interrupt(t, 5*time.Second); code != exitOK {
		t.Fatalf("exit code %d after SIGINT, want 0\nstderr:\n%s", code, p.stderr)
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, "generated a random grant key") {
		t.Errorf("dev did not log that it generated a grant key")
	}
	if strings.Contains(logs, "tg1.") {
		t.Errorf("a grant token was logged")
	}
}

// TestDevShowsFullDelivery checks the promise of `make run`: within the
// first minute the console shows the scripted delivery from the window
// opening to the completed delivery, in order.
func TestDevShowsFullDelivery(t *testing.T) {
	t.Parallel()
	p := startProc(t, nil, "dev", "--http", "127.0.0.1:0", "--rate", "300")
	p.waitOut(t, `^> \S+ delivery_completed +W-DEMO-DELIVERY `, 90*time.Second)
	var got []string
	for _, l := range strings.Split(p.stdout.String(), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[0] == ">" && f[3] == "W-DEMO-DELIVERY" {
			got = append(got, f[2])
		}
	}
	want := []string{"tracking_started", "car_parked", "courier_arrived", "unlock_eligible", "trunk_opened", "trunk_closed", "delivery_completed"}
	i := 0
	for _, typ := range got {
		if i < len(want) && typ == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Errorf("W-DEMO-DELIVERY events %v do not contain %v in order", got, want)
	}
	if code := p.interrupt(t, 5*time.Second); code != exitOK {
		t.Fatalf("exit code %d after SIGINT, want 0", code)
	}
}
