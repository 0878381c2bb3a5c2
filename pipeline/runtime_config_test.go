package pipeline_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/trunkline/trunkline/pipeline"
)

func TestDefaultConfigIsValid(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Group != "trunkline" || cfg.MaxRecordBytes != 64<<10 || cfg.CourierLookback != 10*time.Minute {
		t.Fatalf("defaults: group %q max_record_bytes %d courier_lookback %v", cfg.Group, cfg.MaxRecordBytes, cfg.CourierLookback)
	}
}

func TestConfigValidateNamesTheSetting(t *testing.T) {
	for _, tc := range []struct {
		setting string
		mutate  func(*pipeline.Config)
	}{
		{"brokers", func(c *pipeline.Config) { c.Brokers = nil }},
		{"brokers", func(c *pipeline.Config) { c.Brokers = []string{""} }},
		{"group", func(c *pipeline.Config) { c.Group = "" }},
		{"topics.events", func(c *pipeline.Config) { c.Topics.Events = "" }},
		{"topics.dlq", func(c *pipeline.Config) { c.Topics.DLQ = c.Topics.Events }},
		{"engine.arrival_radius_m", func(c *pipeline.Config) { c.Engine.ArrivalRadiusM = 0 }},
		{"max_record_bytes", func(c *pipeline.Config) { c.MaxRecordBytes = 10 }},
		{"courier_lookback", func(c *pipeline.Config) { c.CourierLookback = -time.Second }},
		{"max_buffered_records", func(c *pipeline.Config) { c.MaxBufferedRecords = 0 }},
		{"max_poll_records", func(c *pipeline.Config) { c.MaxPollRecords = 0 }},
		{"fetch_max_wait", func(c *pipeline.Config) { c.FetchMaxWait = 0 }},
		{"fetch_max_partition_bytes", func(c *pipeline.Config) { c.FetchMaxPartitionBytes = 1 << 10 }},
		{"fetch_max_wait", func(c *pipeline.Config) { c.FetchMaxWait = time.Minute }},
		{"fetch_min_bytes", func(c *pipeline.Config) { c.FetchMinBytes = 0 }},
		{"fetch_min_bytes", func(c *pipeline.Config) { c.FetchMinBytes = 32 << 20 }},
		{"tick_interval", func(c *pipeline.Config) { c.TickInterval = 0 }},
		{"commit_interval", func(c *pipeline.Config) { c.CommitInterval = 0 }},
		{"produce_timeout", func(c *pipeline.Config) { c.ProduceTimeout = 0 }},
		{"produce_linger", func(c *pipeline.Config) { c.ProduceLinger = -1 }},
		{"shutdown_timeout", func(c *pipeline.Config) { c.ShutdownTimeout = 0 }},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			cfg := pipeline.DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.setting) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.setting)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	doc := `
brokers: [kafka-1:9092, kafka-2:9092]
group: city-1
topics:
  car_pings: cars
courier_lookback: 5m
max_buffered_records: 500
engine:
  park_dwell: 90s
`
	cfg := pipeline.DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Brokers) != 2 || cfg.Group != "city-1" || cfg.Topics.CarPings != "cars" ||
		cfg.Topics.Windows != pipeline.DefaultTopics().Windows || cfg.CourierLookback != 5*time.Minute ||
		cfg.MaxBufferedRecords != 500 || cfg.Engine.ParkDwell != 90*time.Second {
		t.Fatalf("decoded %+v", cfg)
	}

	// The defaults round-trip through YAML, and an unknown key is rejected.
	out, err := yaml.Marshal(pipeline.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var back pipeline.Config
	dec = yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("defaults do not decode: %v\n%s", err, out)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
	dec = yaml.NewDecoder(strings.NewReader("max_buffered_record: 3\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&back); err == nil {
		t.Fatal("a misspelt key was accepted")
	}
}
