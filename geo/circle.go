package geo

import "slices"

// Circle is a circular area: the points within RadiusM metres of (Lat, Lng).
// Cover holds every cell, at the resolution the circle was built for, that
// can contain a point of the area; cells outside Cover contain none.
//
// A Circle is immutable after [NewCircle] and safe for concurrent reads.
type Circle struct {
	Lat, Lng, RadiusM float64
	Cover             CellSet
}

// NewCircle returns the circle of radiusM metres around (lat, lng) with its
// cover at resolution res. The cover is the grid disk of [DiskK](radiusM,
// res) around the centre's cell, without the cells whose centre is too far
// away for any of their points to be inside. It calls into H3 once per cell
// of that disk: build circles when areas load, not per ping.
//
// When (lat, lng) is not a valid coordinate or res is outside 0..15, the
// cover is empty and [Circle.Contains] still answers exactly.
func NewCircle(lat, lng, radiusM float64, res int) Circle {
	c := Circle{Lat: lat, Lng: lng, RadiusM: radiusM}
	if !ValidLatLng(lat, lng) || res < 0 || res > MaxResolution {
		return c
	}
	disk := Disk(Cell(lat, lng, res), DiskK(radiusM, res))
	reach := max(radiusM, 0) + cellReach*avgEdgeM[res]
	// Disk's cells are this function's own: filter them in place, then
	// keep an exact copy, since circles live as long as their windows.
	cells := disk.cells[:0]
	for _, cell := range disk.cells {
		clat, clng, ok := CellCenter(cell)
		if !ok || DistanceM(lat, lng, clat, clng) <= reach {
			cells = append(cells, cell)
		}
	}
	c.Cover = CellSet{cells: slices.Clone(cells)} // a sorted subsequence stays sorted
	return c
}

// Contains reports whether (lat, lng) is within RadiusM of the centre, by
// exact great-circle distance. It does not allocate.
func (c *Circle) Contains(lat, lng float64) bool {
	return DistanceM(c.Lat, c.Lng, lat, lng) <= c.RadiusM
}

// MayContainCell reports whether cell, at the circle's resolution, can hold
// a point of the circle. false is definite; true calls for [Circle.Contains].
func (c *Circle) MayContainCell(cell int64) bool {
	return c.Cover.Contains(cell)
}
