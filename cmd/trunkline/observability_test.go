package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

// TestObservability runs `trunkline run` as a process against the embedded
// broker, with the profiler on and JSON logs at info level, drives a whole
// delivery and a set of bad records through it, and checks what an SRE
// relies on:
//
//   - promtool check metrics finds no problem in the live /metrics;
//   - every metric the Grafana dashboard queries is exported;
//   - the counters add up: consumed = applied + filtered + dead-lettered per
//     input topic, with the records the test produced;
//   - /debug/pprof/ is served;
//   - every log line is a JSON object, and none (stdout or stderr) holds an
//     input VIN, an input coordinate or a grant token.
func TestObservability(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topics := pipeline.DefaultTopics()
	b := testBroker(ctx, t, topics)
	prod := testClient(t, b.Addr())
	produced := map[string]int{}
	produce := func(topic, key, value string) {
		t.Helper()
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		produced[topic]++
	}

	// Every VIN and coordinate below is input that must never be logged.
	const (
		vinA, vinB, vinNoWindow, vinMalformed, vinBadWindow = "WOBSA000000000001", "WOBSB000000000002", "WOBSX000000000009", "WOBSD000000000004", "WOBSE000000000005"
		courier                                             = "OBS-COURIER-1"
	)
	coords := []string{
		"48.141593", "11.562653", // car A
		"48.141571", "11.562688", // window A's address
		"48.141718", "11.562791", // the courier, 15 m from car A
		"48.152718", "11.540271", // car B
		"48.152734", "11.540219", // window B's address
		"48.163427", "11.528163", // a car without a window
		"91.314159", "11.271828", // out of range
		"48.173205",              // in a malformed record
		"48.118034", "11.598876", // a window that ends before it starts
		"48.126743", "11.512345", // a courier ping with a string latitude
	}
	now := time.Now()
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	window := func(id, vin, lat, lng string, start, end time.Duration) string {
		return fmt.Sprintf(`{"window_id":%q,"order_id":"O-%s","kind":"delivery","vin":%q,"start":%d,"end":%d,"address":{"lat":%s,"lng":%s},"radius_m":300}`,
			id, id, vin, ms(start), ms(end), lat, lng)
	}
	carPing := func(vin, lat, lng string, d time.Duration, trunk string, locked bool) string {
		return fmt.Sprintf(`{"vin":%q,"ts":%d,"lat":%s,"lng":%s,"speed_kmh":0,"accuracy_m":5,"ignition":false,"trunk":%q,"locked":%v,"location_type":"last_parked","source":"gps"}`,
			vin, ms(d), lat, lng, trunk, locked)
	}

	produce(topics.Windows, "W-OBS-A", window("W-OBS-A", vinA, "48.141571", "11.562688", -time.Minute, time.Hour))
	produce(topics.Windows, "W-OBS-B", window("W-OBS-B", vinB, "48.152734", "11.540219", -time.Minute, time.Hour))
	produce(topics.Windows, "W-OBS-BAD", window("W-OBS-BAD", vinBadWindow, "48.118034", "11.598876", time.Hour, -time.Minute))
	produce(topics.Routes, courier, fmt.Sprintf(`{"courier_id":%q,"stops":[{"window_id":"W-OBS-A"}]}`, courier))

	cfgPath := filepath.Join(t.TempDir(), "obs.yaml")
	if err := os.WriteFile(cfgPath, []byte("log:\n  level: info\n  format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := startProc(t, []string{envGrantKey + "=observability-key-0123456789abcdef", envBrokers + "=" + b.Addr()},
		"run", "--config", cfgPath, "--http", "127.0.0.1:0", "--group", "observability", "--pprof")
	base := "http://" + run.waitErr(t, `"msg":"http listening","addr":"([^"]+)"`, 30*time.Second)[1]
	waitReady(t, base+"/readyz", 30*time.Second)
	events := startEventReader(t, ctx, b.Addr(), topics.Events)

	produce(topics.CarPings, vinA, carPing(vinA, "48.141593", "11.562653", 0, "closed", true))
	produce(topics.CarPings, vinB, carPing(vinB, "48.152718", "11.540271", 0, "closed", true))
	produce(topics.CarPings, vinNoWindow, carPing(vinNoWindow, "48.163427", "11.528163", 0, "closed", true))
	produce(topics.CarPings, vinA, carPing(vinA, "91.314159", "11.271828", time.Second, "closed", true))
	// Malformed: from a car with a window, dead-lettered; from one
	// without, only counted (no_window), as a dead letter carries the record.
	produce(topics.CarPings, vinB, fmt.Sprintf(`{"vin":%q,"ts":%d,"lat":48.173205,"lng":11.5`, vinB, ms(0)))
	produce(topics.CarPings, vinMalformed, fmt.Sprintf(`{"vin":%q,"ts":%d,"lat":48.173205,"lng":11.5`, vinMalformed, ms(0)))
	events.waitFor(t, "car_parked", "W-OBS-A")

	produce(topics.CourierPings, courier, fmt.Sprintf(`{"courier_id":%q,"ts":%d,"lat":48.141718,"lng":11.562791,"accuracy_m":5}`, courier, ms(time.Second)))
	produce(topics.CourierPings, courier, fmt.Sprintf(`{"courier_id":%q,"ts":%d,"lat":"48.126743","lng":11.512345}`, courier, ms(time.Second)))
	grant := events.waitFor(t, "unlock_eligible", "W-OBS-A")
	token := regexp.MustCompile(`"token":"([^"]+)"`).FindStringSubmatch(grant)
	if token == nil {
		t.Fatalf("unlock_eligible without a token: %s", grant)
	}

	produce(topics.CarPings, vinA, carPing(vinA, "48.141593", "11.562653", 3*time.Second, "open", false))
	produce(topics.CarPings, vinA, carPing(vinA, "48.141593", "11.562653", 5*time.Second, "closed", true))
	events.waitFor(t, "delivery_completed", "W-OBS-A")

	// Every record produced is accounted for.
	var sc *scrape
	deadline := time.Now().Add(30 * time.Second)
	for {
		sc = scrapeMetrics(t, base+"/metrics")
		done := true
		for topic, n := range produced {
			if sc.sum("trunkline_records_consumed_total", "topic", topic) != float64(n) {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the processor did not consume the %v records produced within 30s; /metrics:\n%s", produced, sc.text)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for topic, n := range produced {
		applied := sc.sum("trunkline_records_applied_total", "topic", topic)
		filtered := sc.sum("trunkline_records_filtered_total", "topic", topic)
		dead := sc.sum("trunkline_records_dead_lettered_total", "topic", topic)
		if applied+filtered+dead != float64(n) {
			t.Errorf("%s: %d consumed, but applied %v + filtered %v + dead-lettered %v", topic, n, applied, filtered, dead)
		}
	}
	for _, c := range []struct {
		topic, reason string
		want          float64
	}{
		{topics.CarPings, pipeline.DLQOutOfRange, 1},
		{topics.CarPings, pipeline.DLQMalformed, 1},
		{topics.CourierPings, pipeline.DLQWrongType, 1},
		{topics.Windows, pipeline.DLQInvalidValue, 1},
	} {
		if got := sc.sum("trunkline_records_dead_lettered_total", "topic", c.topic, "reason", c.reason); got != c.want {
			t.Errorf("dead-lettered %s %s = %v, want %v", c.topic, c.reason, got, c.want)
		}
	}
	if got := sc.sum("trunkline_records_filtered_total", "topic", topics.CarPings, "reason", "no_window"); got != 2 {
		t.Errorf("filtered no_window = %v, want 2 (the cars without a window)", got)
	}

	// The events by type match those read back from the events topic,
	// once the broker has acknowledged every event emitted.
	deadline = time.Now().Add(30 * time.Second)
	for {
		emitted := sc.sum("trunkline_events_emitted_total")
		read := events.readAll(t)
		var diff []string
		for _, typ := range pipeline.EventTypes() {
			n := sc.sum("trunkline_events_emitted_total", "type", typ.String())
			if got := float64(strings.Count(read, `"type":"`+typ.String()+`"`)); got != n {
				diff = append(diff, fmt.Sprintf("%s: %v emitted, %v read", typ, n, got))
			}
		}
		if len(diff) == 0 && emitted == sc.sum("trunkline_events_acked_total") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events by type differ from delivery.events: %q", diff)
		}
		time.Sleep(50 * time.Millisecond)
		sc = scrapeMetrics(t, base+"/metrics")
	}

	t.Run("promtool check metrics", func(t *testing.T) {
		cmd := exec.Command(promtool(t), "check", "metrics")
		cmd.Stdin = strings.NewReader(sc.text)
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics on the live /metrics: %v\n%s", err, out)
		}
	})

	t.Run("dashboard metrics exported", func(t *testing.T) {
		d := loadDashboard(t)
		var missing []string
		for _, q := range d.queries(t) {
			for _, name := range promqlMetricNames(q) {
				if !sc.has(name) && !slices.Contains(missing, name) {
					missing = append(missing, name)
				}
			}
		}
		if len(missing) > 0 {
			t.Errorf("the dashboard queries metrics that trunkline run does not export: %q", missing)
		}
	})

	t.Run("endpoints", func(t *testing.T) {
		for _, c := range []struct {
			path, has string
		}{
			{"/healthz", "ok"},
			{"/readyz", "ready"},
			{"/debug/pprof/", "goroutine"},
		} {
			if code, body := httpGet(t, base+c.path); code != http.StatusOK || !strings.Contains(body, c.has) {
				t.Errorf("GET %s = %d %.100q, want 200 with %q", c.path, code, body, c.has)
			}
		}
	})

	if code := run.interrupt(t, 15*time.Second); code != exitOK {
		t.Errorf("run exit code %d after SIGINT, want 0", code)
	}

	t.Run("logs", func(t *testing.T) {
		secrets := append([]string{vinA, vinB, vinNoWindow, vinMalformed, vinBadWindow, token[1], "tg1."}, coords...)
		for _, c := range coords {
			secrets = append(secrets, c[:strings.IndexByte(c, '.')+5]) // also rounded or cut to 4 decimals
		}
		lines := strings.Split(run.stderr.String(), "\n")
		if len(lines) < 5 {
			t.Fatalf("only %d log lines:\n%s", len(lines), run.stderr)
		}
		levels := map[string]int{}
		for _, l := range lines {
			var rec struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Msg == "" {
				t.Errorf("log line is not a JSON record with a msg: %s", l)
			}
			levels[rec.Level]++
		}
		if levels["INFO"] == 0 || levels["WARN"] == 0 {
			t.Errorf("log levels %v: want INFO lines and the dead-letter WARN lines", levels)
		}
		for _, stream := range []struct {
			name string
			out  *output
		}{{"stderr", run.stderr}, {"stdout", run.stdout}} {
			for _, l := range strings.Split(stream.out.String(), "\n") {
				for _, s := range secrets {
					if strings.Contains(l, s) {
						t.Errorf("%s line holds input data %q: %s", stream.name, s, l)
					}
				}
			}
		}
	})
}

// eventReader reads an events topic from its start.
type eventReader struct {
	ctx  context.Context
	cl   *kgo.Client
	seen []string
}

func startEventReader(t *testing.T, ctx context.Context, addr, topic string) *eventReader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &eventReader{ctx: ctx, cl: cl}
}

