package pipeline

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goldenEvents are the events whose wire form testdata/codec/events.jsonl
// holds, one line each, in this order.
var goldenEvents = []struct {
	name string
	ev   Event
}{
	{"tracking started", Event{ID: "0123456789abcdef0123456789abcdef", Type: EvTrackingStarted,
		WindowID: "W-1001", OrderID: "O-77", Kind: KindDelivery, VIN: "WAUZZZ4G0FN000001",
		TS: baseStart, EmittedAt: baseStart + 5}},
	{"car located inside", Event{ID: "1123456789abcdef0123456789abcdef", Type: EvCarLocated,
		WindowID: "W-1001", OrderID: "O-77", Kind: KindDelivery, VIN: "WAUZZZ4G0FN000001",
		TS: baseTS, EmittedAt: baseTS + 17, HasPos: true, Lat: 48.137154, Lng: 11.576124,
		H3: 0x8b1f8d2d4b5bfff, DistanceM: 27.349999, Inside: True}},
	{"car parked outside, no order", Event{ID: "2123456789abcdef0123456789abcdef", Type: EvCarParked,
		WindowID: "W-1002", Kind: KindReturn, VIN: "VF1AAAAA555000002",
		TS: baseTS, EmittedAt: baseTS, HasPos: true, Lat: -33.8688, Lng: 151.2093,
		H3: 0x8bbe0e35c8a5fff, DistanceM: 1234.56, Inside: False}},
	{"courier arrived", Event{ID: "3123456789abcdef0123456789abcdef", Type: EvCourierArrived,
		WindowID: "W-1001", OrderID: "O-77", Kind: KindDelivery, VIN: "WAUZZZ4G0FN000001",
		CourierID: "DHL-4711", TS: baseTS, EmittedAt: baseTS + 2, HasPos: true, Lat: 48.1375,
		Lng: 11.576, H3: 0x8b1f8d2d4b58fff, DistanceM: 0.04}},
	{"unlock eligible", Event{ID: "4123456789abcdef0123456789abcdef", Type: EvUnlockEligible,
		WindowID: "W-1001", OrderID: "O-77", Kind: KindDelivery, VIN: "WAUZZZ4G0FN000001",
		CourierID: "DHL-4711", TS: baseTS, EmittedAt: baseTS + 3,
		Grant: &Grant{ID: "g-4123456789abcdef", NotBefore: baseTS, ExpiresAt: baseTS + 120000,
			Token: "v1.eyJ3IjoiVy0xMDAxIn0.c2lnbmF0dXJl"}}},
	{"access revoked", Event{ID: "5123456789abcdef0123456789abcdef", Type: EvAccessRevoked,
		WindowID: "W-1001", OrderID: "O-77", Kind: KindDelivery, VIN: "WAUZZZ4G0FN000001",
		CourierID: "DHL-4711", TS: baseTS + 60000, EmittedAt: baseTS + 60001, Reason: "trunk_closed"}},
	{"window missed", Event{ID: "6123456789abcdef0123456789abcdef", Type: EvWindowMissed,
		WindowID: "W-1001", OrderID: "O-77", Kind: KindReturn, VIN: "WAUZZZ4G0FN000001",
		TS: baseEnd, EmittedAt: baseEnd + 1000, Reason: "no_fix"}},
	{"escaping", Event{ID: "7", Type: EvWindowCancelled, WindowID: "W \"quoted\" \\ back\\slash",
		OrderID: "<tag>&amp;\u2028\u2029", Kind: KindDelivery, VIN: "ctl\x00\x01\x1f\b\f\n\r\t\x7f",
		CourierID: "Zürich-🚗", TS: 0, EmittedAt: maxTimestamp, Reason: "bad\xffutf8\xe2\x82"}},
	{"edge numbers", Event{ID: "8", Type: EvCarMoved, WindowID: "W", Kind: KindDelivery, VIN: "V",
		TS: 1, EmittedAt: 999, HasPos: true, Lat: -90, Lng: 180, H3: -1, DistanceM: -0.01}},
	{"not finite", Event{ID: "9", Type: EvCarMoved, WindowID: "W", Kind: KindDelivery, VIN: "V",
		HasPos: true, Lat: math.NaN(), Lng: math.Inf(1), DistanceM: math.Inf(-1)}},
}

