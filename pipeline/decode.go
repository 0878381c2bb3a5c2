package pipeline

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// The decoders turn the JSON values of the four input topics into CarPing,
// CourierPing, Window and Route. They implement the contract of DESIGN.md on
// a small scanner of their own: no reflection, and no allocation for a valid
// car ping once the VIN buffer of the reused CarPing has grown.
//
// Every error is a *DecodeError whose Reason is one of the DLQ* constants and
// whose Field names the offending field ("address.lat", "stops.eta" for
// nested ones). Error messages never contain input values. A record is
// checked in this order:
//
//  1. The whole record must be valid JSON: valid UTF-8, no control
//     characters in strings, no lone surrogate escapes, nothing after the
//     top-level value, at most 10000 levels of nesting (the limit of
//     encoding/json). Otherwise DLQMalformed.
//  2. The top-level value must be an object. Otherwise DLQWrongType.
//  3. The fields, in the order the contract lists them: the first field
//     whose last occurrence is wrong (wrong type, bad value, a string longer
//     than 128 bytes), or that is required but absent, null or (an
//     identifier) an empty string, decides the error. Duplicate keys: the
//     last occurrence wins. Unknown fields are skipped.
//  4. Checks across fields (a window's end after its start).

const (
	// maxStringLen is the longest string value (identifier, enumeration
	// value or timestamp) the decoders accept, in bytes after unescaping.
	maxStringLen = 128

	// maxDepth is the deepest nesting of arrays and objects a record may
	// have; the top-level object is level 1. It is the limit of
	// encoding/json, so that both agree on what is valid JSON.
	maxDepth = 10000

	// maxRadiusM is the largest radius_m a window may carry.
	maxRadiusM = 50000
)

// CheckRecordSize classifies a record by size before it is decoded: an empty
// value is DLQEmpty and a value longer than max bytes DLQOversized. A max of 0
// or less disables the upper bound. Windows and routes treat an empty value as
// a tombstone before they call it.
func CheckRecordSize(data []byte, max int) error {
	switch {
	case len(data) == 0:
		return &DecodeError{Reason: DLQEmpty, Msg: "empty record"}
	case max > 0 && len(data) > max:
		return &DecodeError{Reason: DLQOversized, Msg: "record larger than the configured maximum"}
	}
	return nil
}

// A fault is the outcome of decoding one occurrence of a field.
type fault uint8

const (
	fAbsent fault = iota // absent, or JSON null
	fOK                  // present and valid
	fMissing
	fEmpty
	fWantString
	fWantNumber
	fWantBool
	fWantObject
	fWantArray
	fWantTimestamp
	fTooLong
	fNotFinite
	fLat
	fLng
	fNegative
	fKind
	fTrunk
	fLocationType
	fSource
	fTimeString
	fTimeNumber
	fTimeRange
	fRadius
	fEndBeforeStart
)

var faults = [...]struct{ reason, msg string }{
	fMissing:        {DLQMissingField, "required field is absent or null"},
	fEmpty:          {DLQMissingField, "required field is an empty string"},
	fWantString:     {DLQWrongType, "want a string"},
	fWantNumber:     {DLQWrongType, "want a number"},
	fWantBool:       {DLQWrongType, "want a boolean"},
	fWantObject:     {DLQWrongType, "want an object"},
	fWantArray:      {DLQWrongType, "want an array"},
	fWantTimestamp:  {DLQWrongType, "want an RFC 3339 string or epoch milliseconds"},
	fTooLong:        {DLQInvalidValue, "string longer than 128 bytes"},
	fNotFinite:      {DLQNotFinite, "number overflows float64"},
	fLat:            {DLQOutOfRange, "latitude outside [-90, 90]"},
	fLng:            {DLQOutOfRange, "longitude outside [-180, 180]"},
	fNegative:       {DLQOutOfRange, "must not be negative"},
	fKind:           {DLQInvalidValue, "want delivery or return"},
	fTrunk:          {DLQInvalidValue, "want open or closed"},
	fLocationType:   {DLQInvalidValue, "want current or last_parked"},
	fSource:         {DLQInvalidValue, "want gps, dead_reckoning or approximate"},
	fTimeString:     {DLQInvalidValue, "not an RFC 3339 date-time between 1970 and 9999"},
	fTimeNumber:     {DLQInvalidValue, "epoch milliseconds must be a non-negative integer"},
	fTimeRange:      {DLQInvalidValue, "epoch milliseconds beyond the year 9999"},
	fRadius:         {DLQInvalidValue, "want a radius in (0, 50000] metres"},
	fEndBeforeStart: {DLQInvalidValue, "end is not after start"},
}

