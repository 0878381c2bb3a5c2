package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	h3 "github.com/uber/h3-go/v4"
)

// Resolutions and radii over which the prefilters are proven conservative:
// the engine's default resolution (10) with its park, arrival, approach and
// delivery radii, and the neighbouring resolutions a deployment may choose.
var (
	propertyResolutions = []int{7, 8, 9, 10, 11, 12}
	propertyRadii       = []float64{30, 50, 100, 300, 1000, 2000}
)

func TestAvgEdgeMatchesH3(t *testing.T) {
	for res := range MaxResolution + 1 {
		want, err := h3.HexagonEdgeLengthAvgM(res)
		if err != nil {
			t.Fatal(err)
		}
		if got := AvgEdgeM(res); math.Abs(got-want) > 1e-9*want {
			t.Errorf("AvgEdgeM(%d) = %v, h3 says %v", res, got, want)
		}
	}
	for _, res := range []int{-1, MaxResolution + 1} {
		if got := AvgEdgeM(res); !math.IsNaN(got) {
			t.Errorf("AvgEdgeM(%d) = %v, want NaN", res, got)
		}
	}
}

// TestDiskK pins the disk sizes the engine works with (the doc comment of
// DiskK quotes the resolution 10 rows).
func TestDiskK(t *testing.T) {
	tests := []struct {
		radiusM float64
		res     int
		want    int
	}{
		{30, 10, 1},
		{50, 10, 2},
		{100, 10, 2},
		{300, 10, 5},
		{1000, 10, 14},
		{2000, 10, 27},
		{1000, 7, 2},
		{1000, 9, 6},
		{1000, 11, 36},
		{1000, 12, 93},
		{0, 10, 1},
		{-5, 10, 1},
		{math.NaN(), 10, 1},
		{100, -1, -1},
		{100, 16, -1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%gm res %d", tt.radiusM, tt.res), func(t *testing.T) {
			if got := DiskK(tt.radiusM, tt.res); got != tt.want {
				t.Fatalf("DiskK(%v, %d) = %d, want %d", tt.radiusM, tt.res, got, tt.want)
			}
		})
	}
	if n := DiskLen(DiskK(1000, 10)); n != 631 {
		t.Fatalf("disk of 1000 m at resolution 10 holds %d cells, doc says 631", n)
	}
}

// TestCellReach checks the bound NewCircle prunes with: no point of a cell is
// farther than cellReach average edges from its centre.
func TestCellReach(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, res := range propertyResolutions {
		cells := pentagonNeighbourhood(t, res, 2)
		for range 2000 {
			lat, lng := randomPoint(rng)
			cells = append(cells, h3.Cell(Cell(lat, lng, res)))
		}
		limit := cellReach * AvgEdgeM(res)
		for _, c := range cells {
			center, boundary := cellGeometry(t, c)
			for _, v := range boundary {
				if d := DistanceM(center.Lat, center.Lng, v.Lat, v.Lng); d > limit {
					t.Fatalf("res %d cell %s: vertex %.2f m from the centre, bound %.2f m", res, c, d, limit)
				}
			}
		}
	}
}

func cellGeometry(t testing.TB, c h3.Cell) (h3.LatLng, h3.CellBoundary) {
	t.Helper()
	center, err := c.LatLng()
	if err != nil {
		t.Fatal(err)
	}
	boundary, err := c.Boundary()
	if err != nil {
		t.Fatal(err)
	}
	return center, boundary
}

