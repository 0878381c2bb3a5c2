package pipeline

// slab holds the engine's windows and cars: values of T in chunks of
// slabChunk that never move, so a *T taken from a slot stays valid while
// the slot is in use, and what refers to a slot from the engine's maps,
// timers and lists is its number, not a pointer. The collector then marks
// a few large chunks instead of a small object per window and per car, and
// follows no pointer to them. With a million windows one collection of
// the engines' state went from about 700 to 290 ns of CPU per window
// (BenchmarkEngineMemory, gc-cpu-ns/window). Released slots are reused,
// last released first; a slab keeps its largest size.
//
// Slot numbers start at 1, so that the zero value of a reference (wref,
// cref) refers to nothing.
type slab[T any] struct {
	chunks []*[slabChunk]T
	free   []int32 // released slots
	n      int32   // slots handed out so far, released ones included
}

const (
	slabChunkShift = 10 // 1024 slots per chunk
	slabChunk      = 1 << slabChunkShift
)

// alloc returns a free slot and its value, which holds what the slot's
// previous occupant left (callers keep its generation and reset the rest).
func (s *slab[T]) alloc() (int32, *T) {
	if n := len(s.free); n > 0 {
		r := s.free[n-1]
		s.free = s.free[:n-1]
		return r, s.at(r)
	}
	i := s.n
	if int(i>>slabChunkShift) == len(s.chunks) {
		s.chunks = append(s.chunks, new([slabChunk]T))
	}
	s.n++
	return i + 1, s.at(i + 1)
}

// at returns the value of slot r (r >= 1).
func (s *slab[T]) at(r int32) *T {
	i := r - 1
	return &s.chunks[i>>slabChunkShift][i&(slabChunk-1)]
}

// release makes slot r free for a later alloc.
func (s *slab[T]) release(r int32) { s.free = append(s.free, r) }

// wref refers to a window of the engine's slab; 0 refers to none.
type wref int32

// cref refers to a car of the engine's slab; 0 refers to none.
type cref int32

// win returns the window r refers to, nil for 0.
func (e *Engine) win(r wref) *window {
	if r == 0 {
		return nil
	}
	return e.wslab.at(int32(r))
}

// carOf returns the car r refers to, nil for 0.
func (e *Engine) carOf(r cref) *car {
	if r == 0 {
		return nil
	}
	return e.cslab.at(int32(r))
}
