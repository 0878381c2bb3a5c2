package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// testGrantKey signs the golden token and the fuzz corpus.
var testGrantKey = []byte("trunkline-test-grant-key-32bytes")

var testClaims = GrantClaims{
	WindowID:  "W-1001",
	VIN:       "WAUZZZ4G0FN000001",
	CourierID: "DHL-4711",
	GrantID:   "G-W-1001-1",
	NotBefore: 1764000000000, // 2025-11-24T16:00:00Z
	ExpiresAt: 1764000120000, // 120 s later
}

// goldenGrantToken is testClaims signed with testGrantKey. It was checked
// independently:
//
//	printf %s "tg1.<payload>" | openssl dgst -sha256 -hmac "$KEY" -binary | base64 | tr +/ -_ | tr -d =
//
// Carmakers can use it as a test vector for their verifiers.
const goldenGrantToken = "tg1.eyJ3IjoiVy0xMDAxIiwidiI6IldBVVpaWjRHMEZOMDAwMDAxIiwiYyI6IkRITC00NzExIiwiZyI6IkctVy0xMDAxLTEiLCJuYmYiOjE3NjQwMDAwMDAwMDAsImV4cCI6MTc2NDAwMDEyMDAwMH0" +
	".4EDm-56tg57jQVCsSEh8ljGbP1XMZrJ_xdLopW742iE"