func (f fault) err(field string) error {
	return &DecodeError{Reason: faults[f].reason, Field: field, Msg: faults[f].msg}
}

// firstFault returns the error of the first field, in contract order, whose
// last occurrence was wrong or that is required and absent.
func firstFault(st []fault, names []string, required uint64) error {
	for i, f := range st {
		switch {
		case f > fOK:
			return f.err(names[i])
		case f == fAbsent && required&(1<<i) != 0:
			return fMissing.err(names[i])
		}
	}
	return nil
}

// Car ping fields, in contract order.
const (
	cpVIN = iota
	cpTS
	cpLat
	cpLng
	cpSpeed
	cpHeading
	cpAccuracy
	cpIgnition
	cpTrunk
	cpLocked
	cpLocationType
	cpSource
	cpFields
)

var carPingFields = [cpFields]string{"vin", "ts", "lat", "lng", "speed_kmh", "heading_deg",
	"accuracy_m", "ignition", "trunk", "locked", "location_type", "source"}

const carPingRequired = 1<<cpVIN | 1<<cpTS | 1<<cpLat | 1<<cpLng

// DecodeCarPing decodes one car-pings value into p, which it resets first;
// the VIN is copied into p's own buffer. A boolean, trunk, location_type or
// source that is absent or null decodes as unknown. On error p holds partial
// results. It does not allocate once p.VIN has the capacity for the VIN,
// except for a number written with more than 32 characters (ParseFloat then
// needs its text on the heap) and for the error it returns.
func DecodeCarPing(p *CarPing, data []byte) error {
	p.Reset()
	var st [cpFields]fault
	s := scanner{data: data}
	if !s.begin() {
		return s.notObject()
	}
	for first := true; ; first = false {
		key, more := s.key(first)
		if !more {
			break
		}
		switch string(key) {
		case "vin":
			b, f := s.id()
			p.VIN = append(p.VIN[:0], b...)
			st[cpVIN] = f
		case "ts":
			p.TS, st[cpTS] = s.timestamp()
		case "lat":
			p.Lat, st[cpLat] = s.lat()
		case "lng":
			p.Lng, st[cpLng] = s.lng()
		case "speed_kmh":
			p.SpeedKmh, st[cpSpeed] = s.nonNegative()
			p.HasSpeed = st[cpSpeed] == fOK
		case "heading_deg":
			p.HeadingDeg, st[cpHeading] = s.float()
			p.HasHeading = st[cpHeading] == fOK
		case "accuracy_m":
			p.AccuracyM, st[cpAccuracy] = s.nonNegative()
			p.HasAccuracy = st[cpAccuracy] == fOK
		case "ignition":
			p.Ignition, st[cpIgnition] = s.tri()
		case "locked":
			p.Locked, st[cpLocked] = s.tri()
		case "trunk":
			p.Trunk, st[cpTrunk] = enumValue[TrunkState](&s, fTrunk, inputTrunkNames)
		case "location_type":
			p.LocationType, st[cpLocationType] = enumValue[LocationType](&s, fLocationType, inputLocationTypeNames)
		case "source":
			p.Source, st[cpSource] = enumValue[Source](&s, fSource, inputSourceNames)
		default:
			s.skipValue()
		}
	}
	if err := s.end(); err != nil {
		return err
	}
	return firstFault(st[:], carPingFields[:], carPingRequired)
}

