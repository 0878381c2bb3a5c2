package pipeline

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRecordPool: a slab has room for what was asked, comes back from the
// pool once put, and a slab the pool did not make (or one too large to
// keep) is left to the garbage collector.
func TestRecordPool(t *testing.T) {
	for _, tc := range []struct {
		n, wantCap int
		pooled     bool
	}{
		{1, 64, true},
		{64, 64, true},
		{65, 128, true},
		{1000, 1024, true},
		{1 << 16, 1 << 16, true},
		{1<<16 + 1, 1<<16 + 1, false},
	} {
		var p recordPool
		s := p.GetRecords(tc.n)
		if len(s) != 0 || cap(s) != tc.wantCap {
			t.Fatalf("GetRecords(%d): len %d cap %d, want 0, %d", tc.n, len(s), cap(s), tc.wantCap)
		}
		s = append(s, kgo.Record{Offset: 7})
		s[0] = kgo.Record{} // as Recycle leaves it
		p.PutRecords(s)
		// sync.Pool may drop what it holds at any GC, so only a hit is
		// checked: it must be the slab put back, empty.
		if got := p.GetRecords(tc.n); cap(got) == cap(s) && &got[:1][0] == &s[:1][0] {
			if !tc.pooled {
				t.Fatalf("GetRecords(%d) returned a slab the pool should not keep", tc.n)
			}
			if len(got) != 0 {
				t.Fatalf("pooled slab has len %d", len(got))
			}
		}
	}
	var p recordPool
	p.PutRecords(make([]kgo.Record, 0, 100)) // not a class capacity: dropped
	if s := p.GetRecords(100); cap(s) != 128 {
		t.Fatalf("GetRecords(100) after putting a foreign slab: cap %d, want 128", cap(s))
	}
}