// waitFor returns the value of the first event of type typ for window,
// reading until the reader's context ends.
func (r *eventReader) waitFor(t *testing.T, typ, window string) string {
	t.Helper()
	want := fmt.Sprintf(`"type":%q,"window_id":%q`, typ, window)
	for {
		for _, v := range r.seen {
			if strings.Contains(v, want) {
				return v
			}
		}
		fs := r.cl.PollFetches(r.ctx)
		if r.ctx.Err() != nil {
			t.Fatalf("no %s event for %s; events so far:\n%s", typ, window, strings.Join(r.seen, "\n"))
		}
		fs.EachRecord(func(rec *kgo.Record) { r.seen = append(r.seen, string(rec.Value)) })
	}
}

// readAll returns the events read so far and those the broker has now,
// one per line.
func (r *eventReader) readAll(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, 200*time.Millisecond)
	defer cancel()
	fs := r.cl.PollFetches(ctx)
	fs.EachRecord(func(rec *kgo.Record) { r.seen = append(r.seen, string(rec.Value)) })
	return strings.Join(r.seen, "\n")
}

// scrape is one response of /metrics in the text exposition format.
type scrape struct {
	text    string
	samples []sample
	names   map[string]bool // sample names and metric family names
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func scrapeMetrics(t *testing.T, url string) *scrape {
	t.Helper()
	code, body := httpGet(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d", url, code)
	}
	sc, err := parseExposition(body)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return sc
}

// parseExposition parses the Prometheus text format as client_golang
// writes it (no timestamps).
func parseExposition(text string) (*scrape, error) {
	sc := &scrape{text: text, names: map[string]bool{}}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			sc.names[f[2]] = true
		}
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i > 0 {
			s.name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			var err error
			if rest, err = parseLabels(rest[1:], s.labels); err != nil {
				return nil, fmt.Errorf("%w in %q", err, line)
			}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil || s.name == "" {
			return nil, fmt.Errorf("bad sample line %q", line)
		}
		s.value = v
		sc.samples = append(sc.samples, s)
		sc.names[s.name] = true
	}
	return sc, nil
}

