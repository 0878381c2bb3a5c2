package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var updateCodec = flag.Bool("update-codec", false, "rewrite the expected outcomes of the golden files in testdata/codec")

// obj builds a JSON object from base members (`"key":value`), applying
// overrides in order: `"key":value` replaces the member with that key or adds
// it, "-key" removes it.
func obj(base []string, overrides ...string) []byte {
	members := append([]string(nil), base...)
	keyOf := func(m string) string { return m[1 : 1+strings.IndexByte(m[1:], '"')] }
	for _, o := range overrides {
		if key, ok := strings.CutPrefix(o, "-"); ok {
			for i, m := range members {
				if keyOf(m) == key {
					members = append(members[:i], members[i+1:]...)
					break
				}
			}
			continue
		}
		replaced := false
		for i, m := range members {
			if keyOf(m) == keyOf(o) {
				members[i], replaced = o, true
				break
			}
		}
		if !replaced {
			members = append(members, o)
		}
	}
	return []byte("{" + strings.Join(members, ",") + "}")
}

var (
	carBase = []string{`"vin":"WAUZZZ4G0FN000001"`, `"ts":"2026-11-24T10:15:03.120Z"`,
		`"lat":48.137154`, `"lng":11.576124`, `"speed_kmh":0`, `"heading_deg":270`,
		`"accuracy_m":6.5`, `"ignition":false`, `"trunk":"closed"`, `"locked":true`}
	courierBase = []string{`"courier_id":"DHL-4711"`, `"ts":1764000000000`, `"lat":48.1375`,
		`"lng":11.5760`, `"speed_kmh":4.2`, `"accuracy_m":5`}
	windowBase = []string{`"window_id":"W-1001"`, `"order_id":"O-77"`, `"kind":"delivery"`,
		`"vin":"WAUZZZ4G0FN000001"`, `"start":"2026-11-24T10:00:00Z"`, `"end":"2026-11-24T12:00:00Z"`,
		`"address":{"lat":48.1372,"lng":11.5756}`, `"radius_m":300`}
	routeBase = []string{`"courier_id":"DHL-4711"`,
		`"stops":[{"window_id":"W-1001","eta":"2026-11-24T10:40:00Z"},{"window_id":"W-1002"}]`}
)

// The decoded form of the base records.
const (
	baseTS    = 1795515303120 // 2026-11-24T10:15:03.120Z
	baseStart = 1795514400000 // 2026-11-24T10:00:00Z
	baseEnd   = baseStart + 2*3600000
)

func carWant(edit func(p *CarPing)) CarPing {
	p := CarPing{VIN: []byte("WAUZZZ4G0FN000001"), TS: baseTS, Lat: 48.137154, Lng: 11.576124,
		SpeedKmh: 0, HeadingDeg: 270, AccuracyM: 6.5, HasSpeed: true, HasHeading: true,
		HasAccuracy: true, Ignition: False, Trunk: TrunkClosed, Locked: True}
	if edit != nil {
		edit(&p)
	}
	return p
}

var long129 = strings.Repeat("x", 129)
var long128 = strings.Repeat("x", 128)

// decodeCase is one row of the decoder tables: either reason (and field) or
// the expected decoded value.
type decodeCase[T any] struct {
	name   string
	in     []byte
	reason string
	field  string
	want   T
}

// checkDecodeErr checks err against the expected reason and field, and that
// the message echoes no input.
func checkDecodeErr(t *testing.T, who string, err error, reason, field string) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("%s: err = %v, want *DecodeError %s field %q", who, err, reason, field)
	}
	if de.Reason != reason || de.Field != field {
		t.Fatalf("%s: err = %s field %q (%v), want %s field %q", who, de.Reason, de.Field, err, reason, field)
	}
	if reason != DLQMalformed && de.Msg == "" && who == "fast" {
		t.Fatalf("%s: empty message", who)
	}
}

// dirtyCarPing returns a CarPing holding every field set, to check that a
// decode into a reused value leaves nothing behind.
func dirtyCarPing() *CarPing {
	return &CarPing{VIN: []byte("DIRTYDIRTYDIRTY00"), TS: 1, Lat: 1, Lng: 1, SpeedKmh: 1,
		HeadingDeg: 1, AccuracyM: 1, HasSpeed: true, HasHeading: true, HasAccuracy: true,
		Ignition: True, Locked: False, Trunk: TrunkOpen, LocationType: LocationLastParked,
		Source: SourceApproximate}
}

func carPingsEqual(a, b *CarPing) bool {
	x, y := *a, *b
	if !bytes.Equal(x.VIN, y.VIN) {
		return false
	}
	x.VIN, y.VIN = nil, nil
	return reflect.DeepEqual(x, y)
}

func routesEqual(a, b *Route) bool {
	if a.CourierID != b.CourierID || len(a.Stops) != len(b.Stops) {
		return false
	}
	for i := range a.Stops {
		if a.Stops[i] != b.Stops[i] {
			return false
		}
	}
	return true
}

