package pipeline

import (
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordPool recycles the slabs of kgo.Records that the consumers decode
// fetched batches into (kgo.WithPools, kgo.PoolRecords): catching up on ten
// million pings would otherwise allocate about 1.6 GB of Record structs for
// the garbage collector to sweep. A record goes back with Record.Recycle
// once nothing refers to it any more: the worker recycles a batch of car
// pings once processed, keeping of its last record only what marking the
// commit reads (commitMark); the router recycles the broadcast records of a
// poll once applied. A record is only cleared by Recycle, its Key and Value
// are not pooled (no PoolDecompressBytes), so a dead letter built from them
// stays valid.
//
// Slabs are kept by power-of-two capacity, from 8 to 64 Ki records, and
// the free slabs of all classes together hold at most recPoolBytes. The
// bound matters more than the hit rate: a burst (the tables loading, a
// backlog of small live batches) leaves many slabs free at once, and a
// pool that kept them all (sync.Pool keeps what was put until two
// collections have passed, which at gc_percent 300 can be many seconds)
// would have the collector mark them, and count them in the heap its next
// goal is computed from, for as long. Get and put are per fetched batch,
// not per record: each is one channel operation.
type recordPool struct {
	free   [recClasses]chan []kgo.Record
	pooled atomic.Int64 // bytes of the free slabs
}

const (
	recMinShift = 3
	recClasses  = 14
	// recPoolBytes bounds the free slabs. Catching up, at most 28 MiB of
	// slabs were out at once in the city mix (batches of 4 to 8 Ki
	// records); 16 MiB kept its rate (1.79-1.80 M pings/s against
	// 1.75-1.83 with 32) and holds 15 MiB less in the memory scenario.
	recPoolBytes = 16 << 20
	recSize      = int(unsafe.Sizeof(kgo.Record{}))
)

// newRecordPool returns an empty pool.
func newRecordPool() *recordPool {
	p := &recordPool{}
	for c := range p.free {
		p.free[c] = make(chan []kgo.Record, max(1, recPoolBytes/(recSize<<(c+recMinShift))))
	}
	return p
}

// recClass returns the pool class of slabs of capacity n or more, and the
// capacity of that class; ok is false beyond the largest class.
func recClass(n int) (c, capacity int, ok bool) {
	if n <= 1<<recMinShift {
		return 0, 1 << recMinShift, true
	}
	c = bits.Len(uint(n-1)) - recMinShift
	return c, 1 << (c + recMinShift), c < recClasses
}

// GetRecords returns an empty slice of at least capacity n.
func (p *recordPool) GetRecords(n int) []kgo.Record {
	c, capacity, ok := recClass(n)
	if !ok {
		return make([]kgo.Record, 0, n)
	}
	select {
	case s := <-p.free[c]:
		p.pooled.Add(-int64(capacity * recSize))
		return s
	default:
		return make([]kgo.Record, 0, capacity)
	}
}

// PutRecords takes back a slab whose records have all been recycled, if
// the pool has room for it.
func (p *recordPool) PutRecords(s []kgo.Record) {
	c, capacity, ok := recClass(cap(s))
	if !ok || capacity != cap(s) {
		return // not one of ours
	}
	size := int64(capacity * recSize)
	if p.pooled.Add(size) > recPoolBytes {
		p.pooled.Add(-size)
		return
	}
	select {
	case p.free[c] <- s[:0]:
	default:
		p.pooled.Add(-size)
	}
}

var _ kgo.PoolRecords = (*recordPool)(nil)

// commitMark returns what marking rec for commit reads (its topic,
// partition, leader epoch and offset), so that rec itself can be recycled.
func commitMark(rec *kgo.Record) *kgo.Record {
	return &kgo.Record{Topic: rec.Topic, Partition: rec.Partition, LeaderEpoch: rec.LeaderEpoch, Offset: rec.Offset}
}

// recycle recycles recs, which nothing refers to any more.
func recycle(recs []*kgo.Record) {
	for _, r := range recs {
		r.Recycle()
	}
}
