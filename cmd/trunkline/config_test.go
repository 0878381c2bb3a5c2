package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// configFiles returns the configuration files of configs/: its top-level
// YAML files. Prometheus rules and dashboards live in subdirectories.
func configFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "configs", pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no configuration files in configs/")
	}
	return files
}

func TestConfigFilesLoadAndValidate(t *testing.T) {
	for _, path := range configFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := loadConfig(path, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// TestDefaultConfigFile checks that configs/trunkline.yaml documents every
// default: decoded onto a zero Config (not onto the defaults) it equals the
// compiled-in defaults, every setting appears in it, and every key has a
// comment.
func TestDefaultConfigFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "trunkline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := decodeConfig(data, &got); err != nil {
		t.Fatal(err)
	}
	if want := defaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("configs/trunkline.yaml differs from the compiled-in defaults:\n got %+v\nwant %+v", got, want)
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	checkDocumented(t, "", doc.Content[0], reflect.TypeFor[Config]())
}

// checkDocumented checks that mapping node n holds exactly the settings of
// struct type typ, each with a comment, recursing into sections.
func checkDocumented(t *testing.T, prefix string, n *yaml.Node, typ reflect.Type) {
	t.Helper()
	if n.Kind != yaml.MappingNode {
		t.Fatalf("%s: not a mapping", prefix)
	}
	fields := yamlFields(typ)
	var keys []string
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := prefix + k.Value
		keys = append(keys, k.Value)
		if strings.TrimSpace(k.HeadComment) == "" && strings.TrimSpace(k.LineComment) == "" {
			t.Errorf("%s has no comment", name)
		}
		ft, ok := fields[k.Value]
		if !ok {
			t.Errorf("%s is not a setting", name)
			continue
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() {
			checkDocumented(t, name+".", v, ft)
		}
	}
	for name := range fields {
		if !slices.Contains(keys, name) {
			t.Errorf("setting %s%s is missing from the file", prefix, name)
		}
	}
}

// yamlFields maps the YAML keys of struct type typ to their types,
// flattening inline fields and skipping those tagged "-".
func yamlFields(typ reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type)
	for f := range typ.Fields() {
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case name == "-" || !f.IsExported():
		case opts == "inline":
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
		case name == "":
			out[strings.ToLower(f.Name)] = f.Type
		default:
			out[name] = f.Type
		}
	}
	return out
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		file    string // "" means no file
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{
			name: "no file: the defaults",
			check: func(t *testing.T, c Config) {
				if !reflect.DeepEqual(c, defaultConfig()) {
					t.Errorf("got %+v, want the defaults", c)
				}
			},
		},
		{
			name: "empty file: the defaults",
			file: "# nothing\n",
			check: func(t *testing.T, c Config) {
				if !reflect.DeepEqual(c, defaultConfig()) {
					t.Errorf("got %+v, want the defaults", c)
				}
			},
		},
		{
			name: "file overrides some settings, the rest stay default",
			file: "group: g1\nengine:\n  park_dwell: 90s\nlog:\n  format: json\n",
			check: func(t *testing.T, c Config) {
				want := defaultConfig()
				want.Group = "g1"
				want.Engine.ParkDwell = 90 * time.Second
				want.Log.Format = "json"
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "environment overrides the file",
			file: "brokers: [file:9092]\n",
			env:  map[string]string{envBrokers: " a:9092, b:9093 ,", envGrantKey: "0123456789abcdef0123"},
			check: func(t *testing.T, c Config) {
				if want := []string{"a:9092", "b:9093"}; !slices.Equal(c.Brokers, want) {
					t.Errorf("brokers = %q, want %q", c.Brokers, want)
				}
				if string(c.Engine.GrantKey) != "0123456789abcdef0123" {
					t.Errorf("grant key not taken from %s", envGrantKey)
				}
			},
		},
		{
			name:    "unknown key is rejected",
			file:    "group: g\nengine:\n  park_dwel: 90s\n",
			wantErr: "field park_dwel not found",
		},
		{
			name:    "grant key cannot come from a file",
			file:    "engine:\n  grant_key: secret\n",
			wantErr: "field grant_key not found",
		},
		{
			name:    "bad duration",
			file:    "engine:\n  park_dwell: soon\n",
			wantErr: "line 2: cannot unmarshal !!str `soon` into time.Duration",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := loadConfig(path, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(c *Config)
		wantErr string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, `log.level "verbose"`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format "xml"`},
		{"http addr", func(c *Config) { c.HTTP.Addr = "8080" }, "http.addr"},
		{"broker listen", func(c *Config) { c.Broker.Listen = "nowhere" }, "broker.listen"},
		{"broker partitions", func(c *Config) { c.Broker.Partitions = 0 }, "broker.partitions"},
		{"pipeline setting", func(c *Config) { c.Group = "" }, "group"},
		{"engine setting", func(c *Config) { c.Engine.ArrivalRadiusM = 200 }, "departure_radius_m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// runInProcess runs a command in this process with the given environment.
func runInProcess(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }, now: time.Now}
	code = runMain(t.Context(), e, args)
	return code, out.String(), errb.String()
}
