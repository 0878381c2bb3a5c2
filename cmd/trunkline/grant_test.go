package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/trunkline/trunkline/pipeline"
)

func TestGrantVerify(t *testing.T) {
	const key = "grant-key-0123456789abcdef"
	now := time.Date(2026, 11, 24, 10, 40, 0, 0, time.UTC)
	claims := pipeline.GrantClaims{
		WindowID: "W-1001", VIN: "WAUZZZ4G0FN000001", CourierID: "DHL-4711", GrantID: "g-77",
		NotBefore: now.Add(-time.Minute).UnixMilli(), ExpiresAt: now.Add(time.Minute).UnixMilli(),
	}
	token := pipeline.SignGrant([]byte(key), claims)
	// Tampering: a different VIN under the original signature.
	other := claims
	other.VIN = "WAUZZZ4G0FN000002"
	payload := strings.Split(pipeline.SignGrant([]byte(key), other), ".")[1]
	parts := strings.Split(token, ".")
	tampered := parts[0] + "." + payload + "." + parts[2]

	tests := []struct {
		name      string
		env       map[string]string
		at        time.Time
		args      []string
		code      int
		stdoutHas []string
		stderrHas []string
	}{
		{
			name: "valid", env: map[string]string{envGrantKey: key}, at: now, args: []string{token},
			code: exitOK, stdoutHas: []string{"valid", "W-1001", "WAUZZZ4G0FN000001", "DHL-4711", "g-77", "2026-11-24T10:41:00Z"},
		},
		{
			name: "valid at not_before", env: map[string]string{envGrantKey: key}, at: now.Add(-time.Minute), args: []string{token},
			code: exitOK, stdoutHas: []string{"valid"},
		},
		{
			name: "key from another variable", env: map[string]string{"UNLOCK_KEY": key}, at: now,
			args: []string{"--key-env", "UNLOCK_KEY", token}, code: exitOK, stdoutHas: []string{"valid"},
		},
		{
			name: "flag after the token", env: map[string]string{"UNLOCK_KEY": key}, at: now,
			args: []string{token, "--key-env", "UNLOCK_KEY"}, code: exitOK, stdoutHas: []string{"valid"},
		},
		{
			name: "tampered", env: map[string]string{envGrantKey: key}, at: now, args: []string{tampered},
			code: exitFail, stdoutHas: []string{"invalid", "signature mismatch"},
		},
		{
			name: "wrong key", env: map[string]string{envGrantKey: "another-key-0123456789abcdef"}, at: now, args: []string{token},
			code: exitFail, stdoutHas: []string{"invalid", "signature mismatch"},
		},
		{
			name: "expired", env: map[string]string{envGrantKey: key}, at: now.Add(time.Minute), args: []string{token},
			code: exitFail, stdoutHas: []string{"invalid", "grant expired"},
		},
		{
			name: "not yet valid", env: map[string]string{envGrantKey: key}, at: now.Add(-2 * time.Minute), args: []string{token},
			code: exitFail, stdoutHas: []string{"invalid", "not yet valid"},
		},
		{
			name: "malformed", env: map[string]string{envGrantKey: key}, at: now, args: []string{"hello"},
			code: exitFail, stdoutHas: []string{"invalid", "malformed"},
		},
		{
			name: "key variable unset", at: now, args: []string{token},
			code: exitUsage, stderrHas: []string{"TRUNKLINE_GRANT_KEY is not set"},
		},
		{
			name: "two tokens", env: map[string]string{envGrantKey: key}, at: now, args: []string{token, token},
			code: exitUsage, stderrHas: []string{"unexpected argument"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return tt.env[k] }, now: func() time.Time { return tt.at }}
			code := runMain(t.Context(), e, append([]string{"grant", "verify"}, tt.args...))
			if code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
			for _, s := range tt.stdoutHas {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			if all := out.String() + errb.String(); strings.Contains(all, token) || strings.Contains(all, key) {
				t.Errorf("the token or the key was printed:\n%s", all)
			}
		})
	}
}

// TestGrantVerifyExitCodes checks the exit codes of the real process,
// against the real clock.
func TestGrantVerifyExitCodes(t *testing.T) {
	t.Parallel()
	const key = "grant-key-0123456789abcdef"
	now := time.Now()
	token := pipeline.SignGrant([]byte(key), pipeline.GrantClaims{
		WindowID: "W-1", VIN: "V1", CourierID: "C1", GrantID: "G1",
		NotBefore: now.Add(-time.Hour).UnixMilli(), ExpiresAt: now.Add(time.Hour).UnixMilli(),
	})
	for _, tt := range []struct {
		name string
		key  string
		code int
	}{
		{"valid", key, exitOK},
		{"wrong key", key + "x", exitFail},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runProc(t, []string{envGrantKey + "=" + tt.key}, "grant", "verify", token)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
		})
	}
}
