package pipeline

import "github.com/VictoriaMetrics/fastcache"

// gauges are the sizes a partition worker publishes after each batch for
// the metrics: cheap reads of counters the engine keeps anyway. Unlike
// Stats, they do not walk the state store.
func (e *Engine) gauges() (openWindows, cars int) { return e.open, e.cars }

// stateStore returns the engine's state store. fastcache is safe for
// concurrent use, so the metrics read its sizes (UpdateStats) from the
// scraping goroutine while the owner keeps writing; the store stays valid
// memory after Close, which only empties it.
func (e *Engine) stateStore() *fastcache.Cache { return e.store }
