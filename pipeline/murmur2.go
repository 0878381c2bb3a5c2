package pipeline

// murmur2 is the 32-bit MurmurHash2 of b exactly as Kafka's Java client
// (org.apache.kafka.common.utils.Utils.murmur2) and franz-go compute it for
// the default key partitioner: seed 0x9747b28c, little-endian 4-byte blocks.
func murmur2[T ~string | ~[]byte](b T) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(b)
	h := seed ^ uint32(n)
	i := 0
	for ; n-i >= 4; i += 4 {
		k := uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(b[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// keyPartition returns the partition, of n, that Kafka's default
// partitioner (and franz-go's) gives a record with this key: the positive
// part of murmur2 modulo n. It is how the car-pings topic is partitioned by
// VIN, so it says which partition worker owns a window's car.
func keyPartition[T ~string | ~[]byte](key T, n int32) int32 {
	if n <= 0 {
		return 0
	}
	return int32((murmur2(key) & 0x7fffffff) % uint32(n))
}
