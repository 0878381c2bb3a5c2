// Package bench is trunkline's fleet simulator, load generator and
// end-to-end benchmark harness.
//
// It stands in for the carmaker feeds and for dispatch: it writes the JSON
// records of the external contract (DESIGN.md, "Topics") to
// telematics.car-pings, telematics.courier-pings, dispatch.windows and
// dispatch.routes, and nothing else. It never talks to the processor: the
// processor under test reads those topics like any other producer's.
//
// The simulation is split in two:
//
//   - Generator is pure. It steps simulated time and appends the records that
//     fall due to a caller-owned slice. Given the same Config (seed included)
//     it yields the same records, in the same order, with the same
//     timestamps, however the caller slices time into steps. It never reads
//     the clock.
//   - Run paces a Generator by wall time (simulated time = Config.Start +
//     elapsed wall time), caps car pings at Config.Rate per second, and
//     produces the records with a franz-go client.
//
// The simulated city is a street grid over a disc (Munich by default). Cars
// drive along its streets at 20–60 km/h and park for minutes to hours; most
// never have a delivery. Dispatch plans courier routes of 3–8 stops, each stop
// a delivery or return window on a parked car near the window's address;
// couriers drive to each stop, walk to the car, and the car reports its trunk
// opening, closing and relocking. Some windows are cancelled, some cars drive
// off during their window, some stops are skipped.
//
// The car feeds are as messy as real ones: timestamps as epoch milliseconds or
// RFC 3339 strings depending on the carmaker, optional fields that some
// carmakers never send, GPS jitter, jumps of hundreds of metres, fixes with
// poor accuracy, duplicates, late fixes, and a configurable fraction of
// records that are not valid at all (malformed JSON, a missing VIN,
// out-of-range coordinates) so that the dead-letter path is exercised.
//
// With Config.Demo set, scripted showcase windows (ids W-DEMO-*) run on top of
// the random fleet, so that a viewer of `trunkline dev` sees a complete
// delivery within the first minute and a collected return, a moved car, a
// missed window and a cancellation within about three minutes.
//
// # Harness
//
// RunHarness (the trunkline-bench command, `make bench` and `make
// bench-quick`) measures the real processor end to end: an embedded
// Kafka-protocol broker on 127.0.0.1, topics preloaded or fed at fixed rates
// by the simulator, and pipeline.Processor with the Kafka sink in a child
// process of its own. Its scenarios are catch-up (city mix and worst case,
// against a bare consumer and a decode+H3 consumer on the same topic), live
// latency at fixed offered rates, and memory. Every run checks that each
// record was accounted for and that the events the processor acknowledged
// are the events read back from the events topic; a run that emits nothing
// fails. Report writes the markdown, JSON and SVG chart of bench/results.
package bench
