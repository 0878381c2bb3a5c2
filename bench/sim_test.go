package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// testConfig is a small city fleet for tests.
func testConfig(mod func(*Config)) Config {
	cfg := DefaultConfig()
	cfg.Cars, cfg.Couriers, cfg.Windows, cfg.Rate = 1000, 20, 50, 500
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

func newGen(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatalf("NewGenerator: %v", err)
	}
	return g
}

// simulate returns the Setup records and every record of the first d of
// simulated time, stepping by step.
func simulate(t testing.TB, cfg Config, d, step time.Duration) []Record {
	t.Helper()
	g := newGen(t, cfg)
	recs := g.Setup(nil)
	start := g.Start()
	for at := step; at <= d; at += step {
		recs = g.Step(recs, start.Add(at))
	}
	return recs
}

// haversine returns the great-circle distance in metres.
func haversine(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371008.8
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lng2-lng1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

// wireTS decodes a "ts" value: epoch ms or RFC 3339.
type wireTS struct {
	ms    int64
	epoch bool
}

func (w *wireTS) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		w.ms = t.UnixMilli()
		return err
	}
	w.epoch = true
	return json.Unmarshal(b, &w.ms)
}

type carPing struct {
	VIN          *string  `json:"vin"`
	TS           wireTS   `json:"ts"`
	Lat          *float64 `json:"lat"`
	Lng          *float64 `json:"lng"`
	SpeedKmh     float64  `json:"speed_kmh"`
	HeadingDeg   *float64 `json:"heading_deg"`
	AccuracyM    float64  `json:"accuracy_m"`
	Ignition     *bool    `json:"ignition"`
	Trunk        *string  `json:"trunk"`
	Locked       *bool    `json:"locked"`
	LocationType *string  `json:"location_type"`
	Source       *string  `json:"source"`
}

type courierPing struct {
	CourierID string  `json:"courier_id"`
	TS        wireTS  `json:"ts"`
	Lat       float64 `json:"lat"`
	Lng       float64 `json:"lng"`
	SpeedKmh  float64 `json:"speed_kmh"`
	AccuracyM float64 `json:"accuracy_m"`
}

