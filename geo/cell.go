package geo

// latLngToCell and cellToLatLng are H3's C functions, compiled into the
// binary by the h3-go package. Calling them directly instead of through
// h3.LatLngToCell and h3.CellToLatLng keeps their arguments on the Go stack
// (noescape): indexing a fix does not allocate. TestCellMatchesH3 and
// TestCellCenter check that both ways give the same results.

/*
#include <stdint.h>
typedef struct { double lat; double lng; } geoLatLng;
uint32_t latLngToCell(const geoLatLng *g, int res, uint64_t *out);
uint32_t cellToLatLng(uint64_t cell, geoLatLng *g);
#cgo noescape latLngToCell
#cgo nocallback latLngToCell
#cgo noescape cellToLatLng
#cgo nocallback cellToLatLng
*/
import "C"

import (
	"strconv"

	h3 "github.com/uber/h3-go/v4"
)

// MaxResolution is the finest H3 resolution.
const MaxResolution = 15

// Cell returns the H3 cell of the fix (lat, lng) at resolution res, or 0 when
// H3 rejects the input (a resolution outside 0..15, a non-finite coordinate).
// Validate fixes with [ValidLatLng] first: H3 wraps out-of-range coordinates
// instead of rejecting them.
//
// Cell makes one cgo call, does not allocate and is safe for concurrent use.
func Cell(lat, lng float64, res int) int64 {
	g := C.geoLatLng{lat: C.double(lat * degToRad), lng: C.double(lng * degToRad)}
	var out C.uint64_t
	if C.latLngToCell(&g, C.int(res), &out) != 0 {
		return 0
	}
	return int64(out)
}

// CellCenter returns the centre of cell c in degrees; ok is false when c is
// not a valid cell. It makes one cgo call and does not allocate.
func CellCenter(c int64) (lat, lng float64, ok bool) {
	if !h3.Cell(c).IsValid() {
		return 0, 0, false
	}
	var g C.geoLatLng
	if C.cellToLatLng(C.uint64_t(c), &g) != 0 {
		return 0, 0, false
	}
	return float64(g.lat) * radToDeg, float64(g.lng) * radToDeg, true
}

// AppendCellHex appends the canonical string form of cell c (lowercase hex
// without leading zeros, as h3.CellToString writes it) to dst and returns the
// extended buffer. It does not allocate when dst has room for 16 bytes.
func AppendCellHex(dst []byte, c int64) []byte {
	return strconv.AppendUint(dst, uint64(c), 16)
}

// ValidLatLng reports whether (lat, lng) is a finite coordinate within
// [-90, 90] x [-180, 180]. NaN and infinities are invalid.
func ValidLatLng(lat, lng float64) bool {
	// Every comparison with NaN is false, and infinities are out of range.
	return lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180
}

// CellResolution returns the resolution of cell c, or -1 when c is not a
// valid H3 cell.
func CellResolution(c int64) int {
	if !h3.Cell(c).IsValid() {
		return -1
	}
	return h3.Cell(c).Resolution()
}