func TestEncodeEventGolden(t *testing.T) {
	path := filepath.Join("testdata", "codec", "events.jsonl")
	var got bytes.Buffer
	for _, g := range goldenEvents {
		got.Write(AppendEvent(nil, &g.ev))
		got.WriteByte('\n')
	}
	if *updateCodec {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gotLines, wantLines := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("%d events, golden file has %d lines", len(gotLines)-1, len(wantLines)-1)
	}
	for i, g := range goldenEvents {
		if gotLines[i] != wantLines[i] {
			t.Errorf("%s:\ngot  %s\nwant %s", g.name, gotLines[i], wantLines[i])
		}
		checkEventRoundTrip(t, &g.ev, []byte(gotLines[i]))
	}
}

func TestEncodeEventFields(t *testing.T) {
	cases := []struct {
		name string
		ev   Event
		want []string // substrings of the output
		not  []string
	}{
		{"no courier, no position, inside unknown", Event{Type: EvTrackingStopped, Kind: KindDelivery},
			[]string{`"order_id":""`, `"kind":"delivery"`, `"ts":"1970-01-01T00:00:00.000Z"`},
			[]string{"courier_id", "lat", "h3", "distance_m", "inside", "reason", "grant"}},
		{"courier and position", Event{Type: EvCourierApproaching, CourierID: "C", HasPos: true, Lat: 48.1, Lng: 11.5, H3: 0x8b1f8d2d4b5bfff, DistanceM: 999.95},
			[]string{`"courier_id":"C"`, `"lat":48.1,"lng":11.5,"h3":"8b1f8d2d4b5bfff","distance_m":1000`},
			[]string{"inside"}},
		{"distance rounds to a tenth", Event{HasPos: true, DistanceM: 12.34999}, []string{`"distance_m":12.3`}, nil},
		{"distance rounds half away from zero", Event{HasPos: true, DistanceM: 0.25}, []string{`"distance_m":0.3`}, nil},
		{"small distance", Event{HasPos: true, DistanceM: 0.04}, []string{`"distance_m":0}`}, nil},
		{"no minus zero", Event{HasPos: true, Lat: -0.0, DistanceM: -0.04}, []string{`"distance_m":0}`}, []string{`"distance_m":-0`}},
		{"no exponent", Event{HasPos: true, Lat: 1e-7, Lng: -1e-7, DistanceM: 1e21}, []string{`"lat":0.0000001,"lng":-0.0000001`, `"distance_m":1000000000000000000000`}, []string{"e-", "e+"}},
		{"inside true", Event{Inside: True}, []string{`,"inside":true}`}, nil},
		{"inside false", Event{Inside: False}, []string{`,"inside":false}`}, nil},
		{"reason", Event{Reason: "expired"}, []string{`,"reason":"expired"}`}, nil},
		{"grant", Event{Grant: &Grant{ID: "g", NotBefore: 1000, ExpiresAt: 121000, Token: "t"}},
			[]string{`,"grant":{"grant_id":"g","not_before":"1970-01-01T00:00:01.000Z","expires_at":"1970-01-01T00:02:01.000Z","token":"t"}}`}, nil},
		{"unknown kind and type", Event{}, []string{`"type":"unknown"`, `"kind":"unknown"`}, nil},
		{"escapes", Event{VIN: "a\"b\\c\n\u2028<>&\x01"}, []string{`"vin":"a\"b\\c\n\u2028<>&\u0001"`}, nil},
		{"invalid utf-8", Event{VIN: "a\xffb\xc3"}, []string{`"vin":"a\ufffdb\ufffd"`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := string(AppendEvent([]byte("prefix"), &tc.ev))
			out, ok := strings.CutPrefix(out, "prefix")
			if !ok {
				t.Fatalf("dst not appended to: %s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s\ndoes not contain %s", out, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("%s\ncontains %s", out, n)
				}
			}
			checkEventRoundTrip(t, &tc.ev, []byte(out))
		})
	}
}

