package pipeline

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendEvent appends ev to dst as one JSON object, without a trailing
// newline, and returns the extended buffer. This is the wire form of
// delivery.events; its fields come in a fixed order:
//
//	event_id, type, window_id, order_id, kind, vin, courier_id (omitted when
//	""), ts, emitted_at, then when ev.HasPos lat, lng, h3 (hex string),
//	distance_m (rounded to 0.1 m), then inside (omitted when Unknown), reason
//	(omitted when ""), grant {grant_id, not_before, expires_at, token}
//	(omitted when nil).
//
// Times are written by AppendTime. Strings are escaped as JSON requires, with
// U+2028 and U+2029 escaped too and invalid UTF-8 replaced by U+FFFD; '<',
// '>' and '&' stay literal. A coordinate or distance that is not finite is
// written as null. It does not allocate when dst has room for the event.
func AppendEvent(dst []byte, ev *Event) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = appendString(dst, ev.ID)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, ev.Type.String())
	dst = append(dst, `,"window_id":`...)
	dst = appendString(dst, ev.WindowID)
	dst = append(dst, `,"order_id":`...)
	dst = appendString(dst, ev.OrderID)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, ev.Kind.String())
	dst = append(dst, `,"vin":`...)
	dst = appendString(dst, ev.VIN)
	if ev.CourierID != "" {
		dst = append(dst, `,"courier_id":`...)
		dst = appendString(dst, ev.CourierID)
	}
	dst = append(dst, `,"ts":"`...)
	dst = AppendTime(dst, ev.TS)
	dst = append(dst, `","emitted_at":"`...)
	dst = AppendTime(dst, ev.EmittedAt)
	dst = append(dst, '"')
	if ev.HasPos {
		dst = append(dst, `,"lat":`...)
		dst = appendFloat(dst, ev.Lat)
		dst = append(dst, `,"lng":`...)
		dst = appendFloat(dst, ev.Lng)
		dst = append(dst, `,"h3":"`...)
		dst = strconv.AppendUint(dst, uint64(ev.H3), 16)
		dst = append(dst, `","distance_m":`...)
		dst = appendFloat(dst, roundDecimetre(ev.DistanceM))
	}
	switch ev.Inside {
	case True:
		dst = append(dst, `,"inside":true`...)
	case False:
		dst = append(dst, `,"inside":false`...)
	}
	if ev.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, ev.Reason)
	}
	if g := ev.Grant; g != nil {
		dst = append(dst, `,"grant":{"grant_id":`...)
		dst = appendString(dst, g.ID)
		dst = append(dst, `,"not_before":"`...)
		dst = AppendTime(dst, g.NotBefore)
		dst = append(dst, `","expires_at":"`...)
		dst = AppendTime(dst, g.ExpiresAt)
		dst = append(dst, `","token":`...)
		dst = appendString(dst, g.Token)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// roundDecimetre rounds metres to the nearest 0.1 m (halves away from zero).
func roundDecimetre(m float64) float64 {
	r := math.Round(m*10) / 10
	if r == 0 {
		return 0 // no "-0"
	}
	return r
}

// appendFloat appends f in its shortest decimal form without an exponent, or
// null when f is not finite.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, needing no escape
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