// PeekCarPing reads the vin and ts of a car-pings value without decoding
// the rest, so that a ping from a car without an open window is dropped
// before anything else about it is read (the consent rule). It appends the
// VIN to dst[:0] and returns it with the timestamp; it reads members up to
// the first vin and the first ts and stops there. ok is false when either
// is missing or invalid, when the input before them is not well-formed
// JSON or holds a byte >= 0x80: the value then needs DecodeCarPing, which
// says what is wrong. It does not allocate once dst has the capacity for
// the VIN.
func PeekCarPing(dst, data []byte) (vin []byte, ts int64, ok bool) {
	s := scanner{data: data}
	if !s.begin() {
		return dst[:0], 0, false
	}
	var haveVIN, haveTS bool
	for first := true; !(haveVIN && haveTS); first = false {
		key, more := s.key(first)
		if !more {
			return dst[:0], 0, false
		}
		switch {
		case string(key) == "vin" && !haveVIN:
			b, f := s.id()
			if f != fOK {
				return dst[:0], 0, false
			}
			dst = append(dst[:0], b...)
			haveVIN = true
		case string(key) == "ts" && !haveTS:
			var f fault
			if ts, f = s.timestamp(); f != fOK {
				return dst[:0], 0, false
			}
			haveTS = true
		default:
			s.skipValue()
		}
	}
	if s.bad != "" || s.high {
		return dst[:0], 0, false
	}
	return dst, ts, true
}

// Courier ping fields, in contract order.
const (
	kpCourierID = iota
	kpTS
	kpLat
	kpLng
	kpSpeed
	kpAccuracy
	kpFields
)

var courierPingFields = [kpFields]string{"courier_id", "ts", "lat", "lng", "speed_kmh", "accuracy_m"}

const courierPingRequired = 1<<kpCourierID | 1<<kpTS | 1<<kpLat | 1<<kpLng

// DecodeCourierPing decodes one courier-pings value into p, overwriting every
// field. p.CourierID keeps its string when the record carries the same id, so
// decoding a courier's pings into the same p does not allocate.
func DecodeCourierPing(p *CourierPing, data []byte) error {
	*p = CourierPing{CourierID: p.CourierID}
	var st [kpFields]fault
	s := scanner{data: data}
	if !s.begin() {
		return s.notObject()
	}
	for first := true; ; first = false {
		key, more := s.key(first)
		if !more {
			break
		}
		switch string(key) {
		case "courier_id":
			b, f := s.id()
			setString(&p.CourierID, b)
			st[kpCourierID] = f
		case "ts":
			p.TS, st[kpTS] = s.timestamp()
		case "lat":
			p.Lat, st[kpLat] = s.lat()
		case "lng":
			p.Lng, st[kpLng] = s.lng()
		case "speed_kmh":
			p.SpeedKmh, st[kpSpeed] = s.nonNegative()
			p.HasSpeed = st[kpSpeed] == fOK
		case "accuracy_m":
			p.AccuracyM, st[kpAccuracy] = s.nonNegative()
			p.HasAccuracy = st[kpAccuracy] == fOK
		default:
			s.skipValue()
		}
	}
	if err := s.end(); err != nil {
		return err
	}
	return firstFault(st[:], courierPingFields[:], courierPingRequired)
}

// Window fields, in contract order; the address's own fields follow it.
const (
	wID = iota
	wOrderID
	wKind
	wVIN
	wStart
	wEnd
	wAddress
	wAddressLat
	wAddressLng
	wRadius
	wFields
)

var windowFields = [wFields]string{"window_id", "order_id", "kind", "vin", "start", "end",
	"address", "address.lat", "address.lng", "radius_m"}

const windowRequired = 1<<wID | 1<<wKind | 1<<wVIN | 1<<wStart | 1<<wEnd | 1<<wAddress