// pentagonNeighbourhood returns the cells within grid distance k of the
// twelve pentagons at res, where H3's grid is most distorted.
func pentagonNeighbourhood(t testing.TB, res, k int) []h3.Cell {
	t.Helper()
	pentagons, err := h3.Pentagons(res)
	if err != nil {
		t.Fatal(err)
	}
	var cells []h3.Cell
	for _, p := range pentagons {
		disk, err := p.GridDisk(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range disk {
			if c != 0 {
				cells = append(cells, c)
			}
		}
	}
	return cells
}

// origin is a point whose cell is the centre of a disk under test.
type origin struct{ lat, lng float64 }

// origins returns deterministic points at res whose cells are the centres
// of disks of radius k: a third uniform on the sphere, a third next to a cell
// vertex (the worst place for a disk: the far side of the cell is as far as
// it gets), a third next to a pentagon, where the grid is most distorted.
// H3 computes disks that reach a pentagon on a slow path (about a second for
// k = 186), so disks of more than pentagonalMaxK take their last third next
// to vertices too; their pentagon neighbourhood is covered at coarser
// resolutions.
func origins(t testing.TB, rng *rand.Rand, res, k int) []origin {
	t.Helper()
	const pentagonalMaxK = 40
	pentagonal := pentagonNeighbourhood(t, res, 1)
	n := min(48, max(6, 60000/DiskLen(k))) // same work for small and large disks
	out := make([]origin, 0, n)
	for i := range n {
		lat, lng := randomPoint(rng)
		switch {
		case i%3 == 2 && k <= pentagonalMaxK:
			lat, lng = nearVertex(t, rng, pentagonal[rng.IntN(len(pentagonal))])
		case i%3 != 0:
			lat, lng = nearVertex(t, rng, h3.Cell(Cell(lat, lng, res)))
		}
		out = append(out, origin{lat, lng})
	}
	return out
}

// nearVertex returns a point of c (or of a neighbour, if rounding says so)
// a millionth of the way from a random vertex towards the centre.
func nearVertex(t testing.TB, rng *rand.Rand, c h3.Cell) (float64, float64) {
	center, boundary := cellGeometry(t, c)
	v := boundary[rng.IntN(len(boundary))]
	return Destination(v.Lat, v.Lng, initialBearing(v.Lat, v.Lng, center.Lat, center.Lng),
		1e-6*DistanceM(v.Lat, v.Lng, center.Lat, center.Lng))
}

func initialBearing(lat1, lng1, lat2, lng2 float64) float64 {
	phi1, phi2 := lat1*degToRad, lat2*degToRad
	dl := (lng2 - lng1) * degToRad
	return math.Atan2(math.Sin(dl)*math.Cos(phi2), math.Cos(phi1)*math.Sin(phi2)-math.Sin(phi1)*math.Cos(phi2)*math.Cos(dl)) * radToDeg
}

// pointsWithin calls f with n points within radiusM of (lat, lng): half on
// the circle itself (the farthest a point gets) at evenly spread bearings,
// half spread uniformly over the disc.
func pointsWithin(rng *rand.Rand, lat, lng, radiusM float64, n int, f func(lat, lng float64)) {
	offset := rng.Float64() * 360
	for i := range n {
		var bearing, d float64
		if i%2 == 0 {
			bearing, d = offset+float64(i)*360/float64(n), radiusM
		} else {
			bearing, d = rng.Float64()*360, radiusM*math.Sqrt(rng.Float64())
		}
		qlat, qlng := Destination(lat, lng, bearing, d)
		if DistanceM(lat, lng, qlat, qlng) > radiusM {
			// Rounding put the point outside; pull it in by a micrometre.
			qlat, qlng = Destination(lat, lng, bearing, d-1e-6)
		}
		f(qlat, qlng)
	}
}

const pointsPerOrigin = 96

// TestDiskCoversRadius proves the contract of DiskK and Disk: every point
// within the radius of any point of a cell lies in the cell's disk.
func TestDiskCoversRadius(t *testing.T) {
	for _, res := range propertyResolutions {
		for _, radiusM := range propertyRadii {
			t.Run(fmt.Sprintf("res %d/%gm", res, radiusM), func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(uint64(res), math.Float64bits(radiusM)))
				k := DiskK(radiusM, res)
				checked := 0
				for _, o := range origins(t, rng, res, k) {
					cell := Cell(o.lat, o.lng, res)
					disk := Disk(cell, k)
					pointsWithin(rng, o.lat, o.lng, radiusM, pointsPerOrigin, func(lat, lng float64) {
						checked++
						if c := Cell(lat, lng, res); !disk.Contains(c) {
							t.Fatalf("point (%v, %v) is %.3f m from (%v, %v) in cell %x, but its cell %x is not in Disk(%x, %d)",
								lat, lng, DistanceM(o.lat, o.lng, lat, lng), o.lat, o.lng, cell, c, cell, k)
						}
					})
				}
				if checked == 0 {
					t.Fatal("no point checked")
				}
			})
		}
	}
}

// TestCircleCover proves the contract of Circle.Cover: every point within
// the radius lies in a cell of the cover.
func TestCircleCover(t *testing.T) {
	for _, res := range propertyResolutions {
		for _, radiusM := range propertyRadii {
			t.Run(fmt.Sprintf("res %d/%gm", res, radiusM), func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(uint64(res)+100, math.Float64bits(radiusM)))
				k := DiskK(radiusM, res)
				for _, o := range origins(t, rng, res, k) {
					c := NewCircle(o.lat, o.lng, radiusM, res)
					disk := Disk(Cell(o.lat, o.lng, res), k)
					if c.Cover.Len() == 0 || c.Cover.Len() > disk.Len() {
						t.Fatalf("cover of %d cells, disk of %d", c.Cover.Len(), disk.Len())
					}
					pointsWithin(rng, o.lat, o.lng, radiusM, pointsPerOrigin, func(lat, lng float64) {
						if !c.Contains(lat, lng) {
							t.Fatalf("point (%v, %v) %.3f m from the centre is not contained in a %g m circle",
								lat, lng, DistanceM(o.lat, o.lng, lat, lng), radiusM)
						}
						if cell := Cell(lat, lng, res); !c.MayContainCell(cell) {
							t.Fatalf("point (%v, %v) %.3f m from (%v, %v): its cell %x is not in the cover",
								lat, lng, DistanceM(o.lat, o.lng, lat, lng), o.lat, o.lng, cell)
						}
					})
				}
			})
		}
	}
}

