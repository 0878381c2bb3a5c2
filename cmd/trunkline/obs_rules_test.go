package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// prometheusDir holds the scrape configuration, the alert rules and their
// unit tests; grafanaDashboard is the dashboard.
var (
	prometheusDir    = filepath.Join("..", "..", "configs", "prometheus")
	grafanaDashboard = filepath.Join("..", "..", "configs", "grafana", "trunkline.json")
)

// promtool returns the path of promtool. Without it the test is skipped,
// unless CI is set: CI installs it (Debian package prometheus, .ci/run).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("promtool is not installed; CI must install it (Debian package prometheus, see .ci/run)")
	}
	t.Skip("promtool is not installed (Debian package prometheus): skipping; CI runs this test")
	return ""
}

// TestPrometheusConfigs runs promtool on configs/prometheus: the scrape
// configuration and the rules it loads are valid, and the rules' unit
// tests pass.
func TestPrometheusConfigs(t *testing.T) {
	tool := promtool(t)
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "trunkline.rules.yml"},
		{"test", "rules", "trunkline.rules.test.yml"},
	} {
		cmd := exec.Command(tool, args...)
		cmd.Dir = prometheusDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertRulesTested checks that the unit tests cover every alert both
// firing and not firing, and that every alert has a severity and the
// annotations an on-call engineer needs, with a runbook section.
func TestAlertRulesTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, filepath.Join(prometheusDir, "trunkline.rules.yml"), &rules)
	readYAML(t, filepath.Join(prometheusDir, "trunkline.rules.test.yml"), &tests)
	runbook, err := os.ReadFile(filepath.Join(prometheusDir, "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tests.RuleFiles, []string{"trunkline.rules.yml"}) {
		t.Errorf("the unit tests load %q, want the rules file", tests.RuleFiles)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, g := range tests.Tests {
		for _, c := range g.AlertRuleTest {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alertname] = true
			} else {
				quiet[c.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if !fires[r.Alert] {
				t.Errorf("no unit test shows %s firing", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("no unit test shows %s not firing", r.Alert)
			}
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s has no %s annotation", r.Alert, a)
				}
			}
			anchor := strings.ToLower(r.Alert)
			if !strings.HasSuffix(r.Annotations["runbook_url"], "/configs/prometheus/runbook.md#"+anchor) {
				t.Errorf("%s: runbook_url %q does not point to its runbook section", r.Alert, r.Annotations["runbook_url"])
			}
			if !strings.Contains(string(runbook), "\n## "+r.Alert+"\n") {
				t.Errorf("runbook.md has no section %q", "## "+r.Alert)
			}
		}
	}
	for _, want := range []string{
		"TrunklineConsumerLagGrowing", "TrunklineDeadLetterRateHigh", "TrunklineLatencyHigh",
		"TrunklineNoInput", "TrunklineNotReady", "TrunklineAccountingBroken",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s is missing", want)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *dashDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type dashPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *dashDatasource `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // of a collapsed row
}

type dashDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", grafanaDashboard, err)
	}
	return d
}

// panels returns every panel of d, those of collapsed rows included.
func (d dashboard) panels() []dashPanel {
	var out []dashPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// queries returns every PromQL query of d: panel targets and template
// variable queries.
func (d dashboard) queries(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query: %v", v.Name, err)
		}
		out = append(out, variableSelector(q.Query))
	}
	return out
}

