package pipeline

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A grant token proves that trunkline granted a courier one-time access to a
// car's boot. The carmaker's unlock service verifies it offline with the
// shared key; so does `trunkline grant verify`.
//
// Format (version 1):
//
//	tg1.<payload>.<signature>
//
// payload is the unpadded base64url encoding of the compact JSON
//
//	{"w":"<window id>","v":"<VIN>","c":"<courier id>","g":"<grant id>","nbf":<ms>,"exp":<ms>}
//
// with the keys in that order and times in Unix milliseconds, as Go's
// encoding/json writes it. signature is the unpadded base64url encoding of
// HMAC-SHA256(key, "tg1." + payload), over the text exactly as it appears in
// the token. A token is valid from nbf (inclusive) until exp (exclusive).
//
// A verifier checks, in this order: the envelope (prefix, parts, alphabet,
// base64, signature length), the signature, the claims (canonical JSON,
// every claim present), and last the time. A token that was tampered with is
// therefore reported as a signature mismatch even when it has also expired.
const grantPrefix = "tg1."

// Errors of VerifyGrant. The returned errors wrap one of these and say what
// is wrong and what to do; test with errors.Is.
var (
	ErrGrantMalformed   = errors.New("malformed grant token")
	ErrGrantSignature   = errors.New("grant signature mismatch")
	ErrGrantExpired     = errors.New("grant expired")
	ErrGrantNotYetValid = errors.New("grant not yet valid")
	ErrGrantNoKey       = errors.New("no grant key")
)

// GrantClaims are the signed contents of a grant token. Times are Unix
// milliseconds.
type GrantClaims struct {
	WindowID, VIN, CourierID, GrantID string
	NotBefore, ExpiresAt              int64
}

// grantPayload is the wire form of GrantClaims; the field order is the key
// order of the token's JSON.
type grantPayload struct {
	W   string `json:"w"`
	V   string `json:"v"`
	C   string `json:"c"`
	G   string `json:"g"`
	NBF int64  `json:"nbf"`
	EXP int64  `json:"exp"`
}

var grantEncoding = base64.RawURLEncoding.Strict()

// SignGrant returns the token of c signed with key. It does not validate c:
// VerifyGrant rejects tokens with an empty claim or with ExpiresAt not after
// NotBefore. key is the shared secret (EngineConfig.GrantKey, 16 bytes or
// more); it is only read. SignGrant is safe for concurrent use.
func SignGrant(key []byte, c GrantClaims) string {
	payload, err := json.Marshal(grantPayload{
		W: c.WindowID, V: c.VIN, C: c.CourierID, G: c.GrantID,
		NBF: c.NotBefore, EXP: c.ExpiresAt,
	})
	if err != nil { // strings and integers always marshal
		panic("cannot encode grant claims: " + err.Error())
	}
	n := len(grantPrefix) + grantEncoding.EncodedLen(len(payload)) + 1 + grantEncoding.EncodedLen(sha256.Size)
	tok := make([]byte, 0, n)
	tok = append(tok, grantPrefix...)
	tok = grantEncoding.AppendEncode(tok, payload)
	sig := grantMAC(key, tok)
	tok = append(tok, '.')
	tok = grantEncoding.AppendEncode(tok, sig)
	return string(tok)
}

// grantMAC returns HMAC-SHA256(key, signed).
func grantMAC(key, signed []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(signed)
	return m.Sum(nil)
}

// VerifyGrant checks token against key at time now (Unix milliseconds) and
// returns its claims. The error wraps ErrGrantNoKey, ErrGrantMalformed,
// ErrGrantSignature, ErrGrantExpired or ErrGrantNotYetValid. Claims are
// returned only once the signature has been checked: with a nil error, or
// with ErrGrantExpired or ErrGrantNotYetValid (the claims are authentic, the
// time is wrong). Errors never contain the key.
//
// Any token VerifyGrant accepts is exactly the token SignGrant makes of its
// claims. VerifyGrant is safe for concurrent use.
func VerifyGrant(key []byte, token string, now int64) (GrantClaims, error) {
	if len(key) == 0 {
		return GrantClaims{}, fmt.Errorf("%w: set TRUNKLINE_GRANT_KEY to the key the grant was signed with", ErrGrantNoKey)
	}
	p64, s64, err := splitGrant(token)
	if err != nil {
		return GrantClaims{}, err
	}
	payload, err := grantEncoding.DecodeString(p64)
	if err != nil {
		return GrantClaims{}, fmt.Errorf("%w: the payload is not unpadded base64url (%v): copy the whole token", ErrGrantMalformed, err)
	}
	sig, err := grantEncoding.DecodeString(s64)
	if err != nil {
		return GrantClaims{}, fmt.Errorf("%w: the signature is not unpadded base64url (%v): copy the whole token", ErrGrantMalformed, err)
	}
	if len(sig) != sha256.Size {
		return GrantClaims{}, fmt.Errorf("%w: the signature has %d bytes, an HMAC-SHA256 has %d: copy the whole token", ErrGrantMalformed, len(sig), sha256.Size)
	}

	signed := token[:len(grantPrefix)+len(p64)]
	if !hmac.Equal(grantMAC(key, []byte(signed)), sig) {
		return GrantClaims{}, fmt.Errorf("%w: the token was altered or signed with another key; check TRUNKLINE_GRANT_KEY", ErrGrantSignature)
	}

	c, err := decodeGrantClaims(payload)
	if err != nil {
		return GrantClaims{}, err
	}

	switch {
	case now < c.NotBefore:
		return c, fmt.Errorf("%w: it is valid from %s, %v after %s; check the verifying clock",
			ErrGrantNotYetValid, grantTime(c.NotBefore), time.Duration(c.NotBefore-now)*time.Millisecond, grantTime(now))
	case now >= c.ExpiresAt:
		return c, fmt.Errorf("%w at %s, %v before %s; the courier needs a new grant",
			ErrGrantExpired, grantTime(c.ExpiresAt), time.Duration(now-c.ExpiresAt)*time.Millisecond, grantTime(now))
	}
	return c, nil
}

