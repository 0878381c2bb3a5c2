package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// emit appends one event of window w. Its id is derived from the window, its
// car, the window's event sequence number, the type and the event time, so
// replaying the same input yields the same ids, and a window handed to an
// engine of another partition with a new car gets ids of its own. fill sets the type-specific fields.
func (e *Engine) emit(now int64, w *window, typ EventType, ts int64, fill func(*Event)) {
	w.seq++
	w.lastTS = max(w.lastTS, ts)
	e.events = append(e.events, Event{
		ID:        eventID(w.def.ID, w.def.VIN, w.incarnation, w.seq, typ, ts),
		Type:      typ,
		WindowID:  w.def.ID,
		OrderID:   w.def.OrderID,
		Kind:      w.def.Kind,
		VIN:       w.def.VIN,
		CourierID: w.courier,
		TS:        ts,
		EmittedAt: now,
	})
	if fill != nil {
		fill(&e.events[len(e.events)-1])
	}
	if e.flush != nil && len(e.events) >= e.flushAt {
		e.flush()
	}
}

// emitPos is emit for events about a position: lat, lng, its H3 cell and a
// distance in metres.
func (e *Engine) emitPos(now int64, w *window, typ EventType, ts int64, lat, lng float64, cell int64, dist float64, fill func(*Event)) {
	e.emit(now, w, typ, ts, func(ev *Event) {
		ev.HasPos, ev.Lat, ev.Lng, ev.H3, ev.DistanceM = true, lat, lng, cell, dist
		if fill != nil {
			fill(ev)
		}
	})
}

func eventID(windowID, vin string, incarnation, seq uint32, typ EventType, ts int64) string {
	var b [8 + 4 + 1 + 4]byte
	h := sha256.New()
	h.Write([]byte(windowID))
	h.Write([]byte{0})
	h.Write([]byte(vin))
	binary.BigEndian.PutUint64(b[:8], uint64(ts))
	binary.BigEndian.PutUint32(b[8:12], seq)
	b[12] = byte(typ)
	n := 13
	if incarnation > 0 {
		binary.BigEndian.PutUint32(b[13:], incarnation)
		n += 4
	}
	h.Write(b[:n])
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// grantID derives a grant's id from its window, the window's grant
// sequence number and the grant's start, so that two grants never share an
// id (even when the sequence starts again after a restart).
func grantID(windowID string, n uint32, notBefore int64) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], n)
	binary.BigEndian.PutUint64(b[4:], uint64(notBefore))
	h := sha256.New()
	h.Write([]byte("grant\x00"))
	h.Write([]byte(windowID))
	h.Write(b[:])
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:12])
}
