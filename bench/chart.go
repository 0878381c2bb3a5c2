package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
)

// The latency chart: p50, p90, p99 and max latency (median over runs,
// with the min–max range of the runs as whiskers) against the offered
// load, latency on a log scale. Plain SVG, written by hand: no
// dependency, readable in any browser and on GitHub.

const (
	chartW, chartH = 760, 460
	plotL, plotR   = 70, 600 // plot area, x
	plotT, plotB   = 50, 400 // plot area, y
)

// latencyTargets are the live targets of the benchmark: p99 at an offered
// rate.
var latencyTargets = []struct{ rate, p99Ms float64 }{{100_000, 5}, {300_000, 20}}

type chartSeries struct {
	name  string
	color string
	dash  string // stroke-dasharray of its line, "" for solid
	get   func(*LivePoint) Figure
}

var chartSeriesList = []chartSeries{
	{"p50", "#1b9e77", "", func(p *LivePoint) Figure { return p.P50Ms }},
	{"p90", "#7570b3", "", func(p *LivePoint) Figure { return p.P90Ms }},
	{"p99", "#d95f02", "", func(p *LivePoint) Figure { return p.P99Ms }},
	{"max", "#666666", "", func(p *LivePoint) Figure { return p.MaxMs }},
	{"relay p50", "#1b9e77", "5,4", func(p *LivePoint) Figure { return relayFigure(p, func(r *LivePoint) Figure { return r.P50Ms }) }},
	{"relay p99", "#d95f02", "5,4", func(p *LivePoint) Figure { return relayFigure(p, func(r *LivePoint) Figure { return r.P99Ms }) }},
}

// relayFigure is get of p's relay baseline, zero when it has none.
func relayFigure(p *LivePoint, get func(*LivePoint) Figure) Figure {
	if p.Relay == nil {
		return Figure{}
	}
	return get(p.Relay)
}

// WriteLatencyChart writes the live scenario's latency chart as SVG. With
// no live scenario in the report it writes a chart that says so.
func (r *Report) WriteLatencyChart(w io.Writer) error {
	var pts []LivePoint
	for _, s := range r.Scenarios {
		if len(s.Live) > 0 {
			pts = s.Live
		}
	}
	bw := bufio.NewWriter(w)
	writeChart(bw, pts, r.chartSubtitle())
	return bw.Flush()
}

func (r *Report) chartSubtitle() string {
	return fmt.Sprintf("%s, %d cores, %s, %d run(s) per point, commit %.12s", r.Machine.CPU, r.Machine.Cores, r.Machine.GoVersion, r.Config.Runs, orNone(r.Machine.Commit))
}

