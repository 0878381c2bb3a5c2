package pipeline

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// carPing applies one car-pings record: size check, decode, engine. It is
// the per-ping path: no allocation, no lock, no log (a dead letter is the
// exception, and is rate-limited).
func (w *worker) carPing(now int64, rec *kgo.Record) {
	if err := CheckRecordSize(rec.Value, w.p.cfg.MaxRecordBytes); err != nil {
		w.deadLetter(now, rec, err)
		return
	}
	if err := DecodeCarPing(&w.ping, rec.Value); err != nil {
		w.deadLetter(now, rec, fmt.Errorf("cannot decode car ping: %w", err))
		return
	}
	w.tally.outcome(w.eng.CarPing(now, &w.ping))
}
