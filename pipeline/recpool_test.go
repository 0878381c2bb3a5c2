package pipeline

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRecordPool: a slab has room for what was asked and comes back from
// the pool, empty, once put; a slab the pool did not make, or one too large
// to keep, is left to the garbage collector.
func TestRecordPool(t *testing.T) {
	for _, tc := range []struct {
		n, wantCap int
		pooled     bool
	}{
		{1, 8, true},
		{8, 8, true},
		{9, 16, true},
		{1000, 1024, true},
		{1 << 16, 1 << 16, true},
		{1<<16 + 1, 1<<16 + 1, false},
	} {
		p := newRecordPool()
		s := p.GetRecords(tc.n)
		if len(s) != 0 || cap(s) != tc.wantCap {
			t.Fatalf("GetRecords(%d): len %d cap %d, want 0, %d", tc.n, len(s), cap(s), tc.wantCap)
		}
		s = append(s, kgo.Record{Offset: 7})
		s[0] = kgo.Record{} // as Recycle leaves it
		p.PutRecords(s[:cap(s)])
		got := p.GetRecords(tc.n)
		if reused := cap(got) == cap(s) && &got[:1][0] == &s[:1][0]; reused != tc.pooled {
			t.Fatalf("GetRecords(%d) after a put: reused the slab = %v, want %v", tc.n, reused, tc.pooled)
		}
		if len(got) != 0 {
			t.Fatalf("GetRecords(%d): pooled slab has len %d", tc.n, len(got))
		}
	}
	p := newRecordPool()
	p.PutRecords(make([]kgo.Record, 0, 100)) // not a class capacity: dropped
	if s := p.GetRecords(100); cap(s) != 128 || p.pooled.Load() != 0 {
		t.Fatalf("GetRecords(100) after putting a foreign slab: cap %d, pooled %d bytes", cap(s), p.pooled.Load())
	}
}

// TestRecordPoolBound: however many slabs come back at once, the free ones
// never hold more than recPoolBytes; what did not fit is dropped, and the
// pool keeps serving what it holds.
func TestRecordPoolBound(t *testing.T) {
	for _, n := range []int{8, 1 << 10, 1 << 16} {
		p := newRecordPool()
		slab := n * recSize
		out := make([][]kgo.Record, 3*recPoolBytes/slab+2)
		for i := range out {
			out[i] = p.GetRecords(n)
		}
		for _, s := range out {
			p.PutRecords(s[:cap(s)])
			if b := p.pooled.Load(); b > recPoolBytes {
				t.Fatalf("%d-record slabs: %d bytes pooled, bound %d", n, b, recPoolBytes)
			}
		}
		want := max(1, recPoolBytes/slab)
		if got := int(p.pooled.Load()) / slab; got != want {
			t.Fatalf("%d-record slabs: %d kept, want %d", n, got, want)
		}
		for range want {
			s := p.GetRecords(n)
			if cap(s) != n {
				t.Fatalf("GetRecords(%d): cap %d", n, cap(s))
			}
		}
		if b := p.pooled.Load(); b != 0 {
			t.Fatalf("%d-record slabs: %d bytes pooled after taking every slab back", n, b)
		}
	}
}
