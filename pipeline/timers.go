package pipeline

type timerKind uint8

const (
	timerOpen        timerKind = iota + 1 // window start: tracking begins
	timerClose                            // window end: tracking stops
	timerGrantExpiry                      // live grant expires (aux = grant sequence)
	timerRelock                           // relock timeout after completion
	timerParkDwell                        // a car at rest may now count as parked (car = the car)
)

// timer is one entry of the engine's timer heap. Entries are never removed
// when they become moot: fire checks that the state they refer to is still
// the same (gen, aux) and ignores them otherwise. A window timer points at
// its window, so a timer of a window that was removed can never act on a
// window created later under the same id.
type timer struct {
	at  int64
	seq uint64  // insertion order << 8 | kind: ties fire first in, first out
	w   *window // the window of a window timer
	car *car    // the car of a park-dwell timer
	gen uint32
	aux uint32
}

func (t *timer) kind() timerKind { return timerKind(t.seq) }

// timerHeap is a binary min-heap of timers by (at, seq), without the
// interface boxing of container/heap.
type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h *timerHeap) push(t timer) {
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
// capacity gives the rest back, keeping a quarter of its size to grow into
// (a million windows that opened at once leave a million close timers,
// and their open timers' room need not stay reserved). Shrinking takes at
// least a quarter of the heap's size in pops or pushes between copies.
func (h *timerHeap) pop() timer {
	s := *h
	t := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = timer{}
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
	if cap(s) > 4096 && n < cap(s)/2 {
		s = append(make(timerHeap, 0, n+n/4), s...)
	}
	*h = s
	return t
}

// schedule adds a timer of window w or of car c.
func (e *Engine) schedule(at int64, kind timerKind, w *window, c *car, gen uint32, aux uint32) {
	e.timerSeq++
	e.timers.push(timer{at: at, seq: e.timerSeq<<8 | uint64(kind), w: w, car: c, gen: gen, aux: aux})
}

// fire runs one due timer at its own time.
func (e *Engine) fire(now int64, t timer) {
	if t.kind() == timerParkDwell {
		e.parkDwellDue(now, t.car, t.at)
		return
	}
	w := t.w
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