func writeChart(w *bufio.Writer, pts []LivePoint, subtitle string) {
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(w, `<text x="%d" y="22" font-size="15" font-weight="bold">trunkline live latency: ping produced → event readable</text>`+"\n", plotL)
	fmt.Fprintf(w, `<text x="%d" y="38" fill="#555">%s</text>`+"\n", plotL, xmlEscape(subtitle))
	if len(pts) == 0 {
		fmt.Fprintf(w, `<text x="%d" y="%d">no live scenario in this report</text>`+"\n", plotL, (plotT+plotB)/2)
		w.WriteString("</svg>\n")
		return
	}

	// Axes: x linear from 0 to the largest offered rate, y log10 over
	// whole decades covering every value and target.
	xmax := 0.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range pts {
		xmax = max(xmax, pts[i].OfferedPerS)
		for _, s := range chartSeriesList {
			f := s.get(&pts[i])
			if f.IsZero() {
				continue
			}
			lo, hi = math.Min(lo, f.Min), math.Max(hi, f.Max)
		}
	}
	for _, t := range latencyTargets {
		if t.rate <= xmax {
			lo, hi = math.Min(lo, t.p99Ms), math.Max(hi, t.p99Ms)
		}
	}
	if math.IsInf(lo, 0) || lo <= 0 {
		lo = 0.1
	}
	if math.IsInf(hi, 0) || hi <= lo {
		hi = lo * 10
	}
	ylo, yhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if yhi == ylo {
		yhi++
	}
	xmax = niceCeil(xmax)
	px := func(x float64) float64 { return plotL + x/xmax*(plotR-plotL) }
	py := func(ms float64) float64 {
		return plotB - (math.Log10(math.Max(ms, math.Pow(10, ylo)))-ylo)/(yhi-ylo)*(plotB-plotT)
	}

	// Grid and ticks.
	for d := ylo; d <= yhi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > yhi+1e-9 {
				break
			}
			y := py(v)
			stroke, dash := "#ddd", ` stroke-dasharray="2,3"`
			if m == 1 {
				stroke, dash = "#bbb", ""
			}
			fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"%s/>`+"\n", plotL, y, plotR, y, stroke, dash)
			fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", plotL-6, y, fmtMs(v))
		}
	}
	for i := 0; i <= 6; i++ {
		x := xmax * float64(i) / 6
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", px(x), plotT, px(x), plotB)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(x), plotB+18, fmtRate(x))
	}
	fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", plotL, plotT, plotR-plotL, plotB-plotT)
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">offered load (car pings per second)</text>`+"\n", (plotL+plotR)/2, plotB+40)
	fmt.Fprintf(w, `<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">latency (ms, log scale)</text>`+"\n", (plotT+plotB)/2, (plotT+plotB)/2)

	// Series: a line through the medians, whiskers over min..max.
	for li, s := range chartSeriesList {
		var path []byte
		for i := range pts {
			f := s.get(&pts[i])
			if f.IsZero() {
				continue
			}
			x := px(pts[i].OfferedPerS)
			wx := x + float64(li*4-6) // whiskers side by side
			if len(path) == 0 {
				path = append(path, 'M')
			} else {
				path = append(path, " L"...)
			}
			path = strconv.AppendFloat(path, x, 'f', 1, 64)
			path = append(path, ',')
			path = strconv.AppendFloat(path, py(f.Median), 'f', 1, 64)
			if f.Max > f.Min {
				fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"/>`+"\n", wx, py(f.Min), wx, py(f.Max), s.color)
			}
			fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s at %s: %s ms (min %s, max %s)</title></circle>`+"\n",
				x, py(f.Median), s.color, s.name, fmtRate(pts[i].OfferedPerS), fmtMs(f.Median), fmtMs(f.Min), fmtMs(f.Max))
		}
		if len(path) > 0 {
			fmt.Fprintf(w, `<path d="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", path, s.color, dashAttr(s.dash))
		}
		ly := plotT + 10 + li*22
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/><circle cx="%d" cy="%d" r="3.5" fill="%s"/>`+"\n",
			plotR+20, ly, plotR+44, ly, s.color, dashAttr(s.dash), plotR+32, ly, s.color)
		fmt.Fprintf(w, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", plotR+52, ly, s.name)
	}
	// Targets.
	ly := plotT + 10 + len(chartSeriesList)*22
	for _, t := range latencyTargets {
		if t.rate > xmax {
			continue
		}
		x, y := px(t.rate), py(t.p99Ms)
		fmt.Fprintf(w, `<path d="M%.1f,%.1f l8,8 m0,-8 l-8,8" stroke="#d00" stroke-width="2" transform="translate(-4,-4)"><title>target: p99 ≤ %s ms at %s</title></path>`+"\n", x, y, fmtMs(t.p99Ms), fmtRate(t.rate))
	}
	fmt.Fprintf(w, `<path d="M%d,%d l8,8 m0,-8 l-8,8" stroke="#d00" stroke-width="2"/>`+"\n", plotR+28, ly-4)
	fmt.Fprintf(w, `<text x="%d" y="%d" dominant-baseline="middle">p99 target</text>`+"\n", plotR+52, ly)
	fmt.Fprintf(w, `<text x="%d" y="%d" fill="#555" font-size="11">whiskers: min–max over runs</text>`+"\n", plotR+8, ly+24)
	w.WriteString("</svg>\n")
}

// dashAttr is the stroke-dasharray attribute of dash, if any.
func dashAttr(dash string) string {
	if dash == "" {
		return ""
	}
	return ` stroke-dasharray="` + dash + `"`
}

// niceCeil rounds v up to six x-axis steps of 1, 2, 2.5 or 5 times a
// power of ten (0, 50K, 100K, ... 300K).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	step := v / 6
	p := math.Pow(10, math.Floor(math.Log10(step)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= step {
			return 6 * m * p
		}
	}
	return 60 * p
}

func fmtMs(v float64) string {
	switch {
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "K"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func xmlEscape(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '"':
			b = append(b, "&quot;"...)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
