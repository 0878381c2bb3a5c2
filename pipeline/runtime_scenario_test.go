package pipeline_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/pipeline"
)

// TestProcessorAccountsEveryRecord replays the filter and dead-letter
// scenarios of testdata/scenarios through a Processor and the embedded
// broker, one record at a time: each record must end in the outcome the
// scenario expects (applied, a filter reason, or a dead letter with a
// reason), the process must keep running, and consumed = applied +
// filtered + dead-lettered must hold after every record.
func TestProcessorAccountsEveryRecord(t *testing.T) {
	for _, name := range []string{"filters", "dlq", "consent"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 2)
			cfg := e.config("accounting-" + name)
			lines := readScenario(t, filepath.Join("..", "testdata", "scenarios", name+".jsonl"))
			clk := newClock(lines[0].at)
			r := e.start(cfg, clk)
			waitFor(t, "ready", r.p.Ready)
			topics := map[string]string{
				"car": e.topics.CarPings, "courier": e.topics.CourierPings,
				"windows": e.topics.Windows, "routes": e.topics.Routes,
			}
			for i, l := range lines {
				clk.set(l.at)
				if l.topic == "tick" {
					continue
				}
				before := r.p.Snapshot()
				value := l.value
				if string(value) == "OVERSIZED" {
					value = bytes.Repeat([]byte("A"), 2*cfg.MaxRecordBytes)
				}
				e.produce(rec(topics[l.topic], l.key, value))
				var after pipeline.Snapshot
				waitFor(t, "record consumed", func() bool {
					after = r.p.Snapshot()
					return counts(after, l.topic).Consumed == counts(before, l.topic).Consumed+1
				})
				checkInvariant(t, after)
				if got := outcome(before, after, l.topic); l.expect != "" && got != l.expect {
					t.Errorf("line %d (%s): outcome %s, want %s", i+1, l.topic, got, l.expect)
				}
			}
			if err := r.shutdown(t); err != nil {
				t.Fatalf("processor stopped with %v", err)
			}
			checkInvariant(t, r.p.Snapshot())
		})
	}
}

type replayLine struct {
	at     time.Time
	topic  string
	key    string
	value  []byte // nil: tombstone
	expect string
}

func readScenario(t *testing.T, path string) []replayLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []replayLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l struct {
			At     time.Time       `json:"at"`
			Topic  string          `json:"topic"`
			Key    string          `json:"key"`
			Value  json.RawMessage `json:"value"`
			Raw    *string         `json:"raw"`
			Expect string          `json:"expect"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		v := []byte(l.Value)
		if string(v) == "null" {
			v = nil
		}
		if l.Raw != nil {
			v = []byte(*l.Raw)
		}
		out = append(out, replayLine{at: l.At, topic: l.Topic, key: l.Key, value: v, expect: l.Expect})
	}
	return out
}

func counts(s pipeline.Snapshot, topic string) pipeline.TopicCounts {
	switch topic {
	case "car":
		return s.CarPings
	case "courier":
		return s.CourierPings
	case "windows":
		return s.Windows
	}
	return s.Routes
}

// outcome names what happened to the one record consumed between two
// snapshots, in the scenario files' terms.
func outcome(before, after pipeline.Snapshot, topic string) string {
	b, a := counts(before, topic), counts(after, topic)
	var found []string
	if a.Applied > b.Applied {
		found = append(found, "applied")
	}
	for _, r := range pipeline.Reasons() {
		if a.FilteredBy[r] > b.FilteredBy[r] {
			found = append(found, r.String())
		}
	}
	for _, r := range pipeline.DLQReasons() {
		if a.DeadLetteredFor(r) > b.DeadLetteredFor(r) {
			found = append(found, "dlq:"+r)
		}
	}
	return strings.Join(found, "+")
}
