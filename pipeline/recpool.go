package pipeline

import (
	"math/bits"
	"sync"

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
// Slabs are kept by power-of-two capacity, from 64 to 64 Ki records.
type recordPool struct {
	classes [recClasses]sync.Pool
}

const (
	recMinShift = 6
	recClasses  = 11
)

// class returns the pool class of slabs of capacity n or more, and the
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
	if s, _ := p.classes[c].Get().(*[]kgo.Record); s != nil {
		return (*s)[:0]
	}
	return make([]kgo.Record, 0, capacity)
}

// PutRecords takes back a slab whose records have all been recycled.
func (p *recordPool) PutRecords(s []kgo.Record) {
	c, capacity, ok := recClass(cap(s))
	if !ok || capacity != cap(s) {
		return // not one of ours
	}
	s = s[:0]
	p.classes[c].Put(&s)
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
