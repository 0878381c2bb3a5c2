package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRunCheckConfig(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "brokers: [file-1:9092]\ngroup: file-group\nhttp:\n  addr: 127.0.0.1:9000\n")
	unknown := write("unknown.yaml", "group: g\nengine:\n  arival_radius_m: 20\n")
	invalid := write("invalid.yaml", "engine:\n  arrival_radius_m: 500\n")
	pprofOn := write("pprof.yaml", "http:\n  pprof: true\n")

	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		code        int
		stderrHas   []string
		wantBrokers []string
		wantGroup   string
		wantHTTP    string
		wantPProf   bool
	}{
		{
			name: "defaults with a key", env: map[string]string{envGrantKey: key},
			code: exitOK, wantBrokers: []string{"127.0.0.1:9092"}, wantGroup: "trunkline", wantHTTP: "127.0.0.1:8080",
		},
		{
			name: "file", env: map[string]string{envGrantKey: key}, args: []string{"--config", good},
			code: exitOK, wantBrokers: []string{"file-1:9092"}, wantGroup: "file-group", wantHTTP: "127.0.0.1:9000",
		},
		{
			name: "environment overrides file", env: map[string]string{envGrantKey: key, envBrokers: "env-1:9092,env-2:9092"},
			args: []string{"--config", good},
			code: exitOK, wantBrokers: []string{"env-1:9092", "env-2:9092"}, wantGroup: "file-group", wantHTTP: "127.0.0.1:9000",
		},
		{
			name: "flags override environment and file", env: map[string]string{envGrantKey: key, envBrokers: "env-1:9092"},
			args: []string{"--config", good, "--brokers", "flag-1:9092,flag-2:9092", "--group", "flag-group", "--http", "127.0.0.1:0"},
			code: exitOK, wantBrokers: []string{"flag-1:9092", "flag-2:9092"}, wantGroup: "flag-group", wantHTTP: "127.0.0.1:0",
		},
		{
			name: "pprof flag", env: map[string]string{envGrantKey: key}, args: []string{"--pprof"},
			code: exitOK, wantBrokers: []string{"127.0.0.1:9092"}, wantGroup: "trunkline", wantHTTP: "127.0.0.1:8080", wantPProf: true,
		},
		{
			name: "pprof from file", env: map[string]string{envGrantKey: key}, args: []string{"--config", pprofOn},
			code: exitOK, wantBrokers: []string{"127.0.0.1:9092"}, wantGroup: "trunkline", wantHTTP: "127.0.0.1:8080", wantPProf: true,
		},
		{
			name: "pprof flag overrides file", env: map[string]string{envGrantKey: key}, args: []string{"--config", pprofOn, "--pprof=false"},
			code: exitOK, wantBrokers: []string{"127.0.0.1:9092"}, wantGroup: "trunkline", wantHTTP: "127.0.0.1:8080",
		},
		{
			name: "no grant key", code: exitFail,
			stderrHas: []string{"no grant key", "TRUNKLINE_GRANT_KEY", "openssl rand"},
		},
		{
			name: "short grant key", env: map[string]string{envGrantKey: "short"}, code: exitFail,
			stderrHas: []string{"shorter than 16 bytes"},
		},
		{
			name: "unknown key in file", env: map[string]string{envGrantKey: key}, args: []string{"--config", unknown},
			code: exitFail, stderrHas: []string{"field arival_radius_m not found"},
		},
		{
			name: "invalid value in file", env: map[string]string{envGrantKey: key}, args: []string{"--config", invalid},
			code: exitFail, stderrHas: []string{"departure_radius_m"},
		},
		{
			name: "missing file", env: map[string]string{envGrantKey: key}, args: []string{"--config", filepath.Join(dir, "none.yaml")},
			code: exitFail, stderrHas: []string{"cannot read config"},
		},
		{
			name: "empty broker list", env: map[string]string{envGrantKey: key}, args: []string{"--brokers", " , "},
			code: exitFail, stderrHas: []string{"brokers is empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runInProcess(t, tt.env, append([]string{"run", "--check-config"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if strings.Contains(stdout+stderr, key) {
				t.Errorf("the grant key was printed")
			}
			if tt.code != exitOK {
				return
			}
			// The printed configuration is a valid configuration file.
			var got Config
			if err := decodeConfig([]byte(stdout), &got); err != nil {
				t.Fatalf("printed configuration does not load: %v\n%s", err, stdout)
			}
			if !slices.Equal(got.Brokers, tt.wantBrokers) || got.Group != tt.wantGroup || got.HTTP.Addr != tt.wantHTTP || got.HTTP.PProf != tt.wantPProf {
				t.Errorf("effective brokers %q group %q http %q pprof %v, want %q %q %q %v",
					got.Brokers, got.Group, got.HTTP.Addr, got.HTTP.PProf, tt.wantBrokers, tt.wantGroup, tt.wantHTTP, tt.wantPProf)
			}
		})
	}
}

// TestRunRefusesWithoutGrantKey checks the process-level behaviour: run
// without TRUNKLINE_GRANT_KEY exits 1 before connecting anywhere.
func TestRunRefusesWithoutGrantKey(t *testing.T) {
	code, _, stderr := runProc(t, nil, "run", "--brokers", "127.0.0.1:1", "--http", "127.0.0.1:0")
	if code != exitFail || !strings.Contains(stderr, envGrantKey) {
		t.Fatalf("exit code %d, want 1 with a hint about %s; stderr:\n%s", code, envGrantKey, stderr)
	}
}
