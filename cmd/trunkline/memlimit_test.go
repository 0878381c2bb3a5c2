package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trunkline/trunkline/pipeline"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want byteSize
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "123", want: 123},
		{in: "512B", want: 512},
		{in: "64KiB", want: 64 << 10},
		{in: "900MiB", want: 900 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "", bad: true},
		{in: "MiB", bad: true},
		{in: "1.5GiB", bad: true},
		{in: "1GB", bad: true},
		{in: "9000000TiB", bad: true},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseByteSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			continue
		}
		// String gives back a size that parses to the same value.
		if back, err := parseByteSize(got.String()); err != nil || back != got {
			t.Errorf("parseByteSize(%q.String() = %q) = %d, %v", tt.in, got.String(), back, err)
		}
	}
}

// TestRunMemoryLimit: memory_limit comes from the file, the flag overrides
// it, and the printed configuration holds it in a form that loads again.
func TestRunMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mem.yaml")
	if err := os.WriteFile(file, []byte("memory_limit: 1GiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	negative := filepath.Join(dir, "negative.yaml")
	if err := os.WriteFile(negative, []byte("memory_limit: -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("k", 32)
	tests := []struct {
		name      string
		args      []string
		code      int
		want      byteSize
		stderrHas string
	}{
		{name: "default", code: exitOK, want: 0},
		{name: "file", args: []string{"--config", file}, code: exitOK, want: 1 << 30},
		{name: "flag overrides file", args: []string{"--config", file, "--memory-limit", "900MiB"}, code: exitOK, want: 900 << 20},
		{name: "flag not a size", args: []string{"--memory-limit", "lots"}, code: exitUsage, stderrHas: "not a size"},
		{name: "negative", args: []string{"--config", negative}, code: exitFail, stderrHas: "memory_limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := checkConfig(t, key, tt.args, tt.code, tt.stderrHas)
			if !ok {
				return
			}
			if got.MemoryLimit != tt.want {
				t.Errorf("memory_limit %v, want %v", got.MemoryLimit, tt.want)
			}
		})
	}
}

// TestRunGCPercent: gc_percent defaults to pipeline.DefaultGCPercent, comes
// from the file, the flag overrides it, and values that would collect
// constantly or let the heap grow without bound are refused with what to
// set instead.
func TestRunGCPercent(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	file := write("gc.yaml", "gc_percent: 150\n")
	offLimited := write("off-limited.yaml", "gc_percent: -1\nmemory_limit: 900MiB\n")
	offUnbounded := write("off.yaml", "gc_percent: -1\n")
	key := strings.Repeat("k", 32)
	tests := []struct {
		name      string
		args      []string
		code      int
		want      int
		stderrHas string
	}{
		{name: "default", code: exitOK, want: pipeline.DefaultGCPercent},
		{name: "file", args: []string{"--config", file}, code: exitOK, want: 150},
		{name: "flag overrides file", args: []string{"--config", file, "--gc-percent", "100"}, code: exitOK, want: 100},
		{name: "off with a memory limit", args: []string{"--config", offLimited}, code: exitOK, want: -1},
		{name: "off without a memory limit", args: []string{"--config", offUnbounded}, code: exitFail, stderrHas: "needs memory_limit"},
		{name: "off, limit from the flag", args: []string{"--config", offUnbounded, "--memory-limit", "1GiB"}, code: exitOK, want: -1},
		{name: "too small", args: []string{"--gc-percent", "0"}, code: exitFail, stderrHas: "gc_percent 0"},
		{name: "flag not a number", args: []string{"--gc-percent", "lots"}, code: exitUsage, stderrHas: "gc-percent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := checkConfig(t, key, tt.args, tt.code, tt.stderrHas)
			if !ok {
				return
			}
			if got.GCPercent != tt.want {
				t.Errorf("gc_percent %d, want %d", got.GCPercent, tt.want)
			}
		})
	}
}

// checkConfig runs `run --check-config args` with the grant key set, checks
// the exit code and that stderr holds stderrHas, and returns the printed
// configuration loaded back; ok is false when the run was meant to fail.
func checkConfig(t *testing.T, key string, args []string, wantCode int, stderrHas string) (got Config, ok bool) {
	t.Helper()
	code, stdout, stderr := runInProcess(t, map[string]string{envGrantKey: key}, append([]string{"run", "--check-config"}, args...)...)
	if code != wantCode {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, stdout, stderr)
	}
	if !strings.Contains(stderr, stderrHas) {
		t.Errorf("stderr lacks %q:\n%s", stderrHas, stderr)
	}
	if code != exitOK {
		return got, false
	}
	if err := decodeConfig([]byte(stdout), &got); err != nil {
		t.Fatalf("printed configuration does not load: %v\n%s", err, stdout)
	}
	return got, true
}
