package pipeline

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).UnixMilli()

// benchEngine returns an engine with n open windows (VINs V000000..) and the
// VIN of the first.
func benchEngine(tb testing.TB, n int) *Engine {
	tb.Helper()
	cfg := DefaultEngineConfig()
	cfg.GrantKey = scenarioKey
	e, err := NewEngine(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	for i := range n {
		w := Window{ID: fmt.Sprintf("W-%06d", i), Kind: KindDelivery, VIN: fmt.Sprintf("V%016d", i),
			Start: t0, End: t0 + 2*3600_000, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
		if r := e.PutWindow(t0-60_000, &w); r != Applied {
			tb.Fatalf("PutWindow: %v", r)
		}
	}
	e.Tick(t0)
	return e
}

// TestCarPingAllocs holds the per-ping allocation budget: nothing for a car
// without a window, and nothing for a windowed car whose ping changes no
// window state.
func TestCarPingAllocs(t *testing.T) {
	tests := []struct {
		name string
		vin  string
		max  float64
	}{
		{"no window", "WAUZZZ4G0FN999999", 0},
		{"windowed, moving", fmt.Sprintf("V%016d", 0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := benchEngine(t, 10)
			p := CarPing{VIN: []byte(tt.vin), TS: t0, Lat: 48.1372, Lng: 11.5756, HasAccuracy: true, AccuracyM: 5}
			e.CarPing(t0, &p)
			e.ResetEvents()
			allocs := testing.AllocsPerRun(200, func() {
				p.TS += 1000
				p.Lat += 0.0001 // 11 m/s: moving, never parks
				e.CarPing(p.TS, &p)
				e.ResetEvents()
			})
			if allocs > tt.max {
				t.Errorf("%.1f allocations per ping, budget %.0f", allocs, tt.max)
			}
		})
	}
}

func BenchmarkEngineCarPing(b *testing.B) {
	for _, bc := range []struct {
		name string
		vin  string
	}{
		{"no_window", "WAUZZZ4G0FN999999"},
		{"windowed", fmt.Sprintf("V%016d", 0)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := benchEngine(b, 1000)
			p := CarPing{VIN: []byte(bc.vin), TS: t0, Lat: 48.1372, Lng: 11.5756}
			b.ReportAllocs()
			for b.Loop() {
				p.TS += 1000
				p.Lat += 0.0001
				if p.Lat > 48.2 {
					p.Lat = 48.1372
				}
				e.CarPing(p.TS, &p)
				e.ResetEvents()
			}
		})
	}
}