// DecodeWindow decodes one dispatch.windows value into w, overwriting every
// field; RadiusM is 0 when radius_m is absent. Strings that equal the ones
// already in w are kept rather than allocated again.
func DecodeWindow(w *Window, data []byte) error {
	*w = Window{ID: w.ID, OrderID: w.OrderID, VIN: w.VIN}
	var st [wFields]fault
	s := scanner{data: data}
	if !s.begin() {
		return s.notObject()
	}
	for first := true; ; first = false {
		key, more := s.key(first)
		if !more {
			break
		}
		switch string(key) {
		case "window_id":
			b, f := s.id()
			setString(&w.ID, b)
			st[wID] = f
		case "order_id":
			b, f := s.text()
			setString(&w.OrderID, b)
			st[wOrderID] = f
		case "kind":
			w.Kind, st[wKind] = enumValue[Kind](&s, fKind, inputKindNames)
		case "vin":
			b, f := s.id()
			setString(&w.VIN, b)
			st[wVIN] = f
		case "start":
			w.Start, st[wStart] = s.timestamp()
		case "end":
			w.End, st[wEnd] = s.timestamp()
		case "address":
			w.Lat, w.Lng = 0, 0
			st[wAddressLat], st[wAddressLng] = fAbsent, fAbsent
			switch s.peek() {
			case '{':
				st[wAddress] = fOK
				s.open()
				for first := true; ; first = false {
					key, more := s.key(first)
					if !more {
						break
					}
					switch string(key) {
					case "lat":
						w.Lat, st[wAddressLat] = s.lat()
					case "lng":
						w.Lng, st[wAddressLng] = s.lng()
					default:
						s.skipValue()
					}
				}
				s.close()
				for _, i := range [...]int{wAddressLat, wAddressLng} {
					if st[i] == fAbsent {
						st[i] = fMissing
					}
				}
			case 'n':
				s.literal("null")
				st[wAddress] = fAbsent
			default:
				s.skipValue()
				st[wAddress] = fWantObject
			}
		case "radius_m":
			w.RadiusM, st[wRadius] = s.float()
			if st[wRadius] == fOK && !(w.RadiusM > 0 && w.RadiusM <= maxRadiusM) {
				st[wRadius] = fRadius
			}
		default:
			s.skipValue()
		}
	}
	if err := s.end(); err != nil {
		return err
	}
	if err := firstFault(st[:], windowFields[:], windowRequired); err != nil {
		return err
	}
	if st[wOrderID] == fAbsent {
		w.OrderID = ""
	}
	if st[wRadius] == fAbsent {
		w.RadiusM = 0
	}
	if w.End <= w.Start {
		return fEndBeforeStart.err("end")
	}
	return nil
}

// Route fields, in contract order.
const (
	rCourierID = iota
	rStops
	rFields
)

var routeFields = [rFields]string{"courier_id", "stops"}

const routeRequired = 1<<rCourierID | 1<<rStops

// DecodeRoute decodes one dispatch.routes value into r, overwriting every
// field. r.Stops is reused (r.Stops[:0]): copy it to retain it. Stop ids that
// equal the ones already in place are kept rather than allocated again.
func DecodeRoute(r *Route, data []byte) error {
	*r = Route{CourierID: r.CourierID, Stops: r.Stops[:0]}
	var st [rFields]fault
	var stopsErr error // the first faulty stop of the last "stops"
	s := scanner{data: data}
	if !s.begin() {
		return s.notObject()
	}
	for first := true; ; first = false {
		key, more := s.key(first)
		if !more {
			break
		}
		switch string(key) {
		case "courier_id":
			b, f := s.id()
			setString(&r.CourierID, b)
			st[rCourierID] = f
		case "stops":
			r.Stops, stopsErr = r.Stops[:0], nil
			switch s.peek() {
			case '[':
				st[rStops] = fOK
				r.Stops, stopsErr = s.stops(r.Stops)
			case 'n':
				s.literal("null")
				st[rStops] = fAbsent
			default:
				s.skipValue()
				st[rStops] = fWantArray
			}
		default:
			s.skipValue()
		}
	}
	if err := s.end(); err != nil {
		return err
	}
	if err := firstFault(st[:], routeFields[:], routeRequired); err != nil {
		return err
	}
	return stopsErr
}

// stops decodes the array of stops at s.pos into stops and returns the error
// of the first faulty stop.
func (s *scanner) stops(stops []Stop) ([]Stop, error) {
	var err error
	s.open()
	for first := true; s.elem(first); first = false {
		// Reuse the id string of the stop that was here before.
		var stop Stop
		if n := len(stops); n < cap(stops) {
			stop = stops[:n+1][n]
		}
		if s.peek() != '{' {
			s.skipValue()
			if err == nil {
				err = fWantObject.err("stops")
			}
			stops = append(stops, Stop{})
			continue
		}
		stop.ETA = 0
		idFault, etaFault := fAbsent, fAbsent
		s.open()
		for first := true; ; first = false {
			key, more := s.key(first)
			if !more {
				break
			}
			switch string(key) {
			case "window_id":
				var b []byte
				b, idFault = s.id()
				setString(&stop.WindowID, b)
			case "eta":
				stop.ETA, etaFault = s.timestamp()
			default:
				s.skipValue()
			}
		}
		s.close()
		switch {
		case err != nil:
		case idFault == fAbsent:
			err = fMissing.err("stops.window_id")
		case idFault > fOK:
			err = idFault.err("stops.window_id")
		case etaFault > fOK:
			err = etaFault.err("stops.eta")
		}
		stops = append(stops, stop)
	}
	s.close()
	return stops, err
}

