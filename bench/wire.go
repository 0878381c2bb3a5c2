package bench

import (
	"strconv"
	"time"
)

// The encoders below append the JSON values of DESIGN.md's "Topics" to a
// caller-owned buffer with strconv, without reflection.

// rfc3339Milli is RFC 3339 with milliseconds; for UTC times it ends in Z.
const rfc3339Milli = "2006-01-02T15:04:05.000Z07:00"

// appendTime appends Unix ms t as a quoted RFC 3339 string.
func appendTime(dst []byte, t int64) []byte {
	dst = append(dst, '"')
	dst = time.UnixMilli(t).UTC().AppendFormat(dst, rfc3339Milli)
	return append(dst, '"')
}

// appendTS appends a "ts" value: epoch milliseconds or an RFC 3339 string.
func appendTS(dst []byte, t int64, epoch bool) []byte {
	if epoch {
		return strconv.AppendInt(dst, t, 10)
	}
	return appendTime(dst, t)
}

func appendCoord(dst []byte, v float64) []byte { return strconv.AppendFloat(dst, v, 'f', 6, 64) }
func appendTenth(dst []byte, v float64) []byte { return strconv.AppendFloat(dst, v, 'f', 1, 64) }

// Fix sources.
const (
	srcGPS uint8 = iota
	srcDeadReckoning
	srcApproximate
)

var sourceNames = [...]string{srcGPS: "gps", srcDeadReckoning: "dead_reckoning", srcApproximate: "approximate"}

// carFix is what a car reports in one ping.
type carFix struct {
	ts                  int64 // Unix ms
	lat, lng            float64
	speed, heading, acc float64
	ignition, trunkOpen bool
	locked, lastParked  bool
	source              uint8
}

// appendCarPing appends a car ping as feed f writes it. A nil vin leaves
// the field out.
func appendCarPing(dst []byte, vin []byte, f *feed, x *carFix) []byte {
	dst = append(dst, '{')
	if vin != nil {
		dst = append(dst, `"vin":"`...)
		dst = append(dst, vin...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"ts":`...)
	dst = appendTS(dst, x.ts, f.epochTS)
	dst = append(dst, `,"lat":`...)
	dst = appendCoord(dst, x.lat)
	dst = append(dst, `,"lng":`...)
	dst = appendCoord(dst, x.lng)
	dst = append(dst, `,"speed_kmh":`...)
	dst = appendTenth(dst, x.speed)
	if f.heading {
		dst = append(dst, `,"heading_deg":`...)
		dst = strconv.AppendFloat(dst, x.heading, 'f', 0, 64)
	}
	dst = append(dst, `,"accuracy_m":`...)
	dst = appendTenth(dst, x.acc)
	dst = append(dst, `,"ignition":`...)
	dst = strconv.AppendBool(dst, x.ignition)
	if f.trunk {
		if x.trunkOpen {
			dst = append(dst, `,"trunk":"open","locked":`...)
		} else {
			dst = append(dst, `,"trunk":"closed","locked":`...)
		}
		dst = strconv.AppendBool(dst, x.locked)
	}
	if f.locType {
		if x.lastParked {
			dst = append(dst, `,"location_type":"last_parked"`...)
		} else {
			dst = append(dst, `,"location_type":"current"`...)
		}
	}
	if f.source {
		dst = append(dst, `,"source":"`...)
		dst = append(dst, sourceNames[x.source]...)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// Kinds of deliberately invalid car-ping records.
const (
	badTruncated = iota // malformed JSON: a valid ping cut short
	badNoVIN            // the required vin is missing
	badLatitude         // lat 123
	badTypes            // wrong types: lat as a string, lng as a boolean
	badNotJSON          // not JSON at all
	numBadKinds
)

// appendBad appends an invalid record of the given kind, built from a
// valid fix.
func appendBad(dst []byte, kind int, vin []byte, f *feed, x *carFix, cut float64) []byte {
	switch kind {
	case badTruncated:
		n := len(dst)
		dst = appendCarPing(dst, vin, f, x)
		return dst[:n+1+int(cut*float64(len(dst)-n-2))]
	case badNoVIN:
		return appendCarPing(dst, nil, f, x)
	case badLatitude:
		y := *x
		y.lat = 123
		return appendCarPing(dst, vin, f, &y)
	case badTypes:
		dst = append(dst, `{"vin":"`...)
		dst = append(dst, vin...)
		dst = append(dst, `","ts":`...)
		dst = appendTS(dst, x.ts, f.epochTS)
		dst = append(dst, `,"lat":"`...)
		dst = appendCoord(dst, x.lat)
		return append(dst, `","lng":true}`...)
	}
	return append(dst, "\x00\x01\xfe not json"...)
}

// courierFix is what a courier's phone reports in one ping.
type courierFix struct {
	ts         int64
	lat, lng   float64
	speed, acc float64
}

func appendCourierPing(dst []byte, id []byte, epoch bool, x *courierFix) []byte {
	dst = append(dst, `{"courier_id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","ts":`...)
	dst = appendTS(dst, x.ts, epoch)
	dst = append(dst, `,"lat":`...)
	dst = appendCoord(dst, x.lat)
	dst = append(dst, `,"lng":`...)
	dst = appendCoord(dst, x.lng)
	dst = append(dst, `,"speed_kmh":`...)
	dst = appendTenth(dst, x.speed)
	dst = append(dst, `,"accuracy_m":`...)
	dst = appendTenth(dst, x.acc)
	return append(dst, '}')
}

// appendWindow appends w's Window JSON. A zero radius leaves radius_m out
// (the processor then applies its default).
func appendWindow(dst []byte, w *window, vin []byte) []byte {
	dst = append(dst, `{"window_id":"`...)
	dst = append(dst, w.id...)
	dst = append(dst, `","order_id":"`...)
	dst = append(dst, w.order...)
	if w.isReturn {
		dst = append(dst, `","kind":"return","vin":"`...)
	} else {
		dst = append(dst, `","kind":"delivery","vin":"`...)
	}
	dst = append(dst, vin...)
	dst = append(dst, `","start":`...)
	dst = appendTime(dst, w.start)
	dst = append(dst, `,"end":`...)
	dst = appendTime(dst, w.end)
	dst = append(dst, `,"address":{"lat":`...)
	dst = appendCoord(dst, w.lat)
	dst = append(dst, `,"lng":`...)
	dst = appendCoord(dst, w.lng)
	dst = append(dst, '}')
	if w.radius > 0 {
		dst = append(dst, `,"radius_m":`...)
		dst = strconv.AppendFloat(dst, w.radius, 'f', -1, 64)
	}
	return append(dst, '}')
}
