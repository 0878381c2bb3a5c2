package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/trunkline/trunkline/pipeline"
)

// Environment variables that override the configuration file.
const (
	envBrokers  = "TRUNKLINE_BROKERS"   // comma-separated host:port list
	envGrantKey = "TRUNKLINE_GRANT_KEY" // grant signing key, 16 bytes or more
)

// shutdownTimeout bounds a command's whole shutdown: every part stops
// within it, in reverse order of start.
const shutdownTimeout = 4 * time.Second

// Config is the binary's configuration: the processor's settings at the top
// level, plus the sections only the binary uses. configs/trunkline.yaml
// holds and documents every default.
type Config struct {
	pipeline.Config `yaml:",inline"`

	// MemoryLimit is the soft limit of the Go runtime's memory (heap,
	// stacks, runtime structures) that run sets: the garbage collector
	// works harder as the process nears it, instead of letting the heap
	// grow to twice its live data first. 0 leaves the runtime's own
	// limit: GOMEMLIMIT from the environment, else none.
	MemoryLimit byteSize `yaml:"memory_limit"`
	// GCPercent is the garbage collector's target percentage that run
	// sets (debug.SetGCPercent), unless GOGC is in the environment: the
	// heap may grow to live data × (1 + GCPercent/100) before a
	// collection. -1 turns the percentage off, leaving only memory_limit,
	// which must then be set.
	GCPercent int `yaml:"gc_percent"`

	HTTP   HTTPConfig   `yaml:"http"`
	Log    LogConfig    `yaml:"log"`
	Broker BrokerConfig `yaml:"broker"`
	Sim    SimConfig    `yaml:"sim"`
}

// LogConfig is the log section of the configuration.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// defaultConfig returns the compiled-in defaults, which configs/trunkline.yaml
// repeats and documents.
func defaultConfig() Config {
	return Config{
		Config:    pipeline.DefaultConfig(),
		GCPercent: pipeline.DefaultGCPercent,
		HTTP:      HTTPConfig{Addr: "127.0.0.1:8080"},
		Log:       LogConfig{Level: "info", Format: "text"},
		Broker:    BrokerConfig{Listen: "127.0.0.1:9092", Partitions: 6},
		Sim:       defaultSimConfig(),
	}
}

// loadConfig returns the defaults, overlaid with the YAML file at path (when
// path is not empty), overlaid with the environment. It does not validate:
// flags still override the result.
func loadConfig(path string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("cannot read config: %w", err)
		}
		if err := decodeConfig(data, &cfg); err != nil {
			return cfg, fmt.Errorf("cannot load config %s: %w", path, err)
		}
	}
	applyEnv(&cfg, getenv)
	return cfg, nil
}