// parseLabels parses `k="v",k2="v2"}` into into and returns what follows
// the closing brace.
func parseLabels(s string, into map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, ", ")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		eq := strings.Index(s, `="`)
		if eq < 0 {
			return "", fmt.Errorf("bad labels")
		}
		name := s[:eq]
		var v strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					v.WriteByte('\n')
				default:
					v.WriteByte(s[i])
				}
				continue
			}
			v.WriteByte(s[i])
		}
		if i >= len(s) {
			return "", fmt.Errorf("unterminated label value")
		}
		into[name] = v.String()
		s = s[i+1:]
	}
}

// has reports whether the scrape holds a sample or a metric family of name.
func (sc *scrape) has(name string) bool { return sc.names[name] }

// sum adds the samples of name whose labels match the label/value pairs.
func (sc *scrape) sum(name string, labelValues ...string) float64 {
	var total float64
next:
	for _, s := range sc.samples {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(labelValues); i += 2 {
			if s.labels[labelValues[i]] != labelValues[i+1] {
				continue next
			}
		}
		total += s.value
	}
	return total
}

func TestParseExposition(t *testing.T) {
	text := `# HELP a_total A.
# TYPE a_total counter
a_total{topic="x",reason="q\"uote"} 3
a_total{topic="y",reason="r"} 4
# TYPE h_seconds histogram
h_seconds_bucket{le="+Inf"} 2
h_seconds_sum 0.5
h_seconds_count 2
up 1
`
	sc, err := parseExposition(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"a_total", nil, 7},
		{"a_total", []string{"topic", "x"}, 3},
		{"a_total", []string{"reason", `q"uote`}, 3},
		{"a_total", []string{"topic", "z"}, 0},
		{"h_seconds_count", nil, 2},
		{"up", nil, 1},
	} {
		if got := sc.sum(c.name, c.labels...); got != c.want {
			t.Errorf("sum(%s, %q) = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, n := range []string{"a_total", "h_seconds", "h_seconds_bucket", "h_seconds_sum", "up"} {
		if !sc.has(n) {
			t.Errorf("has(%s) = false", n)
		}
	}
	if sc.has("h") {
		t.Error("has(h) = true")
	}
	if _, err := parseExposition("a{b=\"c} 1\n"); err == nil {
		t.Error("an unterminated label value parsed")
	}
}
