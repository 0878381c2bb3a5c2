package bench

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// metresPerDegree is the length of one degree of latitude on the sphere of
// mean Earth radius (6 371 008.8 m) that haversine distances use.
const metresPerDegree = 6371008.8 * math.Pi / 180

// blockM is the spacing of the street grid.
const blockM = 100.0

// city maps local metres (x east, y north of the centre) to latitude and
// longitude on an equirectangular projection. Over a city-sized disc it
// keeps distances between nearby points to within a fraction of a percent of
// their haversine distance, which is all the simulation needs.
//
// Streets run east–west along y = k·blockM and north–south along
// x = k·blockM.
type city struct {
	lat0, lng0 float64
	mPerDegLng float64
	radius     float64
}

func newCity(lat, lng, radius float64) city {
	return city{lat0: lat, lng0: lng, radius: radius, mPerDegLng: metresPerDegree * math.Cos(lat*math.Pi/180)}
}

// latLng returns the coordinates of local point (x, y).
func (c *city) latLng(x, y float64) (lat, lng float64) {
	return c.lat0 + y/metresPerDegree, c.lng0 + x/c.mPerDegLng
}

// xy is the inverse of latLng.
func (c *city) xy(lat, lng float64) (x, y float64) {
	return (lng - c.lng0) * c.mPerDegLng, (lat - c.lat0) * metresPerDegree
}

// randomStreetPoint returns a point uniformly distributed over the disc of
// frac·radius, moved onto the nearest street; horizontal says the street runs
// east–west.
func (c *city) randomStreetPoint(rng *rand.Rand, frac float64) (x, y float64, horizontal bool) {
	r := c.radius * frac * math.Sqrt(rng.Float64())
	a := 2 * math.Pi * rng.Float64()
	x, y = r*math.Cos(a), r*math.Sin(a)
	horizontal = rng.IntN(2) == 0
	if horizontal {
		y = math.Round(y/blockM) * blockM
	} else {
		x = math.Round(x/blockM) * blockM
	}
	return x, y, horizontal
}

// nextGrid returns the coordinate of the street crossing v in direction
// sign (±1), strictly beyond v.
func nextGrid(v, sign float64) float64 {
	k := v / blockM
	if sign > 0 {
		return (math.Floor(k+1e-6) + 1) * blockM
	}
	return (math.Ceil(k-1e-6) - 1) * blockM
}

// headingDeg returns the compass heading of a move by (dx, dy): 0 north, 90
// east.
func headingDeg(dx, dy float64) float64 {
	h := math.Atan2(dx, dy) * 180 / math.Pi
	if h < 0 {
		h += 360
	}
	return h
}

// feed is how one carmaker's telematics feed writes car pings. Feeds differ
// in their timestamp format and in the optional fields they send.
type feed struct {
	wmi     string   // world manufacturer identifier, VIN positions 1–3
	vds     []string // vehicle descriptor sections, positions 4–8
	epochTS bool     // "ts" as epoch milliseconds, else an RFC 3339 string
	locType bool     // sends location_type
	source  bool     // sends source
	heading bool     // sends heading_deg
	trunk   bool     // sends trunk and locked: the car can take in-car deliveries
	weight  int      // share of the fleet
}

// feeds are the carmaker feeds of the simulated fleet.
var feeds = [...]feed{
	{wmi: "WAU", vds: []string{"ZZZ4G", "ZZZ8V", "ZZZF5", "ZZZGA"}, epochTS: true, locType: true, source: true, heading: true, trunk: true, weight: 25},
	{wmi: "WBA", vds: []string{"3A5C5", "8E9G5", "5R310", "7Y410"}, locType: true, source: true, heading: true, trunk: true, weight: 25},
	{wmi: "WVW", vds: []string{"ZZZAU", "ZZZ3C", "ZZZCD"}, epochTS: true, locType: true, heading: true, trunk: true, weight: 20},
	{wmi: "WDD", vds: []string{"2050E", "2130B", "1770A"}, source: true, heading: true, trunk: true, weight: 15},
	{wmi: "TMB", vds: []string{"JJ7NE", "AG7NE"}, epochTS: true, locType: true, weight: 15},
}

// pickFeed draws a feed index by weight.
func pickFeed(rng *rand.Rand) uint8 {
	total := 0
	for i := range feeds {
		total += feeds[i].weight
	}
	n := rng.IntN(total)
	for i := range feeds {
		if n < feeds[i].weight {
			return uint8(i)
		}
		n -= feeds[i].weight
	}
	return 0
}

// VIN positions 10 (model year, 2015–2026) and 11 (plant).
const (
	yearCodes  = "FGHJKLMNPRST"
	plantCodes = "NADKBSMHEFRGJLPTUVWXYZ"
)

