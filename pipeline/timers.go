package pipeline

type timerKind uint8

const (
	timerOpen        timerKind = iota + 1 // window start: tracking begins
	timerClose                            // window end: tracking stops
	timerGrantExpiry                      // live grant expires (aux = grant sequence)
	timerRelock                           // relock timeout after completion
	timerParkDwell                        // a car at rest may now count as parked (a dwellTimer)
)

// timer is one entry of the engine's heap of window timers. Entries are
// never removed when they become moot: fire checks that the state they
// refer to is still the same (gen, aux) and ignores them otherwise. A timer
// refers to its window's slot, and a window's generation only grows, also
// across the windows that take the same slot in turn: a timer of a window
// that was removed can never act on a window created later, in its slot or
// under its id.
type timer struct {
	at  int64
	seq uint64 // insertion order << 8 | kind: ties fire first in, first out
	w   wref
	gen uint32
	aux uint32
}

// dwellTimer is one entry of the engine's heap of park-dwell timers, one
// per car at rest: a heap of its own, so that neither kind of entry carries
// the other's fields (a million windows and a million cars at rest hold
// two million timers).
type dwellTimer struct {
	at  int64
	seq uint64 // as timer.seq: both heaps draw from one sequence
	car cref
	gen uint32 // the car's generation
}

func (t timer) due() (int64, uint64)      { return t.at, t.seq }
func (t dwellTimer) due() (int64, uint64) { return t.at, t.seq }

func (t *timer) kind() timerKind { return timerKind(t.seq) }

// timerHeap is a binary min-heap of timers by (at, seq), without the
// interface boxing of container/heap.
type timerHeap[T interface{ due() (int64, uint64) }] []T

// before reports whether a is due before b.
func before(aAt int64, aSeq uint64, bAt int64, bSeq uint64) bool {
	if aAt != bAt {
		return aAt < bAt
	}
	return aSeq < bSeq
}

func (h timerHeap[T]) less(i, j int) bool {
	ai, si := h[i].due()
	aj, sj := h[j].due()
	return before(ai, si, aj, sj)
}

func (h *timerHeap[T]) push(t T) {
	*h = append(*h, t)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// pop removes the earliest timer. A heap that has shrunk to half of its
// capacity or less gives the rest back, keeping a quarter of its size to grow into
// (a million windows that opened at once leave a million close timers,
// and their open timers' room need not stay reserved). Shrinking takes at
// least a quarter of the heap's size in pops or pushes between copies.
func (h *timerHeap[T]) pop() T {
	s := *h
	t := s[0]
	n := len(s) - 1
	s[0] = s[n]
	var zero T
	s[n] = zero
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	if cap(s) > 4096 && n <= cap(s)/2 {
		s = append(make(timerHeap[T], 0, n+n/4), s...)
	}
	*h = s
	return t
}

// reserve makes room for n more timers at once, instead of growing the
// heap step by step (a snapshot of many windows).
func (h *timerHeap[T]) reserve(n int) {
	if free := cap(*h) - len(*h); n > free {
		*h = append(make(timerHeap[T], 0, len(*h)+n), *h...)
	}
}

// schedule adds a timer of window w.
func (e *Engine) schedule(at int64, kind timerKind, w *window, gen uint32, aux uint32) {
	e.timerSeq++
	e.timers.push(timer{at: at, seq: e.timerSeq<<8 | uint64(kind), w: w.self, gen: gen, aux: aux})
}

// scheduleDwell adds a park-dwell timer of car r.
func (e *Engine) scheduleDwell(at int64, r cref) {
	e.timerSeq++
	e.dwells.push(dwellTimer{at: at, seq: e.timerSeq<<8 | uint64(timerParkDwell), car: r, gen: e.carOf(r).gen})
}

// advance fires every timer due at or before t, in the order of (time,
// schedule) over both heaps, then sets stream time to t if that is later.
func (e *Engine) advance(now, t int64) {
	for {
		win := len(e.timers) > 0 && e.timers[0].at <= t
		dwell := len(e.dwells) > 0 && e.dwells[0].at <= t
		if win && dwell {
			win = before(e.timers[0].at, e.timers[0].seq, e.dwells[0].at, e.dwells[0].seq)
			dwell = !win
		}
		var at int64
		switch {
		case win:
			tm := e.timers.pop()
			at = tm.at
			e.setStream(at)
			e.fire(now, tm)
		case dwell:
			d := e.dwells.pop()
			at = d.at
			e.setStream(at)
			e.parkDwellDue(now, d.car, d.gen, d.at)
		default:
			e.setStream(t)
			return
		}
	}
}

// setStream moves stream time to t if that is later.
func (e *Engine) setStream(t int64) {
	if t > e.stream {
		e.stream = t
	}
}

// fire runs one due window timer at its own time.
func (e *Engine) fire(now int64, t timer) {
	w := e.win(t.w)
	if w.gen != t.gen {
		return
	}
	switch t.kind() {
	case timerOpen:
		e.openWindow(now, w, t.at)
	case timerClose:
		e.closeWindow(now, w, t.at)
	case timerGrantExpiry:
		e.grantExpired(now, w, t.aux, t.at)
	case timerRelock:
		if w.relockDue == t.at {
			w.relockDue = 0
			e.emit(now, w, EvRelockMissing, t.at, func(ev *Event) { ev.Reason = "timeout" })
		}
	}
}