// setString sets *dst to b, keeping the string already in *dst when it holds
// the same bytes.
func setString(dst *string, b []byte) {
	if *dst != string(b) {
		*dst = string(b)
	}
}

// scanner reads one JSON value from data. Syntax errors are sticky: the first
// one is kept in bad, the rest of the input is abandoned, and every later
// read returns zero values; the decoder reports it at end.
type scanner struct {
	data  []byte
	pos   int
	depth int    // nesting level of the container being read; the top-level object is 1
	bad   string // the first syntax error; "" while the input is well formed
	high  bool   // a string held a byte >= 0x80
	buf   [maxStringLen]byte
}

func (s *scanner) fail(msg string) {
	if s.bad == "" {
		s.bad = msg
	}
	s.pos = len(s.data)
}

// peek returns the byte at s.pos, or 0 at the end of the input (or after a
// syntax error), which starts no JSON token.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c > ' ':
			return
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.pos++
		default:
			return
		}
	}
}

// begin opens the top-level object of the input. It reports false, having read the value, when the top-level value
// is not an object.
func (s *scanner) begin() bool {
	s.skipSpace()
	if s.peek() != '{' {
		s.skipValue()
		return false
	}
	s.open()
	return true
}

// notObject is the error for a top-level value that is not an object.
func (s *scanner) notObject() error {
	if err := s.end(); err != nil {
		return err
	}
	return &DecodeError{Reason: DLQWrongType, Msg: "want a JSON object"}
}

// end checks that only white space follows the top-level value and returns
// the syntax error of the input, if any.
func (s *scanner) end() error {
	s.skipSpace()
	if s.pos != len(s.data) {
		s.fail("data after the top-level value")
	}
	// Invalid UTF-8 is the first error of a record. A byte of a multi-byte
	// sequence outside a string is a syntax error, so the input needs
	// checking only when a string held one or the syntax is wrong.
	if (s.high || s.bad != "") && !utf8.Valid(s.data) {
		s.bad = "invalid UTF-8"
	}
	if s.bad != "" {
		return &DecodeError{Reason: DLQMalformed, Msg: s.bad}
	}
	return nil
}

// open consumes the '{' or '[' at s.pos.
func (s *scanner) open() {
	s.pos++
	s.depth++
}

// close ends a container that key or elem has seen the end of.
func (s *scanner) close() { s.depth-- }

// key advances to the next member of the object being read and returns its
// key, unescaped. A key longer than any known field comes back as nil. more
// is false once the closing '}' has been read, or on a syntax error; first
// says whether this is the first call for the object.
func (s *scanner) key(first bool) (key []byte, more bool) {
	s.skipSpace()
	c := s.peek()
	if c == '}' {
		s.pos++
		return nil, false
	}
	if !first {
		if c != ',' {
			s.fail("want ',' or '}' after an object member")
			return nil, false
		}
		s.pos++
		s.skipSpace()
	}
	return s.member()
}

// elem advances to the next element of the array being read, leaving s.pos
// at its value. It reports false once the closing ']' has been read, or on a
// syntax error.
func (s *scanner) elem(first bool) bool {
	s.skipSpace()
	c := s.peek()
	if c == ']' {
		s.pos++
		return false
	}
	if !first {
		if c != ',' {
			s.fail("want ',' or ']' after an array element")
			return false
		}
		s.pos++
	}
	s.skipSpace()
	return s.bad == ""
}

// member reads an object member's key and the ':' after it, leaving s.pos at
// the value. A key longer than any known field comes back as nil.
func (s *scanner) member() (key []byte, ok bool) {
	if s.peek() != '"' {
		s.fail("want a string key")
		return nil, false
	}
	key, long := s.str()
	if long {
		key = nil
	}
	s.skipSpace()
	if s.peek() != ':' {
		s.fail("want ':' after an object key")
		return nil, false
	}
	s.pos++
	s.skipSpace()
	return key, s.bad == ""
}

