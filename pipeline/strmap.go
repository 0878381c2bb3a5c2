package pipeline

// stringMap is a map keyed by strings that gives memory back. A Go map
// never shrinks, so once deletions have left one at under a quarter of the
// largest size it had (and that was at least shrinkMin entries), its entries
// move to a map of their size. The serving maps of the router and the
// engines need it: while the routes of a startup load come before their
// windows, they hold an entry for every stop, each of which moves into its
// window when the window arrives. The zero value is an empty map.
type stringMap[V any] struct {
	m    map[string]V
	peak int
}

// shrinkMin is the smallest peak size after which a stringMap shrinks.
const shrinkMin = 1024

func (s *stringMap[V]) get(k string) (V, bool) {
	v, ok := s.m[k]
	return v, ok
}

func (s *stringMap[V]) set(k string, v V) {
	if s.m == nil {
		s.m = make(map[string]V)
	}
	s.m[k] = v
	s.peak = max(s.peak, len(s.m))
}

func (s *stringMap[V]) del(k string) {
	if _, ok := s.m[k]; !ok {
		return
	}
	delete(s.m, k)
	if s.peak >= shrinkMin && len(s.m) < s.peak/4 {
		m := make(map[string]V, len(s.m))
		for k, v := range s.m {
			m[k] = v
		}
		s.m, s.peak = m, len(m)
	}
}

func (s *stringMap[V]) len() int { return len(s.m) }
