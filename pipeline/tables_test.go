package pipeline_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
)

// TestProcessorCourierFollowsWindow: each engine holds only the route
// stops of its own windows, so a window that moves to a car of another
// partition takes its courier along: the new owner's events name the
// courier, and the courier's arrival at the new car is seen there. A route
// that names a window before the window exists serves it once it comes.
func TestProcessorCourierFollowsWindow(t *testing.T) {
	e := newEnv(t, 2)
	p := pipeline.PartitionerMurmur2
	vin1 := "WAUZZZ4G0FN000001"
	var vin2, vin3 string
	for i := 2; vin2 == "" || vin3 == ""; i++ {
		v := fmt.Sprintf("WAUZZZ4G0FN%06d", i)
		switch {
		case p.Partition([]byte(v), 2) == p.Partition([]byte(vin1), 2):
		case vin2 == "":
			vin2 = v
		case vin3 == "":
			vin3 = v
		}
	}
	clk := newClock(t0)
	e.produce(rec(e.topics.Windows, "W-1", window("W-1", vin1)))
	e.produce(rec(e.topics.Routes, "C-1", route("C-1", "W-1", "W-2")))
	r := e.start(e.config("follow"), clk)
	waitFor(t, "ready", r.p.Ready)
	events := e.reader(e.topics.Events)
	e.produce(rec(e.topics.CarPings, vin1, parkedPing(vin1, t0)))
	events.until("car_parked", hasType("car_parked"))

	// W-1 moves to vin2 (the other partition); W-2, which C-1's route
	// named before it existed, comes for vin3 (also the other partition).
	e.produce(rec(e.topics.Windows, "W-1", window("W-1", vin2)))
	e.produce(rec(e.topics.Windows, "W-2", window("W-2", vin3)))
	e.produce(rec(e.topics.CarPings, vin2, parkedPing(vin2, t0.Add(time.Second))))
	e.produce(rec(e.topics.CarPings, vin3, parkedPing(vin3, t0.Add(time.Second))))
	count := func(typ string) func([]*kgo.Record) bool {
		return func(rs []*kgo.Record) bool {
			n := 0
			for _, r := range rs {
				if eventType(r) == typ {
					n++
				}
			}
			return n == 3
		}
	}
	events.until("both new cars parked", count("car_parked"))
	e.produce(rec(e.topics.CourierPings, "C-1", courierPing("C-1", t0.Add(1500*time.Millisecond), 48.13722)))
	recs := events.until("the courier arrived at both", func(rs []*kgo.Record) bool {
		n := 0
		for _, r := range rs {
			if eventType(r) == "courier_arrived" {
				n++
			}
		}
		return n == 2
	})
	// Each window's events in order; how the two windows' events interleave
	// depends on when the router's updates reach the worker.
	got := map[string][]string{}
	for _, r := range recs {
		var v struct {
			Type      string `json:"type"`
			WindowID  string `json:"window_id"`
			VIN       string `json:"vin"`
			CourierID string `json:"courier_id"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatal(err)
		}
		// Before the move, the first car's events; after it, the new cars'.
		if v.VIN == vin1 && v.Type != "tracking_stopped" && v.Type != "tracking_started" && v.Type != "car_located" && v.Type != "car_parked" {
			t.Errorf("event %s of the old car after the move", v.Type)
		}
		if v.VIN != vin1 && v.Type != "unlock_eligible" {
			got[v.WindowID] = append(got[v.WindowID], v.Type+" "+v.CourierID)
		}
	}
	want := []string{"tracking_started C-1", "car_located C-1", "car_parked C-1", "courier_approaching C-1", "courier_arrived C-1"}
	for _, id := range []string{"W-1", "W-2"} {
		if g, w := strings.Join(got[id], "\n"), strings.Join(want, "\n"); g != w {
			t.Errorf("events of %s on its new car\n got:\n%s\nwant:\n%s", id, g, w)
		}
	}
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
}