// str reads the string at s.pos, which holds its opening quote. It returns
// the string's contents, unescaped, when they fit in maxStringLen bytes, and
// long = true with nil contents when they do not. The returned slice aliases
// the input or s.buf and is valid until the next read.
func (s *scanner) str() (b []byte, long bool) {
	data := s.data
	start := s.pos + 1
	escaped := false
	for i := start; i < len(data); {
		// Eight bytes at a time, up to the first special one.
		if i+8 <= len(data) {
			x := binary.LittleEndian.Uint64(data[i:])
			s.high = s.high || x&0x8080808080808080 != 0
			m := stringSpecialMask(x)
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else if !stringSpecial[data[i]] {
			s.high = s.high || data[i] >= 0x80
			i++
			continue
		}
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			if !escaped {
				if i-start > maxStringLen {
					return nil, true
				}
				return data[start:i], false
			}
			n, ok := unescape(s.buf[:], data[start:i])
			if !ok {
				return nil, true
			}
			return s.buf[:n], false
		case c == '\\':
			n := escapeLen(data[i:])
			if n == 0 {
				s.fail("invalid escape in string")
				return nil, false
			}
			escaped = true
			i += n
		default:
			s.fail("control character in string")
			return nil, false
		}
	}
	s.fail("unterminated string")
	return nil, false
}

// stringSpecial marks the bytes that end the plain run of a string: the
// quote, the backslash and the control characters.
var stringSpecial = [256]bool{'"': true, '\\': true,
	0x00: true, 0x01: true, 0x02: true, 0x03: true, 0x04: true, 0x05: true, 0x06: true, 0x07: true,
	0x08: true, 0x09: true, 0x0a: true, 0x0b: true, 0x0c: true, 0x0d: true, 0x0e: true, 0x0f: true,
	0x10: true, 0x11: true, 0x12: true, 0x13: true, 0x14: true, 0x15: true, 0x16: true, 0x17: true,
	0x18: true, 0x19: true, 0x1a: true, 0x1b: true, 0x1c: true, 0x1d: true, 0x1e: true, 0x1f: true}

// stringSpecialMask returns, for the eight bytes of x in little-endian
// order, a mask whose lowest set bit is the high bit of the first special
// byte (a quote, a backslash or a control character); 0 when there is none.
// These are the classic bit tricks for "has a byte less than n" and "has a
// zero byte": they may also flag bytes after the first special one, never
// before it.
func stringSpecialMask(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	less := (x - ones*0x20) &^ x
	q := x ^ (ones * '"')
	quote := (q - ones) &^ q
	bs := x ^ (ones * '\\')
	backslash := (bs - ones) &^ bs
	return (less | quote | backslash) & highs
}

// escapeLen returns the length of the escape sequence at the start of b
// (b[0] == '\\'), or 0 when it is not a valid one. A \u escape of a high
// surrogate must be followed by one of a low surrogate; a lone surrogate is
// invalid.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		r := hex4(b[2:])
		switch {
		case r < 0:
			return 0
		case r < 0xd800 || r > 0xdfff:
			return 6
		case r >= 0xdc00:
			return 0 // low surrogate without a high one
		}
		if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
			return 0
		}
		if lo := hex4(b[8:]); lo < 0xdc00 || lo > 0xdfff {
			return 0
		}
		return 12
	}
	return 0
}

// hex4 decodes the 4 hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescape writes the unescaped form of raw, string contents whose escapes
// escapeLen has validated, to dst. It reports false when it does not fit.
func unescape(dst, raw []byte) (n int, ok bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				j = len(raw) - i
			}
			if n+j > len(dst) {
				return n, false
			}
			n += copy(dst[n:], raw[i:i+j])
			i += j
			continue
		}
		var r rune
		switch raw[i+1] {
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			r = hex4(raw[i+2:])
			if r >= 0xd800 && r < 0xdc00 {
				r = (r-0xd800)<<10 | (hex4(raw[i+8:]) - 0xdc00) + 0x10000
				i += 6
			}
			i += 4
		default: // '"', '\\', '/'
			r = rune(raw[i+1])
		}
		i += 2
		if n+utf8.RuneLen(r) > len(dst) {
			return n, false
		}
		n += utf8.EncodeRune(dst[n:], r)
	}
	return n, true
}

// literal reads the literal lit ("true", "false" or "null") at s.pos.
func (s *scanner) literal(lit string) {
	if end := s.pos + len(lit); end > len(s.data) || string(s.data[s.pos:end]) != lit {
		s.fail("invalid literal")
		return
	}
	s.pos += len(lit)
}

// num reads the number at s.pos and returns its text, following the JSON
// grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) num() []byte {
	lit, _, _ := s.number()
	return lit
}

