// Package geo provides the spatial primitives of trunkline: H3 cell
// indexing of fixes, great-circle distances, grid disks as cell sets and
// circular delivery areas.
//
// It sits between decoding and matching in the pipeline: an accepted fix
// is indexed once with [Cell] when an event carries its cell; when a car
// parks, the engine builds Disk(carCell, DiskK(approachRadius, res)) once
// (shared by the cars parked in that cell), and each courier ping is then
// checked with [CellSet.Contains] on the courier's cell before the exact
// [DistanceM] is computed. A delivery area is a [Circle] around a window's
// address whose Cover is computed when the window loads. Comparisons of a
// distance with a threshold ([Beyond], the speed check) are settled by
// trigonometry-free bounds ([DistanceBoundsM]) when those suffice.
//
// The prefilters are conservative: a cell that can hold a point within the
// radius is always in the set, so a set lookup may say "maybe" for a point
// that the exact distance then rejects, but never "no" for a point that is
// inside. [DiskK] documents the bound and the tests check it with random and
// adversarial points at resolutions 7 to 12.
//
// Coordinates are WGS84 degrees. Distances are metres on a sphere of mean
// Earth radius [EarthRadiusM]. Cells are H3 indexes held as int64, usable as
// map keys; 0 is never a valid cell.
//
// Only [Cell], [Disk] and [NewCircle] call into the H3 C library (cgo);
// everything used per ping after indexing ([DistanceM], [DistanceBoundsM],
// [Beyond], [CellSet.Contains], [Circle.Contains], [AppendCellHex]) is pure
// Go and does not allocate.
// The package imports nothing from Kafka, Prometheus or the pipeline.
package geo
