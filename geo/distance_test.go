package geo

import (
	"math"
	"math/rand/v2"
	"testing"

	h3 "github.com/uber/h3-go/v4"
)

// randomPoint returns a point uniformly distributed on the sphere.
func randomPoint(rng *rand.Rand) (lat, lng float64) {
	return math.Asin(2*rng.Float64()-1) * radToDeg, rng.Float64()*360 - 180
}

func TestDistanceM(t *testing.T) {
	const degree = EarthRadiusM * math.Pi / 180
	tests := []struct {
		name                   string
		lat1, lng1, lat2, lng2 float64
		want, tol              float64
	}{
		{"same point", 48.137154, 11.576124, 48.137154, 11.576124, 0, 0},
		{"one degree of latitude", 10, 20, 11, 20, degree, 1e-6},
		{"one degree of longitude on the equator", 0, 20, 0, 21, degree, 1e-6},
		{"across the antimeridian", 0, 179.5, 0, -179.5, degree, 1e-6},
		{"pole to pole", 90, 0, -90, 0, math.Pi * EarthRadiusM, 1e-6},
		{"antipodes", 0, 0, 0, 180, math.Pi * EarthRadiusM, 1e-6},
		{"munich car to courier", 48.137154, 11.576124, 48.1375, 11.5760, 39.6, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DistanceM(tt.lat1, tt.lng1, tt.lat2, tt.lng2)
			if math.Abs(got-tt.want) > tt.tol {
				t.Fatalf("DistanceM = %.9f, want %.9f ± %v", got, tt.want, tt.tol)
			}
			if back := DistanceM(tt.lat2, tt.lng2, tt.lat1, tt.lng1); math.Abs(back-got) > 1e-9 {
				t.Fatalf("DistanceM is not symmetric: %v vs %v", got, back)
			}
		})
	}
	if d := DistanceM(math.NaN(), 0, 0, 0); !math.IsNaN(d) {
		t.Fatalf("DistanceM(NaN, ...) = %v, want NaN", d)
	}
}

// TestDistanceMMatchesH3 compares DistanceM with H3's haversine. H3 uses an
// Earth radius of 6371007.180918475 m, so its result is rescaled first.
func TestDistanceMMatchesH3(t *testing.T) {
	const h3RadiusM = 6371007.180918475
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 20000 {
		lat1, lng1 := randomPoint(rng)
		var lat2, lng2 float64
		switch i % 3 {
		case 0: // anywhere
			lat2, lng2 = randomPoint(rng)
		case 1: // city scale
			lat2, lng2 = Destination(lat1, lng1, rng.Float64()*360, rng.Float64()*3000)
		default: // GPS noise scale
			lat2, lng2 = Destination(lat1, lng1, rng.Float64()*360, rng.Float64()*2)
		}
		got := DistanceM(lat1, lng1, lat2, lng2)
		want := h3.GreatCircleDistanceM(h3.LatLng{Lat: lat1, Lng: lng1}, h3.LatLng{Lat: lat2, Lng: lng2}) *
			(EarthRadiusM / h3RadiusM)
		if math.Abs(got-want) > 1e-6+1e-9*want { // a micrometre, or 1e-9 relative
			t.Fatalf("DistanceM(%v, %v, %v, %v) = %.12f, h3 = %.12f", lat1, lng1, lat2, lng2, got, want)
		}
	}
}

func TestDestination(t *testing.T) {
	tests := []struct {
		name                   string
		lat, lng, bearing, dst float64
		wantLat, wantLng       float64
	}{
		{"north one degree", 10, 20, 0, EarthRadiusM * math.Pi / 180, 11, 20},
		{"east on the equator", 0, 20, 90, EarthRadiusM * math.Pi / 180, 0, 21},
		{"west across the antimeridian", 0, -179.5, 270, EarthRadiusM * math.Pi / 180, 0, 179.5},
		{"zero distance", 48.1, 11.5, 123, 0, 48.1, 11.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lat, lng := Destination(tt.lat, tt.lng, tt.bearing, tt.dst)
			if math.Abs(lat-tt.wantLat) > 1e-9 || math.Abs(lng-tt.wantLng) > 1e-9 {
				t.Fatalf("Destination = (%v, %v), want (%v, %v)", lat, lng, tt.wantLat, tt.wantLng)
			}
		})
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for range 10000 {
		lat, lng := randomPoint(rng)
		d := rng.Float64() * 5000
		lat2, lng2 := Destination(lat, lng, rng.Float64()*360, d)
		if !ValidLatLng(lat2, lng2) {
			t.Fatalf("Destination(%v, %v, _, %v) = (%v, %v): invalid", lat, lng, d, lat2, lng2)
		}
		if got := DistanceM(lat, lng, lat2, lng2); math.Abs(got-d) > 1e-6 {
			t.Fatalf("round trip: DistanceM = %v, want %v", got, d)
		}
	}
}

func BenchmarkDistanceM(b *testing.B) {
	b.ReportAllocs()
	var d float64
	for b.Loop() {
		d = DistanceM(48.137154, 11.576124, 48.1375, 11.5760)
	}
	_ = d
}

// TestDistanceBoundsM checks that the cheap bounds hold for the distance
// DistanceM computes, on random pairs at every scale from millimetres to
// the antipodes, near the poles and across the antimeridian, and that
// Beyond answers as the exact comparison does, also at thresholds right at
// the distance.
func TestDistanceBoundsM(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	scales := []float64{1e-9, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 90}
	near := [][2]float64{{0, 0}, {48.137154, 11.576124}, {89.9999, 10}, {-89.9999, -170}, {0.5, 179.9999}, {-33.9, -179.9999}}
	for i := range 200_000 {
		var lat1, lng1 float64
		if i%3 == 0 {
			lat1, lng1 = randomPoint(rng)
		} else {
			p := near[rng.IntN(len(near))]
			lat1, lng1 = p[0], p[1]
		}
		s := scales[rng.IntN(len(scales))]
		lat2 := max(-90, min(90, lat1+(2*rng.Float64()-1)*s))
		lng2 := lng1 + (2*rng.Float64()-1)*s
		if lng2 >= 180 {
			lng2 -= 360
		} else if lng2 < -180 {
			lng2 += 360
		}
		d := DistanceM(lat1, lng1, lat2, lng2)
		lo, hi := DistanceBoundsM(lat1, lng1, lat2, lng2)
		if !(lo <= d && d <= hi) {
			t.Fatalf("(%v, %v)-(%v, %v): distance %v outside bounds [%v, %v]", lat1, lng1, lat2, lng2, d, lo, hi)
		}
		for _, m := range []float64{d, math.Nextafter(d, 0), math.Nextafter(d, math.Inf(1)), d * 0.999, d * 1.001, 30, 0} {
			if got, want := Beyond(lat1, lng1, lat2, lng2, m), d > m; got != want {
				t.Fatalf("Beyond((%v, %v), (%v, %v), %v) = %v, distance %v", lat1, lng1, lat2, lng2, m, got, d)
			}
		}
	}
	nan := math.NaN()
	if Beyond(nan, 0, 0, 0, 10) || Beyond(0, 0, 0, nan, 10) {
		t.Error("Beyond is true for a NaN coordinate; DistanceM > m is false")
	}
}

func BenchmarkBeyond(b *testing.B) {
	for _, bc := range []struct {
		name string
		dLat float64
	}{{"near", 0.00005}, {"borderline", 0.00027}, {"far", 0.01}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Beyond(48.137154, 11.576124, 48.137154+bc.dLat, 11.576124+bc.dLat, 30)
			}
		})
	}
}
