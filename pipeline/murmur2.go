package pipeline

import (
	"fmt"
	"hash/crc32"
)

// Partitioner names how the producers of the car-pings topic map a VIN key
// to a partition, so that each window goes to the worker that receives its
// car's pings.
type Partitioner string

const (
	// PartitionerMurmur2 is Kafka's default: the Java client, franz-go,
	// and librdkafka's murmur2_random.
	PartitionerMurmur2 Partitioner = "murmur2"
	// PartitionerCRC32 is librdkafka's default (consistent_random and
	// consistent): kcat, confluent-kafka-go, -python and -dotnet.
	PartitionerCRC32 Partitioner = "crc32"
)

// Validate reports an unknown partitioner.
func (p Partitioner) Validate() error {
	switch p {
	case PartitionerMurmur2, PartitionerCRC32:
		return nil
	}
	return fmt.Errorf("car_pings_partitioner %q is unknown: use murmur2 (Kafka's default) or crc32 (librdkafka's default)", string(p))
}

// Partition returns the partition, of n, that p gives a record with key.
func (p Partitioner) Partition(key []byte, n int32) int32 {
	if p == PartitionerCRC32 {
		if n <= 0 {
			return 0
		}
		return int32(crc32.ChecksumIEEE(key) % uint32(n))
	}
	return keyPartition(key, n)
}

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
