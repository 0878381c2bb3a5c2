package pipeline

// gauges are the sizes a partition worker publishes after each batch for
// the metrics: cheap reads of counters the engine keeps anyway. Unlike
// Stats, they do not walk the state store.
func (e *Engine) gauges() (openWindows, cars int) { return e.open, e.cars }
