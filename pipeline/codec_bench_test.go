package pipeline

import "testing"

var (
	benchCarPing        = []byte(`{"vin":"WAUZZZ4G0FN000001","ts":1795515303120,"lat":48.137154,"lng":11.576124,"speed_kmh":0,"heading_deg":270,"accuracy_m":6.5,"ignition":false,"trunk":"closed","locked":true}`)
	benchCarPingRFC3339 = []byte(`{"vin":"WAUZZZ4G0FN000001","ts":"2026-11-24T10:15:03.120Z","lat":48.137154,"lng":11.576124,"speed_kmh":0,"heading_deg":270,"accuracy_m":6.5,"ignition":false,"trunk":"closed","locked":true}`)
)

func benchmarkDecodeCarPing(b *testing.B, data []byte) {
	var p CarPing
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := DecodeCarPing(&p, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCarPing(b *testing.B)        { benchmarkDecodeCarPing(b, benchCarPing) }
func BenchmarkDecodeCarPingRFC3339(b *testing.B) { benchmarkDecodeCarPing(b, benchCarPingRFC3339) }

// BenchmarkDecodeCarPingReference measures the encoding/json reference
// decoder on the same ping, for comparison.
func BenchmarkDecodeCarPingReference(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchCarPingRFC3339)))
	for b.Loop() {
		if _, err := refDecodeCarPing(benchCarPingRFC3339); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCourierPing(b *testing.B) {
	data := obj(courierBase)
	var p CourierPing
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := DecodeCourierPing(&p, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeWindow(b *testing.B) {
	data := obj(windowBase)
	var w Window
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := DecodeWindow(&w, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRoute(b *testing.B) {
	data := obj(routeBase)
	var r Route
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := DecodeRoute(&r, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTimestamp(b *testing.B) {
	ts := []byte("2026-11-24T11:15:03.120+01:00")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseTimestamp(ts); !ok {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	ev := &goldenEvents[1].ev // car_located with a position
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], ev)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkPeekCarPing measures the consent read of a car ping: its vin
// and ts, the rest left unread.
func BenchmarkPeekCarPing(b *testing.B) {
	var dst []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(benchCarPing)))
	for b.Loop() {
		var ok bool
		if dst, _, ok = PeekCarPing(dst, benchCarPing); !ok {
			b.Fatal("declined")
		}
	}
}
