package pipeline

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
// handed to the sink. Event values (and their strings) are owned by the
// caller after Events returns; the engine does not modify them.
type Engine struct {
	cfg EngineConfig
}

// Stats is a snapshot of an engine's state sizes.
type Stats struct {
	Windows      int // windows known to this engine
	OpenWindows  int // windows currently tracking
	Cars         int // cars with state (cars in an open window)
	Couriers     int // couriers with a known position
	Routes       int // routes known
	StoreEntries uint64
	StoreBytes   uint64
	StreamTime   int64 // Unix ms; 0 before any input
}

// NewEngine returns an engine with the given rules.
func NewEngine(cfg EngineConfig) (*Engine, error) { panic("unimplemented") }

// CarPing applies one car ping: consent gate, GPS filters, park detection,
// trunk and lock state. It returns Applied or the filter reason.
func (e *Engine) CarPing(now int64, p *CarPing) Reason { panic("unimplemented") }

// CourierPing applies one courier ping: proximity to the parked cars of the
// windows on the courier's route that this engine owns.
func (e *Engine) CourierPing(now int64, p *CourierPing) Reason { panic("unimplemented") }

// PutWindow inserts or updates a window; w is copied.
func (e *Engine) PutWindow(now int64, w *Window) Reason { panic("unimplemented") }

// DeleteWindow applies a tombstone: the window is cancelled.
func (e *Engine) DeleteWindow(now int64, id string) Reason { panic("unimplemented") }

// PutRoute inserts or replaces a courier's route; r is copied.
func (e *Engine) PutRoute(now int64, r *Route) Reason { panic("unimplemented") }

// DeleteRoute withdraws a courier's route.
func (e *Engine) DeleteRoute(now int64, courierID string) Reason { panic("unimplemented") }

// Tick fires the timers that are due at stream time, advancing stream time
// with the wall clock when the engine has been idle for IdleAdvance.
func (e *Engine) Tick(now int64) { panic("unimplemented") }

// Events returns the events emitted since the last ResetEvents.
func (e *Engine) Events() []Event { panic("unimplemented") }

// ResetEvents clears the event buffer, keeping its capacity.
func (e *Engine) ResetEvents() { panic("unimplemented") }

// Stats returns the sizes of the engine's state.
func (e *Engine) Stats() Stats { panic("unimplemented") }

// HasCarState reports whether anything is stored for vin.
func (e *Engine) HasCarState(vin string) bool { panic("unimplemented") }

// HasWindowState reports whether runtime state is stored for window id.
func (e *Engine) HasWindowState(id string) bool { panic("unimplemented") }

// Close releases the state store.
func (e *Engine) Close() { panic("unimplemented") }
