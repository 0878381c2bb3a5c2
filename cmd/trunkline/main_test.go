package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the trunkline binary TestMain builds for the tests that need a
// real process (signals, exit codes).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trunkline-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trunkline")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	if !raceEnabled {
		build = exec.Command("go", "build", "-o", binary, ".")
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "cannot build trunkline: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// output collects the lines a process writes to one stream.
type output struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed when a line is added or the stream ends
	closed  bool
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		o.mu.Lock()
		o.lines = append(o.lines, sc.Text())
		close(o.changed)
		o.changed = make(chan struct{})
		o.mu.Unlock()
	}
	o.mu.Lock()
	o.closed = true
	close(o.changed)
	o.mu.Unlock()
}

// waitFor returns the submatches of the first line matching re, waiting
// for it until timeout.
func (o *output) waitFor(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		o.mu.Lock()
		lines, changed, closed := o.lines, o.changed, o.closed
		o.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if m := re.FindStringSubmatch(lines[seen]); m != nil {
				return m, nil
			}
		}
		if closed {
			return nil, fmt.Errorf("stream ended without a line matching %q", re)
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil, fmt.Errorf("no line matching %q within %v", re, timeout)
		}
	}
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}

// proc is a running trunkline process.
type proc struct {
	cmd    *exec.Cmd
	stdout *output
	stderr *output
	done   chan struct{} // closed when the process has exited and its output is read
	err    error         // Wait's result, set before done closes
}

// startProc runs the test binary with args and the given environment
// (added to a minimal one). The process is killed when the test ends if it
// still runs.
func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	outR, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdout: newOutput(), stderr: newOutput(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.stdout.read(outR) }()
	go func() { defer wg.Done(); p.stderr.read(errR) }()
	go func() {
		wg.Wait()
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
			t.Logf("killed trunkline %s; stderr:\n%s", strings.Join(args, " "), p.stderr)
		}
	})
	return p
}

// waitOut waits for a stdout line matching re and fails the test without one.
func (p *proc) waitOut(t *testing.T, re string, timeout time.Duration) []string {
	t.Helper()
	m, err := p.stdout.waitFor(regexp.MustCompile(re), timeout)
	if err != nil {
		t.Fatalf("stdout: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
	}
	return m
}

// waitErr waits for a stderr line matching re and fails the test without one.
func (p *proc) waitErr(t *testing.T, re string, timeout time.Duration) []string {
	t.Helper()
	m, err := p.stderr.waitFor(regexp.MustCompile(re), timeout)
	if err != nil {
		t.Fatalf("stderr: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
	}
	return m
}

// interrupt sends SIGINT and returns the exit code, failing the test when
// the process does not exit within timeout.
func (p *proc) interrupt(t *testing.T, timeout time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("cannot signal: %v", err)
	}
	return p.wait(t, timeout)
}

// wait returns the exit code, failing the test when the process does not
// exit within timeout.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("did not exit within %v\nstdout:\n%s\nstderr:\n%s", timeout, p.stdout, p.stderr)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", p.err)
	return -1
}

// runProc runs the binary to completion and returns its exit code and output.
func runProc(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func TestHelpAndExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdoutHas  []string
		stderrHas  []string
		stdoutNone bool
	}{
		{"no command", nil, exitUsage, nil, []string{"Commands:", "dev", "broker", "run", "sim", "grant"}, true},
		{"help flag", []string{"--help"}, exitOK, []string{"Commands:", "dev", "broker", "run", "sim", "grant"}, nil, false},
		{"help command", []string{"help"}, exitOK, []string{"Commands:"}, nil, false},
		{"help of a command", []string{"help", "broker"}, exitOK, []string{"trunkline broker", "-partitions"}, nil, false},
		{"unknown command", []string{"frobnicate"}, exitUsage, nil, []string{`unknown command "frobnicate"`, "Commands:"}, true},
		{"dev help", []string{"dev", "--help"}, exitOK, []string{"trunkline dev", "-http", "Examples:"}, nil, false},
		{"broker help", []string{"broker", "-h"}, exitOK, []string{"--listen", "-data-dir", "-partitions", "Examples:"}, nil, false},
		{"run help", []string{"run", "--help"}, exitOK, []string{"-brokers", "-config", "-group", "-check-config", "Examples:"}, nil, false},
		{"sim help", []string{"sim", "--help"}, exitOK, []string{"-brokers", "-cars", "-couriers", "-windows", "-rate", "-duration", "-seed", "Examples:"}, nil, false},
		{"grant help", []string{"grant", "--help"}, exitOK, []string{"verify"}, nil, false},
		{"grant verify help", []string{"grant", "verify", "--help"}, exitOK, []string{"-key-env", "Exit status", "Examples:"}, nil, false},
		{"grant without subcommand", []string{"grant"}, exitUsage, nil, []string{"missing subcommand"}, true},
		{"grant unknown subcommand", []string{"grant", "sign"}, exitUsage, nil, []string{`unknown subcommand "sign"`}, true},
		{"grant verify without token", []string{"grant", "verify"}, exitUsage, nil, []string{"missing TOKEN"}, true},
		{"unknown flag", []string{"broker", "--nope"}, exitUsage, nil, []string{"flag provided but not defined: -nope", "Usage:"}, true},
		{"stray argument", []string{"broker", "extra"}, exitUsage, nil, []string{`unexpected argument "extra"`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runProc(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stdoutHas {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if tt.stdoutNone && stdout != "" {
				t.Errorf("stdout not empty on a usage error:\n%s", stdout)
			}
		})
	}
}