func TestCircle(t *testing.T) {
	const lat, lng = 48.1372, 11.5756
	c := NewCircle(lat, lng, 300, 10)
	tests := []struct {
		name     string
		lat, lng float64
		want     bool
	}{
		{"centre", lat, lng, true},
		{"299 m north", 0, 0, true},
		{"301 m east", 0, 0, false},
		{"far away", 52.52, 13.405, false},
	}
	tests[1].lat, tests[1].lng = Destination(lat, lng, 0, 299)
	tests[2].lat, tests[2].lng = Destination(lat, lng, 90, 301)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Contains(tt.lat, tt.lng); got != tt.want {
				t.Fatalf("Contains = %v, want %v", got, tt.want)
			}
			if tt.want && !c.MayContainCell(Cell(tt.lat, tt.lng, 10)) {
				t.Fatal("MayContainCell = false for a contained point")
			}
		})
	}
	if c.MayContainCell(Cell(52.52, 13.405, 10)) {
		t.Error("MayContainCell = true for a cell 500 km away")
	}
	// The pruned cover is smaller than the disk it comes from.
	if n, k := c.Cover.Len(), DiskLen(DiskK(300, 10)); n >= k {
		t.Errorf("cover has %d cells, not fewer than the %d of its disk", n, k)
	}
	for _, bad := range []Circle{
		NewCircle(math.NaN(), 0, 300, 10),
		NewCircle(100, 0, 300, 10),
		NewCircle(lat, lng, 300, 16),
	} {
		if bad.Cover.Len() != 0 {
			t.Errorf("NewCircle(%v, %v, ...) has a cover of %d cells, want none", bad.Lat, bad.Lng, bad.Cover.Len())
		}
	}
}

func TestDisk(t *testing.T) {
	munich := Cell(48.137154, 11.576124, 10)
	pentagon := int64(0x8a0800000007fff) // resolution 10 pentagon of base cell 4
	tests := []struct {
		name   string
		origin int64
		k      int
		want   int
	}{
		{"k 0 is the origin", munich, 0, 1},
		{"k 1", munich, 1, 7},
		{"k 14", munich, 14, DiskLen(14)},
		{"pentagon k 1", pentagon, 1, 6},
		{"pentagon k 3", pentagon, 3, 1 + 5*3*4/2},
		{"negative k", munich, -1, 0},
		{"invalid origin", 42, 1, 0},
		{"zero origin", 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Disk(tt.origin, tt.k)
			if d.Len() != tt.want {
				t.Fatalf("Disk(%x, %d).Len() = %d, want %d", tt.origin, tt.k, d.Len(), tt.want)
			}
			if !slices.IsSorted(d.Cells()) {
				t.Fatal("cells are not sorted")
			}
			if tt.want > 0 && !d.Contains(tt.origin) {
				t.Fatal("disk does not contain its origin")
			}
			want, err := h3.GridDisk(h3.Cell(tt.origin), max(tt.k, 0))
			if tt.want == 0 || err != nil {
				return
			}
			for _, c := range want {
				if c != 0 && !d.Contains(int64(c)) {
					t.Fatalf("cell %s of h3.GridDisk missing", c)
				}
			}
		})
	}
}

func TestCellSet(t *testing.T) {
	in := []int64{5, 3, 0, 9, 3, 7}
	s := NewCellSet(in)
	if !slices.Equal(in, []int64{5, 3, 0, 9, 3, 7}) {
		t.Fatal("NewCellSet modified its input")
	}
	if got := s.Cells(); !slices.Equal(got, []int64{3, 5, 7, 9}) {
		t.Fatalf("Cells = %v", got)
	}
	tests := []struct {
		c    int64
		want bool
	}{{3, true}, {5, true}, {7, true}, {9, true}, {0, false}, {1, false}, {4, false}, {10, false}, {-1, false}}
	for _, tt := range tests {
		if got := s.Contains(tt.c); got != tt.want {
			t.Errorf("Contains(%d) = %v, want %v", tt.c, got, tt.want)
		}
	}
	var empty CellSet
	if empty.Len() != 0 || empty.Contains(0) || empty.Contains(3) {
		t.Error("the zero CellSet is not empty")
	}
	if NewCellSet(nil).Len() != 0 {
		t.Error("NewCellSet(nil) is not empty")
	}
}

func BenchmarkCellSetContains(b *testing.B) {
	origin := Cell(48.137154, 11.576124, 10)
	set := Disk(origin, DiskK(1000, 10))
	probe := set.Cells()[set.Len()/3]
	b.ReportAllocs()
	var hit bool
	for b.Loop() {
		hit = set.Contains(probe)
	}
	_ = hit
}

func BenchmarkDisk(b *testing.B) {
	origin := Cell(48.137154, 11.576124, 10)
	for _, radiusM := range []float64{50, 300, 1000} {
		k := DiskK(radiusM, 10)
		b.Run(fmt.Sprintf("%gm/k=%d", radiusM, k), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Disk(origin, k)
			}
		})
	}
}

func BenchmarkNewCircle(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewCircle(48.1372, 11.5756, 300, 10)
	}
}
