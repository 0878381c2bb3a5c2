package pipeline

import (
	"encoding/binary"
	"math"

	"github.com/trunkline/trunkline/geo"
)

// car is one VIN that has windows in this engine (pending or open): its
// windows, and its state while one of them is open. A car without a window
// here has no car at all.
//
// The state is a plain value without pointers inside the car, which a ping
// looks up by VIN before anything else anyway: reading and writing it costs
// no hashing, locking or copying (and no cache miss of its own), and it is
// never evicted while a window of the car is open. Cars live in the
// engine's slab and hold no pointer: the collector does not look into them.
type car struct {
	first wref   // pending or open, in the order they arrived, linked by window.next; 0 once forgotten
	gen   uint32 // bumped each time the car's slot is taken: a park-dwell timer of an earlier car of the slot is moot
	state carState
}

// carState is what the engine keeps about a car while one of its windows is
// open. Its binary form (carStateSize bytes, appendBinary) is what a
// changelog record of the car holds; anchorCell and tracked are not in it.
// tracked sits here, in what would be the struct's padding, so that a car
// is 80 bytes with the anchor's cell.
type carState struct {
	ts        int64 // last accepted fix
	lat, lng  float64
	anchorTS  int64 // when the car came to rest at the anchor
	anchorLat float64
	anchorLng float64
	dwellAt   int64 // when the pending park-dwell timer fires; 0 = none
	// anchorCell caches the anchor's H3 cell at the indexing resolution, 0
	// until computed (Engine.anchorCell): a car that moves and then parks
	// announces both at the same spot.
	anchorCell int64
	parked     bool
	trunk      TrunkState
	locked     Tri
	ignition   Tri
	source     Source
	tracked    bool // the state holds the car's last accepted fix (one of its windows is open)
}

// carStateVersion 2: the H3 cell of the last fix is no longer kept (it is
// computed when an event carries it).
const carStateVersion = 2
const carStateSize = 1 + 7*8 + 5

// appendBinary appends the binary form of s to dst.
func (s *carState) appendBinary(dst []byte) []byte {
	dst = append(dst, carStateVersion)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(s.ts))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.lat))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.lng))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(s.anchorTS))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.anchorLat))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.anchorLng))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(s.dwellAt))
	var parked byte
	if s.parked {
		parked = 1
	}
	return append(dst, parked, byte(s.trunk), byte(s.locked), byte(s.ignition), byte(s.source))
}

// unmarshal decodes b into s; it reports false for a record of another size
// or version.
func (s *carState) unmarshal(b []byte) bool {
	if len(b) != carStateSize || b[0] != carStateVersion {
		return false
	}
	b = b[1:]
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(b[i*8:]) }
	s.ts = int64(u(0))
	s.lat = math.Float64frombits(u(1))
	s.lng = math.Float64frombits(u(2))
	s.anchorTS = int64(u(3))
	s.anchorLat = math.Float64frombits(u(4))
	s.anchorLng = math.Float64frombits(u(5))
	s.dwellAt = int64(u(6))
	b = b[56:]
	s.parked = b[0] == 1
	s.trunk = TrunkState(b[1])
	s.locked = Tri(b[2])
	s.ignition = Tri(b[3])
	s.source = Source(b[4])
	s.anchorCell = 0
	return true
}

// loadCar returns the state of c for a new fix, and whether c had one; a car
// without state starts from the zero state.
func (e *Engine) loadCar(c *car) (*carState, bool) {
	if !c.state.tracked {
		c.state = carState{}
		return &c.state, false
	}
	return &c.state, true
}

// anchorCell returns the H3 cell of c's anchor at the indexing resolution.
func (e *Engine) anchorCell(c *carState) int64 {
	if c.anchorCell == 0 {
		c.anchorCell = geo.Cell(c.anchorLat, c.anchorLng, e.cfg.H3Resolution)
	}
	return c.anchorCell
}

// saveCar records that c holds state; existed says whether loadCar found
// some. The state itself was changed in place.
func (e *Engine) saveCar(c *car, existed bool) {
	if !existed {
		c.state.tracked = true
		e.cars++
	}
}

// trackedState returns the state of the car of vin, nil when it has none.
func (e *Engine) trackedState(vin string) *carState {
	if c := e.carOf(e.byVIN[vin]); c != nil && c.state.tracked {
		return &c.state
	}
	return nil
}

// dropCar deletes the state of c.
func (e *Engine) dropCar(c *car) {
	if c.state.tracked {
		c.state = carState{}
		e.cars--
	}
}
