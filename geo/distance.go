package geo

import "math"

// EarthRadiusM is the mean Earth radius (IUGG) in metres used by every
// distance in this package.
const EarthRadiusM = 6371008.8

const (
	degToRad = math.Pi / 180
	radToDeg = 180 / math.Pi
)

// DistanceM returns the great-circle (haversine) distance in metres between
// (lat1, lng1) and (lat2, lng2), given in degrees. It is pure Go, does not
// allocate and is safe for concurrent use. The result is NaN when an input
// is NaN.
func DistanceM(lat1, lng1, lat2, lng2 float64) float64 {
	phi1, phi2 := lat1*degToRad, lat2*degToRad
	sLat := math.Sin((phi2 - phi1) * 0.5)
	sLng := math.Sin((lng2 - lng1) * degToRad * 0.5)
	a := sLat*sLat + math.Cos(phi1)*math.Cos(phi2)*sLng*sLng
	if a > 1 { // rounding near antipodes
		a = 1
	}
	return 2 * EarthRadiusM * math.Atan2(math.Sqrt(a), math.Sqrt(1-a))
}

// Destination returns the point reached from (lat, lng) after distanceM
// metres along the great circle that leaves it at bearingDeg (degrees
// clockwise from north). The longitude is normalised to [-180, 180).
// It is the inverse of [DistanceM] for a fixed bearing.
func Destination(lat, lng, bearingDeg, distanceM float64) (float64, float64) {
	phi1, lam1 := lat*degToRad, lng*degToRad
	theta := bearingDeg * degToRad
	delta := distanceM / EarthRadiusM
	sinPhi1, cosPhi1 := math.Sincos(phi1)
	sinDelta, cosDelta := math.Sincos(delta)
	sinTheta, cosTheta := math.Sincos(theta)
	sinPhi2 := sinPhi1*cosDelta + cosPhi1*sinDelta*cosTheta
	sinPhi2 = max(-1, min(1, sinPhi2))
	phi2 := math.Asin(sinPhi2)
	lam2 := lam1 + math.Atan2(sinTheta*sinDelta*cosPhi1, cosDelta-sinPhi1*sinPhi2)
	lng2 := math.Mod(lam2*radToDeg+540, 360) - 180
	return phi2 * radToDeg, lng2
}
