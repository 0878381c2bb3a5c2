package pipeline

import "math/bits"

// vinFilter is a Bloom filter of the VINs an engine holds windows for
// (Engine.byVIN), asked before the map on every car ping. Most pings come
// from cars without a window; the map holds tens of thousands of cars per
// partition, so a miss there costs a cache miss, while the filter, at 16
// bits per VIN, mostly stays in the core's caches. It answers "maybe" for
// every VIN added and not removed since, and for about one VIN in 200
// besides; a "maybe" goes on to the map, so the filter changes no outcome.
//
// Each VIN sets 4 bits of one 64-bit word, so a probe reads one word.
// Bloom filters cannot forget: a removed VIN's bits stay set until the
// filter is rebuilt from the map, which happens once the removed VINs
// outnumber the present ones, or when the present ones outgrow the size.
// Both rebuilds follow as many adds or removes as the map holds keys, so
// their cost per add or remove stays constant.
//
// Not safe for concurrent use: it belongs to its engine's goroutine.
type vinFilter struct {
	words []uint64 // a power of two of them
	keys  int      // VINs added since the last rebuild, removed ones included
	stale int      // VINs removed since the last rebuild
}

const (
	vinFilterKeysPerWord = 4   // 16 bits per VIN: about 0.5% false "maybe"
	vinFilterMinWords    = 256 // 2 KiB: a few cars never rebuild it
)

// mayContain reports whether vin may have been added: false only when it
// was not added since the last rebuild, or not present at it.
func (f *vinFilter) mayContain(vin []byte) bool {
	if len(f.words) == 0 {
		return false
	}
	h := vinHash(vin)
	m := vinBits(h)
	return f.words[h&uint64(len(f.words)-1)]&m == m
}

// add records vin, which was just added to byVIN (of present VINs).
func (f *vinFilter) add(vin string, present map[string]cref) {
	f.keys++
	if len(f.words) == 0 || f.keys > len(f.words)*vinFilterKeysPerWord {
		f.rebuild(present)
		return
	}
	f.set(vin)
}

// remove records that a VIN was just removed from present.
func (f *vinFilter) remove(present map[string]cref) {
	f.stale++
	if f.stale > len(present)+vinFilterMinWords {
		f.rebuild(present)
	}
}

// rebuild sizes the filter for twice the present VINs and adds them.
func (f *vinFilter) rebuild(present map[string]cref) {
	n := max(2*len(present)/vinFilterKeysPerWord, vinFilterMinWords)
	n = 1 << bits.Len(uint(n-1)) // the next power of two
	if cap(f.words) >= n && cap(f.words) <= 4*n {
		f.words = f.words[:n]
		clear(f.words)
	} else {
		f.words = make([]uint64, n)
	}
	f.keys, f.stale = len(present), 0
	for vin := range present {
		f.set(vin)
	}
}

func (f *vinFilter) set(vin string) {
	h := vinHash(vin)
	f.words[h&uint64(len(f.words)-1)] |= vinBits(h)
}

// vinBits is the mask of the 4 bits a hash sets in its word, taken from
// the hash's top 24 bits (the word index comes from its low bits).
func vinBits(h uint64) uint64 {
	return 1<<(h>>40&63) | 1<<(h>>46&63) | 1<<(h>>52&63) | 1<<(h>>58)
}

// vinHash hashes a VIN eight bytes at a time (a VIN is 17 bytes: two
// words and a byte), each word multiplied into the state, then finished by
// the mixer of SplitMix64 so that every bit of the result depends on every
// byte. It is on every car ping's path; byte-at-a-time FNV-1a took three
// times as long.
func vinHash[T string | []byte](vin T) uint64 {
	h := uint64(len(vin)) * 0x9e3779b97f4a7c15
	i := 0
	for ; i+8 <= len(vin); i += 8 {
		w := uint64(vin[i]) | uint64(vin[i+1])<<8 | uint64(vin[i+2])<<16 | uint64(vin[i+3])<<24 |
			uint64(vin[i+4])<<32 | uint64(vin[i+5])<<40 | uint64(vin[i+6])<<48 | uint64(vin[i+7])<<56
		h = (h ^ w) * 0xff51afd7ed558ccd
		h ^= h >> 32
	}
	var w uint64
	for j := 0; i < len(vin); i, j = i+1, j+8 {
		w |= uint64(vin[i]) << j
	}
	h = (h ^ w) * 0xc4ceb9fe1a85ec53
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