// number reads the number at s.pos like num, and computes its value on the
// way when that is exact: a decimal mantissa below 2^53 and a power of ten
// within ±22, both exact in a float64, so one IEEE multiplication or
// division rounds the value correctly, to the float64 strconv.ParseFloat
// returns. exact is false for any other number (the caller parses lit).
func (s *scanner) number() (lit []byte, v float64, exact bool) {
	data := s.data
	start := s.pos
	i := start
	neg := false
	if i < len(data) && data[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	big := false // a digit did not fit in mant
	exp := 0
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for ; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
			if mant < 1<<53 {
				mant = mant*10 + uint64(data[i]-'0')
			} else {
				big = true
			}
		}
	default:
		s.fail("invalid number")
		return nil, 0, false
	}
	if i < len(data) && data[i] == '.' {
		i++
		j := i
		for ; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
			if mant < 1<<53 {
				mant = mant*10 + uint64(data[i]-'0')
				exp--
			} else {
				big = true
			}
		}
		if i == j {
			s.fail("invalid number")
			return nil, 0, false
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		eneg := false
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			eneg = data[i] == '-'
			i++
		}
		j := i
		e := 0
		for ; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(data[i]-'0')
			}
		}
		if i == j {
			s.fail("invalid number")
			return nil, 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	s.pos = i
	lit = data[start:i]
	if big || mant >= 1<<53 || exp < -22 || exp > 22 {
		return lit, 0, false
	}
	v = float64(mant)
	if neg {
		v = -v
	}
	switch {
	case exp > 0:
		v *= float64pow10[exp]
	case exp < 0:
		v /= float64pow10[-exp]
	}
	return lit, v, true
}

// float64pow10 holds the powers of ten that are exact in a float64.
var float64pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

func isNumberStart(c byte) bool { return c == '-' || ('0' <= c && c <= '9') }

// skipValue reads and discards the value at s.pos, checking its syntax.
func (s *scanner) skipValue() {
	switch c := s.peek(); c {
	case '{', '[':
		s.skipNested()
	default:
		s.skipScalar()
	}
}

func (s *scanner) skipScalar() {
	switch c := s.peek(); c {
	case '"':
		s.str()
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	default:
		if !isNumberStart(c) {
			s.fail("want a JSON value")
			return
		}
		s.num()
	}
}

// skipNested reads and discards the array or object at s.pos. It does not
// recurse: a bit per level records whether the level is an object.
func (s *scanner) skipNested() {
	var objects [maxDepth/64 + 1]uint64
	n := 0 // levels open
	for {
		// s.pos is at a value.
		ended := true
		switch c := s.peek(); c {
		case '{', '[':
			if s.depth+n >= maxDepth {
				s.fail("nesting deeper than 10000 levels")
				return
			}
			if c == '{' {
				objects[n/64] |= 1 << (n % 64)
			} else {
				objects[n/64] &^= 1 << (n % 64)
			}
			n++
			s.pos++
			s.skipSpace()
			switch s.peek() {
			case '}', ']':
				// The empty container ends below.
			default:
				if c == '{' {
					if _, ok := s.member(); !ok {
						return
					}
				}
				ended = false
			}
		default:
			s.skipScalar()
			if s.bad != "" {
				return
			}
		}
		for ended {
			if n == 0 {
				return
			}
			s.skipSpace()
			object := objects[(n-1)/64]&(1<<((n-1)%64)) != 0
			switch c := s.peek(); {
			case c == ',':
				s.pos++
				s.skipSpace()
				if object {
					if _, ok := s.member(); !ok {
						return
					}
				}
				ended = false
			case object && c == '}', !object && c == ']':
				s.pos++
				n--
			default:
				s.fail("unexpected character after a value")
				return
			}
		}
	}
}

// text reads an optional string: fAbsent for null, fTooLong beyond
// maxStringLen bytes.
func (s *scanner) text() ([]byte, fault) {
	switch s.peek() {
	case '"':
		b, long := s.str()
		if long {
			return nil, fTooLong
		}
		return b, fOK
	case 'n':
		s.literal("null")
		return nil, fAbsent
	}
	s.skipValue()
	return nil, fWantString
}

// id reads an identifier: a string that must not be empty.
func (s *scanner) id() ([]byte, fault) {
	b, f := s.text()
	if f == fOK && len(b) == 0 {
		f = fEmpty
	}
	return b, f
}

