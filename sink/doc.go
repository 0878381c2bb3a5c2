// Package sink is where trunkline's output goes: the end of the pipeline.
//
// The partition workers of a pipeline.Processor hand every event and every
// dead letter to a pipeline.Sink. Kafka is the production one: events go to
// delivery.events keyed by window_id with CloudEvents Kafka-binding headers,
// records that cannot be processed go to the dead-letter topic with their
// original key and value and the error, source-topic, source-partition and
// source-offset headers; the broker's acknowledgement of each record is
// reported back so the processor commits only what is durably written.
//
// JSONLines and Console write events for people and tests: one AppendEvent
// line per event, or one short readable line (what `trunkline dev` prints).
// Tee puts them beside another sink.
package sink
