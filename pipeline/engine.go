package pipeline

import (
	"errors"
	"fmt"

	"github.com/trunkline/trunkline/geo"
)

// Engine is the delivery state machine of one partition of car pings (or, in
// tests and replays, of one whole input stream). It is not safe for
// concurrent use: exactly one goroutine owns an Engine and calls all of its
// methods.
//
// Every method takes now, the wall-clock time in Unix milliseconds that the
// caller read once per batch from its injectable clock. The engine never
// reads the clock itself: given the same inputs and the same now values it
// emits the same events, byte for byte.
//
// Events emitted by a call are appended to an internal buffer; the caller
// reads them with Events and clears the buffer with ResetEvents once they are
// handed to the sink. The strings of an Event are never modified after it is
// emitted, so the caller may keep them.
//
// # State
//
// Per-car state (last accepted fix, rest anchor, parked flag, trunk and lock
// state) is a small value without pointers, kept with the car's windows and
// found with them by VIN; it exists only while one of the car's windows is
// open. Per-window state (phase, courier latches, the live grant) is a small
// value struct beside the window's definition. Both are plain values, so
// each change can later be written to a changelog. Proximity disks around
// parked cars are made when a courier is first compared with the car, and
// shared by the windows whose cars park in the same cell.
//
// # Time
//
// Stream time is the largest event time the engine has accepted (pings with
// a timestamp beyond the future skew do not move it). Windows open at start
// and close at end in stream time; grants expire, relock checks time out and
// parked dwell completes on timers in stream time. When no input arrives for
// IdleAdvance of wall time, Tick lets stream time follow the wall clock from
// the last input, so an idle partition still closes its windows.
type Engine struct {
	cfg     EngineConfig
	proxRes int // H3 resolution of the courier proximity disks
	diskK   int
	windows map[string]wref   // by window id
	byVIN   map[string]cref   // the cars with a window here (pending or open)
	wslab   slab[window]      // the windows of windows
	cslab   slab[car]         // the cars of byVIN
	vins    vinFilter         // the keys of byVIN, asked first by CarPing
	routes  map[string]*Route // by courier id
	// serving holds the courier serving each window a route names that is
	// not in windows (not here yet, or gone); a window here holds its own.
	serving  stringMap[string]
	couriers map[string]*courierFix
	disks    map[int64]*sharedDisk // proximity disks in use, by origin cell
	// cancelled counts the tombstones of each window id, so that a window
	// created again under the same id gets event ids of its own.
	cancelled map[string]uint32
	timers    timerHeap[timer]      // window timers
	dwells    timerHeap[dwellTimer] // park-dwell timers of cars
	timerSeq  uint64

	stream       int64 // stream time, Unix ms
	lastDataWall int64 // wall time of the last input that moved stream time
	lastDataTS   int64 // stream time at that moment
	cars         int   // cars with state
	open         int

	events  []Event
	flushAt int    // with flush: hand the events on once this many are buffered
	flush   func() // see OnEvents
}

// Stats is a snapshot of an engine's state sizes.
type Stats struct {
	Windows      int // windows known to this engine (pending or open)
	OpenWindows  int // windows currently tracking
	Cars         int // cars with state (cars in an open window)
	Couriers     int // couriers with a known position
	Routes       int // routes known
	StoreEntries uint64
	StoreBytes   uint64
	StreamTime   int64 // Unix ms; 0 before any input
}

type phase uint8

const (
	phasePending phase = iota
	phaseOpen
)

// window is one window's definition and runtime state.
type window struct {
	def   *Window     // never modified: an update replaces it
	grant *liveGrant  // live grant, nil when none
	disk  *sharedDisk // proximity disk around the parked car's anchor, made when a courier is first compared with it; nil when none
	next  wref        // the car's next window
	self  wref        // this window's slot

	reopenAt  int64  // tracking restarts no earlier than this (after a change of car or start)
	lastTS    int64  // event time of the window's latest event
	relockDue int64  // 0 = no relock check pending
	courier   string // the courier serving the window; "" = none

	gen          uint32 // bumped when the window's timers must be rescheduled, and when it is removed (kept by the next window of its slot)
	incarnation  uint32 // tombstones of this window id before this window
	seq          uint32
	grantSeq     uint32
	phase        phase
	inside       bool // the parked car is inside the delivery area
	located      bool
	parkedSent   bool // car_parked emitted for the current rest
	approachSent bool
	arrived      bool // courier arrival latch (hysteresis)
	completed    bool
}

// liveGrant is a window's live grant, the courier it was issued to, and
// whether the trunk has opened under it.
type liveGrant struct {
	Grant
	courier     string
	trunkOpened bool
}

// sharedDisk is the proximity disk around one origin cell; every window
// whose car is parked in that cell shares it.
type sharedDisk struct {
	cells  geo.CellSet
	origin int64
	refs   int
}

