package pipeline

import (
	"encoding/binary"
	"math"
)

// carState is what the engine keeps about a car while one of its windows is
// open. It is stored as a fixed-size binary record (carStateSize bytes) keyed
// by 'c' + VIN; the same bytes are what a changelog record of the car holds.
type carState struct {
	ts        int64 // last accepted fix
	lat, lng  float64
	cell      int64
	anchorTS  int64 // when the car came to rest at the anchor
	anchorLat float64
	anchorLng float64
	dwellAt   int64 // when the pending park-dwell timer fires; 0 = none
	parked    bool
	trunk     TrunkState
	locked    Tri
	ignition  Tri
	source    Source
}

const carStateVersion = 1
const carStateSize = 1 + 8*8 + 5

// appendBinary appends the binary form of s to dst.
func (s *carState) appendBinary(dst []byte) []byte {
	dst = append(dst, carStateVersion)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(s.ts))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.lat))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.lng))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(s.cell))
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
	s.cell = int64(u(3))
	s.anchorTS = int64(u(4))
	s.anchorLat = math.Float64frombits(u(5))
	s.anchorLng = math.Float64frombits(u(6))
	s.dwellAt = int64(u(7))
	b = b[64:]
	s.parked = b[0] == 1
	s.trunk = TrunkState(b[1])
	s.locked = Tri(b[2])
	s.ignition = Tri(b[3])
	s.source = Source(b[4])
	return true
}

// loadCar reads the state of vin into e.car; it reports whether there was one.
func (e *Engine) loadCar(vin []byte) bool {
	e.key = append(append(e.key[:0], 'c'), vin...)
	var ok bool
	e.val, ok = e.store.HasGet(e.val[:0], e.key)
	if !ok || !e.car.unmarshal(e.val) {
		e.car = carState{}
		return false
	}
	return true
}

// saveCar writes e.car as the state of vin; existed says whether loadCar
// found a previous state.
func (e *Engine) saveCar(vin []byte, existed bool) {
	e.key = append(append(e.key[:0], 'c'), vin...)
	e.val = e.car.appendBinary(e.val[:0])
	e.store.Set(e.key, e.val)
	if !existed {
		e.cars++
	}
}

// dropCar deletes the state of vin.
func (e *Engine) dropCar(vin string) {
	e.key = append(append(e.key[:0], 'c'), vin...)
	if e.store.Has(e.key) {
		e.store.Del(e.key)
		e.cars--
	}
}
