package pipeline

import (
	"errors"
	"fmt"
	"time"
)

// Topics names the topics of the external contract.
type Topics struct {
	CarPings     string `yaml:"car_pings"`
	CourierPings string `yaml:"courier_pings"`
	Windows      string `yaml:"windows"`
	Routes       string `yaml:"routes"`
	Events       string `yaml:"events"`
	DLQ          string `yaml:"dlq"`
	State        string `yaml:"state"`
}

// DefaultTopics returns the contract's default topic names.
func DefaultTopics() Topics {
	return Topics{
		CarPings:     "telematics.car-pings",
		CourierPings: "telematics.courier-pings",
		Windows:      "dispatch.windows",
		Routes:       "dispatch.routes",
		Events:       "delivery.events",
		DLQ:          "trunkline.dlq",
		State:        "trunkline.state",
	}
}

// Validate reports the first empty topic name.
func (t Topics) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"car_pings", t.CarPings}, {"courier_pings", t.CourierPings}, {"windows", t.Windows},
		{"routes", t.Routes}, {"events", t.Events}, {"dlq", t.DLQ}, {"state", t.State},
	} {
		if f.v == "" {
			return fmt.Errorf("topics.%s is empty: set a topic name", f.name)
		}
	}
	return nil
}

// EngineConfig holds the rules of the delivery state machine. Every distance
// is in metres, every duration in event time.
type EngineConfig struct {
	H3Resolution     int           `yaml:"h3_resolution"`
	ParkDistanceM    float64       `yaml:"park_distance_m"`
	ParkDwell        time.Duration `yaml:"park_dwell"`
	ApproachRadiusM  float64       `yaml:"approach_radius_m"`
	ArrivalRadiusM   float64       `yaml:"arrival_radius_m"`
	DepartureRadiusM float64       `yaml:"departure_radius_m"`
	DefaultRadiusM   float64       `yaml:"default_radius_m"`
	MaxAccuracyM     float64       `yaml:"max_accuracy_m"`
	MaxSpeedKmh      float64       `yaml:"max_speed_kmh"`
	FutureSkew       time.Duration `yaml:"future_skew"`
	RelockTimeout    time.Duration `yaml:"relock_timeout"`
	GrantTTL         time.Duration `yaml:"grant_ttl"`
	// IdleAdvance is the wall-clock fallback: when a partition has seen no
	// record for this long, its stream time advances with the wall clock so
	// that windows still open and close. 0 disables the fallback.
	IdleAdvance time.Duration `yaml:"idle_advance"`
	// Source is the CloudEvents ce_source of emitted events.
	Source string `yaml:"source"`
	// GrantKey signs grants (HMAC-SHA256). Never read from a file: it comes
	// from the environment or a flag.
	GrantKey []byte `yaml:"-"`
}

// DefaultEngineConfig returns the contract's defaults.
func DefaultEngineConfig() EngineConfig {
	return EngineConfig{
		H3Resolution:     10,
		ParkDistanceM:    30,
		ParkDwell:        120 * time.Second,
		ApproachRadiusM:  1000,
		ArrivalRadiusM:   50,
		DepartureRadiusM: 100,
		DefaultRadiusM:   300,
		MaxAccuracyM:     50,
		MaxSpeedKmh:      250,
		FutureSkew:       60 * time.Second,
		RelockTimeout:    120 * time.Second,
		GrantTTL:         120 * time.Second,
		IdleAdvance:      10 * time.Second,
		Source:           "trunkline",
	}
}

// Validate checks the rules for consistency and says which setting to fix.
func (c EngineConfig) Validate() error {
	var errs []error
	if c.H3Resolution < 5 || c.H3Resolution > 13 {
		errs = append(errs, fmt.Errorf("engine.h3_resolution %d out of range: use 5..13", c.H3Resolution))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"park_distance_m", c.ParkDistanceM}, {"approach_radius_m", c.ApproachRadiusM},
		{"arrival_radius_m", c.ArrivalRadiusM}, {"departure_radius_m", c.DepartureRadiusM},
		{"default_radius_m", c.DefaultRadiusM}, {"max_accuracy_m", c.MaxAccuracyM},
		{"max_speed_kmh", c.MaxSpeedKmh},
	} {
		if !(f.v > 0) {
			errs = append(errs, fmt.Errorf("engine.%s must be > 0, got %v", f.name, f.v))
		}
	}
	if c.DepartureRadiusM <= c.ArrivalRadiusM {
		errs = append(errs, fmt.Errorf("engine.departure_radius_m (%v) must exceed arrival_radius_m (%v) for hysteresis", c.DepartureRadiusM, c.ArrivalRadiusM))
	}
	if c.ApproachRadiusM < c.ArrivalRadiusM {
		errs = append(errs, fmt.Errorf("engine.approach_radius_m (%v) must be at least arrival_radius_m (%v)", c.ApproachRadiusM, c.ArrivalRadiusM))
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"park_dwell", c.ParkDwell}, {"future_skew", c.FutureSkew},
		{"relock_timeout", c.RelockTimeout}, {"grant_ttl", c.GrantTTL},
	} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("engine.%s must be > 0, got %v", f.name, f.v))
		}
	}
	if c.IdleAdvance < 0 {
		errs = append(errs, fmt.Errorf("engine.idle_advance must be >= 0 (0 disables), got %v", c.IdleAdvance))
	}
	if len(c.GrantKey) > 0 && len(c.GrantKey) < 16 {
		errs = append(errs, errors.New("grant key is shorter than 16 bytes: set TRUNKLINE_GRANT_KEY to a random secret of 32 bytes or more"))
	}
	return errors.Join(errs...)
}

// DefaultGCPercent is the garbage collector's target percentage (GOGC)
// that trunkline run sets unless configured otherwise or GOGC is in the
// environment. The processor's live heap is its windows and cars, which
// every collection marks; the default of 100 collects each time the
// records streaming through add as much again, and the catch-up benchmark
// spent a fifth of its CPU in the collector. 300 collects a third as often
// at the cost of a heap up to four times the live data, which memory_limit
// bounds.
const DefaultGCPercent = 300
