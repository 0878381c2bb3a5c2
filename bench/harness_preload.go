package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// loader writes records to the broker as fast as it takes them: batched,
// asynchronous produce (many records per batch, a linger, several requests
// in flight), no compression. It is for preloading topics before a timed
// phase, never inside one.
type loader struct {
	cl *kgo.Client
	p  *producer
}

func newLoader(ctx context.Context, addr string) (*loader, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ClientID("trunkline-bench-loader"),
		kgo.ProducerLinger(20*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1<<20),
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(),
		kgo.MaxProduceRequestsInflightPerBroker(8),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot create the loader's producer: %w", err)
	}
	return &loader{cl: cl, p: newProducer(cl, ctx)}, nil
}

// produce hands recs to the client; it blocks while the client's buffer is
// full. The records' keys and values must stay unmodified until flush.
func (l *loader) produce(recs []Record) error {
	l.p.produce(recs)
	return l.p.err()
}

// flush waits until every record produced so far is written.
func (l *loader) flush(ctx context.Context) error {
	if err := l.cl.Flush(ctx); err != nil {
		return fmt.Errorf("cannot flush the preload: %w", err)
	}
	return l.p.err()
}

func (l *loader) close() { l.cl.Close() }
