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

// DistanceBoundsM returns bounds lo <= DistanceM(lat1, lng1, lat2, lng2) <=
// hi computed without trigonometry, so that a comparison with a distance can
// often be decided without computing it (see [Beyond]). The bounds hold for
// the float64 that DistanceM returns, rounding included. hi is +Inf for
// points more than about a thousand kilometres apart; both are NaN when an
// input is NaN.
//
// lo is the distance along a meridian between the two latitudes, which no
// path between the points is shorter than. hi comes from the haversine
// formula with sin(x) <= x and the cosines of the latitudes at most 1, and
// asin(s) <= 1.002 s for s <= 0.1.
func DistanceBoundsM(lat1, lng1, lat2, lng2 float64) (lo, hi float64) {
	dPhi := math.Abs(lat2-lat1) * degToRad
	dLambda := math.Abs(lng2-lng1) * degToRad
	lo = max(0, EarthRadiusM*dPhi*(1-1e-9)-1e-6)
	b := (dPhi*dPhi + dLambda*dLambda) * 0.25
	if !(b <= 0.01) {
		if b != b { // NaN
			return lo, b
		}
		return lo, math.Inf(1)
	}
	hi = 2*EarthRadiusM*1.002*math.Sqrt(b)*(1+1e-9) + 1e-6
	return lo, hi
}

// Beyond reports whether DistanceM(lat1, lng1, lat2, lng2) > m, with the
// same answer as that comparison for every input; it computes the distance
// only when [DistanceBoundsM] cannot tell. It does not allocate.
func Beyond(lat1, lng1, lat2, lng2, m float64) bool {
	lo, hi := DistanceBoundsM(lat1, lng1, lat2, lng2)
	switch {
	case hi <= m:
		return false
	case lo > m:
		return true
	}
	return DistanceM(lat1, lng1, lat2, lng2) > m
}
