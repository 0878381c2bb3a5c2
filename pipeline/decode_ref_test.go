package pipeline

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The reference codec implements the decoding contract of decode.go on
// encoding/json, as plainly as possible, so that the fast decoders can be
// checked against it field by field (table tests, golden vectors and the
// differential fuzz targets). It is slow and allocates; it is not used
// outside tests.

// refObject checks the syntax of a whole record and returns its top-level
// object's members; for duplicate keys encoding/json keeps the last.
func refObject(data []byte) (map[string]json.RawMessage, error) {
	// encoding/json replaces invalid UTF-8 and lone surrogate escapes with
	// U+FFFD where the contract rejects them, so check for those first.
	if !utf8.Valid(data) || !json.Valid(data) || refLoneSurrogate(data) {
		return nil, &DecodeError{Reason: DLQMalformed}
	}
	if bytes.TrimLeft(data, " \t\r\n")[0] != '{' {
		return nil, &DecodeError{Reason: DLQWrongType}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		panic("valid JSON object did not unmarshal: " + err.Error())
	}
	return m, nil
}

// refLoneSurrogate reports whether valid JSON data holds a \u escape of a
// surrogate that is not part of a high-low pair.
func refLoneSurrogate(data []byte) bool {
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if data[i+1] != 'u' {
				i++ // skip the escaped character
				continue
			}
			r, _ := strconv.ParseUint(string(data[i+2:i+6]), 16, 32)
			i += 5
			switch {
			case r >= 0xdc00 && r <= 0xdfff:
				return true
			case r >= 0xd800 && r <= 0xdbff:
				if i+6 >= len(data) || data[i+1] != '\\' || data[i+2] != 'u' {
					return true
				}
				lo, _ := strconv.ParseUint(string(data[i+3:i+7]), 16, 32)
				if lo < 0xdc00 || lo > 0xdfff {
					return true
				}
				i += 6
			}
		}
	}
	return false
}

func refErr(reason, field string) error { return &DecodeError{Reason: reason, Field: field} }