// makeVIN returns the 17-character VIN of car i of feed f: WMI, descriptor,
// ISO 3779 check digit, model year, plant and a 6-digit serial. Distinct i
// give distinct VINs for i < len(plantCodes)·10⁶.
func makeVIN(rng *rand.Rand, f *feed, i int) []byte {
	v := make([]byte, 0, 17)
	v = append(v, f.wmi...)
	v = append(v, f.vds[rng.IntN(len(f.vds))]...)
	v = append(v, '0')
	v = append(v, yearCodes[rng.IntN(len(yearCodes))])
	v = append(v, plantCodes[i/1_000_000])
	// A bijection of 0..999999 so serials do not look sequential.
	serial := (i%1_000_000*7919 + 123457) % 1_000_000
	for d := 100000; d > 0; d /= 10 {
		v = append(v, byte('0'+serial/d%10))
	}
	v[8] = vinCheckDigit(v)
	return v
}

// vinCheckDigit computes the ISO 3779 check digit of position 9.
func vinCheckDigit(v []byte) byte {
	const weights = "87654320098765432" // weight 10 at position 8 is written as '0' and handled below
	sum := 0
	for i, c := range v {
		w := int(weights[i] - '0')
		if i == 7 {
			w = 10
		}
		sum += vinValue(c) * w
	}
	if r := sum % 11; r < 10 {
		return byte('0' + r)
	}
	return 'X'
}

// vinValue transliterates a VIN character for the check digit.
func vinValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'H':
		return int(c-'A') + 1
	case c >= 'J' && c <= 'N':
		return int(c-'J') + 1
	case c == 'P':
		return 7
	case c == 'R':
		return 9
	case c >= 'S' && c <= 'Z':
		return int(c-'S') + 2
	}
	return 0
}

// carriers prefix courier ids.
var carriers = [...]string{"DHL", "DPD", "UPS", "GLS", "HERMES"}

// makeCourierID returns the id of courier i ("DHL-4711").
func makeCourierID(i int) []byte {
	id := append([]byte(nil), carriers[i%len(carriers)]...)
	id = append(id, '-')
	return strconv.AppendInt(id, int64(4000+i), 10)
}

// spatialIndex buckets cars by a square grid of cellM cells so that route
// planning finds parked cars near a point without scanning the fleet. It is
// a snapshot: callers re-check a candidate's current state.
type spatialIndex struct {
	cellM   float64
	n       int     // cells per side
	origin  float64 // coordinate of the grid's lower-left corner (x and y)
	start   []int32 // cell c's cars are cars[start[c]:start[c+1]]
	cars    []int32
	builtAt int64
	built   bool
}

const indexCellM = 500.0

// build indexes the cars for which ok returns true at their position pos.
func (s *spatialIndex) build(radius float64, count int, ok func(i int) bool, pos func(i int) (x, y float64), now int64) {
	s.cellM = indexCellM
	s.n = int(math.Ceil(2*radius/s.cellM)) + 2
	s.origin = -float64(s.n) * s.cellM / 2
	cells := s.n * s.n
	if cap(s.start) < cells+1 {
		s.start = make([]int32, cells+1)
	}
	s.start = s.start[:cells+1]
	clear(s.start)
	s.cars = s.cars[:0]
	for i := 0; i < count; i++ {
		if ok(i) {
			s.start[s.cell(pos(i))+1]++
		}
	}
	for c := 1; c <= cells; c++ {
		s.start[c] += s.start[c-1]
	}
	if cap(s.cars) < int(s.start[cells]) {
		s.cars = make([]int32, s.start[cells])
	}
	s.cars = s.cars[:s.start[cells]]
	fill := make([]int32, cells)
	for i := 0; i < count; i++ {
		if ok(i) {
			c := s.cell(pos(i))
			s.cars[s.start[c]+fill[c]] = int32(i)
			fill[c]++
		}
	}
	s.builtAt = now
	s.built = true
}

func (s *spatialIndex) clampCell(v float64) int {
	c := int((v - s.origin) / s.cellM)
	return min(max(c, 0), s.n-1)
}

func (s *spatialIndex) cell(x, y float64) int { return s.clampCell(y)*s.n + s.clampCell(x) }

// nearest returns the indexed car closest to (x, y) for which ok returns
// true, or -1. It searches rings of cells outwards and stops once no closer
// car can exist.
func (s *spatialIndex) nearest(x, y float64, ok func(i int32) bool, pos func(i int32) (x, y float64)) int32 {
	cx, cy := s.clampCell(x), s.clampCell(y)
	best, bestD := int32(-1), math.Inf(1)
	for r := 0; r < s.n; r++ {
		// Every car in ring r is at least (r-1)·cellM away.
		if best >= 0 && float64(r-1)*s.cellM > bestD {
			break
		}
		for gy := cy - r; gy <= cy+r; gy++ {
			if gy < 0 || gy >= s.n {
				continue
			}
			step := 1
			if gy != cy-r && gy != cy+r {
				step = 2 * r // only the ring's left and right cells
			}
			for gx := cx - r; gx <= cx+r; gx += max(step, 1) {
				if gx < 0 || gx >= s.n {
					continue
				}
				c := gy*s.n + gx
				for _, i := range s.cars[s.start[c]:s.start[c+1]] {
					if !ok(i) {
						continue
					}
					px, py := pos(i)
					if d := math.Hypot(px-x, py-y); d < bestD {
						best, bestD = i, d
					}
				}
			}
		}
	}
	return best
}