func TestSignGrantGolden(t *testing.T) {
	if got := SignGrant(testGrantKey, testClaims); got != goldenGrantToken {
		t.Fatalf("SignGrant =\n%s\nwant\n%s", got, goldenGrantToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(goldenGrantToken, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"w":"W-1001","v":"WAUZZZ4G0FN000001","c":"DHL-4711","g":"G-W-1001-1","nbf":1764000000000,"exp":1764000120000}`
	if string(payload) != wantJSON {
		t.Fatalf("payload = %s, want %s", payload, wantJSON)
	}
}

// signRawGrant signs an arbitrary payload the way SignGrant does, to build
// tokens whose signature is right and whose claims are not.
func signRawGrant(key []byte, payload string) string {
	signed := grantPrefix + base64.RawURLEncoding.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// withPayload replaces the payload of token, keeping its signature.
func withPayload(token, payload string) string {
	parts := strings.Split(token, ".")
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + parts[2]
}

// withSignature replaces the signature of token.
func withSignature(token, sig string) string {
	return token[:strings.LastIndexByte(token, '.')+1] + sig
}

var grantErrors = []error{ErrGrantMalformed, ErrGrantSignature, ErrGrantExpired, ErrGrantNotYetValid, ErrGrantNoKey}

func TestVerifyGrant(t *testing.T) {
	valid := SignGrant(testGrantKey, testClaims)
	parts := strings.Split(valid, ".")
	nbf, exp := testClaims.NotBefore, testClaims.ExpiresAt
	otherVIN := strings.Replace(`{"w":"W-1001","v":"WAUZZZ4G0FN000001","c":"DHL-4711","g":"G-W-1001-1","nbf":1764000000000,"exp":1764000120000}`,
		"WAUZZZ4G0FN000001", "WAUZZZ4G0FN000002", 1)
	longer := strings.Replace(`{"w":"W-1001","v":"WAUZZZ4G0FN000001","c":"DHL-4711","g":"G-W-1001-1","nbf":1764000000000,"exp":1764000120000}`,
		"1764000120000", "1764999999999", 1)
	// The first signature character flipped: the bytes change, the length
	// and the padding bits do not.
	flipped := "A" + parts[2][1:]
	if parts[2][0] == 'A' {
		flipped = "B" + parts[2][1:]
	}

	tests := []struct {
		name   string
		key    []byte
		token  string
		now    int64
		want   error  // nil: valid
		hint   string // part of the message
		claims bool   // the claims come back with the error
	}{
		{name: "valid at not_before", token: valid, now: nbf},
		{name: "valid a millisecond before expiry", token: valid, now: exp - 1},
		{name: "expired at expires_at", token: valid, now: exp, want: ErrGrantExpired, hint: "new grant", claims: true},
		{name: "expired long ago", token: valid, now: exp + 86_400_000, want: ErrGrantExpired, hint: "24h0m0s before", claims: true},
		{name: "not yet valid", token: valid, now: nbf - 1, want: ErrGrantNotYetValid, hint: "check the verifying clock", claims: true},

		{name: "tampered payload", token: withPayload(valid, otherVIN), now: nbf, want: ErrGrantSignature, hint: "TRUNKLINE_GRANT_KEY"},
		// The signature is checked before the time.
		{name: "tampered expiry", token: withPayload(valid, longer), now: exp + 1000, want: ErrGrantSignature},
		{name: "tampered signature", token: withSignature(valid, flipped), now: nbf, want: ErrGrantSignature},
		{name: "signature of another token", token: withSignature(valid, strings.Split(signRawGrant(testGrantKey, otherVIN), ".")[2]), now: nbf, want: ErrGrantSignature},
		{name: "wrong key", key: []byte("another-key-of-thirty-two-bytes!"), token: valid, now: nbf, want: ErrGrantSignature, hint: "signed with another key"},
		{name: "wrong key, expired", key: []byte("another-key-of-thirty-two-bytes!"), token: valid, now: exp, want: ErrGrantSignature},
		{name: "no key", key: []byte{}, token: valid, now: nbf, want: ErrGrantNoKey, hint: "TRUNKLINE_GRANT_KEY"},

		{name: "empty", token: "", want: ErrGrantMalformed, hint: "empty"},
		{name: "wrong prefix", token: "tg2." + valid[4:], want: ErrGrantMalformed, hint: `"tg1."`},
		{name: "no prefix", token: valid[4:], want: ErrGrantMalformed, hint: `"tg1."`},
		{name: "prefix only", token: "tg1.", want: ErrGrantMalformed, hint: "signature is missing"},
		{name: "signature missing", token: parts[0] + "." + parts[1], want: ErrGrantMalformed, hint: "signature is missing"},
		{name: "signature empty", token: parts[0] + "." + parts[1] + ".", want: ErrGrantMalformed, hint: "signature is empty"},
		{name: "payload empty", token: parts[0] + ".." + parts[2], want: ErrGrantMalformed, hint: "payload is empty"},
		{name: "four parts", token: valid + ".x", want: ErrGrantMalformed, hint: "more than three"},
		{name: "standard base64 alphabet", token: parts[0] + "." + parts[1] + "+/." + parts[2], want: ErrGrantMalformed, hint: "base64url"},
		{name: "padding", token: parts[0] + "." + parts[1] + "==." + parts[2], want: ErrGrantMalformed, hint: "base64url"},
		{name: "line break", token: parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2], want: ErrGrantMalformed, hint: "line breaks"},
		{name: "line break in the signature", token: valid + "\n", want: ErrGrantMalformed, hint: "line breaks"},
		{name: "bad base64 length", token: parts[0] + "." + parts[1] + "AA." + parts[2], want: ErrGrantMalformed, hint: "payload is not unpadded base64url"},
		{name: "bad base64 trailing bits", token: parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "F", want: ErrGrantMalformed, hint: "signature is not unpadded base64url"},
		{name: "short signature", token: parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 16)), want: ErrGrantMalformed, hint: "has 16 bytes"},

		{name: "signed bad JSON", token: signRawGrant(testGrantKey, `{"w":"W-1001",`), now: nbf, want: ErrGrantMalformed, hint: "not the claims JSON"},
		{name: "signed JSON of another type", token: signRawGrant(testGrantKey, `["W-1001"]`), now: nbf, want: ErrGrantMalformed, hint: "not the claims JSON"},
		{name: "signed wrong field type", token: signRawGrant(testGrantKey, `{"w":"W-1001","v":"V","c":"C","g":"G","nbf":"soon","exp":2}`), now: nbf, want: ErrGrantMalformed, hint: "not the claims JSON"},
		{name: "signed non-canonical spacing", token: signRawGrant(testGrantKey, `{"w": "W-1001","v":"WAUZZZ4G0FN000001","c":"DHL-4711","g":"G-W-1001-1","nbf":1764000000000,"exp":1764000120000}`), now: nbf, want: ErrGrantMalformed, hint: "canonical"},
		{name: "signed keys reordered", token: signRawGrant(testGrantKey, `{"v":"WAUZZZ4G0FN000001","w":"W-1001","c":"DHL-4711","g":"G-W-1001-1","nbf":1764000000000,"exp":1764000120000}`), now: nbf, want: ErrGrantMalformed, hint: "canonical"},
		{name: "signed unknown claim", token: signRawGrant(testGrantKey, `{"w":"W-1001","v":"WAUZZZ4G0FN000001","c":"DHL-4711","g":"G-W-1001-1","nbf":1764000000000,"exp":1764000120000,"admin":true}`), now: nbf, want: ErrGrantMalformed, hint: "canonical"},
		{name: "signed claim missing", token: signRawGrant(testGrantKey, `{"w":"W-1001","v":"WAUZZZ4G0FN000001","g":"G-W-1001-1","nbf":1764000000000,"exp":1764000120000}`), now: nbf, want: ErrGrantMalformed, hint: "canonical"},
		{name: "signed empty courier", token: SignGrant(testGrantKey, GrantClaims{WindowID: "W", VIN: "V", GrantID: "G", NotBefore: 1, ExpiresAt: 2}), now: 1, want: ErrGrantMalformed, hint: `claim "c" (courier id) is empty`},
		{name: "signed expiry before start", token: SignGrant(testGrantKey, GrantClaims{WindowID: "W", VIN: "V", CourierID: "C", GrantID: "G", NotBefore: 2, ExpiresAt: 2}), now: 2, want: ErrGrantMalformed, hint: "no later than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testGrantKey
			if tt.key != nil {
				key = tt.key
			}
			c, err := VerifyGrant(key, tt.token, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyGrant: %v", err)
				}
				if c != testClaims {
					t.Fatalf("claims = %+v, want %+v", c, testClaims)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyGrant error = %v, want %v", err, tt.want)
			}
			for _, other := range grantErrors {
				if other != tt.want && errors.Is(err, other) {
					t.Fatalf("VerifyGrant error %q is also %q", err, other)
				}
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want.Error()) || len(msg) <= len(tt.want.Error())+10 {
				t.Fatalf("message %q does not explain %q", msg, tt.want)
			}
			if !strings.Contains(msg, tt.hint) {
				t.Fatalf("message %q does not contain %q", msg, tt.hint)
			}
			if len(key) > 0 && strings.Contains(msg, string(key)) || strings.Contains(msg, string(testGrantKey)) {
				t.Fatalf("message %q contains the key", msg)
			}
			if tt.claims && c != testClaims {
				t.Fatalf("claims = %+v, want the authenticated %+v", c, testClaims)
			}
			if !tt.claims && c != (GrantClaims{}) {
				t.Fatalf("claims %+v returned with %v", c, err)
			}
		})
	}
}

func TestSignGrantRoundTrip(t *testing.T) {
	tests := []GrantClaims{
		testClaims,
		{WindowID: "W-1", VIN: "V", CourierID: "C", GrantID: "G", NotBefore: -5, ExpiresAt: 0},
		{WindowID: `quote " backslash \ <html> & ünïcödé`, VIN: "WAUZZZ4G0FN000001", CourierID: "c/1", GrantID: "g.1", NotBefore: 0, ExpiresAt: 1<<62 + 1},
		{WindowID: strings.Repeat("W", 1000), VIN: "V", CourierID: "C", GrantID: "G", NotBefore: 1, ExpiresAt: 2},
	}
	for _, c := range tests {
		tok := SignGrant(testGrantKey, c)
		got, err := VerifyGrant(testGrantKey, tok, c.NotBefore)
		if err != nil {
			t.Fatalf("VerifyGrant(SignGrant(%+v)): %v", c, err)
		}
		if got != c {
			t.Fatalf("round trip: %+v, want %+v", got, c)
		}
	}
}

// FuzzVerifyGrant checks that VerifyGrant never panics, that every error is
// one of the documented ones and never shows the key, and that a token it
// accepts is exactly the token SignGrant makes of its claims: one grant, one
// token. The seed corpus in testdata/fuzz/FuzzVerifyGrant holds tokens
// signed with testGrantKey, so the fuzzer mutates valid tokens.
func FuzzVerifyGrant(f *testing.F) {
	f.Add(goldenGrantToken, testClaims.NotBefore)
	f.Add("", int64(0))
	f.Fuzz(func(t *testing.T, token string, now int64) {
		c, err := VerifyGrant(testGrantKey, token, now)
		if err != nil {
			known := false
			for _, e := range grantErrors {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("undocumented error %v", err)
			}
			if strings.Contains(err.Error(), string(testGrantKey)) {
				t.Fatalf("error %q contains the key", err)
			}
			if !errors.Is(err, ErrGrantExpired) && !errors.Is(err, ErrGrantNotYetValid) {
				if c != (GrantClaims{}) {
					t.Fatalf("claims %+v returned with %v", c, err)
				}
				return
			}
		} else if now < c.NotBefore || now >= c.ExpiresAt {
			t.Fatalf("accepted at %d a grant valid from %d until %d", now, c.NotBefore, c.ExpiresAt)
		}
		// Authentic claims: the token is the one SignGrant makes.
		if again := SignGrant(testGrantKey, c); again != token {
			t.Fatalf("accepted token %q re-signs as %q", token, again)
		}
	})
}