// eventWire is the wire form of an event, for encoding/json.
type eventWire struct {
	EventID   string     `json:"event_id"`
	Type      string     `json:"type"`
	WindowID  string     `json:"window_id"`
	OrderID   string     `json:"order_id"`
	Kind      string     `json:"kind"`
	VIN       string     `json:"vin"`
	CourierID *string    `json:"courier_id"`
	TS        string     `json:"ts"`
	EmittedAt string     `json:"emitted_at"`
	Lat       *float64   `json:"lat"`
	Lng       *float64   `json:"lng"`
	H3        *string    `json:"h3"`
	DistanceM *float64   `json:"distance_m"`
	Inside    *bool      `json:"inside"`
	Reason    *string    `json:"reason"`
	Grant     *grantWire `json:"grant"`
}

type grantWire struct {
	GrantID   string `json:"grant_id"`
	NotBefore string `json:"not_before"`
	ExpiresAt string `json:"expires_at"`
	Token     string `json:"token"`
}

// wireString is s as it reads back from JSON: invalid UTF-8 bytes become
// U+FFFD, one each.
func wireString(s string) string { return string([]rune(s)) }

// wireTime is the reference of AppendTime.
func wireTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// checkEventRoundTrip parses out, the encoding of ev, with encoding/json and
// checks every field, the field order and that nothing else is there.
func checkEventRoundTrip(t *testing.T, ev *Event, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %s", out)
	}
	if bytes.ContainsAny(out, "\n\u2028\u2029") {
		t.Fatalf("unescaped line break in %s", out)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	var w eventWire
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	// Field order.
	order := []string{"event_id", "type", "window_id", "order_id", "kind", "vin"}
	if ev.CourierID != "" {
		order = append(order, "courier_id")
	}
	order = append(order, "ts", "emitted_at")
	if ev.HasPos {
		order = append(order, "lat", "lng", "h3", "distance_m")
	}
	if ev.Inside != Unknown {
		order = append(order, "inside")
	}
	if ev.Reason != "" {
		order = append(order, "reason")
	}
	if ev.Grant != nil {
		order = append(order, "grant")
	}
	if keys := topLevelKeys(t, out); strings.Join(keys, ",") != strings.Join(order, ",") {
		t.Errorf("keys %v, want %v", keys, order)
	}

	check := func(field string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %#v, want %#v in %s", field, got, want, out)
		}
	}
	check("event_id", w.EventID, wireString(ev.ID))
	check("type", w.Type, ev.Type.String())
	check("window_id", w.WindowID, wireString(ev.WindowID))
	check("order_id", w.OrderID, wireString(ev.OrderID))
	check("kind", w.Kind, ev.Kind.String())
	check("vin", w.VIN, wireString(ev.VIN))
	if ev.CourierID != "" {
		check("courier_id", *w.CourierID, wireString(ev.CourierID))
	}
	check("ts", w.TS, wireTime(ev.TS))
	check("emitted_at", w.EmittedAt, wireTime(ev.EmittedAt))
	if ev.HasPos {
		checkFloat := func(field string, got *float64, want float64) {
			t.Helper()
			switch {
			case math.IsNaN(want) || math.IsInf(want, 0):
				if got != nil {
					t.Errorf("%s = %v, want null", field, *got)
				}
			case got == nil || math.Float64bits(*got) != math.Float64bits(want):
				t.Errorf("%s = %v, want %v in %s", field, got, want, out)
			}
		}
		checkFloat("lat", w.Lat, ev.Lat)
		checkFloat("lng", w.Lng, ev.Lng)
		check("h3", *w.H3, strconv.FormatUint(uint64(ev.H3), 16))
		d := math.Round(ev.DistanceM*10) / 10
		if d == 0 {
			d = 0
		}
		checkFloat("distance_m", w.DistanceM, d)
	}
	if ev.Inside != Unknown {
		check("inside", *w.Inside, ev.Inside == True)
	}
	if ev.Reason != "" {
		check("reason", *w.Reason, wireString(ev.Reason))
	}
	if g := ev.Grant; g != nil {
		check("grant", *w.Grant, grantWire{GrantID: wireString(g.ID), NotBefore: wireTime(g.NotBefore),
			ExpiresAt: wireTime(g.ExpiresAt), Token: wireString(g.Token)})
		if keys := topLevelKeys(t, grantObject(t, out)); strings.Join(keys, ",") != "grant_id,not_before,expires_at,token" {
			t.Errorf("grant keys %v", keys)
		}
	}
}

