package pipeline

import "fmt"

// Reason is the outcome of one consumed record: Applied, or why it was
// filtered. Every consumed record ends applied, filtered (a Reason other than
// Applied) or dead-lettered (a DecodeError); the counters of the three add up
// to the records consumed, per topic.
type Reason uint8

const (
	Applied Reason = iota

	// Consent.
	FilterNoWindow      // car ping for a VIN with no open window: dropped, nothing stored
	FilterOutsideWindow // fix taken before the window opened or after it closed

	// GPS quality (car and courier pings).
	FilterAccuracy   // accuracy_m beyond the maximum
	FilterNullIsland // 0,0
	FilterFuture     // timestamp beyond the future skew of the clock
	FilterStale      // older than the last accepted fix
	FilterDuplicate  // same timestamp and position as the last accepted fix
	FilterSpeed      // implied speed since the last accepted fix beyond the maximum

	// Broadcast tables.
	FilterNoRoute       // courier ping of a courier with no route
	FilterWindowExpired // window whose end has already passed when it loads
	FilterUnknownWindow // tombstone for a window that is not known
	FilterNotOwned      // window whose car belongs to a partition another worker owns
	numReasons
)

var reasonNames = [...]string{
	Applied:             "applied",
	FilterNoWindow:      "no_window",
	FilterOutsideWindow: "outside_window",
	FilterAccuracy:      "accuracy",
	FilterNullIsland:    "null_island",
	FilterFuture:        "future",
	FilterStale:         "stale",
	FilterDuplicate:     "duplicate",
	FilterSpeed:         "speed",
	FilterNoRoute:       "no_route",
	FilterWindowExpired: "window_expired",
	FilterUnknownWindow: "unknown_window",
	FilterNotOwned:      "not_owned",
}

// String returns the metric label value of r ("accuracy").
func (r Reason) String() string {
	if r >= numReasons {
		return "unknown"
	}
	return reasonNames[r]
}

// Reasons lists every filter reason (Applied excluded).
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := FilterNoWindow; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// DLQ reasons: the class of a record that cannot be decoded or violates the
// schema. They are the values of the "reason" label of the dead-letter
// counters; the record's "error" header carries the full message.
const (
	DLQMalformed    = "malformed_json"
	DLQWrongType    = "wrong_type"
	DLQMissingField = "missing_field"
	DLQInvalidValue = "invalid_value" // e.g. unknown kind, end before start, bad timestamp
	DLQOutOfRange   = "out_of_range"  // coordinates outside [-90,90] x [-180,180]
	DLQNotFinite    = "not_finite"    // a number that overflows float64 (NaN/Inf)
	DLQOversized    = "oversized"
	DLQEmpty        = "empty"
)

// DLQReasons lists every dead-letter reason.
func DLQReasons() []string {
	return []string{DLQMalformed, DLQWrongType, DLQMissingField, DLQInvalidValue,
		DLQOutOfRange, DLQNotFinite, DLQOversized, DLQEmpty}
}

// DecodeError is returned by the decoders for a record that must be
// dead-lettered. Reason is one of the DLQ* constants; Field names the
// offending field when there is one.
type DecodeError struct {
	Reason string
	Field  string
	Msg    string
}

func (e *DecodeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: field %q: %s", e.Reason, e.Field, e.Msg)
	}
	return e.Reason + ": " + e.Msg
}