type windowRec struct {
	WindowID string    `json:"window_id"`
	OrderID  string    `json:"order_id"`
	Kind     string    `json:"kind"`
	VIN      string    `json:"vin"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Address  struct {
		Lat float64 `json:"lat"`
		Lng float64 `json:"lng"`
	} `json:"address"`
	RadiusM *float64 `json:"radius_m"`
}

type routeRec struct {
	CourierID string `json:"courier_id"`
	Stops     []struct {
		WindowID string    `json:"window_id"`
		ETA      time.Time `json:"eta"`
	} `json:"stops"`
}

// decodeStrict decodes v and fails on unknown fields.
func decodeStrict(t testing.TB, b []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("cannot decode %s: %v", b, err)
	}
}

// isBad reports whether a car-ping value is one of the deliberately invalid
// records.
func isBad(v []byte) bool {
	var p carPing
	if json.Unmarshal(v, &p) != nil {
		return true
	}
	return p.VIN == nil || p.Lat == nil || p.Lng == nil || *p.Lat < -90 || *p.Lat > 90
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"default", nil, ""},
		{"no cars", func(c *Config) { c.Cars = 0 }, "cars 0 out of range"},
		{"more windows than cars", func(c *Config) { c.Windows = c.Cars + 1 }, "one car per window"},
		{"windows without couriers", func(c *Config) { c.Couriers = 0 }, "need at least one courier"},
		{"no windows no couriers", func(c *Config) { c.Couriers, c.Windows = 0, 0 }, ""},
		{"zero rate", func(c *Config) { c.Rate = 0 }, "rate must be"},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, "rate must be"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "duration"},
		{"latitude", func(c *Config) { c.CenterLat = 91 }, "latitude"},
		{"longitude", func(c *Config) { c.CenterLng = -181 }, "longitude"},
		{"radius", func(c *Config) { c.RadiusM = 10 }, "radius"},
		{"bad fraction", func(c *Config) { c.BadFraction = 1 }, "bad fraction"},
		{"topic", func(c *Config) { c.Topics.Routes = "" }, "topics.routes"},
		{"unused topic may be empty", func(c *Config) { c.Topics.State = "" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
			if _, gerr := NewGenerator(cfg); (gerr == nil) != (err == nil) {
				t.Fatalf("NewGenerator error %v disagrees with Validate %v", gerr, err)
			}
		})
	}
}

func sameRecords(t *testing.T, a, b []Record) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d records vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Topic != y.Topic || !bytes.Equal(x.Key, y.Key) || !bytes.Equal(x.Value, y.Value) ||
			(x.Value == nil) != (y.Value == nil) || !x.TS.Equal(y.TS) {
			t.Fatalf("record %d differs:\n%s %s %s %s\n%s %s %s %s", i,
				x.Topic, x.Key, x.Value, x.TS, y.Topic, y.Key, y.Value, y.TS)
		}
	}
}

// TestDeterminism: the records depend on the seed and the configuration
// only, not on how the caller slices simulated time into steps.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		d    time.Duration
	}{
		{"fleet", nil, 3 * time.Minute},
		{"demo", func(c *Config) { c.Demo = true; c.Rate = 100 }, 4 * time.Minute},
		{"noisy", func(c *Config) { c.BadFraction = 0.05; c.Seed = 42 }, 2 * time.Minute},
		{"rolling routes", func(c *Config) { c.Cars, c.Windows, c.Couriers, c.Rate = 300, 40, 10, 10 }, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tc.mod)
			a := simulate(t, cfg, tc.d, time.Second)

			g := newGen(t, cfg)
			b := g.Setup(nil)
			rng := rand.New(rand.NewPCG(7, 7))
			var at time.Duration
			for at < tc.d {
				at = min(tc.d, at+time.Duration(rng.IntN(3000))*time.Millisecond)
				b = g.Step(b, g.Start().Add(at))
				b = g.Step(b, g.Start().Add(at)) // a repeated until adds nothing
			}
			sameRecords(t, a, b)

			cfg.Seed++
			c := simulate(t, cfg, tc.d, time.Second)
			if len(c) == len(a) && bytes.Equal(c[len(c)-1].Value, a[len(a)-1].Value) {
				t.Fatal("another seed gave the same records")
			}
		})
	}
}

// TestRate: the offered car-ping rate follows Config.Rate, whatever the
// fleet size, including when windowed cars' minimum cadence matters.
func TestRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cars, windows int
		rate          float64
		d             time.Duration
		tol           float64
	}{
		{1000, 50, 500, 10 * time.Minute, 0.1},
		{1000, 100, 50, 30 * time.Minute, 0.1}, // windowed cars' 30 s cap binds
		{500, 0, 2000, 2 * time.Minute, 0.1},
		{5000, 250, 20000, 15 * time.Second, 0.1},
		// Most cars windowed: the cap alone would exceed the rate, so it is
		// dropped; the cars that drive off during their window and the
		// trunk reports add to a rate this small.
		{1000, 800, 20, time.Hour, 0.2},
	} {
		cfg := testConfig(func(c *Config) {
			c.Cars, c.Windows, c.Rate, c.BadFraction = tc.cars, tc.windows, tc.rate, 0
			c.Couriers = max(1, tc.windows/5)
		})
		g := newGen(t, cfg)
		var recs []Record
		for at := time.Second; at <= tc.d; at += time.Second {
			recs = g.Step(recs[:0], g.Start().Add(at))
		}
		got := float64(g.Stats().CarPings) / tc.d.Seconds()
		if math.Abs(got-tc.rate) > tc.tol*tc.rate {
			t.Errorf("cars %d windows %d rate %v: %.1f car pings/s", tc.cars, tc.windows, tc.rate, got)
		}
	}
}

// TestWindowsAtSetup: Setup publishes Config.Windows windows, each on its
// own car of the fleet, then the couriers' first routes; every window is on
// some courier's planned route.
func TestWindowsAtSetup(t *testing.T) {
	for _, windows := range []int{0, 1, 10, 100, 500} {
		cfg := testConfig(func(c *Config) { c.Windows = windows })
		g := newGen(t, cfg)
		recs := g.Setup(nil)
		vins := map[string]bool{}
		fleet := map[string]*car{}
		for i := range g.cars {
			fleet[string(g.cars[i].vin)] = &g.cars[i]
		}
		ids := map[string]bool{}
		routes := 0
		for i, r := range recs {
			switch r.Topic {
			case cfg.Topics.Windows:
				if routes > 0 {
					t.Fatalf("window record %d after a route", i)
				}
				var w windowRec
				decodeStrict(t, r.Value, &w)
				if string(r.Key) != w.WindowID || ids[w.WindowID] {
					t.Fatalf("window key %s, id %s (duplicate: %v)", r.Key, w.WindowID, ids[w.WindowID])
				}
				ids[w.WindowID] = true
				c := fleet[w.VIN]
				if c == nil || !feeds[c.feed].trunk || c.driving {
					t.Fatalf("window %s on %s: not a parked car that reports its trunk", w.WindowID, w.VIN)
				}
				if vins[w.VIN] {
					t.Fatalf("two windows on %s", w.VIN)
				}
				vins[w.VIN] = true
				if !w.Start.Before(w.End) || w.Kind != "delivery" && w.Kind != "return" {
					t.Fatalf("window %+v", w)
				}
			case cfg.Topics.Routes:
				routes++
				var rt routeRec
				decodeStrict(t, r.Value, &rt)
				if string(r.Key) != rt.CourierID || len(rt.Stops) < 1 || len(rt.Stops) > 8 {
					t.Fatalf("route %s: %s", r.Key, r.Value)
				}
				for _, s := range rt.Stops {
					if !ids[s.WindowID] {
						t.Fatalf("route %s names unpublished window %s", r.Key, s.WindowID)
					}
				}
			default:
				t.Fatalf("setup record on %s", r.Topic)
			}
		}
		if len(vins) != windows {
			t.Errorf("windows %d: %d cars have a window, want %d of %d", windows, len(vins), windows, cfg.Cars)
		}
		planned := 0
		for i := range g.couriers {
			for _, r := range g.couriers[i].routes {
				planned += len(r.stops)
			}
		}
		if planned != windows || g.Stats().Windows != uint64(windows) || (windows > 0) != (routes > 0) {
			t.Errorf("windows %d: %d stops planned, stats %+v, %d routes", windows, planned, g.Stats(), routes)
		}
	}
}

// TestWire: every valid record decodes strictly against the contract;
// VINs are realistic, timestamps come in both formats, positions stay in
// the city and keys match the values.
func TestWire(t *testing.T) {
	t.Parallel()
	cfg := testConfig(func(c *Config) { c.BadFraction = 0; c.Demo = true; c.Rate = 200 })
	recs := simulate(t, cfg, 2*time.Minute, time.Second)
	var epoch, rfc, lastParked, current, noLocType, noTrunk int
	for _, r := range recs {
		if r.Value == nil {
			continue
		}
		switch r.Topic {
		case cfg.Topics.CarPings:
			var p carPing
			decodeStrict(t, r.Value, &p)
			if p.VIN == nil || *p.VIN != string(r.Key) || len(*p.VIN) != 17 || p.Lat == nil || p.Lng == nil || p.Ignition == nil {
				t.Fatalf("car ping %s: %s", r.Key, r.Value)
			}
			if p.TS.ms > r.TS.UnixMilli() {
				t.Fatalf("fix from the future: %s at %v", r.Value, r.TS)
			}
			if d := haversine(cfg.CenterLat, cfg.CenterLng, *p.Lat, *p.Lng); d > cfg.RadiusM+1000 {
				t.Fatalf("fix %.0f m from the centre: %s", d, r.Value)
			}
			if p.TS.epoch {
				epoch++
			} else {
				rfc++
			}
			switch {
			case p.LocationType == nil:
				noLocType++
			case *p.LocationType == "last_parked":
				lastParked++
				if *p.Ignition || p.SpeedKmh != 0 {
					t.Fatalf("parked fix with ignition or speed: %s", r.Value)
				}
			case *p.LocationType == "current":
				current++
			default:
				t.Fatalf("location_type %q", *p.LocationType)
			}
			if p.Trunk == nil {
				noTrunk++
				if p.Locked != nil {
					t.Fatalf("locked without trunk: %s", r.Value)
				}
			} else if *p.Trunk != "open" && *p.Trunk != "closed" || p.Locked == nil {
				t.Fatalf("trunk: %s", r.Value)
			}
			if p.Source != nil && *p.Source != "gps" && *p.Source != "dead_reckoning" && *p.Source != "approximate" {
				t.Fatalf("source: %s", r.Value)
			}
			if *p.Ignition && (p.SpeedKmh < 5 || p.SpeedKmh > 75) {
				t.Fatalf("driving at %v km/h: %s", p.SpeedKmh, r.Value)
			}
		case cfg.Topics.CourierPings:
			var p courierPing
			decodeStrict(t, r.Value, &p)
			if p.CourierID != string(r.Key) || p.AccuracyM <= 0 {
				t.Fatalf("courier ping %s: %s", r.Key, r.Value)
			}
		case cfg.Topics.Windows:
			var w windowRec
			decodeStrict(t, r.Value, &w)
			if w.WindowID != string(r.Key) {
				t.Fatalf("window %s: %s", r.Key, r.Value)
			}
		case cfg.Topics.Routes:
			var rt routeRec
			decodeStrict(t, r.Value, &rt)
			if rt.CourierID != string(r.Key) {
				t.Fatalf("route %s: %s", r.Key, r.Value)
			}
		default:
			t.Fatalf("record on topic %q", r.Topic)
		}
	}
	for name, n := range map[string]int{"epoch ms ts": epoch, "RFC 3339 ts": rfc, "last_parked": lastParked,
		"current": current, "no location_type": noLocType, "no trunk": noTrunk} {
		if n == 0 {
			t.Errorf("no car ping with %s", name)
		}
	}
}

func TestVIN(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	plantSerial := map[string]int{} // positions 11–17 identify the car
	for _, i := range []int{0, 1, 2, 999_999, 1_000_000, 1_000_001, 5_123_456, maxCars - 1} {
		for f := range feeds {
			v := makeVIN(rng, &feeds[f], i)
			if len(v) != 17 || bytes.ContainsAny(v, "IOQ") || vinCheckDigit(v) != v[8] {
				t.Fatalf("VIN %s of car %d", v, i)
			}
			if j, ok := plantSerial[string(v[10:])]; ok && j != i {
				t.Fatalf("cars %d and %d share plant and serial: %s", i, j, v)
			}
			plantSerial[string(v[10:])] = i
		}
	}
	// The check digit of a published example VIN.
	if got := vinCheckDigit([]byte("1M8GDM9AXKP042788")); got != 'X' {
		t.Fatalf("check digit %c, want X", got)
	}
	g := newGen(t, testConfig(func(c *Config) { c.Cars = 20000 }))
	vins := map[string]bool{}
	for i := range g.cars {
		vins[string(g.cars[i].vin)] = true
	}
	if len(vins) != len(g.cars) {
		t.Fatalf("%d distinct VINs for %d cars", len(vins), len(g.cars))
	}
}

// TestNoise: the car feeds carry every kind of noise, in about the
// configured proportions; BadFraction 0 means no invalid record at all.
func TestNoise(t *testing.T) {
	t.Parallel()
	cfg := testConfig(func(c *Config) { c.Cars, c.Rate, c.BadFraction = 500, 200, 0.01 })
	recs := simulate(t, cfg, 4*time.Minute, time.Second)
	type last struct {
		ts       int64
		lat, lng float64
		val      []byte
	}
	prev := map[string]*last{}
	var pings, bads, poor, dups, late, jumps int
	for _, r := range recs {
		if r.Topic != cfg.Topics.CarPings {
			continue
		}
		if isBad(r.Value) {
			bads++
			continue
		}
		pings++
		var p carPing
		decodeStrict(t, r.Value, &p)
		if p.AccuracyM > 50 {
			poor++
			continue
		}
		l := prev[*p.VIN]
		switch {
		case l == nil:
			prev[*p.VIN] = &last{p.TS.ms, *p.Lat, *p.Lng, r.Value}
		case bytes.Equal(l.val, r.Value):
			dups++
		case p.TS.ms < l.ts:
			late++
		default:
			dt := float64(p.TS.ms-l.ts) / 3600e3
			if dt > 0 && haversine(l.lat, l.lng, *p.Lat, *p.Lng)/1000/dt > 250 {
				jumps++
			}
			*l = last{p.TS.ms, *p.Lat, *p.Lng, r.Value}
		}
	}
	t.Logf("%d pings, %d bad, %d poor accuracy, %d duplicates, %d late, %d implied-speed jumps",
		pings, bads, poor, dups, late, jumps)
	if want := cfg.BadFraction * float64(pings); math.Abs(float64(bads)-want) > 0.25*want {
		t.Errorf("%d bad records of %d, want about %.0f", bads, pings, want)
	}
	for name, n := range map[string]int{"poor accuracy": poor, "duplicate": dups, "late": late, "jump": jumps} {
		if f := float64(n) / float64(pings); n == 0 || f > 0.02 {
			t.Errorf("%s fixes: %d of %d", name, n, pings)
		}
	}

	cfg.BadFraction = 0
	g := newGen(t, cfg)
	g.Step(g.Setup(nil), g.Start().Add(4*time.Minute))
	if st := g.Stats(); st.Bad != 0 || st.CarPings == 0 {
		t.Errorf("bad fraction 0: %+v", st)
	}
}

// TestBadRecordKinds: every kind of invalid record is invalid in the way
// it claims.
func TestBadRecordKinds(t *testing.T) {
	x := carFix{ts: 1764000000000, lat: 48.1, lng: 11.5, acc: 5}
	vin := []byte("WAUZZZ4G0FN000001")
	for kind := range numBadKinds {
		for _, cut := range []float64{0, 0.5, 0.999} {
			for f := range feeds {
				b := appendBad(nil, kind, vin, &feeds[f], &x, cut)
				if !isBad(b) {
					t.Errorf("kind %d feed %d: %s decodes as a valid ping", kind, f, b)
				}
				if kind != badTruncated && kind != badNotJSON && !json.Valid(b) {
					t.Errorf("kind %d: %s is not JSON", kind, b)
				}
			}
		}
	}
}

// TestAllocs: stepping the generator costs a fraction of an allocation
// per record (values are carved from shared slabs).
func TestAllocs(t *testing.T) {
	g := newGen(t, testConfig(func(c *Config) { c.Rate = 5000 }))
	recs := make([]Record, 0, 1<<16)
	at := g.Start()
	n := 0
	allocs := testing.AllocsPerRun(20, func() {
		at = at.Add(time.Second)
		recs = g.Step(recs[:0], at)
		n += len(recs)
	})
	if per := allocs * 21 / float64(n); per > 0.05 {
		t.Fatalf("%.3f allocations per record (%v per step of %d records)", per, allocs, n/21)
	}
}

func BenchmarkStep(b *testing.B) {
	g := newGen(b, testConfig(func(c *Config) { c.Cars, c.Windows, c.Couriers, c.Rate = 100000, 5000, 1000, 100000 }))
	recs := make([]Record, 0, 1<<18)
	at := g.Start()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(100 * time.Millisecond)
		recs = g.Step(recs[:0], at)
		n += len(recs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
