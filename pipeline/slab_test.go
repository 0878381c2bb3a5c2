package pipeline

import (
	"slices"
	"testing"
)

// hasEvent reports whether e emitted an event of type typ for window id
// since its events were last reset.
func hasEvent(e *Engine, typ EventType, id string) bool {
	return slices.ContainsFunc(e.Events(), func(ev Event) bool { return ev.Type == typ && ev.WindowID == id })
}

// TestWindowSlotReuse checks that the timers of a removed window stay moot
// once a later window takes its slot: window A (1 h to 2 h) is removed, B
// (3 h to 4 h) takes A's slot, and B must neither open at A's start nor
// close at A's end.
func TestWindowSlotReuse(t *testing.T) {
	const h = 3600_000
	for _, tc := range []struct {
		name   string
		remove func(e *Engine) Reason
	}{
		{"deleted", func(e *Engine) Reason { return e.DeleteWindow(t0, "W-A") }},
		{"handed off", func(e *Engine) Reason { return e.HandOffWindow(t0, "W-A") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEngine(t)
			a := Window{ID: "W-A", Kind: KindDelivery, VIN: "VA000000000000001", Start: t0 + h, End: t0 + 2*h, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
			b := a
			b.ID, b.VIN, b.Start, b.End = "W-B", "VB000000000000001", t0+3*h, t0+4*h
			if r := e.PutWindow(t0, &a); r != Applied {
				t.Fatalf("PutWindow(A) = %v", r)
			}
			slot := e.windows["W-A"]
			if r := tc.remove(e); r != Applied {
				t.Fatalf("removing A: %v", r)
			}
			if r := e.PutWindow(t0, &b); r != Applied {
				t.Fatalf("PutWindow(B) = %v", r)
			}
			if got := e.windows["W-B"]; got != slot {
				t.Fatalf("B is in slot %d, A was in %d: the test needs B in A's slot", got, slot)
			}
			for _, step := range []struct {
				at      int64
				pending bool // B not open yet
			}{
				{t0 + h + 60_000, true},   // A's start
				{t0 + 2*h + 60_000, true}, // A's end
				{t0 + 3*h + 60_000, false},
			} {
				e.ResetEvents()
				e.advance(step.at, step.at)
				w := e.win(e.windows["W-B"])
				if w == nil {
					t.Fatalf("at +%d min: B is gone (%v)", (step.at-t0)/60_000, e.Events())
				}
				if got := w.phase == phasePending; got != step.pending || hasEvent(e, EvTrackingStarted, "W-B") == step.pending {
					t.Fatalf("at +%d min: B pending %v, want %v (events %v)", (step.at-t0)/60_000, got, step.pending, e.Events())
				}
			}
		})
	}
}

// TestCarSlotReuse checks that the park-dwell timer of a forgotten car stays
// moot once a later car takes its slot: car X rests (its timer due at
// +120 s), its window is deleted, car Y takes X's slot and rests from +60 s;
// X's timer must not touch Y, which parks at +180 s on its own timer.
func TestCarSlotReuse(t *testing.T) {
	e := testEngine(t)
	x := Window{ID: "W-X", Kind: KindDelivery, VIN: "VX000000000000001", Start: t0 - 60_000, End: t0 + 10*3600_000, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
	y := x
	y.ID, y.VIN = "W-Y", "VY000000000000001"
	ping := func(vin string, ts int64) {
		t.Helper()
		p := CarPing{VIN: []byte(vin), TS: ts, Lat: 48.1372, Lng: 11.5756, HasAccuracy: true, AccuracyM: 5}
		if r := e.CarPing(ts, &p); r != Applied {
			t.Fatalf("ping of %s at +%d s: %v", vin, (ts-t0)/1000, r)
		}
	}
	if r := e.PutWindow(t0, &x); r != Applied {
		t.Fatalf("PutWindow(X) = %v", r)
	}
	ping(x.VIN, t0)
	slot := e.byVIN[x.VIN]
	if r := e.DeleteWindow(t0+1000, "W-X"); r != Applied {
		t.Fatalf("DeleteWindow(X) = %v", r)
	}
	if r := e.PutWindow(t0+1000, &y); r != Applied {
		t.Fatalf("PutWindow(Y) = %v", r)
	}
	if got := e.byVIN[y.VIN]; got != slot {
		t.Fatalf("car Y is in slot %d, X was in %d: the test needs Y in X's slot", got, slot)
	}
	ping(y.VIN, t0+60_000)
	if len(e.dwells) != 2 {
		t.Fatalf("%d park-dwell timers, want X's and Y's", len(e.dwells))
	}
	e.ResetEvents()
	e.advance(t0+121_000, t0+121_000) // X's timer
	if len(e.dwells) != 1 || e.carOf(slot).state.dwellAt != t0+180_000 || hasEvent(e, EvCarParked, "W-Y") {
		t.Fatalf("after X's timer: %d timers, Y's due at %+d ms, events %v; want Y's timer alone, at +180 s, no car_parked",
			len(e.dwells), e.carOf(slot).state.dwellAt-t0, e.Events())
	}
	e.advance(t0+181_000, t0+181_000)
	if !hasEvent(e, EvCarParked, "W-Y") {
		t.Fatalf("Y did not park on its own timer: events %v", e.Events())
	}
}

// TestSlab checks the slab's contract: slots from 1, values that never move
// while more chunks are added, released slots handed out again last first.
func TestSlab(t *testing.T) {
	var s slab[int64]
	const n = 3*(1<<slabChunkShift) + 5 // over three chunks
	ptrs := make([]*int64, n+1)
	for i := 1; i <= n; i++ {
		r, p := s.alloc()
		if r != int32(i) {
			t.Fatalf("alloc %d returned slot %d", i, r)
		}
		*p = int64(i) * 10
		ptrs[i] = p
	}
	for i := 1; i <= n; i++ {
		if p := s.at(int32(i)); p != ptrs[i] || *p != int64(i)*10 {
			t.Fatalf("slot %d: at = %p holding %d, alloc gave %p with %d", i, p, *p, ptrs[i], int64(i)*10)
		}
	}
	for _, tc := range []struct {
		release []int32
		want    []int32 // slots of the following allocs
	}{
		{[]int32{7, 2000}, []int32{2000, 7, n + 1}},
		{nil, []int32{n + 2}},
		{[]int32{1}, []int32{1, n + 3}},
	} {
		for _, r := range tc.release {
			s.release(r)
		}
		for _, want := range tc.want {
			if r, p := s.alloc(); r != want || p != s.at(want) {
				t.Fatalf("after releasing %v: alloc = slot %d, want %d", tc.release, r, want)
			}
		}
	}
	if p := s.at(5); p != ptrs[5] {
		t.Fatal("slot 5 moved")
	}
}