// enum reads the string value of an enumeration for the caller to match; a
// string too long to be a value comes back as fOK with nil contents, which
// matches nothing.
// The names of the enumerations in the input, in the order of their
// constants: names[i] decodes to the constant i+1 (0 is unknown).
var (
	inputTrunkNames        = []string{"closed", "open"}
	inputLocationTypeNames = []string{"current", "last_parked"}
	inputSourceNames       = []string{"gps", "dead_reckoning", "approximate"}
	inputKindNames         = []string{"delivery", "return"}
)

// enumValue reads a string that must be one of names (names[i] decodes to
// T(i+1)); null decodes to 0 (unknown) with fAbsent, any other string to 0
// with bad.
func enumValue[T ~int8](s *scanner, bad fault, names []string) (T, fault) {
	b, f := s.enum()
	if f != fOK {
		return 0, f
	}
	for i, n := range names {
		if string(b) == n {
			return T(i + 1), fOK
		}
	}
	return 0, bad
}

func (s *scanner) enum() ([]byte, fault) {
	b, f := s.text()
	if f == fTooLong {
		f = fOK
	}
	return b, f
}

// float reads a number: fAbsent for null, fNotFinite when it overflows
// float64.
func (s *scanner) float() (float64, fault) {
	c := s.peek()
	switch {
	case isNumberStart(c):
		lit, v, exact := s.number()
		switch {
		case lit == nil:
			return 0, fOK
		case exact:
			return v, fOK
		}
		// The JSON number grammar is a subset of ParseFloat's, so the only
		// error left is overflow. The string does not escape ParseFloat, so
		// the conversion does not allocate for up to 32 bytes.
		f, err := strconv.ParseFloat(string(lit), 64)
		if err != nil {
			return 0, fNotFinite
		}
		return f, fOK
	case c == 'n':
		s.literal("null")
		return 0, fAbsent
	}
	s.skipValue()
	return 0, fWantNumber
}

func (s *scanner) lat() (float64, fault) {
	v, f := s.float()
	if f == fOK && !(v >= -90 && v <= 90) {
		f = fLat
	}
	return v, f
}

func (s *scanner) lng() (float64, fault) {
	v, f := s.float()
	if f == fOK && !(v >= -180 && v <= 180) {
		f = fLng
	}
	return v, f
}

func (s *scanner) nonNegative() (float64, fault) {
	v, f := s.float()
	if f == fOK && v < 0 {
		f = fNegative
	}
	return v, f
}

// tri reads an optional boolean; null is Unknown.
func (s *scanner) tri() (Tri, fault) {
	switch s.peek() {
	case 't':
		s.literal("true")
		return True, fOK
	case 'f':
		s.literal("false")
		return False, fOK
	case 'n':
		s.literal("null")
		return Unknown, fAbsent
	}
	s.skipValue()
	return Unknown, fWantBool
}

// timestamp reads a timestamp: an RFC 3339 string or a number of epoch
// milliseconds, which must be a non-negative integer literal (no fraction, no
// exponent) no later than the year 9999.
func (s *scanner) timestamp() (int64, fault) {
	c := s.peek()
	switch {
	case c == '"':
		b, long := s.str()
		if long {
			return 0, fTimeString
		}
		ms, ok := ParseTimestamp(b)
		if !ok {
			return 0, fTimeString
		}
		return ms, fOK
	case isNumberStart(c):
		lit := s.num()
		if lit == nil {
			return 0, fOK
		}
		// Up to 15 digits: exact, and cheap.
		if len(lit) <= 15 && lit[0] != '-' {
			var ms int64
			for _, d := range lit {
				if d < '0' || d > '9' {
					ms = -1
					break
				}
				ms = ms*10 + int64(d-'0')
			}
			switch {
			case ms > maxTimestamp:
				return 0, fTimeRange
			case ms >= 0:
				return ms, fOK
			}
		}
		if _, err := strconv.ParseFloat(string(lit), 64); err != nil {
			return 0, fNotFinite
		}
		for _, d := range lit {
			if d < '0' || d > '9' {
				return 0, fTimeNumber
			}
		}
		return 0, fTimeRange // an integer of 16 digits or more
	case c == 'n':
		s.literal("null")
		return 0, fAbsent
	}
	s.skipValue()
	return 0, fWantTimestamp
}
