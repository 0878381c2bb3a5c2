package pipeline

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestScannerFloatMatchesParseFloat checks the decoder's number conversion
// against strconv.ParseFloat: random numbers of the shapes feeds send
// (coordinates, speeds, epoch milliseconds) and the edges of its exact path
// (mantissas around 2^53, powers of ten around ±22, long fractions, zeros).
func TestScannerFloatMatchesParseFloat(t *testing.T) {
	lits := []string{
		"0", "-0", "0.0", "-0.0", "1", "-1", "48.137154", "11.576124", "-179.999999", "90", "6.5",
		"9007199254740991", "9007199254740992", "9007199254740993", "18014398509481985",
		"1e22", "1e23", "1e-22", "1e-23", "123456789e22", "123456789e-22", "4.9e-324", "1e-400", "-1e-400",
		"1.7976931348623157e308", "1e309", "0.1", "0.30000000000000004", "48.13715400000000000001",
		"0.000000000000000000000000001", "12345678901234567890", "1E5", "1e+5", "2.5E-3", "100e-2",
	}
	rng := rand.New(rand.NewPCG(3, 5))
	for range 100_000 {
		var lit string
		switch rng.IntN(5) {
		case 0:
			lit = strconv.FormatFloat(rng.Float64()*180-90, 'f', rng.IntN(12), 64)
		case 1:
			lit = strconv.FormatFloat(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(40)-20)), 'g', -1, 64)
		case 2:
			lit = strconv.FormatInt(rng.Int64N(1<<62), 10)
		case 3:
			lit = strconv.FormatFloat(rng.Float64()*1000, 'e', rng.IntN(20), 64)
		default:
			lit = strconv.FormatUint(rng.Uint64N(1<<54), 10) + "e" + strconv.Itoa(rng.IntN(50)-25)
		}
		lits = append(lits, lit)
	}
	for _, lit := range lits {
		s := scanner{data: []byte(lit)}
		got, f := s.float()
		want, err := strconv.ParseFloat(lit, 64)
		switch {
		case err != nil:
			if f != fNotFinite {
				t.Errorf("%s: fault %v, want fNotFinite (ParseFloat: %v)", lit, f, err)
			}
		case f != fOK || math.Float64bits(got) != math.Float64bits(want):
			t.Errorf("%s: %v (fault %v), want %v", lit, got, f, want)
		}
		if s.pos != len(lit) || s.bad != "" {
			t.Errorf("%s: read %d bytes, error %q", lit, s.pos, s.bad)
		}
	}
}
