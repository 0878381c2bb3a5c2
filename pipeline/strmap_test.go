package pipeline

import (
	"fmt"
	"testing"
	"unsafe"
)

// TestStringMapShrinks: a stringMap keeps every entry it is given and no
// other, and once deletions leave it at under a quarter of its peak (of at
// least shrinkMin entries) it moves to a map of its size.
func TestStringMapShrinks(t *testing.T) {
	for _, tc := range []struct {
		name       string
		add, keep  int
		wantShrunk bool
	}{
		{"small maps never shrink", shrinkMin - 1, 0, false},
		{"a quarter or more stays", 4 * shrinkMin, shrinkMin, false},
		{"under a quarter shrinks", 4 * shrinkMin, shrinkMin - 1, true},
		{"emptied", 2 * shrinkMin, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m stringMap[int]
			key := func(i int) string { return fmt.Sprintf("W-%06d", i) }
			for i := range tc.add {
				m.set(key(i), i)
			}
			before := m.m
			for i := tc.keep; i < tc.add; i++ {
				m.del(key(i))
			}
			m.del("never-set")
			if m.len() != tc.keep {
				t.Fatalf("len %d, want %d", m.len(), tc.keep)
			}
			for i := range tc.add {
				v, ok := m.get(key(i))
				if want := i < tc.keep; ok != want || ok && v != i {
					t.Fatalf("get(%s) = %d, %v; want %d, %v", key(i), v, ok, i, want)
				}
			}
			// A new map has a new identity; the old one is never written
			// again once replaced.
			shrunk := fmt.Sprintf("%p", m.m) != fmt.Sprintf("%p", before)
			if shrunk != tc.wantShrunk {
				t.Fatalf("shrunk %v, want %v (peak now %d)", shrunk, tc.wantShrunk, m.peak)
			}
			if shrunk && (m.peak < m.len() || m.peak >= tc.add/4) {
				t.Fatalf("peak %d after shrinking from %d to %d entries", m.peak, tc.add, m.len())
			}
		})
	}
}

// TestStateSizes guards the sizes the memory scenario's footprint is made
// of: a window is 96 bytes and a car 80 with its cached anchor cell (slots
// of the engine's slabs), and timers are 32 and 24 bytes.
func TestStateSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"window", unsafe.Sizeof(window{}), 96},
		{"car", unsafe.Sizeof(car{}), 80},
		{"timer", unsafe.Sizeof(timer{}), 32},
		{"dwellTimer", unsafe.Sizeof(dwellTimer{}), 24},
	} {
		if tc.got != tc.want {
			t.Errorf("%s is %d bytes, want %d", tc.name, tc.got, tc.want)
		}
	}
}