// refPresent returns the member key of m, and whether it is present and not
// null.
func refPresent(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// refString reads an optional string member.
func refString(m map[string]json.RawMessage, key, field string) (s string, present bool, err error) {
	raw, ok := refPresent(m, key)
	if !ok {
		return "", false, nil
	}
	if raw[0] != '"' {
		return "", false, refErr(DLQWrongType, field)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		panic(err)
	}
	return s, true, nil
}

// refText reads an optional string of at most 128 bytes.
func refText(m map[string]json.RawMessage, key, field string) (string, bool, error) {
	s, ok, err := refString(m, key, field)
	if err == nil && len(s) > 128 {
		err = refErr(DLQInvalidValue, field)
	}
	return s, ok, err
}

// refID reads a required, non-empty string of at most 128 bytes.
func refID(m map[string]json.RawMessage, key, field string) (string, error) {
	s, ok, err := refText(m, key, field)
	switch {
	case err != nil:
		return "", err
	case !ok || s == "":
		return "", refErr(DLQMissingField, field)
	}
	return s, nil
}

// refEnum reads an optional string that must be one of values; it returns
// the value's index plus one, 0 when absent.
func refEnum(m map[string]json.RawMessage, key string, values ...string) (int, error) {
	s, ok, err := refString(m, key, key)
	if err != nil || !ok {
		return 0, err
	}
	for i, v := range values {
		if s == v {
			return i + 1, nil
		}
	}
	return 0, refErr(DLQInvalidValue, key)
}

func refBool(m map[string]json.RawMessage, key string) (Tri, error) {
	raw, ok := refPresent(m, key)
	switch {
	case !ok:
		return Unknown, nil
	case string(raw) == "true":
		return True, nil
	case string(raw) == "false":
		return False, nil
	}
	return Unknown, refErr(DLQWrongType, key)
}

func refIsNumber(raw json.RawMessage) bool { return raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' }

// refNumber reads an optional number.
func refNumber(m map[string]json.RawMessage, key, field string) (float64, bool, error) {
	raw, ok := refPresent(m, key)
	if !ok {
		return 0, false, nil
	}
	if !refIsNumber(raw) {
		return 0, false, refErr(DLQWrongType, field)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, false, refErr(DLQNotFinite, field)
	}
	return f, true, nil
}

func refRequiredNumber(m map[string]json.RawMessage, key, field string, min, max float64) (float64, error) {
	f, ok, err := refNumber(m, key, field)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, refErr(DLQMissingField, field)
	case f < min || f > max:
		return 0, refErr(DLQOutOfRange, field)
	}
	return f, nil
}

// refOptionalNonNegative reads an optional number that must not be negative.
func refOptionalNonNegative(m map[string]json.RawMessage, key string) (float64, bool, error) {
	f, ok, err := refNumber(m, key, key)
	if err == nil && f < 0 {
		err = refErr(DLQOutOfRange, key)
	}
	return f, ok, err
}

var refRFC3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

// refParseTimestamp is ParseTimestamp on time.Parse. time.Parse is more
// lenient than RFC 3339 in a few ways (a comma before the fraction, offsets
// of 24 hours or more), so the layout and the offset are checked first.
func refParseTimestamp(s string) (int64, bool) {
	if !refRFC3339.MatchString(s) {
		return 0, false
	}
	if s[len(s)-1] != 'Z' {
		oh, _ := strconv.Atoi(s[len(s)-5 : len(s)-3])
		om, _ := strconv.Atoi(s[len(s)-2:])
		if oh > 23 || om > 59 {
			return 0, false
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	ms := t.UnixMilli()
	if ms < 0 || ms > time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli() {
		return 0, false
	}
	return ms, true
}

// refTimestamp reads an optional timestamp.
func refTimestamp(m map[string]json.RawMessage, key, field string) (int64, bool, error) {
	raw, ok := refPresent(m, key)
	if !ok {
		return 0, false, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			panic(err)
		}
		ms, ok := refParseTimestamp(s)
		if !ok || len(s) > 128 {
			return 0, false, refErr(DLQInvalidValue, field)
		}
		return ms, true, nil
	}
	if !refIsNumber(raw) {
		return 0, false, refErr(DLQWrongType, field)
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
		return 0, false, refErr(DLQNotFinite, field)
	}
	if strings.ContainsAny(string(raw), "-.eE") {
		return 0, false, refErr(DLQInvalidValue, field)
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || ms > 253402300799999 {
		return 0, false, refErr(DLQInvalidValue, field)
	}
	return ms, true, nil
}

func refRequiredTimestamp(m map[string]json.RawMessage, key string) (int64, error) {
	ms, ok, err := refTimestamp(m, key, key)
	if err == nil && !ok {
		err = refErr(DLQMissingField, key)
	}
	return ms, err
}

// refDecodeCarPing is the reference of DecodeCarPing.
func refDecodeCarPing(data []byte) (*CarPing, error) {
	m, err := refObject(data)
	if err != nil {
		return nil, err
	}
	var p CarPing
	vin, err := refID(m, "vin", "vin")
	if err != nil {
		return nil, err
	}
	p.VIN = []byte(vin)
	if p.TS, err = refRequiredTimestamp(m, "ts"); err != nil {
		return nil, err
	}
	if p.Lat, err = refRequiredNumber(m, "lat", "lat", -90, 90); err != nil {
		return nil, err
	}
	if p.Lng, err = refRequiredNumber(m, "lng", "lng", -180, 180); err != nil {
		return nil, err
	}
	if p.SpeedKmh, p.HasSpeed, err = refOptionalNonNegative(m, "speed_kmh"); err != nil {
		return nil, err
	}
	if p.HeadingDeg, p.HasHeading, err = refNumber(m, "heading_deg", "heading_deg"); err != nil {
		return nil, err
	}
	if p.AccuracyM, p.HasAccuracy, err = refOptionalNonNegative(m, "accuracy_m"); err != nil {
		return nil, err
	}
	if p.Ignition, err = refBool(m, "ignition"); err != nil {
		return nil, err
	}
	trunk, err := refEnum(m, "trunk", "closed", "open")
	if err != nil {
		return nil, err
	}
	p.Trunk = TrunkState(trunk) // TrunkClosed = 1, TrunkOpen = 2
	if p.Locked, err = refBool(m, "locked"); err != nil {
		return nil, err
	}
	lt, err := refEnum(m, "location_type", "current", "last_parked")
	if err != nil {
		return nil, err
	}
	p.LocationType = LocationType(lt)
	src, err := refEnum(m, "source", "gps", "dead_reckoning", "approximate")
	if err != nil {
		return nil, err
	}
	p.Source = Source(src)
	return &p, nil
}

// refDecodeCourierPing is the reference of DecodeCourierPing.
func refDecodeCourierPing(data []byte) (*CourierPing, error) {
	m, err := refObject(data)
	if err != nil {
		return nil, err
	}
	var p CourierPing
	if p.CourierID, err = refID(m, "courier_id", "courier_id"); err != nil {
		return nil, err
	}
	if p.TS, err = refRequiredTimestamp(m, "ts"); err != nil {
		return nil, err
	}
	if p.Lat, err = refRequiredNumber(m, "lat", "lat", -90, 90); err != nil {
		return nil, err
	}
	if p.Lng, err = refRequiredNumber(m, "lng", "lng", -180, 180); err != nil {
		return nil, err
	}
	if p.SpeedKmh, p.HasSpeed, err = refOptionalNonNegative(m, "speed_kmh"); err != nil {
		return nil, err
	}
	if p.AccuracyM, p.HasAccuracy, err = refOptionalNonNegative(m, "accuracy_m"); err != nil {
		return nil, err
	}
	return &p, nil
}

// refDecodeWindow is the reference of DecodeWindow.
func refDecodeWindow(data []byte) (*Window, error) {
	m, err := refObject(data)
	if err != nil {
		return nil, err
	}
	var w Window
	if w.ID, err = refID(m, "window_id", "window_id"); err != nil {
		return nil, err
	}
	if w.OrderID, _, err = refText(m, "order_id", "order_id"); err != nil {
		return nil, err
	}
	kind, err := refEnum(m, "kind", "delivery", "return")
	switch {
	case err != nil:
		return nil, err
	case kind == 0:
		return nil, refErr(DLQMissingField, "kind")
	}
	w.Kind = Kind(kind) // KindDelivery = 1, KindReturn = 2
	if w.VIN, err = refID(m, "vin", "vin"); err != nil {
		return nil, err
	}
	if w.Start, err = refRequiredTimestamp(m, "start"); err != nil {
		return nil, err
	}
	if w.End, err = refRequiredTimestamp(m, "end"); err != nil {
		return nil, err
	}
	raw, ok := refPresent(m, "address")
	switch {
	case !ok:
		return nil, refErr(DLQMissingField, "address")
	case raw[0] != '{':
		return nil, refErr(DLQWrongType, "address")
	}
	var addr map[string]json.RawMessage
	if err := json.Unmarshal(raw, &addr); err != nil {
		panic(err)
	}
	if w.Lat, err = refRequiredNumber(addr, "lat", "address.lat", -90, 90); err != nil {
		return nil, err
	}
	if w.Lng, err = refRequiredNumber(addr, "lng", "address.lng", -180, 180); err != nil {
		return nil, err
	}
	r, ok, err := refNumber(m, "radius_m", "radius_m")
	switch {
	case err != nil:
		return nil, err
	case ok && (r <= 0 || r > 50000):
		return nil, refErr(DLQInvalidValue, "radius_m")
	}
	w.RadiusM = r
	if w.End <= w.Start {
		return nil, refErr(DLQInvalidValue, "end")
	}
	return &w, nil
}

// refDecodeRoute is the reference of DecodeRoute.
func refDecodeRoute(data []byte) (*Route, error) {
	m, err := refObject(data)
	if err != nil {
		return nil, err
	}
	var r Route
	if r.CourierID, err = refID(m, "courier_id", "courier_id"); err != nil {
		return nil, err
	}
	raw, ok := refPresent(m, "stops")
	switch {
	case !ok:
		return nil, refErr(DLQMissingField, "stops")
	case raw[0] != '[':
		return nil, refErr(DLQWrongType, "stops")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		panic(err)
	}
	for _, e := range elems {
		if e[0] != '{' {
			return nil, refErr(DLQWrongType, "stops")
		}
		var sm map[string]json.RawMessage
		if err := json.Unmarshal(e, &sm); err != nil {
			panic(err)
		}
		var stop Stop
		if stop.WindowID, err = refID(sm, "window_id", "stops.window_id"); err != nil {
			return nil, err
		}
		if stop.ETA, _, err = refTimestamp(sm, "eta", "stops.eta"); err != nil {
			return nil, err
		}
		r.Stops = append(r.Stops, stop)
	}
	return &r, nil
}
