// Package pipeline is trunkline's stream processor: it decodes the input
// topics, applies the consent gate and the GPS filters, matches cars,
// couriers and delivery windows, runs the per-window state machine and
// emits the events of delivery.events.
//
// Flow:
//
//	telematics.car-pings ──(consumer group, one worker per partition)──┐
//	dispatch.windows, dispatch.routes, telematics.courier-pings         │
//	    ──(read in full by every instance: the router)─────────────────┤
//	                                                                    ▼
//	  PeekCarPing → NoOpenWindow → DecodeCarPing → Engine (per partition) → Events → Sink
//
// The pieces:
//
//   - Decoders (DecodeCarPing, DecodeCourierPing, DecodeWindow, DecodeRoute)
//     and the encoder (AppendEvent) of the contract's JSON, without
//     reflection. PeekCarPing reads only a car ping's vin and ts, for the
//     consent gate (Engine.NoOpenWindow) that comes before decoding: a
//     ping of a car without an open window is counted and nothing else in
//     it is read.
//   - Engine: the delivery state machine of one partition; deterministic,
//     it takes time only from its inputs and the now its caller passes.
//     Its rules are documented on CarPing, CourierPing, PutWindow,
//     PutRoute and evaluate; checkFix holds the GPS checks; Grant tokens
//     are signed by SignGrant and checked by VerifyGrant.
//   - Processor: the Kafka runtime. It reads the broadcast tables (windows,
//     routes, recent courier positions) into one router goroutine while it
//     joins the consumer group; once they are loaded, the router hands each
//     partition worker the windows of the cars it owns (by the key partitioning of the VIN the
//     feeds use: Config.CarPingsPartitioner, murmur2 by default) and every
//     route and courier position. Each worker owns one
//     Engine and hands its events and dead letters to the Sink; a
//     partition's offset is committed only once the broker has acknowledged
//     everything emitted for the records before it (at-least-once).
//
// Every consumed record ends applied, filtered (a Reason) or dead-lettered
// (a DecodeError reason); Processor.Snapshot and the Prometheus counters
// show consumed = applied + filtered + dead-lettered per input topic.
package pipeline