type courierFix struct {
	ts       int64
	lat, lng float64
	cell     int64 // at the indexing resolution; 0 until first needed
	proxCell int64 // at the proximity resolution; 0 until first needed
}

// NewEngine returns an engine with the given rules.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid engine config: %w", err)
	}
	if len(cfg.GrantKey) == 0 {
		return nil, errors.New("no grant key: set TRUNKLINE_GRANT_KEY to a random secret of 32 bytes or more")
	}
	// Proximity disks use the finest resolution at which the approach
	// radius fits in a disk of radius 4 (61 cells): a few hundred bytes per
	// parked car instead of hundreds of cells at the indexing resolution.
	proxRes := cfg.H3Resolution
	for proxRes > 0 && geo.DiskK(cfg.ApproachRadiusM, proxRes) > 4 {
		proxRes--
	}
	return &Engine{
		cfg:       cfg,
		proxRes:   proxRes,
		diskK:     geo.DiskK(cfg.ApproachRadiusM, proxRes),
		windows:   make(map[string]wref),
		byVIN:     make(map[string]cref),
		disks:     make(map[int64]*sharedDisk),
		routes:    make(map[string]*Route),
		couriers:  make(map[string]*courierFix),
		cancelled: make(map[string]uint32),
	}, nil
}

// reserve makes room for n more windows (a snapshot): their timers, and the
// maps of a new engine, are allocated once instead of grown step by step.
func (e *Engine) reserve(n int) {
	e.timers.reserve(2 * n) // open and close
	if len(e.windows) == 0 {
		e.windows = make(map[string]wref, n)
	}
	if len(e.byVIN) == 0 {
		e.byVIN = make(map[string]cref, n)
	}
}

// Close releases the engine's state.
func (e *Engine) Close() {
	*e = Engine{cfg: e.cfg, proxRes: e.proxRes, diskK: e.diskK}
}

// Events returns the events emitted since the last ResetEvents.
func (e *Engine) Events() []Event { return e.events }

// OnEvents has the engine call flush whenever n events are buffered, in the
// middle of a call if need be; flush must hand Events on and call
// ResetEvents. A burst (the timers of a million windows that open on one
// ping) then never holds more than n events. Without it, events accumulate
// until the caller takes them.
func (e *Engine) OnEvents(n int, flush func()) { e.flushAt, e.flush = n, flush }

// ResetEvents clears the event buffer, keeping its capacity unless a burst
// (a million windows opening at once) grew it beyond what batches need.
func (e *Engine) ResetEvents() {
	if cap(e.events) > maxKeptEvents {
		e.events = nil
		return
	}
	clear(e.events)
	e.events = e.events[:0]
}

// maxKeptEvents is the largest event buffer ResetEvents keeps.
const maxKeptEvents = 4096

// Stats returns the sizes of the engine's state. StoreEntries is the number
// of car states and StoreBytes their size in their binary form.
func (e *Engine) Stats() Stats {
	return Stats{
		Windows:      len(e.windows),
		OpenWindows:  e.open,
		Cars:         e.cars,
		Couriers:     len(e.couriers),
		Routes:       len(e.routes),
		StoreEntries: uint64(e.cars),
		StoreBytes:   uint64(e.cars) * carStateSize,
		StreamTime:   e.stream,
	}
}

// StreamTime returns the engine's stream time in Unix ms.
func (e *Engine) StreamTime() int64 { return e.stream }

// HasCarState reports whether anything is stored for vin.
func (e *Engine) HasCarState(vin string) bool { return e.trackedState(vin) != nil }

// HasWindowState reports whether state is held for window id.
func (e *Engine) HasWindowState(id string) bool {
	_, ok := e.windows[id]
	return ok
}

// observe moves stream time to ts (firing the timers due up to it); when
// that moves stream time, it remembers the wall time for the idle fallback.
func (e *Engine) observe(now, ts int64) {
	if ts <= e.stream {
		return
	}
	e.advance(now, ts)
	e.lastDataWall = now
	e.lastDataTS = e.stream
}

// Tick fires the timers that are due at stream time, advancing stream time
// with the wall clock when the engine has been idle for IdleAdvance.
func (e *Engine) Tick(now int64) {
	idle := e.cfg.IdleAdvance.Milliseconds()
	if idle <= 0 {
		return
	}
	if e.lastDataWall == 0 {
		// Nothing seen yet: start the clock now; windows that are due open
		// once the engine has been idle for IdleAdvance.
		e.lastDataWall, e.lastDataTS = now, 0
		return
	}
	if now-e.lastDataWall < idle {
		return
	}
	if e.lastDataTS == 0 {
		e.advance(now, now)
		return
	}
	e.advance(now, e.lastDataTS+(now-e.lastDataWall))
}