// topLevelKeys returns the keys of the JSON object obj, in order.
func topLevelKeys(t *testing.T, obj []byte) []string {
	t.Helper()
	var raw []string
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

func grantObject(t *testing.T, out []byte) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m["grant"]
}

func TestAppendTime(t *testing.T) {
	cases := []struct {
		ms   int64
		want string
	}{
		{0, "1970-01-01T00:00:00.000Z"},
		{1, "1970-01-01T00:00:00.001Z"},
		{-1, "1969-12-31T23:59:59.999Z"},
		{baseTS, "2026-11-24T10:15:03.120Z"},
		{951782400000, "2000-02-29T00:00:00.000Z"},
		{maxTimestamp, "9999-12-31T23:59:59.999Z"},
		{maxTimestamp + 1, "10000-01-01T00:00:00.000Z"},
		{-62167219200000, "0000-01-01T00:00:00.000Z"},
		{-62167219200001, "-0001-12-31T23:59:59.999Z"},
	}
	for _, tc := range cases {
		if got := string(AppendTime(nil, tc.ms)); got != tc.want || got != wireTime(tc.ms) {
			t.Errorf("AppendTime(%d) = %s, want %s (time.Format %s)", tc.ms, got, tc.want, wireTime(tc.ms))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ms := range []int64{math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1} {
		if got, want := string(AppendTime(nil, ms)), wireTime(ms); got != want {
			t.Errorf("AppendTime(%d) = %s, want %s", ms, got, want)
		}
	}
	for range 20000 {
		ms := rng.Int64N(2*maxTimestamp) - maxTimestamp
		if rng.IntN(10) == 0 {
			ms = int64(rng.Uint64())
		}
		if got, want := string(AppendTime(nil, ms)), wireTime(ms); got != want {
			t.Fatalf("AppendTime(%d) = %s, want %s", ms, got, want)
		}
		if ms >= 0 && ms <= maxTimestamp {
			if back, ok := ParseTimestamp(AppendTime(nil, ms)); !ok || back != ms {
				t.Fatalf("ParseTimestamp(AppendTime(%d)) = %d, %v", ms, back, ok)
			}
		}
	}
}

func TestEncodeEventAllocs(t *testing.T) {
	for _, g := range goldenEvents {
		buf := make([]byte, 0, 1024)
		if n := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], &g.ev) }); n != 0 {
			t.Errorf("AppendEvent(%s): %v allocations, want 0", g.name, n)
		}
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef", uint8(EvCarLocated), "W-1001", "O-77", uint8(KindDelivery),
		"WAUZZZ4G0FN000001", "", int64(baseTS), int64(baseTS+1), true, 48.137154, 11.576124, int64(0x8b1f8d2d4b5bfff),
		27.35, uint8(True), "", false, "", int64(0), int64(0), "")
	f.Add("7", uint8(EvUnlockEligible), "W \"q\" \\", "<&>\u2028", uint8(KindReturn), "ctl\x00\x1f\xff",
		"Zürich", int64(-1), int64(math.MaxInt64), false, 0.0, 0.0, int64(-1), 0.0, uint8(Unknown),
		"reason\n", true, "g\u2029", int64(math.MinInt64), int64(maxTimestamp), "tok.en")
	f.Fuzz(func(t *testing.T, id string, typ uint8, windowID, orderID string, kind uint8, vin, courierID string,
		ts, emittedAt int64, hasPos bool, lat, lng float64, h3 int64, distance float64, inside uint8,
		reason string, hasGrant bool, grantID string, notBefore, expiresAt int64, token string) {
		ev := Event{ID: id, Type: EventType(typ), WindowID: windowID, OrderID: orderID, Kind: Kind(kind),
			VIN: vin, CourierID: courierID, TS: ts, EmittedAt: emittedAt, HasPos: hasPos, Lat: lat, Lng: lng,
			H3: h3, DistanceM: distance, Inside: Tri(inside % 3), Reason: reason}
		if hasGrant {
			ev.Grant = &Grant{ID: grantID, NotBefore: notBefore, ExpiresAt: expiresAt, Token: token}
		}
		checkEventRoundTrip(t, &ev, AppendEvent(nil, &ev))
	})
}
