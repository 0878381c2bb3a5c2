package pipeline

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Sink is where a Processor's output goes: events to the events topic and
// the records that cannot be processed to the dead-letter topic. Package
// sink provides the Kafka implementation.
//
// The Processor calls a Sink from many goroutines at once. Event and
// DeadLetter may block while the sink is at its buffering limit, until ctx
// is done. Each call leads to exactly one call of ack, from any goroutine,
// once the record is durably written (nil) or has failed for good; ack must
// not block.
type Sink interface {
	// Event hands over one event; ev is only read during the call.
	Event(ctx context.Context, ev *Event, ack func(error))
	// DeadLetter hands over a consumed record that cannot be processed;
	// cause says why. rec is not modified and must not be modified until
	// ack is called.
	DeadLetter(ctx context.Context, rec *kgo.Record, cause error, ack func(error))
	// Flush waits until every record handed over so far is acknowledged,
	// or ctx is done.
	Flush(ctx context.Context) error
}
