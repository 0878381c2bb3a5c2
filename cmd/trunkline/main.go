package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit codes of every command.
const (
	exitOK    = 0 // success; for grant verify: the token is valid
	exitFail  = 1 // runtime error, invalid configuration, invalid token
	exitUsage = 2 // bad command line
)

// env is what a command takes from its process: output streams, the
// environment and the clock. Tests inject their own.
type env struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time
}

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

// commands lists the subcommands in the order --help shows them.
var commands = []command{
	{"dev", "embedded broker + fleet simulator + processor + live console, in one process", runDev},
	{"broker", "the embedded Kafka-protocol broker alone, default topics created", runBroker},
	{"run", "the processor against any Kafka cluster", runRun},
	{"sim", "the fleet simulator / load generator against any Kafka cluster", runSim},
	{"grant", "grant tools: 'grant verify TOKEN' checks a grant token offline", runGrant},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, now: time.Now}, os.Args[1:])
	stop()
	os.Exit(code)
}

// runMain dispatches args to a subcommand and returns the exit code.
func runMain(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printMainUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			return runMain(ctx, e, []string{args[1], "--help"})
		}
		printMainUsage(e.stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "trunkline: unknown command %q\n\n", name)
	printMainUsage(e.stderr)
	return exitUsage
}

func printMainUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`trunkline — stream processor for in-car (car boot) delivery.

Usage:
  trunkline <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run 'trunkline <command> --help' for the flags and examples of a command.

Configuration: configs/trunkline.yaml documents every default; pass a file
with --config. TRUNKLINE_BROKERS and TRUNKLINE_GRANT_KEY override the file;
flags override both.
`)
	io.WriteString(w, b.String())
}

// usage is the help text of a subcommand: what prints above its flags.
type usage struct {
	synopsis string // "trunkline broker [flags]"
	about    string // what the command does, one or more paragraphs
	examples string // indented example invocations
}

// newFlagSet returns a flag set for a subcommand. Errors and help are
// written by parseFlags, not by the flag package's own usage.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs. It returns done=true with the exit code
// when the command must stop here: help requested (printed to stdout, exit
// 0) or a bad command line (error and help on stderr, exit 2).
func parseFlags(e *env, fs *flag.FlagSet, u usage, args []string) (done bool, code int) {
	fs.SetOutput(e.stderr) // the flag package prints parse errors here
	err := fs.Parse(args)
	switch {
	case err == nil:
		return false, exitOK
	case errors.Is(err, flag.ErrHelp):
		printUsage(e.stdout, fs, u)
		return true, exitOK
	default:
		fmt.Fprintln(e.stderr)
		printUsage(e.stderr, fs, u)
		return true, exitUsage
	}
}

// usageError reports a bad command line found after flag parsing.
func usageError(e *env, fs *flag.FlagSet, u usage, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "trunkline %s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	printUsage(e.stderr, fs, u)
	return exitUsage
}

func printUsage(w io.Writer, fs *flag.FlagSet, u usage) {
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n", u.synopsis, strings.TrimSpace(u.about))
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		io.WriteString(w, "\nFlags:\n")
		out := fs.Output()
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
	if u.examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(u.examples, "\n"))
	}
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// commandConfig parses the flags of a command that takes no positional
// arguments and loads the configuration file configPath (the compiled-in
// defaults when empty). It returns the configuration and the flags given on
// the command line; when ok is false the command exits with code.
func commandConfig(e *env, fs *flag.FlagSet, u usage, args []string, configPath *string) (cfg Config, set map[string]bool, code int, ok bool) {
	if done, code := parseFlags(e, fs, u, args); done {
		return cfg, nil, code, false
	}
	if fs.NArg() > 0 {
		return cfg, nil, usageError(e, fs, u, "unexpected argument %q", fs.Arg(0)), false
	}
	cfg, err := loadConfig(*configPath, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "trunkline %s: %v\n", fs.Name(), err)
		return cfg, nil, exitFail, false
	}
	return cfg, setFlags(fs), 0, true
}