// splitGrant checks the envelope of token and returns its payload and
// signature parts, still encoded.
func splitGrant(token string) (payload, sig string, err error) {
	if token == "" {
		return "", "", fmt.Errorf("%w: the token is empty: pass the token of an unlock_eligible grant", ErrGrantMalformed)
	}
	rest, ok := strings.CutPrefix(token, grantPrefix)
	if !ok {
		return "", "", fmt.Errorf("%w: it does not start with %q: this is not a trunkline grant token (or one of a newer version)", ErrGrantMalformed, grantPrefix)
	}
	// base64 decoding skips line breaks, which the signature does not cover:
	// accept the alphabet only, so that one grant has exactly one token.
	for i := 0; i < len(rest); i++ {
		if b := rest[i]; !isBase64URL(b) && b != '.' {
			return "", "", fmt.Errorf("%w: byte %d is %q, a token is base64url text and dots: copy it without spaces or line breaks", ErrGrantMalformed, len(grantPrefix)+i, b)
		}
	}
	payload, sig, ok = strings.Cut(rest, ".")
	switch {
	case !ok:
		return "", "", fmt.Errorf("%w: the signature is missing: a token is tg1.PAYLOAD.SIGNATURE; copy the whole token", ErrGrantMalformed)
	case strings.IndexByte(sig, '.') >= 0:
		return "", "", fmt.Errorf("%w: it has more than three dot-separated parts: a token is tg1.PAYLOAD.SIGNATURE", ErrGrantMalformed)
	case payload == "":
		return "", "", fmt.Errorf("%w: the payload is empty: a token is tg1.PAYLOAD.SIGNATURE", ErrGrantMalformed)
	case sig == "":
		return "", "", fmt.Errorf("%w: the signature is empty: a token is tg1.PAYLOAD.SIGNATURE; copy the whole token", ErrGrantMalformed)
	}
	return payload, sig, nil
}

func isBase64URL(b byte) bool {
	return 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

// decodeGrantClaims parses an authenticated payload. It accepts only the
// canonical form SignGrant writes, so that one grant has exactly one token.
func decodeGrantClaims(payload []byte) (GrantClaims, error) {
	var p grantPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return GrantClaims{}, fmt.Errorf("%w: the payload is not the claims JSON (%v); the signer is not trunkline's", ErrGrantMalformed, err)
	}
	canonical, err := json.Marshal(p)
	if err != nil || !bytes.Equal(canonical, payload) {
		return GrantClaims{}, fmt.Errorf("%w: the claims are not in canonical form (compact JSON, keys w, v, c, g, nbf, exp in this order); sign grants with trunkline", ErrGrantMalformed)
	}
	for _, f := range [...]struct{ key, name, v string }{
		{"w", "window id", p.W}, {"v", "VIN", p.V}, {"c", "courier id", p.C}, {"g", "grant id", p.G},
	} {
		if f.v == "" {
			return GrantClaims{}, fmt.Errorf("%w: claim %q (%s) is empty; sign grants with trunkline", ErrGrantMalformed, f.key, f.name)
		}
	}
	if p.EXP <= p.NBF {
		return GrantClaims{}, fmt.Errorf("%w: it expires (%s) no later than it becomes valid (%s); check the grant TTL", ErrGrantMalformed, grantTime(p.EXP), grantTime(p.NBF))
	}
	return GrantClaims{WindowID: p.W, VIN: p.V, CourierID: p.C, GrantID: p.G, NotBefore: p.NBF, ExpiresAt: p.EXP}, nil
}

// grantTime formats Unix milliseconds as the events do: RFC 3339, UTC,
// milliseconds.
func grantTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
