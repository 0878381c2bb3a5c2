package pipeline

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// carPing applies one car-pings record: size check, consent, decode,
// engine. It is the per-ping path: no allocation, no lock, no log (a dead
// letter is the exception, and is rate-limited).
//
// Consent comes before decoding: a ping whose vin and ts read well and
// whose car has no open window is filtered as no_window with nothing else
// about it read, so a car without consent is never dead-lettered (a dead
// letter carries the record). A ping whose vin or ts cannot be read is
// decoded in full, and dead-lettered with the decoder's reason. A ping whose
// vin and ts read well has moved stream time to ts (as any filtered ping
// does) even when another field then gets it dead-lettered.
func (w *worker) carPing(now int64, rec *kgo.Record) {
	if err := CheckRecordSize(rec.Value, w.p.cfg.MaxRecordBytes); err != nil {
		w.deadLetter(now, rec, err)
		return
	}
	w.inTS, w.inAppend = 0, appendMs(rec)
	vin, ts, ok := PeekCarPing(w.ping.VIN, rec.Value)
	w.ping.VIN = vin // keeps the buffer's capacity
	if ok {
		w.inTS = ts
	}
	if ok && w.eng.NoOpenWindow(now, vin, ts) {
		w.tally.outcome(FilterNoWindow)
		return
	}
	if err := DecodeCarPing(&w.ping, rec.Value); err != nil {
		w.deadLetter(now, rec, fmt.Errorf("cannot decode car ping: %w", err))
		return
	}
	w.inTS = w.ping.TS
	w.tally.outcome(w.eng.CarPing(now, &w.ping))
}
