package pipeline

import (
	"math"

	"github.com/trunkline/trunkline/geo"
)

// lastFix is the last accepted fix of a car or courier, for the checks that
// compare a new fix with it.
type lastFix struct {
	ts       int64
	lat, lng float64
}

// checkFix applies the GPS checks shared by car and courier pings, in this
// order: timestamp beyond the future skew of now (future), 0,0 (null_island),
// accuracy worse than the maximum (accuracy); then, when last is not nil,
// older than the last accepted fix (stale), same timestamp (duplicate), and
// an implied speed since the last fix beyond the maximum (speed). It returns
// Applied when the fix is usable.
func checkFix(cfg *EngineConfig, now, ts int64, lat, lng float64, hasAccuracy bool, accuracyM float64, last *lastFix) Reason {
	switch {
	case ts > now+cfg.FutureSkew.Milliseconds():
		return FilterFuture
	case math.Abs(lat) < 1e-6 && math.Abs(lng) < 1e-6:
		return FilterNullIsland
	case hasAccuracy && accuracyM > cfg.MaxAccuracyM:
		return FilterAccuracy
	case last == nil:
		return Applied
	case ts < last.ts:
		return FilterStale
	case ts == last.ts:
		return FilterDuplicate
	}
	// The implied speed over an upper bound of the distance, the same
	// float64 operations being monotonic, settles most fixes without the
	// trigonometry of the exact distance.
	hours := float64(ts-last.ts) / 3.6e6
	if _, hi := geo.DistanceBoundsM(last.lat, last.lng, lat, lng); hi/1000/hours <= cfg.MaxSpeedKmh {
		return Applied
	}
	d := geo.DistanceM(last.lat, last.lng, lat, lng)
	if kmh := d / 1000 / hours; kmh > cfg.MaxSpeedKmh {
		return FilterSpeed
	}
	return Applied
}