// decodeConfig overlays the YAML document data on cfg. Keys that are not
// settings are rejected, so a misspelt key never passes silently.
func decodeConfig(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// applyEnv overlays the environment on cfg.
func applyEnv(cfg *Config, getenv func(string) string) {
	if v := getenv(envBrokers); v != "" {
		cfg.Brokers = hostPorts(v)
	}
	if v := getenv(envGrantKey); v != "" {
		cfg.Engine.GrantKey = []byte(v)
	}
}

// Validate checks every section and says which setting to fix.
func (c Config) Validate() error {
	errs := []error{c.Config.Validate(), c.Log.Validate(), c.Broker.Validate(), c.Sim.bench(c.Topics, false).Validate()}
	if c.MemoryLimit < 0 {
		errs = append(errs, fmt.Errorf("memory_limit %v is negative: use 0 (the Go runtime's own limit) or a size such as 900MiB", c.MemoryLimit))
	}
	switch {
	case c.GCPercent == -1 && c.MemoryLimit == 0:
		errs = append(errs, errors.New("gc_percent -1 (off) needs memory_limit, or the heap grows without bound: set memory_limit, or gc_percent to 100 or more"))
	case c.GCPercent != -1 && c.GCPercent < 10:
		errs = append(errs, fmt.Errorf("gc_percent %d: use -1 (off, with memory_limit) or at least 10 (%d is the default)", c.GCPercent, pipeline.DefaultGCPercent))
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		errs = append(errs, fmt.Errorf("http.addr %q is not host:port: %w", c.HTTP.Addr, err))
	}
	return errors.Join(errs...)
}

// byteSize is a number of bytes, written as an integer with an optional
// unit as in GOMEMLIMIT: B, KiB, MiB, GiB or TiB (900MiB, 1GiB, 0).
type byteSize int64

var byteUnits = []struct {
	name string
	size int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseByteSize parses s as a byteSize.
func parseByteSize(s string) (byteSize, error) {
	num, mul := s, int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.name); ok {
			num, mul = n, u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mul || n < math.MinInt64/mul {
		return 0, fmt.Errorf("%q is not a size: use a whole number of B, KiB, MiB, GiB or TiB, e.g. 900MiB", s)
	}
	return byteSize(n * mul), nil
}

// String returns b in the largest unit that divides it.
func (b byteSize) String() string {
	for _, u := range byteUnits {
		if b != 0 && int64(b)%u.size == 0 {
			return strconv.FormatInt(int64(b)/u.size, 10) + u.name
		}
	}
	return "0"
}

// UnmarshalYAML reads a size (see byteSize).
func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 900MiB", n.Line)
	}
	v, err := parseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes b as UnmarshalYAML reads it.
func (b byteSize) MarshalYAML() (any, error) { return b.String(), nil }

// Set parses a flag value (see byteSize).
func (b *byteSize) Set(s string) error {
	v, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// errNoGrantKey is why `run` refuses to start without a grant key.
var errNoGrantKey = errors.New("no grant key: set " + envGrantKey + " to a random secret of 32 bytes or more, e.g. export " + envGrantKey + "=$(openssl rand -hex 32)")

// Validate says which log setting to fix.
func (c LogConfig) Validate() error {
	var errs []error
	if _, err := parseLevel(c.Level); err != nil {
		errs = append(errs, err)
	}
	if c.Format != "text" && c.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format %q: use text or json", c.Format))
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log.level %q: use debug, info, warn or error", s)
}

// newLogger returns the command's logger, writing to w.
func newLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	level, _ := parseLevel(c.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// limitedHandler passes at most one record per interval to the handler it
// wraps and drops the others, for logs that a client or a stream of bad
// records could trigger at will. The next record it passes carries the
// number dropped since the last one as "suppressed". Records are timed by
// their own Time. It is safe for concurrent use; the handlers derived by
// WithAttrs and WithGroup share its limit.
type limitedHandler struct {
	h     slog.Handler
	every time.Duration
	lim   *logLimit
}

type logLimit struct {
	mu      sync.Mutex
	next    time.Time // records before it are dropped
	dropped int
}

func newLimitedHandler(h slog.Handler, every time.Duration) *limitedHandler {
	return &limitedHandler{h: h, every: every, lim: new(logLimit)}
}

func (l *limitedHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *limitedHandler) Handle(ctx context.Context, r slog.Record) error {
	l.lim.mu.Lock()
	if r.Time.Before(l.lim.next) {
		l.lim.dropped++
		l.lim.mu.Unlock()
		return nil
	}
	l.lim.next = r.Time.Add(l.every)
	dropped := l.lim.dropped
	l.lim.dropped = 0
	l.lim.mu.Unlock()
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", dropped))
	}
	return l.h.Handle(ctx, r)
}

func (l *limitedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &limitedHandler{h: l.h.WithAttrs(attrs), every: l.every, lim: l.lim}
}

func (l *limitedHandler) WithGroup(name string) slog.Handler {
	return &limitedHandler{h: l.h.WithGroup(name), every: l.every, lim: l.lim}
}

// hostPorts splits a comma-separated broker list, dropping blanks.
func hostPorts(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
