package geo

import (
	"math"
	"slices"

	h3 "github.com/uber/h3-go/v4"
)

// avgEdgeM is the average hexagon edge length in metres per resolution, as
// H3's getHexagonEdgeLengthAvgM reports it (checked by a test).
var avgEdgeM = [MaxResolution + 1]float64{
	1281256.011, 483056.8391, 182512.9565, 68979.22179, 26071.75968,
	9854.09099, 3724.532667, 1406.475763, 531.4140101, 200.7861476,
	75.86378287, 28.66389748, 10.83018784, 4.092010473, 1.546099657,
	0.58416863,
}

// Bounds on H3 cell geometry, in units of the resolution's average edge
// length. They hold for every cell of the globe, pentagons and cells cut by
// icosahedron edges included, with a margin over what was measured: the
// clearances on the neighbourhoods of the twelve pentagons and on random
// cells at resolutions 6, 9 and 10 (k up to 30), the cell reach on every
// cell of resolutions 0..5. The property tests check both.
const (
	// diskSlack: for k >= 1, every cell outside GridDisk(A, k) is more than
	// (k - diskSlack) average edges away from every point of A. Measured:
	// at least 0.70 edges at k = 1 (next to a pentagon), growing by at least
	// 1.03 edges per step of k; on a regular hexagonal grid it is 1.5k - 0.5.
	diskSlack = 0.5
	// cellReach bounds the distance from a cell's centre to any of its
	// points. Measured maximum: 1.0998 edges.
	cellReach = 1.2
)

// AvgEdgeM returns the average edge length in metres of H3 hexagons at
// resolution res, or NaN when res is outside 0..15.
func AvgEdgeM(res int) float64 {
	if res < 0 || res > MaxResolution {
		return math.NaN()
	}
	return avgEdgeM[res]
}

// DiskK returns the smallest k that this package can prove sufficient for a
// radius: every point within radiusM of any point of any cell C at resolution
// res lies in a cell of GridDisk(C, k).
//
// The bound is k = floor(radiusM/e + 0.5) + 1, where e is the average edge
// length at res (see [AvgEdgeM]): a cell outside GridDisk(C, k) is at least
// (k - 0.5)e away from C everywhere on the globe. It is conservative, never
// tight: where the grid is regular the true clearance is about 1.5k - 0.5
// edges. A radius that is not positive yields 1 (a point on C's edge is
// next to a neighbour). DiskK returns -1 when res is outside 0..15.
//
// Examples at resolution 10 (e = 75.9 m): 30 m -> 1, 100 m -> 2,
// 300 m -> 5, 1000 m -> 14 (a disk of 631 cells), 2000 m -> 27.
func DiskK(radiusM float64, res int) int {
	if res < 0 || res > MaxResolution {
		return -1
	}
	if !(radiusM > 0) {
		radiusM = 0
	}
	return int(radiusM/avgEdgeM[res]+diskSlack) + 1
}

// DiskLen returns the number of cells of a grid disk of radius k away from
// pentagons: 3k(k+1)+1.
func DiskLen(k int) int { return 3*k*(k+1) + 1 }

// CellSet is an immutable set of H3 cells stored as a sorted slice. The zero
// value is the empty set. A CellSet is safe for concurrent reads; copying it
// copies a slice header, not the cells.
type CellSet struct {
	cells []int64 // sorted ascending, no duplicates, no zero
}

// NewCellSet returns the set of the given cells. It copies cells (the caller
// keeps ownership of the slice) and drops duplicates and zeros.
func NewCellSet(cells []int64) CellSet {
	s := make([]int64, 0, len(cells))
	for _, c := range cells {
		if c != 0 {
			s = append(s, c)
		}
	}
	slices.Sort(s)
	s = slices.Compact(s)
	return CellSet{cells: slices.Clip(s)}
}

// Contains reports whether c is in s. It is a binary search and does not
// allocate.
func (s CellSet) Contains(c int64) bool {
	cells := s.cells
	lo, hi := 0, len(cells)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cells[m] < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(cells) && cells[lo] == c
}

// Len returns the number of cells in s.
func (s CellSet) Len() int { return len(s.cells) }

// Cells returns the cells of s in ascending order. The slice is shared with
// s and must not be modified.
func (s CellSet) Cells() []int64 { return s.cells }

// Disk returns the cells within grid distance k of origin (k = 0 is origin
// alone), as H3's gridDisk computes them, pentagon distortion included. It
// returns the empty set when origin is not a valid cell or k is negative.
//
// Disk makes one cgo call and allocates the set; compute it once per origin
// (when a car parks, when a window loads), not per ping. A disk holds
// [DiskLen](k) cells: 631 for k = 14, the disk of a 1000 m radius at
// resolution 10.
func Disk(origin int64, k int) CellSet {
	if k < 0 || !h3.Cell(origin).IsValid() {
		return CellSet{}
	}
	disk, err := h3.GridDisk(h3.Cell(origin), k)
	if err != nil {
		return CellSet{}
	}
	cells := make([]int64, 0, len(disk))
	for _, c := range disk {
		if c != 0 {
			cells = append(cells, int64(c))
		}
	}
	slices.Sort(cells)
	return CellSet{cells: slices.Compact(cells)}
}
