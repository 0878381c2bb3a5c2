package pipeline

import (
	"fmt"
	"testing"
)

func TestVINFilter(t *testing.T) {
	vin := func(i int) string { return fmt.Sprintf("WVWZZZ1KZ%08d", i) }
	for _, tc := range []struct {
		name  string
		steps func(add func(int), remove func(int))
	}{
		{"grows from empty", func(add, _ func(int)) {
			for i := range 50_000 {
				add(i)
			}
		}},
		{"churn: windows end and others start", func(add, remove func(int)) {
			for i := range 10_000 {
				add(i)
			}
			for i := range 100_000 {
				remove(i)
				add(10_000 + i)
			}
		}},
		{"drains to empty", func(add, remove func(int)) {
			for i := range 20_000 {
				add(i)
			}
			for i := range 20_000 {
				remove(i)
			}
		}},
		{"a few cars", func(add, remove func(int)) {
			for i := range 10 {
				add(i)
			}
			remove(3)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f vinFilter
			present := map[string]cref{}
			tc.steps(func(i int) {
				present[vin(i)] = 1
				f.add(vin(i), present)
			}, func(i int) {
				delete(present, vin(i))
				f.remove(present)
			})
			for v := range present {
				if !f.mayContain([]byte(v)) {
					t.Fatalf("mayContain(%s) = false for a present VIN", v)
				}
			}
			const probes = 100_000
			falsePos := 0
			for i := range probes {
				if f.mayContain([]byte(vin(1_000_000_000 - 1 - i))) {
					falsePos++
				}
			}
			if rate := float64(falsePos) / probes; rate > 0.02 {
				t.Errorf("%d of %d absent VINs may be present (%.2f%%), want at most 2%%", falsePos, probes, 100*rate)
			}
			t.Logf("%d VINs, %d words, %d false positives in %d", len(present), len(f.words), falsePos, probes)
			// Memory follows the VINs present, not the VINs ever added:
			// at most one word per VIN (16 bits each is the goal), or
			// twice the minimum size.
			if len(f.words) > max(len(present), 2*vinFilterMinWords) {
				t.Errorf("%d words for %d VINs", len(f.words), len(present))
			}
		})
	}
}

func TestVINFilterEmpty(t *testing.T) {
	var f vinFilter
	if f.mayContain([]byte("WVWZZZ1KZ00000001")) {
		t.Fatal("an empty filter may contain a VIN")
	}
}
