package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// The differential fuzz targets feed the same bytes to a fast decoder and to
// its reference (decode_ref_test.go): neither may panic, both must accept or
// reject alike with the same reason and field, and when they accept they must
// agree on every field. The fast decoder decodes into a value left over from
// an earlier record, so state leaking from one decode into the next shows up
// as a difference. Seeds: testdata/fuzz/<target>/ and the golden vectors.

// checkSameOutcome fails t unless err and refErr are both nil or both
// *DecodeError with the same reason and field. It reports whether both
// decoders accepted.
func checkSameOutcome(t *testing.T, data []byte, err, refErr error) bool {
	t.Helper()
	if err == nil && refErr == nil {
		return true
	}
	var de, rde *DecodeError
	if !errors.As(err, &de) || !errors.As(refErr, &rde) ||
		de.Reason != rde.Reason || de.Field != rde.Field {
		t.Fatalf("input %q:\nfast:      %v\nreference: %v", data, err, refErr)
	}
	if de.Msg == "" {
		t.Fatalf("input %q: error without a message: %v", data, err)
	}
	return false
}

func addGoldenSeeds(f *testing.F, file string) {
	for _, c := range readGolden(f, file) {
		f.Add(c.input())
	}
}

func FuzzDecodeCarPing(f *testing.F) {
	addGoldenSeeds(f, "car_pings.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		p := dirtyCarPing()
		err := DecodeCarPing(p, data)
		ref, refErr := refDecodeCarPing(data)
		if checkSameOutcome(t, data, err, refErr) && !carPingsEqual(p, ref) {
			t.Fatalf("input %q:\nfast:      %+v\nreference: %+v", data, *p, *ref)
		}
	})
}

func FuzzDecodeCourierPing(f *testing.F) {
	addGoldenSeeds(f, "courier_pings.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		p := CourierPing{CourierID: "OLD", TS: 9, Lat: 9, Lng: 9, SpeedKmh: 9, AccuracyM: 9, HasSpeed: true, HasAccuracy: true}
		err := DecodeCourierPing(&p, data)
		ref, refErr := refDecodeCourierPing(data)
		if checkSameOutcome(t, data, err, refErr) && p != *ref {
			t.Fatalf("input %q:\nfast:      %+v\nreference: %+v", data, p, *ref)
		}
	})
}

func FuzzDecodeWindow(f *testing.F) {
	addGoldenSeeds(f, "windows.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		w := Window{ID: "OLD", OrderID: "OLD", Kind: KindReturn, VIN: "OLD", Start: 9, End: 9, Lat: 9, Lng: 9, RadiusM: 9}
		err := DecodeWindow(&w, data)
		ref, refErr := refDecodeWindow(data)
		if checkSameOutcome(t, data, err, refErr) && w != *ref {
			t.Fatalf("input %q:\nfast:      %+v\nreference: %+v", data, w, *ref)
		}
	})
}

func FuzzDecodeRoute(f *testing.F) {
	addGoldenSeeds(f, "routes.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Route{CourierID: "OLD", Stops: []Stop{{"OLD", 9}, {"OLD", 9}}}
		err := DecodeRoute(&r, data)
		ref, refErr := refDecodeRoute(data)
		if checkSameOutcome(t, data, err, refErr) && !routesEqual(&r, ref) {
			t.Fatalf("input %q:\nfast:      %+v\nreference: %+v", data, r, *ref)
		}
	})
}

// FuzzParseTimestamp checks ParseTimestamp against its time.Parse reference.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2026-11-24T10:15:03.120Z", "2026-11-24T11:15:03.120999+01:00",
		"1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "2028-02-29T23:59:59-23:59",
		"2026-11-24T10:15:03,1Z", "2026-11-24T24:00:00Z", "2026-11-24T10:15:03+24:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseTimestamp([]byte(s))
		want, wantOK := refParseTimestamp(s)
		if ok != wantOK || got != want {
			t.Fatalf("ParseTimestamp(%q) = %d, %v; reference %d, %v", s, got, ok, want, wantOK)
		}
	})
}

// refFirstMembers is the reference of what PeekCarPing reads: the first
// occurrence of every member of a JSON object (a later duplicate does not
// count, as PeekCarPing stops at the first vin and ts). err is refObject's
// for input that is not a well-formed object.
func refFirstMembers(data []byte) (map[string]json.RawMessage, error) {
	if _, err := refObject(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		panic("valid JSON object without '{': " + err.Error())
	}
	m := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			panic("valid JSON object without a key: " + err.Error())
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			panic("valid JSON object without a value: " + err.Error())
		}
		if key := tok.(string); m[key] == nil {
			m[key] = raw
		}
	}
	return m, nil
}

func FuzzPeekCarPing(f *testing.F) {
	addGoldenSeeds(f, "car_pings.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		vin, ts, ok := PeekCarPing([]byte("DIRTYDIRTYDIRTY00"), data)
		m, err := refFirstMembers(data)
		if err != nil {
			return // PeekCarPing may read a vin and ts before the error
		}
		refVIN, vinErr := refID(m, "vin", "vin")
		refTS, tsErr := refRequiredTimestamp(m, "ts")
		switch {
		case ok && (vinErr != nil || tsErr != nil):
			t.Fatalf("input %q: peek read vin %q ts %d, reference: %v, %v", data, vin, ts, vinErr, tsErr)
		case ok && (string(vin) != refVIN || ts != refTS):
			t.Fatalf("input %q: peek read vin %q ts %d, reference vin %q ts %d", data, vin, ts, refVIN, refTS)
		case !ok && vinErr == nil && tsErr == nil:
			// It may decline only what DecodeCarPing then rejects, or
			// input with bytes >= 0x80, which it leaves to DecodeCarPing.
			if DecodeCarPing(dirtyCarPing(), data) == nil && !bytes.ContainsFunc(data, func(r rune) bool { return r >= 0x80 }) {
				t.Fatalf("input %q: peek declined, reference vin %q ts %d", data, refVIN, refTS)
			}
		}
	})
}
