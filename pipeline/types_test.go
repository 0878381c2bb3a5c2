package pipeline

import (
	"testing"
	"unsafe"
)

// TestWindowPack: packing keeps every string of a window as it was, in one
// allocation.
func TestWindowPack(t *testing.T) {
	for _, tc := range []struct{ id, order, vin string }{
		{"W-1", "O-1", "WAUZZZ4G0FN000001"},
		{"W-2", "", "WAUZZZ4G0FN000002"},
		{"6f1c2a9e-3b1d-4c55-9e0a-8d2f61b7c311", "b7a4e2d0-55e1-4a8f-a1c3-0f9e2d8c7b66", "1HGCM82633A004352"},
	} {
		w := &Window{ID: string([]byte(tc.id)), OrderID: string([]byte(tc.order)), VIN: string([]byte(tc.vin)), Start: 1, End: 2}
		w.pack()
		if w.ID != tc.id || w.OrderID != tc.order || w.VIN != tc.vin || w.Start != 1 || w.End != 2 {
			t.Fatalf("after pack: %+v, want id %q order %q vin %q", w, tc.id, tc.order, tc.vin)
		}
		base := unsafe.StringData(w.ID)
		if got := unsafe.StringData(w.VIN); got != (*byte)(unsafe.Add(unsafe.Pointer(base), len(tc.id)+len(tc.order))) {
			t.Fatalf("%s: the VIN does not follow the ids in one allocation", tc.id)
		}
	}
}
