// Command trunkline is the one binary of trunkline, the stream processor for
// in-car (car boot) delivery. It is thin: flags and environment, then
// configuration (configs/trunkline.yaml documents every default), then the
// parts from packages pipeline, sink and bench are constructed, run, and
// stopped in reverse order under one deadline.
//
// Usage:
//
//	trunkline dev       embedded broker + fleet simulator + processor + live console
//	trunkline broker    the embedded Kafka-protocol broker alone, default topics created
//	trunkline run       the processor against any Kafka cluster
//	trunkline sim       the fleet simulator / load generator
//	trunkline grant verify TOKEN
//	                    checks a grant token offline: exit 0 valid, 1 invalid
//
// Every long-running command serves /metrics, /healthz and /readyz on --http
// (default 127.0.0.1:8080; port 0 picks a free port and logs it), from a
// registry of its own. TRUNKLINE_BROKERS and TRUNKLINE_GRANT_KEY override the
// configuration file; flags override both. Only this command reads flags,
// the environment or the process's signals.
package main
