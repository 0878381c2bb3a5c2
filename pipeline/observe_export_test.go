package pipeline

import "time"

// SetBrokerGrace sets how long p's brokers count as reachable once
// connections and requests fail, so tests need not wait brokerGrace. Call
// it before Run.
func SetBrokerGrace(p *Processor, d time.Duration) { p.reach.grace = d }
