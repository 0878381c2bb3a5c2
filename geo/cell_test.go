package geo

import (
	"math"
	"math/rand/v2"
	"testing"

	h3 "github.com/uber/h3-go/v4"
)

func TestCell(t *testing.T) {
	tests := []struct {
		name     string
		lat, lng float64
		res      int
		valid    bool
	}{
		{"munich res 10", 48.137154, 11.576124, 10, true},
		{"munich res 0", 48.137154, 11.576124, 0, true},
		{"munich res 15", 48.137154, 11.576124, 15, true},
		{"north pole", 90, 0, 10, true},
		{"antimeridian", -16.5, 180, 10, true},
		{"null island", 0, 0, 10, true},
		{"resolution -1", 48.1, 11.5, -1, false},
		{"resolution 16", 48.1, 11.5, 16, false},
		{"NaN latitude", math.NaN(), 11.5, 10, false},
		{"infinite longitude", 48.1, math.Inf(1), 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Cell(tt.lat, tt.lng, tt.res)
			if !tt.valid {
				if got != 0 {
					t.Fatalf("Cell = %x, want 0", got)
				}
				return
			}
			want, err := h3.LatLngToCell(h3.LatLng{Lat: tt.lat, Lng: tt.lng}, tt.res)
			if err != nil {
				t.Fatal(err)
			}
			if got != int64(want) {
				t.Fatalf("Cell = %x, want %x", got, int64(want))
			}
			if r := CellResolution(got); r != tt.res {
				t.Fatalf("CellResolution = %d, want %d", r, tt.res)
			}
		})
	}
}

// TestCellMatchesH3 checks Cell against the h3-go binding it bypasses.
func TestCellMatchesH3(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 20000 {
		lat, lng := randomPoint(rng)
		res := i % (MaxResolution + 1)
		want, err := h3.LatLngToCell(h3.LatLng{Lat: lat, Lng: lng}, res)
		if err != nil {
			t.Fatal(err)
		}
		if got := Cell(lat, lng, res); got != int64(want) {
			t.Fatalf("Cell(%v, %v, %d) = %x, h3 says %x", lat, lng, res, got, int64(want))
		}
	}
}

func TestCellCenter(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range 5000 {
		lat, lng := randomPoint(rng)
		c := Cell(lat, lng, i%(MaxResolution+1))
		want, err := h3.CellToLatLng(h3.Cell(c))
		if err != nil {
			t.Fatal(err)
		}
		clat, clng, ok := CellCenter(c)
		if !ok || math.Abs(clat-want.Lat) > 1e-12 || math.Abs(clng-want.Lng) > 1e-12 {
			t.Fatalf("CellCenter(%x) = (%v, %v, %v), h3 says (%v, %v)", c, clat, clng, ok, want.Lat, want.Lng)
		}
		if back := Cell(clat, clng, i%(MaxResolution+1)); back != c {
			t.Fatalf("the centre of %x is in cell %x", c, back)
		}
	}
	for _, c := range []int64{0, -1, 42} {
		if _, _, ok := CellCenter(c); ok {
			t.Errorf("CellCenter(%x) ok for an invalid cell", c)
		}
	}
}

func TestCellResolutionInvalid(t *testing.T) {
	for _, c := range []int64{0, -1, 42} {
		if r := CellResolution(c); r != -1 {
			t.Errorf("CellResolution(%x) = %d, want -1", c, r)
		}
	}
}

func TestAppendCellHex(t *testing.T) {
	tests := []struct {
		name string
		dst  string
		cell int64
		want string
	}{
		{"res 10", "", 0x8a1f8d2a1b47fff, "8a1f8d2a1b47fff"},
		{"res 0", "", 0x8001fffffffffff, "8001fffffffffff"},
		{"appends", `"h3":"`, 0x8a1f8d2a1b47fff, `"h3":"8a1f8d2a1b47fff`},
		{"zero", "", 0, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendCellHex([]byte(tt.dst), tt.cell)); got != tt.want {
				t.Fatalf("AppendCellHex = %q, want %q", got, tt.want)
			}
		})
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var buf []byte
	for range 1000 {
		lat, lng := randomPoint(rng)
		c := Cell(lat, lng, rng.IntN(MaxResolution+1))
		buf = AppendCellHex(buf[:0], c)
		if want := h3.CellToString(h3.Cell(c)); string(buf) != want {
			t.Fatalf("AppendCellHex(%d) = %q, h3 says %q", c, buf, want)
		}
	}
}

func TestValidLatLng(t *testing.T) {
	tests := []struct {
		name     string
		lat, lng float64
		want     bool
	}{
		{"munich", 48.137154, 11.576124, true},
		{"corners", -90, -180, true},
		{"other corners", 90, 180, true},
		{"null island", 0, 0, true},
		{"latitude over", 90.000001, 0, false},
		{"latitude under", -90.5, 0, false},
		{"longitude over", 0, 180.1, false},
		{"longitude under", 0, -181, false},
		{"NaN latitude", math.NaN(), 0, false},
		{"NaN longitude", 0, math.NaN(), false},
		{"infinite latitude", math.Inf(-1), 0, false},
		{"infinite longitude", 0, math.Inf(1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidLatLng(tt.lat, tt.lng); got != tt.want {
				t.Fatalf("ValidLatLng(%v, %v) = %v, want %v", tt.lat, tt.lng, got, tt.want)
			}
		})
	}
}

func TestAllocs(t *testing.T) {
	set := Disk(Cell(48.137154, 11.576124, 10), 14)
	circle := NewCircle(48.1372, 11.5756, 300, 10)
	buf := make([]byte, 0, 32)
	var sink float64
	var hit bool
	tests := []struct {
		name string
		f    func()
	}{
		{"Cell", func() { _ = Cell(48.137154, 11.576124, 10) }},
		{"CellCenter", func() { sink, _, _ = CellCenter(0x8a1f8d2a1b47fff) }},
		{"DistanceM", func() { sink += DistanceM(48.137154, 11.576124, 48.1375, 11.5760) }},
		{"CellSet.Contains", func() { hit = set.Contains(0x8a1f8d2a1b47fff) }},
		{"AppendCellHex", func() { buf = AppendCellHex(buf[:0], 0x8a1f8d2a1b47fff) }},
		{"Circle.Contains", func() { hit = circle.Contains(48.1375, 11.5760) }},
		{"Circle.MayContainCell", func() { hit = circle.MayContainCell(0x8a1f8d2a1b47fff) }},
		{"Destination", func() { sink, _ = Destination(48.1, 11.5, 90, 100) }},
		{"ValidLatLng", func() { hit = ValidLatLng(48.1, 11.5) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
				t.Fatalf("%s allocates %v times per call, want 0", tt.name, n)
			}
		})
	}
	_, _ = sink, hit
}

func BenchmarkCell(b *testing.B) {
	b.ReportAllocs()
	var c int64
	for b.Loop() {
		c = Cell(48.137154, 11.576124, 10)
	}
	_ = c
}

func BenchmarkAppendCellHex(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 32)
	for b.Loop() {
		buf = AppendCellHex(buf[:0], 0x8a1f8d2a1b47fff)
	}
}
