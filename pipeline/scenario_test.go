package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update-scenarios", false, "rewrite the golden event files of the scenario tests")

// scenarioKey signs the grants of the scenario tests.
var scenarioKey = []byte("scenario-test-key-0123456789abcdef")

const scenarioMaxRecord = 64 << 10

// scenarioLine is one input line of testdata/scenarios/*.jsonl: at is the
// wall-clock time at which the record is processed; topic is windows,
// routes, car, courier or tick (advance the wall clock with no record);
// value is the record value (null = tombstone) unless raw gives the bytes
// as a string ("OVERSIZED" stands for a value beyond the record size
// limit); expect is the outcome: applied, a filter reason, or dlq:<reason>.
type scenarioLine struct {
	At     string          `json:"at"`
	Topic  string          `json:"topic"`
	Key    string          `json:"key"`
	Value  json.RawMessage `json:"value"`
	Raw    *string         `json:"raw"`
	Expect string          `json:"expect"`
}

type scenarioResult struct {
	events   []byte // golden form: one AppendEvent line per event
	types    []string
	outcomes []string // per input line
	engine   *Engine
}

// runScenario replays one scenario file through a fresh engine.
func runScenario(t *testing.T, path string) scenarioResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := testEngine(t)

	var res scenarioResult
	res.engine = e
	var (
		car     CarPing
		courier CourierPing
		win     Window
		route   Route
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l scenarioLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		at, err := time.Parse(time.RFC3339Nano, l.At)
		if err != nil {
			t.Fatalf("%s:%d: at: %v", path, n, err)
		}
		now := at.UnixMilli()
		value := []byte(l.Value)
		if l.Raw != nil {
			value = []byte(*l.Raw)
			if *l.Raw == "OVERSIZED" {
				value = append([]byte(`{"vin":"`), bytes.Repeat([]byte("A"), scenarioMaxRecord)...)
			}
		}
		tombstone := value == nil || string(value) == "null"
		outcome := Applied
		var derr error
		switch l.Topic {
		case "tick":
			e.Tick(now)
		case "car":
			if derr = CheckRecordSize(value, scenarioMaxRecord); derr == nil {
				if derr = DecodeCarPing(&car, value); derr == nil {
					outcome = e.CarPing(now, &car)
				}
			}
		case "courier":
			if derr = CheckRecordSize(value, scenarioMaxRecord); derr == nil {
				if derr = DecodeCourierPing(&courier, value); derr == nil {
					outcome = e.CourierPing(now, &courier)
				}
			}
		case "windows":
			if tombstone {
				outcome = e.DeleteWindow(now, l.Key)
			} else if derr = DecodeWindow(&win, value); derr == nil {
				outcome = e.PutWindow(now, &win)
			}
		case "routes":
			if tombstone {
				outcome = e.DeleteRoute(now, l.Key)
			} else if derr = DecodeRoute(&route, value); derr == nil {
				outcome = e.PutRoute(now, &route)
			}
		default:
			t.Fatalf("%s:%d: unknown topic %q", path, n, l.Topic)
		}
		got := outcome.String()
		if derr != nil {
			var de *DecodeError
			if !errors.As(derr, &de) {
				t.Fatalf("%s:%d: decode error is %T, want *DecodeError: %v", path, n, derr, derr)
			}
			got = "dlq:" + de.Reason
		}
		if l.Topic != "tick" {
			res.outcomes = append(res.outcomes, got)
			if l.Expect != "" && got != l.Expect {
				t.Errorf("%s:%d: outcome %s, want %s", path, n, got, l.Expect)
			}
		}
		for i := range e.Events() {
			ev := &e.Events()[i]
			if ev.Type == EvUnlockEligible {
				c, err := VerifyGrant(scenarioKey, ev.Grant.Token, ev.Grant.NotBefore)
				if err != nil || c.WindowID != ev.WindowID || c.VIN != ev.VIN || c.CourierID != ev.CourierID ||
					c.GrantID != ev.Grant.ID || c.ExpiresAt != ev.Grant.ExpiresAt {
					t.Errorf("%s:%d: grant does not verify (%v) or names another grant: %+v", path, n, err, c)
				}
			}
			res.events = AppendEvent(res.events, ev)
			res.events = append(res.events, '\n')
			res.types = append(res.types, ev.Type.String())
		}
		e.ResetEvents()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestScenarios(t *testing.T) {
	const vin = "WAUZZZ4G0FN000001"
	noState := func(vins ...string) func(*testing.T, *Engine) {
		return func(t *testing.T, e *Engine) {
			for _, v := range vins {
				if e.HasCarState(v) {
					t.Errorf("state kept for %s", v)
				}
			}
			if s := e.Stats(); s.Cars != 0 || s.OpenWindows != 0 || s.Windows != 0 {
				t.Errorf("state left after the window ended: %+v", s)
			}
		}
	}
	tests := []struct {
		name  string
		types string // expected event types, in order
		check func(*testing.T, *Engine)
	}{
		{"delivery", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible trunk_opened trunk_closed access_revoked delivery_completed relock_confirmed tracking_stopped", noState(vin)},
		{"return", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible trunk_opened trunk_closed access_revoked return_collected relock_missing tracking_stopped", noState(vin)},
		{"moved", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible car_moved access_revoked car_parked window_missed tracking_stopped", noState(vin)},
		{"expired", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible access_revoked unlock_eligible access_revoked window_missed tracking_stopped", noState(vin)},
		{"approach_arrive", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible access_revoked courier_arrived unlock_eligible access_revoked window_missed tracking_stopped", noState(vin)},
		{"cancelled", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible access_revoked window_cancelled tracking_stopped", noState(vin)},
		{"reassigned", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible access_revoked courier_approaching courier_arrived unlock_eligible access_revoked window_missed tracking_stopped", noState(vin)},
		{"moved_rearrival", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible car_moved access_revoked car_parked courier_arrived unlock_eligible access_revoked window_missed tracking_stopped", noState(vin)},
		{"route_resend_relock", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible trunk_opened trunk_closed access_revoked delivery_completed relock_missing tracking_stopped", noState(vin)},
		{"window_changes", "tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible access_revoked tracking_stopped " +
			"tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible access_revoked window_cancelled tracking_stopped " +
			"tracking_started car_located car_parked courier_approaching courier_arrived unlock_eligible access_revoked tracking_stopped " +
			"tracking_started car_located car_parked window_missed tracking_stopped", noState(vin, "WAUZZZ4G0FN000002")},
		{"two_windows", "tracking_started car_located car_parked tracking_started car_located car_parked window_missed tracking_stopped window_missed tracking_stopped", noState(vin)},
		{"idle_stuck", "tracking_started car_located car_parked window_missed tracking_stopped", noState(vin)},
		{"missed", "tracking_started car_located car_parked window_missed tracking_stopped", noState(vin)},
		{"consent", "tracking_started car_located car_parked window_missed tracking_stopped", noState(vin, "WAUZZZ4G0FN000002", "WAUZZZ4G0FN000009")},
		{"filters", "tracking_started car_located", func(t *testing.T, e *Engine) {
			if !e.HasCarState(vin) {
				t.Error("no state for the car of the open window")
			}
			if s := e.Stats(); s.Cars != 1 || s.OpenWindows != 1 || s.Couriers != 1 {
				t.Errorf("stats %+v, want 1 car, 1 open window, 1 courier", s)
			}
		}},
		{"dlq", "tracking_started car_located car_parked", nil},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "scenarios", tt.name+".jsonl")
			first := runScenario(t, path)
			if got := strings.Join(first.types, " "); got != tt.types {
				t.Errorf("event types\n got: %s\nwant: %s", got, tt.types)
			}
			ids := map[string]bool{}
			for _, l := range bytes.Split(bytes.TrimSpace(first.events), []byte("\n")) {
				var ev struct {
					ID string `json:"event_id"`
				}
				if err := json.Unmarshal(l, &ev); err != nil {
					t.Fatalf("event is not JSON: %v: %s", err, l)
				}
				if ids[ev.ID] {
					t.Errorf("event id %s emitted twice", ev.ID)
				}
				ids[ev.ID] = true
			}
			second := runScenario(t, path)
			if !bytes.Equal(first.events, second.events) {
				t.Errorf("replaying the same input gave different events:\n%s\n---\n%s", first.events, second.events)
			}
			golden := filepath.Join("..", "testdata", "scenarios", tt.name+".golden.jsonl")
			if *updateGolden {
				if err := os.WriteFile(golden, first.events, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestScenarios -update-scenarios to create it)", err)
			}
			if !bytes.Equal(first.events, want) {
				t.Errorf("events differ from %s:\n got:\n%s\nwant:\n%s", golden, first.events, want)
			}
			if tt.check != nil {
				tt.check(t, first.engine)
			}
			for _, typ := range first.types {
				seen[typ] = true
			}
			if bytes.Contains(first.events, []byte(`"kind":"return"`)) {
				seen["kind:return"] = true
			}
			if bytes.Contains(first.events, []byte(`"kind":"delivery"`)) {
				seen["kind:delivery"] = true
			}
		})
	}
	// Every event type and both window kinds are covered by some scenario.
	want := []string{"kind:delivery", "kind:return"}
	for _, typ := range EventTypes() {
		want = append(want, typ.String())
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no scenario covers %s", w)
		}
	}
}
