package pipeline

import "strings"

// Tri is a three-valued boolean: a field that is absent from the input is
// Unknown, never False.
type Tri int8

const (
	Unknown Tri = iota
	False
	True
)

// TrunkState is the state of the boot as the car reports it.
type TrunkState int8

const (
	TrunkUnknown TrunkState = iota
	TrunkClosed
	TrunkOpen
)

// LocationType says whether a fix is the car's current position or the
// position where it was last parked (some carmaker feeds only send the latter
// while the ignition is off).
type LocationType int8

const (
	LocationUnknown LocationType = iota
	LocationCurrent
	LocationLastParked
)

// Source is how the carmaker derived a fix.
type Source int8

const (
	SourceUnknown Source = iota
	SourceGPS
	SourceDeadReckoning
	SourceApproximate
)

// Kind is a window's kind: a delivery into the boot or a return collected
// from it.
type Kind int8

const (
	KindDelivery Kind = iota + 1
	KindReturn
)

func (k Kind) String() string {
	switch k {
	case KindDelivery:
		return "delivery"
	case KindReturn:
		return "return"
	}
	return "unknown"
}

// CarPing is one decoded record of the car-pings topic. Times are Unix
// milliseconds (UTC).
//
// VIN is owned by p: the decoder copies it into p's own buffer, which the
// next decode into p reuses; copy it (string(p.VIN)) to retain it.
type CarPing struct {
	VIN          []byte
	TS           int64
	Lat, Lng     float64
	SpeedKmh     float64 // valid when HasSpeed
	HeadingDeg   float64 // valid when HasHeading
	AccuracyM    float64 // valid when HasAccuracy
	HasSpeed     bool
	HasHeading   bool
	HasAccuracy  bool
	Ignition     Tri
	Locked       Tri
	Trunk        TrunkState
	LocationType LocationType
	Source       Source
}

// Reset clears p for reuse.
func (p *CarPing) Reset() { *p = CarPing{VIN: p.VIN[:0]} }

// CourierPing is one decoded record of the courier-pings topic.
type CourierPing struct {
	CourierID   string
	TS          int64
	Lat, Lng    float64
	SpeedKmh    float64
	AccuracyM   float64
	HasSpeed    bool
	HasAccuracy bool
}

// Window is one delivery window as dispatch publishes it. Start..End is also
// the customer's consent period. RadiusM is 0 when the input did not carry
// radius_m; the engine then applies its configured default.
type Window struct {
	ID      string
	OrderID string
	Kind    Kind
	// shared marks a window of the router of the broadcast tables, which
	// is never modified once handed to an engine: the engine keeps it
	// instead of a copy.
	shared  bool
	VIN     string
	Start   int64
	End     int64
	Lat     float64 // address
	Lng     float64 // address
	RadiusM float64
}

// pack moves the strings of w into one allocation: a window held for long
// (a million of them in the broadcast tables) costs one object for its ids
// instead of three, each rounded up to its own size class.
func (w *Window) pack() {
	var b strings.Builder
	b.Grow(len(w.ID) + len(w.OrderID) + len(w.VIN))
	b.WriteString(w.ID)
	b.WriteString(w.OrderID)
	b.WriteString(w.VIN)
	s := b.String()
	i, o := len(w.ID), len(w.ID)+len(w.OrderID)
	w.ID, w.OrderID, w.VIN = s[:i], s[i:o], s[o:]
}

// Route is a courier's planned stops, as dispatch publishes it.
type Route struct {
	CourierID string
	Stops     []Stop

	// handOver, set only by the router of the broadcast tables, makes the
	// route a message to an engine that takes over window handOver from
	// another partition: CourierID ("" for none) serves that window, and
	// Stops are this engine's stops of the courier's route, now with the
	// window. See Engine.PutRoute.
	handOver string
	// handed marks a route the router of the broadcast tables made for one
	// engine and keeps no reference to: the engine keeps it instead of a
	// copy.
	handed bool
}

// Stop is one planned stop of a route.
type Stop struct {
	WindowID string
	ETA      int64 // 0 when absent
}

// EventType is the type of an output event (DESIGN.md, "Events").
type EventType uint8

const (
	EvTrackingStarted EventType = iota + 1
	EvCarLocated
	EvCarParked
	EvCarMoved
	EvCourierApproaching
	EvCourierArrived
	EvUnlockEligible
	EvTrunkOpened
	EvTrunkClosed
	EvAccessRevoked
	EvDeliveryCompleted
	EvReturnCollected
	EvRelockConfirmed
	EvRelockMissing
	EvWindowMissed
	EvWindowCancelled
	EvTrackingStopped
	numEventTypes
)

var eventTypeNames = [...]string{
	EvTrackingStarted:    "tracking_started",
	EvCarLocated:         "car_located",
	EvCarParked:          "car_parked",
	EvCarMoved:           "car_moved",
	EvCourierApproaching: "courier_approaching",
	EvCourierArrived:     "courier_arrived",
	EvUnlockEligible:     "unlock_eligible",
	EvTrunkOpened:        "trunk_opened",
	EvTrunkClosed:        "trunk_closed",
	EvAccessRevoked:      "access_revoked",
	EvDeliveryCompleted:  "delivery_completed",
	EvReturnCollected:    "return_collected",
	EvRelockConfirmed:    "relock_confirmed",
	EvRelockMissing:      "relock_missing",
	EvWindowMissed:       "window_missed",
	EvWindowCancelled:    "window_cancelled",
	EvTrackingStopped:    "tracking_stopped",
}

// String returns the wire name of t ("unlock_eligible").
func (t EventType) String() string {
	if t == 0 || t >= numEventTypes {
		return "unknown"
	}
	return eventTypeNames[t]
}

// EventTypes lists every event type in contract order.
func EventTypes() []EventType {
	ts := make([]EventType, 0, numEventTypes-1)
	for t := EvTrackingStarted; t < numEventTypes; t++ {
		ts = append(ts, t)
	}
	return ts
}

// Grant is the one-time boot access grant carried by unlock_eligible.
type Grant struct {
	ID        string
	NotBefore int64 // Unix ms
	ExpiresAt int64 // Unix ms
	Token     string
}

// Event is one output event of delivery.events. Times are Unix milliseconds.
// Optional parts are present when their Has* flag (or non-empty string, or
// non-nil Grant) says so.
type Event struct {
	ID        string // deterministic, 32 lowercase hex digits
	Type      EventType
	WindowID  string
	OrderID   string
	Kind      Kind
	VIN       string
	CourierID string // "" when no courier is known
	TS        int64  // event time, from the input that caused it
	EmittedAt int64

	HasPos    bool // lat, lng, h3, distance_m are set
	Lat, Lng  float64
	H3        int64
	DistanceM float64

	Inside Tri    // car_located, car_parked: inside radius_m of the address
	Reason string // access_revoked, relock_missing, window_missed
	Grant  *Grant // unlock_eligible
}
