package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// consoleEvent matches one event line of the console (sink.AppendConsole):
// the event time, the type, the window.
const consoleEvent = `^\d\d:\d\d:\d\d\.\d{3} ([a-z_]+) +(W-\S+) (delivery|return) car=`

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
	p.waitOut(t, `^status: pings in \d+/s \| events out [\d.]+/s \(\d+\) \| filtered \d+/s \(\d+\) \| dead-lettered \d+`, 15*time.Second)

	for _, c := range []struct {
		path string
		code int
		has  []string
	}{
		{"/healthz", http.StatusOK, []string{"ok"}},
		{"/readyz", http.StatusOK, []string{"ready"}},
		{"/", http.StatusOK, []string{"trunkline dev", "Latest events", " car="}},
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