// TestGrafanaDashboard checks that the dashboard is importable as is: a
// schema version Grafana 10 and 11 read, a Prometheus data source chosen
// by variable (no data source uid of one installation), unique panel ids,
// panels on the grid, and a query in every panel that shows data.
func TestGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q title %q: want both", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
		t.Errorf("schemaVersion %d, want 36..41 (Grafana 9.x-11.x)", d.SchemaVersion)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && strings.Contains(string(v.Query), "prometheus") {
			hasDS = true
		}
		if v.Datasource != nil && v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s uses data source %q, want ${datasource}", v.Name, v.Datasource.UID)
		}
	}
	if !hasDS {
		t.Error("no datasource variable of type prometheus")
	}
	ids := map[int]string{}
	for _, p := range d.panels() {
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d not unique (also %q)", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W < 1 || p.GridPos.H < 1 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v off the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %+v, want prometheus ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
				t.Errorf("panel %q: a target without expr or refId", p.Title)
			}
		}
	}
	// What an SRE looks for first.
	var all strings.Builder
	for _, q := range d.queries(t) {
		all.WriteString(q + "\n")
	}
	for _, m := range []string{
		"trunkline_records_consumed_total", "trunkline_events_emitted_total",
		"trunkline_records_filtered_total", "trunkline_records_dead_lettered_total",
		"trunkline_ping_to_event_seconds_bucket", "trunkline_append_to_ack_seconds_bucket",
		"trunkline_consumer_lag_records", "trunkline_open_windows", "trunkline_rebalances_total",
		"process_cpu_seconds_total", "go_gc_duration_seconds", "process_resident_memory_bytes",
	} {
		if !strings.Contains(all.String(), m) {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// variableSelector returns the PromQL part of a Grafana variable query:
// the series selector of label_values(selector, label), nothing for
// label_values(label), and the query itself otherwise.
func variableSelector(q string) string {
	q = strings.TrimSpace(q)
	args, ok := strings.CutPrefix(q, "label_values(")
	if !ok {
		return q
	}
	args = strings.TrimSuffix(args, ")")
	i := strings.LastIndexByte(args, ',')
	if i < 0 {
		return ""
	}
	return args[:i]
}

func TestVariableSelector(t *testing.T) {
	for _, tt := range []struct{ q, want string }{
		{`label_values(trunkline_ready, job)`, `trunkline_ready`},
		{`label_values(trunkline_ready{job=~"$job", x="a,b"}, instance)`, `trunkline_ready{job=~"$job", x="a,b"}`},
		{`label_values(job)`, ``},
		{`query_result(up)`, `query_result(up)`},
	} {
		if got := variableSelector(tt.q); got != tt.want {
			t.Errorf("variableSelector(%q) = %q, want %q", tt.q, got, tt.want)
		}
	}
}

// promqlKeywords are the words of PromQL that are not metric names where
// no parenthesis follows them: aggregation operators (sum by (x) (...)),
// their modifiers, set and comparison operators, and number literals.
var promqlKeywords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "start": true, "end": true,
}

// labelListWords are the keywords followed by a list of label names.
var labelListWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// promqlMetricNames returns the metric names a PromQL query selects, in
// order of appearance without repeats. It skips function and aggregation
// names (an identifier followed by '('), keywords, label names (inside
// {...} and in by/on/... lists), string literals, numbers and durations,
// and Grafana variables ($x, ${x}, [$__rate_interval]). A name written as
// {__name__="x"} is returned too.
func promqlMetricNames(q string) []string {
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	isStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(q) && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r') {
			i++
		}
		return i
	}
	skipString := func(i int) int { // q[i] is the opening quote
		quote := q[i]
		for i++; i < len(q) && q[i] != quote; i++ {
			if q[i] == '\\' && quote != '`' {
				i++
			}
		}
		return i + 1
	}
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(i)
		case c == '#': // comment to the end of the line
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '{': // label matchers
			j, matcher := i+1, i+1
			for j < len(q) && q[j] != '}' {
				switch q[j] {
				case '"', '\'', '`':
					end := skipString(j)
					if strings.ReplaceAll(q[matcher:j], " ", "") == "__name__=" && end-1 > j {
						add(q[j+1 : end-1])
					}
					j = end
				case ',':
					j++
					matcher = j
				default:
					j++
				}
			}
			i = j + 1
		case c == '[': // range or subquery: durations and variables
			for i < len(q) && q[i] != ']' {
				i++
			}
			i++
		case c == '$': // Grafana variable
			i++
			if i < len(q) && q[i] == '{' {
				for i < len(q) && q[i] != '}' {
					i++
				}
				i++
				continue
			}
			for i < len(q) && isPart(q[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.': // number or duration
			for i < len(q) && (isPart(q[i]) || q[i] == '.') {
				i++
			}
		case isStart(c):
			j := i
			for j < len(q) && isPart(q[j]) {
				j++
			}
			word := q[i:j]
			k := skipSpace(j)
			switch {
			case labelListWords[strings.ToLower(word)] && k < len(q) && q[k] == '(':
				for k < len(q) && q[k] != ')' {
					k++
				}
				j = k + 1
			case k < len(q) && q[k] == '(':
				// a function or aggregation
			case promqlKeywords[strings.ToLower(word)]:
			default:
				add(word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

func TestPromQLMetricNames(t *testing.T) {
	tests := []struct {
		q    string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (topic) (rate(trunkline_records_consumed_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))`,
			[]string{"trunkline_records_consumed_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket{a="b"}[5m])))`, []string{"x_seconds_bucket"}},
		{`sum(rate(a_total[1m])) by (topic, reason) > 0`, []string{"a_total"}},
		{`a - on (job, instance) group_left (topic) b * 1e3 + 0x1F`, []string{"a", "b"}},
		{`a and ignoring (reason) b or c unless d`, []string{"a", "b", "c", "d"}},
		{`count(a == 0) or vector(0)`, []string{"a"}},
		{`time() - max by (topic) (a{topic=~"x.*"} > 0)`, []string{"a"}},
		{`label_replace(a, "dst", "$1", "src", "(.*)")`, []string{"a"}},
		{`{__name__="x_total", job="j"}`, []string{"x_total"}},
		{`a{quote="}\" b"} offset 5m`, []string{"a"}},
		{`rate(a[5m:30s]) # b is a comment`, []string{"a"}},
		{`sum(a) by(le)`, []string{"a"}},
		{`a{instance=~"${instance:regex}"}`, []string{"a"}},
	}
	for _, tt := range tests {
		if got := promqlMetricNames(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", tt.q, got, tt.want)
		}
	}
}