func TestDecodeCarPing(t *testing.T) {
	nested := strings.Repeat("[", 9999) + strings.Repeat("]", 9999) // 10000 levels with the object
	tooDeep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	cases := []decodeCase[CarPing]{
		{name: "typical", in: obj(carBase), want: carWant(nil)},
		{name: "epoch ms", in: obj(carBase, `"ts":1795515303120`), want: carWant(nil)},
		{name: "offset", in: obj(carBase, `"ts":"2026-11-24T11:15:03.120+01:00"`), want: carWant(nil)},
		{name: "negative offset and long fraction", in: obj(carBase, `"ts":"2026-11-24T08:45:03.1209999-01:30"`), want: carWant(nil)},
		{name: "epoch zero", in: obj(carBase, `"ts":0`), want: carWant(func(p *CarPing) { p.TS = 0 })},
		{name: "last millisecond", in: obj(carBase, `"ts":"9999-12-31T23:59:59.999Z"`), want: carWant(func(p *CarPing) { p.TS = maxTimestamp })},
		{name: "required only", in: obj(carBase[:4]), want: CarPing{VIN: []byte("WAUZZZ4G0FN000001"), TS: baseTS, Lat: 48.137154, Lng: 11.576124}},
		{name: "nulls are unknown", in: obj(carBase, `"speed_kmh":null`, `"heading_deg":null`, `"accuracy_m":null`,
			`"ignition":null`, `"trunk":null`, `"locked":null`, `"location_type":null`, `"source":null`),
			want: CarPing{VIN: []byte("WAUZZZ4G0FN000001"), TS: baseTS, Lat: 48.137154, Lng: 11.576124}},
		{name: "all enums", in: obj(carBase, `"trunk":"open"`, `"ignition":true`, `"locked":false`,
			`"location_type":"last_parked"`, `"source":"dead_reckoning"`),
			want: carWant(func(p *CarPing) {
				p.Trunk, p.Ignition, p.Locked = TrunkOpen, True, False
				p.LocationType, p.Source = LocationLastParked, SourceDeadReckoning
			})},
		{name: "current gps", in: obj(carBase, `"location_type":"current"`, `"source":"gps"`),
			want: carWant(func(p *CarPing) { p.LocationType, p.Source = LocationCurrent, SourceGPS })},
		{name: "approximate", in: obj(carBase, `"source":"approximate"`),
			want: carWant(func(p *CarPing) { p.Source = SourceApproximate })},
		{name: "corners", in: obj(carBase, `"lat":-90`, `"lng":180`, `"speed_kmh":-0`, `"heading_deg":-1E+2`),
			want: carWant(func(p *CarPing) { p.Lat, p.Lng, p.HeadingDeg = -90, 180, -100 })},
		{name: "underflow is zero", in: obj(carBase, `"lat":1e-400`), want: carWant(func(p *CarPing) { p.Lat = 0 })},
		{name: "unknown fields", in: obj(carBase, `"x":{"a":[1,-2.5e3,{"b":null}],"c":"\u00e9\n"}`, `"y":[]`, `"z":{}`, `"w":true`),
			want: carWant(nil)},
		{name: "nesting at the limit", in: obj(carBase, `"x":`+nested), want: carWant(nil)},
		{name: "white space", in: []byte(" \t\r\n{ \"vin\" : \"V\" , \"ts\" : 0 ,\n\"lat\" : 1 , \"lng\" : 2 }\n "),
			want: CarPing{VIN: []byte("V"), Lat: 1, Lng: 2}},
		{name: "escapes", in: obj(carBase, `"v\u0069n":"WAU\u005a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude97"`),
			want: carWant(func(p *CarPing) { p.VIN = []byte("WAUZ\"\\/\b\f\n\r\t\u00e9\U0001F697") })},
		{name: "escaped enum", in: obj(carBase, `"trunk":"\u006fpen"`), want: carWant(func(p *CarPing) { p.Trunk = TrunkOpen })},
		{name: "128 byte vin", in: obj(carBase, `"vin":"`+long128+`"`), want: carWant(func(p *CarPing) { p.VIN = []byte(long128) })},
		{name: "escaped 128 byte vin", in: obj(carBase, `"vin":"`+strings.Repeat(`\u0078`, 128)+`"`), want: carWant(func(p *CarPing) { p.VIN = []byte(long128) })},
		{name: "last duplicate wins", in: obj(carBase, `"lat":"x"`, `"trunk":"open","lat":1,"trunk":null,"vin":"A"`),
			want: carWant(func(p *CarPing) { p.Lat, p.Trunk, p.VIN = 1, TrunkUnknown, []byte("A") })},

		{name: "empty input", in: []byte(""), reason: DLQMalformed},
		{name: "only space", in: []byte("  "), reason: DLQMalformed},
		{name: "truncated", in: obj(carBase)[:40], reason: DLQMalformed},
		{name: "trailing comma", in: []byte(`{"vin":"V",}`), reason: DLQMalformed},
		{name: "leading comma", in: []byte(`{,"vin":"V"}`), reason: DLQMalformed},
		{name: "trailing garbage", in: append(obj(carBase), " x"...), reason: DLQMalformed},
		{name: "two objects", in: append(obj(carBase), "{}"...), reason: DLQMalformed},
		{name: "single quotes", in: []byte(`{'vin':'V'}`), reason: DLQMalformed},
		{name: "unquoted key", in: []byte(`{vin:"V"}`), reason: DLQMalformed},
		{name: "missing colon", in: []byte(`{"vin" "V"}`), reason: DLQMalformed},
		{name: "missing value", in: []byte(`{"vin":}`), reason: DLQMalformed},
		{name: "bad escape", in: obj(carBase, `"vin":"\x41"`), reason: DLQMalformed},
		{name: "short unicode escape", in: obj(carBase, `"vin":"\u12"`), reason: DLQMalformed},
		{name: "control character", in: obj(carBase, "\"vin\":\"A\tB\""), reason: DLQMalformed},
		{name: "control character in unknown", in: obj(carBase, "\"x\":[\"\x01\"]"), reason: DLQMalformed},
		{name: "invalid utf-8", in: obj(carBase, "\"vin\":\"\xff\""), reason: DLQMalformed},
		{name: "invalid utf-8 in key", in: obj(carBase, "\"\xc3\x28\":1"), reason: DLQMalformed},
		{name: "encoded surrogate", in: obj(carBase, "\"x\":\"\xed\xa0\x80\""), reason: DLQMalformed},
		{name: "lone high surrogate", in: obj(carBase, `"vin":"\ud800"`), reason: DLQMalformed},
		{name: "high surrogate then letter", in: obj(carBase, `"vin":"\ud800\u0041"`), reason: DLQMalformed},
		{name: "lone low surrogate", in: obj(carBase, `"x":"\udc00"`), reason: DLQMalformed},
		{name: "byte order mark", in: append([]byte("\xef\xbb\xbf"), obj(carBase)...), reason: DLQMalformed},
		{name: "leading zero", in: obj(carBase, `"lat":01`), reason: DLQMalformed},
		{name: "bare fraction", in: obj(carBase, `"lat":.5`), reason: DLQMalformed},
		{name: "empty fraction", in: obj(carBase, `"lat":1.`), reason: DLQMalformed},
		{name: "empty exponent", in: obj(carBase, `"lat":1e+`), reason: DLQMalformed},
		{name: "plus sign", in: obj(carBase, `"lat":+1`), reason: DLQMalformed},
		{name: "lone minus", in: obj(carBase, `"x":-`), reason: DLQMalformed},
		{name: "NaN", in: obj(carBase, `"lat":NaN`), reason: DLQMalformed},
		{name: "bad literal", in: obj(carBase, `"ignition":tru`), reason: DLQMalformed},
		{name: "capital literal", in: obj(carBase, `"ignition":True`), reason: DLQMalformed},
		{name: "mismatched brackets", in: obj(carBase, `"x":[1}`), reason: DLQMalformed},
		{name: "nesting beyond the limit", in: obj(carBase, `"x":`+tooDeep), reason: DLQMalformed},
		{name: "syntax beats semantics", in: []byte(`{"lat":"x","vin":`), reason: DLQMalformed},
		{name: "syntax beats top-level type", in: []byte(`[1,]`), reason: DLQMalformed},

		{name: "top-level array", in: []byte(`[]`), reason: DLQWrongType},
		{name: "top-level null", in: []byte(`null`), reason: DLQWrongType},
		{name: "top-level string", in: []byte(` "x" `), reason: DLQWrongType},
		{name: "top-level number", in: []byte(`1`), reason: DLQWrongType},
		{name: "vin number", in: obj(carBase, `"vin":17`), reason: DLQWrongType, field: "vin"},
		{name: "ts bool", in: obj(carBase, `"ts":true`), reason: DLQWrongType, field: "ts"},
		{name: "ts object", in: obj(carBase, `"ts":{"ms":1}`), reason: DLQWrongType, field: "ts"},
		{name: "lat string", in: obj(carBase, `"lat":"48.1"`), reason: DLQWrongType, field: "lat"},
		{name: "lng array", in: obj(carBase, `"lng":[11.5]`), reason: DLQWrongType, field: "lng"},
		{name: "speed string", in: obj(carBase, `"speed_kmh":"0"`), reason: DLQWrongType, field: "speed_kmh"},
		{name: "heading bool", in: obj(carBase, `"heading_deg":false`), reason: DLQWrongType, field: "heading_deg"},
		{name: "accuracy object", in: obj(carBase, `"accuracy_m":{}`), reason: DLQWrongType, field: "accuracy_m"},
		{name: "ignition string", in: obj(carBase, `"ignition":"false"`), reason: DLQWrongType, field: "ignition"},
		{name: "ignition number", in: obj(carBase, `"ignition":0`), reason: DLQWrongType, field: "ignition"},
		{name: "trunk bool", in: obj(carBase, `"trunk":true`), reason: DLQWrongType, field: "trunk"},
		{name: "locked string", in: obj(carBase, `"locked":"yes"`), reason: DLQWrongType, field: "locked"},
		{name: "location_type number", in: obj(carBase, `"location_type":1`), reason: DLQWrongType, field: "location_type"},
		{name: "source array", in: obj(carBase, `"source":["gps"]`), reason: DLQWrongType, field: "source"},
		{name: "last duplicate is wrong", in: obj(carBase, `"lat":1,"lat":"1"`), reason: DLQWrongType, field: "lat"},

		{name: "empty object", in: []byte(`{}`), reason: DLQMissingField, field: "vin"},
		{name: "vin absent", in: obj(carBase, "-vin"), reason: DLQMissingField, field: "vin"},
		{name: "vin null", in: obj(carBase, `"vin":null`), reason: DLQMissingField, field: "vin"},
		{name: "vin empty", in: obj(carBase, `"vin":""`), reason: DLQMissingField, field: "vin"},
		{name: "ts absent", in: obj(carBase, "-ts"), reason: DLQMissingField, field: "ts"},
		{name: "ts null", in: obj(carBase, `"ts":null`), reason: DLQMissingField, field: "ts"},
		{name: "lat absent", in: obj(carBase, "-lat"), reason: DLQMissingField, field: "lat"},
		{name: "lng null", in: obj(carBase, `"lng":null`), reason: DLQMissingField, field: "lng"},
		{name: "missing vin beats wrong lat", in: obj(carBase, "-vin", `"lat":"x"`), reason: DLQMissingField, field: "vin"},
		{name: "wrong ts beats missing lat", in: obj(carBase, "-lat", `"ts":[]`), reason: DLQWrongType, field: "ts"},

		{name: "vin too long", in: obj(carBase, `"vin":"`+long129+`"`), reason: DLQInvalidValue, field: "vin"},
		{name: "escaped vin too long", in: obj(carBase, `"vin":"`+strings.Repeat(`\u00e9`, 65)+`"`), reason: DLQInvalidValue, field: "vin"},
		{name: "trunk upper case", in: obj(carBase, `"trunk":"OPEN"`), reason: DLQInvalidValue, field: "trunk"},
		{name: "trunk empty", in: obj(carBase, `"trunk":""`), reason: DLQInvalidValue, field: "trunk"},
		{name: "trunk long", in: obj(carBase, `"trunk":"`+long129+`"`), reason: DLQInvalidValue, field: "trunk"},
		{name: "location_type unknown", in: obj(carBase, `"location_type":"parked"`), reason: DLQInvalidValue, field: "location_type"},
		{name: "source unknown", in: obj(carBase, `"source":"wifi"`), reason: DLQInvalidValue, field: "source"},
		{name: "ts space", in: obj(carBase, `"ts":"2026-11-24 10:15:03Z"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts no zone", in: obj(carBase, `"ts":"2026-11-24T10:15:03"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts lower z", in: obj(carBase, `"ts":"2026-11-24T10:15:03z"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts month 13", in: obj(carBase, `"ts":"2026-13-24T10:15:03Z"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts 30 February", in: obj(carBase, `"ts":"2028-02-30T10:15:03Z"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts leap second", in: obj(carBase, `"ts":"2016-12-31T23:59:60Z"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts comma fraction", in: obj(carBase, `"ts":"2026-11-24T10:15:03,120Z"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts offset 24", in: obj(carBase, `"ts":"2026-11-24T10:15:03+24:00"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts long fraction", in: obj(carBase, `"ts":"2026-11-24T10:15:03.120`+strings.Repeat("9", 100)+`Z"`), want: carWant(nil)},
		{name: "ts longer than 128 bytes", in: obj(carBase, `"ts":"2026-11-24T10:15:03.120`+strings.Repeat("9", 110)+`Z"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts empty string", in: obj(carBase, `"ts":""`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts before 1970", in: obj(carBase, `"ts":"1969-12-31T23:59:59.999Z"`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts fraction", in: obj(carBase, `"ts":1795515303120.5`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts integral fraction", in: obj(carBase, `"ts":1795515303120.0`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts exponent", in: obj(carBase, `"ts":1.76e12`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts negative", in: obj(carBase, `"ts":-1`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts minus zero", in: obj(carBase, `"ts":-0`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts after 9999", in: obj(carBase, `"ts":253402300800000`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts beyond int64", in: obj(carBase, `"ts":99999999999999999999`), reason: DLQInvalidValue, field: "ts"},

		{name: "lat above", in: obj(carBase, `"lat":90.000001`), reason: DLQOutOfRange, field: "lat"},
		{name: "lat below", in: obj(carBase, `"lat":-91`), reason: DLQOutOfRange, field: "lat"},
		{name: "lng above", in: obj(carBase, `"lng":180.5`), reason: DLQOutOfRange, field: "lng"},
		{name: "lng below", in: obj(carBase, `"lng":-1e3`), reason: DLQOutOfRange, field: "lng"},
		{name: "speed negative", in: obj(carBase, `"speed_kmh":-1`), reason: DLQOutOfRange, field: "speed_kmh"},
		{name: "accuracy negative", in: obj(carBase, `"accuracy_m":-0.1`), reason: DLQOutOfRange, field: "accuracy_m"},

		{name: "lat overflows", in: obj(carBase, `"lat":1e999`), reason: DLQNotFinite, field: "lat"},
		{name: "heading overflows", in: obj(carBase, `"heading_deg":-1e400`), reason: DLQNotFinite, field: "heading_deg"},
		{name: "ts overflows", in: obj(carBase, `"ts":1e999`), reason: DLQNotFinite, field: "ts"},
		{name: "long integer overflows", in: obj(carBase, `"speed_kmh":1`+strings.Repeat("0", 400)), reason: DLQNotFinite, field: "speed_kmh"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := dirtyCarPing()
			err := DecodeCarPing(p, tc.in)
			ref, refErr := refDecodeCarPing(tc.in)
			if tc.reason != "" {
				checkDecodeErr(t, "fast", err, tc.reason, tc.field)
				checkDecodeErr(t, "reference", refErr, tc.reason, tc.field)
				return
			}
			if err != nil || refErr != nil {
				t.Fatalf("err = %v, reference err = %v", err, refErr)
			}
			if !carPingsEqual(p, &tc.want) {
				t.Errorf("got  %+v\nwant %+v", *p, tc.want)
			}
			if !carPingsEqual(ref, &tc.want) {
				t.Errorf("reference got %+v\nwant          %+v", *ref, tc.want)
			}
		})
	}
}

func TestDecodeCourierPing(t *testing.T) {
	want := CourierPing{CourierID: "DHL-4711", TS: 1764000000000, Lat: 48.1375, Lng: 11.576,
		SpeedKmh: 4.2, AccuracyM: 5, HasSpeed: true, HasAccuracy: true}
	cases := []decodeCase[CourierPing]{
		{name: "typical", in: obj(courierBase), want: want},
		{name: "rfc 3339", in: obj(courierBase, `"ts":"2025-11-24T16:00:00Z"`), want: want},
		{name: "required only", in: obj(courierBase[:4]),
			want: CourierPing{CourierID: "DHL-4711", TS: 1764000000000, Lat: 48.1375, Lng: 11.576}},
		{name: "nulls", in: obj(courierBase, `"speed_kmh":null`, `"accuracy_m":null`),
			want: CourierPing{CourierID: "DHL-4711", TS: 1764000000000, Lat: 48.1375, Lng: 11.576}},
		{name: "unknown fields", in: obj(courierBase, `"battery":{"pct":80}`, `"vin":1`), want: want},
		{name: "escaped id", in: obj(courierBase, `"courier_id":"DHL\u002d4711"`), want: want},

		{name: "malformed", in: []byte(`{"courier_id":"DHL-4711"`), reason: DLQMalformed},
		{name: "top-level array", in: []byte(`[{}]`), reason: DLQWrongType},
		{name: "courier_id number", in: obj(courierBase, `"courier_id":4711`), reason: DLQWrongType, field: "courier_id"},
		{name: "ts array", in: obj(courierBase, `"ts":[]`), reason: DLQWrongType, field: "ts"},
		{name: "lat bool", in: obj(courierBase, `"lat":true`), reason: DLQWrongType, field: "lat"},
		{name: "lng string", in: obj(courierBase, `"lng":"11"`), reason: DLQWrongType, field: "lng"},
		{name: "speed string", in: obj(courierBase, `"speed_kmh":"4"`), reason: DLQWrongType, field: "speed_kmh"},
		{name: "accuracy string", in: obj(courierBase, `"accuracy_m":"5"`), reason: DLQWrongType, field: "accuracy_m"},
		{name: "courier_id absent", in: obj(courierBase, "-courier_id"), reason: DLQMissingField, field: "courier_id"},
		{name: "courier_id empty", in: obj(courierBase, `"courier_id":""`), reason: DLQMissingField, field: "courier_id"},
		{name: "ts absent", in: obj(courierBase, "-ts"), reason: DLQMissingField, field: "ts"},
		{name: "lat null", in: obj(courierBase, `"lat":null`), reason: DLQMissingField, field: "lat"},
		{name: "lng absent", in: obj(courierBase, "-lng"), reason: DLQMissingField, field: "lng"},
		{name: "courier_id too long", in: obj(courierBase, `"courier_id":"`+long129+`"`), reason: DLQInvalidValue, field: "courier_id"},
		{name: "ts fraction", in: obj(courierBase, `"ts":1.5`), reason: DLQInvalidValue, field: "ts"},
		{name: "ts bad string", in: obj(courierBase, `"ts":"yesterday"`), reason: DLQInvalidValue, field: "ts"},
		{name: "lat range", in: obj(courierBase, `"lat":-90.5`), reason: DLQOutOfRange, field: "lat"},
		{name: "lng range", in: obj(courierBase, `"lng":181`), reason: DLQOutOfRange, field: "lng"},
		{name: "speed negative", in: obj(courierBase, `"speed_kmh":-4`), reason: DLQOutOfRange, field: "speed_kmh"},
		{name: "accuracy negative", in: obj(courierBase, `"accuracy_m":-5`), reason: DLQOutOfRange, field: "accuracy_m"},
		{name: "lng overflows", in: obj(courierBase, `"lng":-2e308`), reason: DLQNotFinite, field: "lng"},
		{name: "ts overflows", in: obj(courierBase, `"ts":-1e999`), reason: DLQNotFinite, field: "ts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := CourierPing{CourierID: "OLD", TS: 9, Lat: 9, Lng: 9, SpeedKmh: 9, AccuracyM: 9, HasSpeed: true, HasAccuracy: true}
			err := DecodeCourierPing(&p, tc.in)
			ref, refErr := refDecodeCourierPing(tc.in)
			if tc.reason != "" {
				checkDecodeErr(t, "fast", err, tc.reason, tc.field)
				checkDecodeErr(t, "reference", refErr, tc.reason, tc.field)
				return
			}
			if err != nil || refErr != nil {
				t.Fatalf("err = %v, reference err = %v", err, refErr)
			}
			if p != tc.want || *ref != tc.want {
				t.Errorf("got %+v\nreference %+v\nwant %+v", p, *ref, tc.want)
			}
		})
	}
}

func TestDecodeWindow(t *testing.T) {
	want := Window{ID: "W-1001", OrderID: "O-77", Kind: KindDelivery, VIN: "WAUZZZ4G0FN000001",
		Start: baseStart, End: baseEnd, Lat: 48.1372, Lng: 11.5756, RadiusM: 300}
	with := func(edit func(w *Window)) Window {
		w := want
		edit(&w)
		return w
	}
	cases := []decodeCase[Window]{
		{name: "typical", in: obj(windowBase), want: want},
		{name: "return", in: obj(windowBase, `"kind":"return"`), want: with(func(w *Window) { w.Kind = KindReturn })},
		{name: "epoch ms", in: obj(windowBase, `"start":1795514400000`, `"end":1795521600000`), want: want},
		{name: "no order_id, no radius", in: obj(windowBase, "-order_id", "-radius_m"),
			want: with(func(w *Window) { w.OrderID, w.RadiusM = "", 0 })},
		{name: "null order_id and radius", in: obj(windowBase, `"order_id":null`, `"radius_m":null`),
			want: with(func(w *Window) { w.OrderID, w.RadiusM = "", 0 })},
		{name: "empty order_id", in: obj(windowBase, `"order_id":""`), want: with(func(w *Window) { w.OrderID = "" })},
		{name: "largest radius", in: obj(windowBase, `"radius_m":50000`), want: with(func(w *Window) { w.RadiusM = 50000 })},
		{name: "address extras", in: obj(windowBase, `"address":{"street":"Marienplatz 1","lng":11.5756,"geo":[1,2],"lat":48.1372}`), want: want},
		{name: "last address wins", in: obj(windowBase, `"address":{"lat":"x"},"address":{"lat":1,"lng":2}`),
			want: with(func(w *Window) { w.Lat, w.Lng = 1, 2 })},
		{name: "one millisecond long", in: obj(windowBase, `"end":1795514400001`), want: with(func(w *Window) { w.End = baseStart + 1 })},

		{name: "malformed address", in: obj(windowBase, `"address":{"lat":1,"lng":2`), reason: DLQMalformed},
		{name: "top-level string", in: []byte(`"W-1001"`), reason: DLQWrongType},
		{name: "window_id number", in: obj(windowBase, `"window_id":1001`), reason: DLQWrongType, field: "window_id"},
		{name: "order_id number", in: obj(windowBase, `"order_id":77`), reason: DLQWrongType, field: "order_id"},
		{name: "kind number", in: obj(windowBase, `"kind":1`), reason: DLQWrongType, field: "kind"},
		{name: "vin object", in: obj(windowBase, `"vin":{}`), reason: DLQWrongType, field: "vin"},
		{name: "start bool", in: obj(windowBase, `"start":false`), reason: DLQWrongType, field: "start"},
		{name: "end array", in: obj(windowBase, `"end":["2026-11-24T12:00:00Z"]`), reason: DLQWrongType, field: "end"},
		{name: "address array", in: obj(windowBase, `"address":[48.1,11.5]`), reason: DLQWrongType, field: "address"},
		{name: "address string", in: obj(windowBase, `"address":"Marienplatz 1"`), reason: DLQWrongType, field: "address"},
		{name: "address.lat string", in: obj(windowBase, `"address":{"lat":"48","lng":11}`), reason: DLQWrongType, field: "address.lat"},
		{name: "radius string", in: obj(windowBase, `"radius_m":"300"`), reason: DLQWrongType, field: "radius_m"},
		{name: "window_id absent", in: obj(windowBase, "-window_id"), reason: DLQMissingField, field: "window_id"},
		{name: "window_id empty", in: obj(windowBase, `"window_id":""`), reason: DLQMissingField, field: "window_id"},
		{name: "kind absent", in: obj(windowBase, "-kind"), reason: DLQMissingField, field: "kind"},
		{name: "kind null", in: obj(windowBase, `"kind":null`), reason: DLQMissingField, field: "kind"},
		{name: "vin empty", in: obj(windowBase, `"vin":""`), reason: DLQMissingField, field: "vin"},
		{name: "start absent", in: obj(windowBase, "-start"), reason: DLQMissingField, field: "start"},
		{name: "end null", in: obj(windowBase, `"end":null`), reason: DLQMissingField, field: "end"},
		{name: "address absent", in: obj(windowBase, "-address"), reason: DLQMissingField, field: "address"},
		{name: "address null", in: obj(windowBase, `"address":null`), reason: DLQMissingField, field: "address"},
		{name: "address empty", in: obj(windowBase, `"address":{}`), reason: DLQMissingField, field: "address.lat"},
		{name: "address.lng null", in: obj(windowBase, `"address":{"lat":48,"lng":null}`), reason: DLQMissingField, field: "address.lng"},
		{name: "missing beats end before start", in: obj(windowBase, `"end":"2026-11-24T09:00:00Z"`, "-address"), reason: DLQMissingField, field: "address"},
		{name: "kind unknown", in: obj(windowBase, `"kind":"pickup"`), reason: DLQInvalidValue, field: "kind"},
		{name: "kind empty", in: obj(windowBase, `"kind":""`), reason: DLQInvalidValue, field: "kind"},
		{name: "order_id too long", in: obj(windowBase, `"order_id":"`+long129+`"`), reason: DLQInvalidValue, field: "order_id"},
		{name: "window_id too long", in: obj(windowBase, `"window_id":"`+long129+`"`), reason: DLQInvalidValue, field: "window_id"},
		{name: "start not rfc 3339", in: obj(windowBase, `"start":"24.11.2026 10:00"`), reason: DLQInvalidValue, field: "start"},
		{name: "end negative", in: obj(windowBase, `"end":-5`), reason: DLQInvalidValue, field: "end"},
		{name: "end equals start", in: obj(windowBase, `"end":"2026-11-24T11:00:00+01:00"`), reason: DLQInvalidValue, field: "end"},
		{name: "end before start", in: obj(windowBase, `"end":"2026-11-24T09:00:00Z"`), reason: DLQInvalidValue, field: "end"},
		{name: "radius zero", in: obj(windowBase, `"radius_m":0`), reason: DLQInvalidValue, field: "radius_m"},
		{name: "radius negative", in: obj(windowBase, `"radius_m":-300`), reason: DLQInvalidValue, field: "radius_m"},
		{name: "radius too large", in: obj(windowBase, `"radius_m":50000.5`), reason: DLQInvalidValue, field: "radius_m"},
		{name: "address.lat range", in: obj(windowBase, `"address":{"lat":91,"lng":11}`), reason: DLQOutOfRange, field: "address.lat"},
		{name: "address.lng range", in: obj(windowBase, `"address":{"lat":48,"lng":-181}`), reason: DLQOutOfRange, field: "address.lng"},
		{name: "address.lng overflows", in: obj(windowBase, `"address":{"lat":48,"lng":1e309}`), reason: DLQNotFinite, field: "address.lng"},
		{name: "radius overflows", in: obj(windowBase, `"radius_m":1e309`), reason: DLQNotFinite, field: "radius_m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := Window{ID: "OLD", OrderID: "OLD", Kind: KindReturn, VIN: "OLD", Start: 9, End: 9, Lat: 9, Lng: 9, RadiusM: 9}
			err := DecodeWindow(&w, tc.in)
			ref, refErr := refDecodeWindow(tc.in)
			if tc.reason != "" {
				checkDecodeErr(t, "fast", err, tc.reason, tc.field)
				checkDecodeErr(t, "reference", refErr, tc.reason, tc.field)
				return
			}
			if err != nil || refErr != nil {
				t.Fatalf("err = %v, reference err = %v", err, refErr)
			}
			if w != tc.want || *ref != tc.want {
				t.Errorf("got %+v\nreference %+v\nwant %+v", w, *ref, tc.want)
			}
		})
	}
}

func TestDecodeRoute(t *testing.T) {
	want := Route{CourierID: "DHL-4711", Stops: []Stop{{WindowID: "W-1001", ETA: baseStart + 40*60000}, {WindowID: "W-1002"}}}
	cases := []decodeCase[Route]{
		{name: "typical", in: obj(routeBase), want: want},
		{name: "no stops", in: obj(routeBase, `"stops":[]`), want: Route{CourierID: "DHL-4711"}},
		{name: "stop extras and null eta", in: obj(routeBase, `"stops":[{"seq":1,"window_id":"W-1001","eta":1795516800000},{"eta":null,"window_id":"W-1002","x":{}}]`), want: want},
		{name: "last stops wins", in: obj(routeBase, `"stops":[1],"stops":[{"window_id":"W-1"}]`),
			want: Route{CourierID: "DHL-4711", Stops: []Stop{{WindowID: "W-1"}}}},

		{name: "malformed stops", in: obj(routeBase, `"stops":[{"window_id":"W-1"},]`), reason: DLQMalformed},
		{name: "malformed after a bad stop", in: []byte(`{"courier_id":"C","stops":[1,{]}`), reason: DLQMalformed},
		{name: "top-level number", in: []byte(`4711`), reason: DLQWrongType},
		{name: "courier_id bool", in: obj(routeBase, `"courier_id":true`), reason: DLQWrongType, field: "courier_id"},
		{name: "stops object", in: obj(routeBase, `"stops":{"window_id":"W-1"}`), reason: DLQWrongType, field: "stops"},
		{name: "stop string", in: obj(routeBase, `"stops":["W-1001"]`), reason: DLQWrongType, field: "stops"},
		{name: "stop null", in: obj(routeBase, `"stops":[null]`), reason: DLQWrongType, field: "stops"},
		{name: "stop window_id number", in: obj(routeBase, `"stops":[{"window_id":1}]`), reason: DLQWrongType, field: "stops.window_id"},
		{name: "stop eta bool", in: obj(routeBase, `"stops":[{"window_id":"W","eta":true}]`), reason: DLQWrongType, field: "stops.eta"},
		{name: "courier_id absent", in: obj(routeBase, "-courier_id"), reason: DLQMissingField, field: "courier_id"},
		{name: "courier_id empty", in: obj(routeBase, `"courier_id":""`), reason: DLQMissingField, field: "courier_id"},
		{name: "stops absent", in: obj(routeBase, "-stops"), reason: DLQMissingField, field: "stops"},
		{name: "stops null", in: obj(routeBase, `"stops":null`), reason: DLQMissingField, field: "stops"},
		{name: "stop window_id absent", in: obj(routeBase, `"stops":[{"window_id":"W"},{"eta":0}]`), reason: DLQMissingField, field: "stops.window_id"},
		{name: "stop window_id empty", in: obj(routeBase, `"stops":[{"window_id":""}]`), reason: DLQMissingField, field: "stops.window_id"},
		{name: "first bad stop wins", in: obj(routeBase, `"stops":[{"window_id":"W","eta":"x"},{"window_id":2}]`), reason: DLQInvalidValue, field: "stops.eta"},
		{name: "missing courier beats bad stop", in: []byte(`{"stops":[7]}`), reason: DLQMissingField, field: "courier_id"},
		{name: "stop window_id too long", in: obj(routeBase, `"stops":[{"window_id":"`+long129+`"}]`), reason: DLQInvalidValue, field: "stops.window_id"},
		{name: "stop eta fraction", in: obj(routeBase, `"stops":[{"window_id":"W","eta":1.5}]`), reason: DLQInvalidValue, field: "stops.eta"},
		{name: "stop eta overflows", in: obj(routeBase, `"stops":[{"window_id":"W","eta":1e400}]`), reason: DLQNotFinite, field: "stops.eta"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Route{CourierID: "OLD", Stops: []Stop{{"OLD", 9}, {"OLD", 9}, {"OLD", 9}}}
			err := DecodeRoute(&r, tc.in)
			ref, refErr := refDecodeRoute(tc.in)
			if tc.reason != "" {
				checkDecodeErr(t, "fast", err, tc.reason, tc.field)
				checkDecodeErr(t, "reference", refErr, tc.reason, tc.field)
				return
			}
			if err != nil || refErr != nil {
				t.Fatalf("err = %v, reference err = %v", err, refErr)
			}
			if !routesEqual(&r, &tc.want) || !routesEqual(ref, &tc.want) {
				t.Errorf("got %+v\nreference %+v\nwant %+v", r, *ref, tc.want)
			}
		})
	}
}

// TestDecodeErrorMessages checks that no error message echoes the input:
// coordinates and VINs must not end up in logs through error strings.
func TestDecodeErrorMessages(t *testing.T) {
	secret := "SECRETVIN12345678"
	inputs := [][]byte{
		obj(carBase, `"vin":"`+secret+`"`, `"lat":"`+secret+`"`),
		obj(carBase, `"vin":"`+secret+`"`, `"trunk":"`+secret+`"`),
		obj(carBase, `"vin":"`+secret+`"`, `"ts":"`+secret+`"`),
		obj(carBase, `"vin":"`+secret+`"`, `"lat":12345678`),
		obj(carBase, `"vin":"`+secret+`"`, `"`+secret+`":`),
		[]byte(`{"vin":"` + secret + `\x"}`),
	}
	for _, in := range inputs {
		err := DecodeCarPing(new(CarPing), in)
		if err == nil {
			t.Fatalf("%s: no error", in)
		}
		if msg := err.Error(); strings.Contains(msg, secret) || strings.Contains(msg, "12345678") {
			t.Errorf("error %q echoes the input", msg)
		}
	}
}

func TestDecodeReuse(t *testing.T) {
	var p CarPing
	if err := DecodeCarPing(&p, obj(carBase)); err != nil {
		t.Fatal(err)
	}
	vin := p.VIN
	if err := DecodeCarPing(&p, obj(carBase[:4], `"vin":"WAUZZZ4G0FN000002"`)); err != nil {
		t.Fatal(err)
	}
	if &p.VIN[0] != &vin[0] {
		t.Error("VIN buffer not reused")
	}
	if string(p.VIN) != "WAUZZZ4G0FN000002" || p.HasSpeed || p.Trunk != TrunkUnknown || p.Locked != Unknown {
		t.Errorf("fields of the previous ping survived: %+v", p)
	}

	var w Window
	if err := DecodeWindow(&w, obj(windowBase)); err != nil {
		t.Fatal(err)
	}
	if err := DecodeWindow(&w, obj(windowBase, "-order_id", "-radius_m")); err != nil {
		t.Fatal(err)
	}
	if w.OrderID != "" || w.RadiusM != 0 {
		t.Errorf("optional fields of the previous window survived: %+v", w)
	}

	var r Route
	if err := DecodeRoute(&r, obj(routeBase)); err != nil {
		t.Fatal(err)
	}
	stops := r.Stops
	if err := DecodeRoute(&r, obj(routeBase, `"stops":[{"window_id":"W-9"}]`)); err != nil {
		t.Fatal(err)
	}
	if len(r.Stops) != 1 || &r.Stops[0] != &stops[0] || r.Stops[0] != (Stop{WindowID: "W-9"}) {
		t.Errorf("stops not reused or wrong: %+v", r.Stops)
	}
}

func TestCheckRecordSize(t *testing.T) {
	cases := []struct {
		n, max int
		reason string
	}{
		{0, 100, DLQEmpty},
		{0, 0, DLQEmpty},
		{1, 100, ""},
		{100, 100, ""},
		{101, 100, DLQOversized},
		{1 << 20, 0, ""},
	}
	for _, tc := range cases {
		err := CheckRecordSize(make([]byte, tc.n), tc.max)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("CheckRecordSize(%d bytes, %d) = %v", tc.n, tc.max, err)
			}
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != tc.reason {
			t.Errorf("CheckRecordSize(%d bytes, %d) = %v, want %s", tc.n, tc.max, err, tc.reason)
		}
	}
}

func TestDecodeCarPingAllocs(t *testing.T) {
	for _, in := range [][]byte{
		obj(carBase),
		obj(carBase, `"ts":1795515303120`, `"location_type":"current"`, `"source":"gps"`),
		obj(carBase, `"x":{"a":[1,2,{"b":"c"}]}`, `"vin":"WAU\u005aZZ4G0FN000001"`),
	} {
		var p CarPing
		if err := DecodeCarPing(&p, in); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { DecodeCarPing(&p, in) }); n != 0 {
			t.Errorf("DecodeCarPing(%s): %v allocations, want 0", in, n)
		}
	}
}

func TestDecodeCourierPingAllocs(t *testing.T) {
	in := obj(courierBase)
	var p CourierPing
	if err := DecodeCourierPing(&p, in); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { DecodeCourierPing(&p, in) }); n != 0 {
		t.Errorf("DecodeCourierPing of the same courier: %v allocations, want 0", n)
	}
}

// Golden vectors: testdata/codec/*.jsonl hold one case per line, the input
// (as a string, or base64 in input_b64 when it is not valid UTF-8) and either
// the decoded form (want) or the error (reason, field). Both the fast and the
// reference decoder must produce the expected outcome. With -update the
// outcomes are rewritten from the decoders, provided the two agree.

type goldenCase struct {
	Name     string          `json:"name"`
	Input    string          `json:"input,omitempty"`
	InputB64 []byte          `json:"input_b64,omitempty"`
	Want     json.RawMessage `json:"want,omitempty"`
	Error    *goldenError    `json:"error,omitempty"`
}

type goldenError struct {
	Reason string `json:"reason"`
	Field  string `json:"field,omitempty"`
}

func (c *goldenCase) input() []byte {
	if c.InputB64 != nil {
		return c.InputB64
	}
	return []byte(c.Input)
}

// The decoded forms, as golden files spell them.

type carPingForm struct {
	VIN          string   `json:"vin"`
	TS           string   `json:"ts"`
	Lat          float64  `json:"lat"`
	Lng          float64  `json:"lng"`
	SpeedKmh     *float64 `json:"speed_kmh,omitempty"`
	HeadingDeg   *float64 `json:"heading_deg,omitempty"`
	AccuracyM    *float64 `json:"accuracy_m,omitempty"`
	Ignition     string   `json:"ignition"`
	Trunk        string   `json:"trunk"`
	Locked       string   `json:"locked"`
	LocationType string   `json:"location_type"`
	Source       string   `json:"source"`
}

type courierPingForm struct {
	CourierID string   `json:"courier_id"`
	TS        string   `json:"ts"`
	Lat       float64  `json:"lat"`
	Lng       float64  `json:"lng"`
	SpeedKmh  *float64 `json:"speed_kmh,omitempty"`
	AccuracyM *float64 `json:"accuracy_m,omitempty"`
}

type windowForm struct {
	ID      string  `json:"window_id"`
	OrderID string  `json:"order_id"`
	Kind    string  `json:"kind"`
	VIN     string  `json:"vin"`
	Start   string  `json:"start"`
	End     string  `json:"end"`
	Lat     float64 `json:"address_lat"`
	Lng     float64 `json:"address_lng"`
	RadiusM float64 `json:"radius_m"`
}

type routeForm struct {
	CourierID string     `json:"courier_id"`
	Stops     []stopForm `json:"stops"`
}

type stopForm struct {
	WindowID string `json:"window_id"`
	ETA      string `json:"eta,omitempty"`
}

func optional(v float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	return &v
}

func timeForm(ms int64) string { return string(AppendTime(nil, ms)) }

var (
	triNames      = [...]string{Unknown: "unknown", False: "false", True: "true"}
	trunkNames    = [...]string{TrunkUnknown: "unknown", TrunkClosed: "closed", TrunkOpen: "open"}
	locationNames = [...]string{LocationUnknown: "unknown", LocationCurrent: "current", LocationLastParked: "last_parked"}
	sourceNames   = [...]string{SourceUnknown: "unknown", SourceGPS: "gps", SourceDeadReckoning: "dead_reckoning", SourceApproximate: "approximate"}
)

func carPingToForm(p *CarPing) any {
	return carPingForm{VIN: string(p.VIN), TS: timeForm(p.TS), Lat: p.Lat, Lng: p.Lng,
		SpeedKmh: optional(p.SpeedKmh, p.HasSpeed), HeadingDeg: optional(p.HeadingDeg, p.HasHeading),
		AccuracyM: optional(p.AccuracyM, p.HasAccuracy), Ignition: triNames[p.Ignition],
		Trunk: trunkNames[p.Trunk], Locked: triNames[p.Locked],
		LocationType: locationNames[p.LocationType], Source: sourceNames[p.Source]}
}

func courierPingToForm(p *CourierPing) any {
	return courierPingForm{CourierID: p.CourierID, TS: timeForm(p.TS), Lat: p.Lat, Lng: p.Lng,
		SpeedKmh: optional(p.SpeedKmh, p.HasSpeed), AccuracyM: optional(p.AccuracyM, p.HasAccuracy)}
}

func windowToForm(w *Window) any {
	return windowForm{ID: w.ID, OrderID: w.OrderID, Kind: w.Kind.String(), VIN: w.VIN,
		Start: timeForm(w.Start), End: timeForm(w.End), Lat: w.Lat, Lng: w.Lng, RadiusM: w.RadiusM}
}

func routeToForm(r *Route) any {
	f := routeForm{CourierID: r.CourierID, Stops: []stopForm{}}
	for _, s := range r.Stops {
		sf := stopForm{WindowID: s.WindowID}
		if s.ETA != 0 {
			sf.ETA = timeForm(s.ETA)
		}
		f.Stops = append(f.Stops, sf)
	}
	return f
}

// goldenOutcome is a decoder's outcome in golden form: the marshalled
// decoded form, or the error.
func goldenOutcome(form any, err error) (json.RawMessage, *goldenError) {
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			return nil, &goldenError{Reason: "not a *DecodeError: " + err.Error()}
		}
		return nil, &goldenError{Reason: de.Reason, Field: de.Field}
	}
	b, err := json.Marshal(form)
	if err != nil {
		panic(err)
	}
	return b, nil
}

var goldenDecoders = []struct {
	file      string
	fast, ref func([]byte) (any, error)
}{
	{"car_pings.jsonl",
		func(b []byte) (any, error) {
			p := dirtyCarPing()
			err := DecodeCarPing(p, b)
			return carPingToForm(p), err
		},
		func(b []byte) (any, error) {
			p, err := refDecodeCarPing(b)
			if err != nil {
				return nil, err
			}
			return carPingToForm(p), nil
		}},
	{"courier_pings.jsonl",
		func(b []byte) (any, error) {
			var p CourierPing
			err := DecodeCourierPing(&p, b)
			return courierPingToForm(&p), err
		},
		func(b []byte) (any, error) {
			p, err := refDecodeCourierPing(b)
			if err != nil {
				return nil, err
			}
			return courierPingToForm(p), nil
		}},
	{"windows.jsonl",
		func(b []byte) (any, error) {
			var w Window
			err := DecodeWindow(&w, b)
			return windowToForm(&w), err
		},
		func(b []byte) (any, error) {
			w, err := refDecodeWindow(b)
			if err != nil {
				return nil, err
			}
			return windowToForm(w), nil
		}},
	{"routes.jsonl",
		func(b []byte) (any, error) {
			var r Route
			err := DecodeRoute(&r, b)
			return routeToForm(&r), err
		},
		func(b []byte) (any, error) {
			r, err := refDecodeRoute(b)
			if err != nil {
				return nil, err
			}
			return routeToForm(r), nil
		}},
}

func readGolden(t testing.TB, file string) []goldenCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "codec", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c goldenCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestDecodeGolden(t *testing.T) {
	for _, g := range goldenDecoders {
		t.Run(g.file, func(t *testing.T) {
			cases := readGolden(t, g.file)
			var out bytes.Buffer
			for i := range cases {
				c := &cases[i]
				want, wantErr := goldenOutcome(g.fast(c.input()))
				refWant, refErr := goldenOutcome(g.ref(c.input()))
				if !bytes.Equal(want, refWant) || !reflect.DeepEqual(wantErr, refErr) {
					t.Errorf("%s: fast %s %+v, reference %s %+v", c.Name, want, wantErr, refWant, refErr)
					continue
				}
				if *updateCodec {
					c.Want, c.Error = want, wantErr
					line, err := json.Marshal(c)
					if err != nil {
						t.Fatal(err)
					}
					out.Write(line)
					out.WriteByte('\n')
					continue
				}
				var compact bytes.Buffer
				if c.Want != nil {
					if err := json.Compact(&compact, c.Want); err != nil {
						t.Fatalf("%s: %v", c.Name, err)
					}
				}
				if !bytes.Equal(compact.Bytes(), want) || !reflect.DeepEqual(c.Error, wantErr) {
					t.Errorf("%s: got %s %+v, want %s %+v", c.Name, want, wantErr, compact.Bytes(), c.Error)
				}
			}
			if *updateCodec && !t.Failed() {
				if err := os.WriteFile(filepath.Join("testdata", "codec", g.file), out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	cases := []struct {
		in   string
		want int64 // -1: rejected
	}{
		{"1970-01-01T00:00:00Z", 0},
		{"1970-01-01T00:00:00.001Z", 1},
		{"1970-01-01T01:00:00+01:00", 0},
		{"2026-11-24T10:15:03.120Z", baseTS},
		{"2026-11-24T10:15:03.12Z", baseTS},
		{"2026-11-24T10:15:03.1209Z", baseTS},
		{"2026-11-24T10:15:03.120999999999999Z", baseTS},
		{"2026-11-24T10:15:03Z", baseTS - 120},
		{"2026-11-24T23:15:03.120+13:00", baseTS},
		{"2026-11-23T21:15:03.120-13:00", baseTS},
		{"2026-11-24T10:16:03.120+00:01", baseTS},
		{"2026-11-24T10:15:03.120-00:00", baseTS},
		{"2028-02-29T00:00:00Z", 1835395200000},
		{"2000-02-29T00:00:00Z", 951782400000},
		{"9999-12-31T23:59:59.999Z", maxTimestamp},
		{"9999-12-31T23:59:59.999+00:01", maxTimestamp - 60000},

		{"", -1},
		{"2026-11-24", -1},
		{"2026-11-24T10:15Z", -1},
		{"2026-11-24T10:15:03", -1},
		{"2026-11-24t10:15:03Z", -1},
		{"2026-11-24T10:15:03z", -1},
		{"2026-11-24 10:15:03Z", -1},
		{"2026-11-24T10:15:03.Z", -1},
		{"2026-11-24T10:15:03,120Z", -1},
		{"2026-11-24T10:15:03.120ZZ", -1},
		{"2026-11-24T10:15:03.120+0100", -1},
		{"2026-11-24T10:15:03.120+01", -1},
		{"2026-11-24T10:15:03.120+24:00", -1},
		{"2026-11-24T10:15:03.120+01:60", -1},
		{"2026-11-24T10:15:03.120 +01:00", -1},
		{"2026-1-24T10:15:03Z", -1},
		{"+2026-11-24T10:15:03Z", -1},
		{"2026-00-24T10:15:03Z", -1},
		{"2026-13-24T10:15:03Z", -1},
		{"2026-11-00T10:15:03Z", -1},
		{"2026-11-31T10:15:03Z", -1},
		{"2027-02-29T10:15:03Z", -1},
		{"1900-02-29T10:15:03Z", -1},
		{"2026-11-24T24:00:00Z", -1},
		{"2026-11-24T10:60:03Z", -1},
		{"2026-11-24T10:15:60Z", -1},
		{"2026-11-24T1a:15:03Z", -1},
		{"1969-12-31T23:59:59.999Z", -1},
		{"1970-01-01T00:59:59.999+01:00", -1},
		{"0000-01-01T00:00:00Z", -1},
		{"9999-12-31T23:59:59.999-00:01", -1},
		{"10000-01-01T00:00:00Z", -1},
		{"２０２６-11-24T10:15:03Z", -1},
	}
	for _, tc := range cases {
		got, ok := ParseTimestamp([]byte(tc.in))
		if !ok {
			got = -1
		}
		ref, refOK := refParseTimestamp(tc.in)
		if !refOK {
			ref = -1
		}
		if got != tc.want || ref != tc.want {
			t.Errorf("ParseTimestamp(%q) = %d, reference %d, want %d", tc.in, got, ref, tc.want)
		}
	}
}

// TestParseTimestampTimeParse checks ParseTimestamp against time.Parse on
// random valid times with random offsets and fractions.
func TestParseTimestampTimeParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		ms := rng.Int64N(maxTimestamp + 1)
		offset := time.Duration(rng.IntN(2*24*60-1)-(24*60-1)) * time.Minute // ±23:59
		tm := time.UnixMilli(ms).Add(time.Duration(rng.IntN(1e6))).In(time.FixedZone("", int(offset.Seconds())))
		layout := [...]string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000000Z07:00"}[rng.IntN(4)]
		s := tm.Format(layout)
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ParseTimestamp([]byte(s))
		if w := want.UnixMilli(); w < 0 || w > maxTimestamp {
			if ok {
				t.Errorf("ParseTimestamp(%q) = %d, want out of range", s, got)
			}
			continue
		}
		if !ok || got != want.UnixMilli() {
			t.Errorf("ParseTimestamp(%q) = %d, %v, want %d", s, got, ok, want.UnixMilli())
		}
	}
}

func TestParseTimestampAllocs(t *testing.T) {
	b := []byte("2026-11-24T11:15:03.120+01:00")
	if n := testing.AllocsPerRun(100, func() { ParseTimestamp(b) }); n != 0 {
		t.Errorf("ParseTimestamp: %v allocations, want 0", n)
	}
}

func TestPeekCarPing(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		vin      string // "" when PeekCarPing declines
		ts       int64
	}{
		{"compact", `{"vin":"WAUZZZ4G0FN000001","ts":1795515303120,"lat":48.1,"lng":11.5}`, "WAUZZZ4G0FN000001", 1795515303120},
		{"vin and ts last", `{"lat":48.1,"x":[1,{"y":null}],"ts":"2026-11-24T10:00:00Z","vin":"V"}`, "V", 1795514400000},
		{"first of duplicates", `{"vin":"A","ts":1,"vin":"B","ts":2}`, "A", 1},
		{"rest not read", `{"vin":"A","ts":1,"lat":`, "A", 1},
		{"escaped key and VIN", `{"v\u0069n":"A\n","ts":7}`, "A\n", 7},
		{"no ts", `{"vin":"A","lat":1}`, "", 0},
		{"null vin", `{"vin":null,"ts":1}`, "", 0},
		{"empty vin", `{"vin":"","ts":1}`, "", 0},
		{"vin not a string", `{"vin":7,"ts":1}`, "", 0},
		{"ts with a fraction", `{"vin":"A","ts":1.5}`, "", 0},
		{"first ts bad", `{"ts":-1,"vin":"A","ts":5}`, "", 0},
		{"syntax error before vin", `{"lat":1,,"vin":"A","ts":1}`, "", 0},
		{"not an object", `["vin","A"]`, "", 0},
		{"non-ASCII", `{"vin":"é","ts":1}`, "", 0},
		{"empty", ``, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vin, ts, ok := PeekCarPing([]byte("DIRTYDIRTYDIRTY00"), []byte(tc.in))
			if ok != (tc.vin != "") || ok && (string(vin) != tc.vin || ts != tc.ts) {
				t.Fatalf("PeekCarPing(%s) = %q, %d, %v; want %q, %d", tc.in, vin, ts, ok, tc.vin, tc.ts)
			}
		})
	}
}
