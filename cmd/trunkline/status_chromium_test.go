package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The status page is checked in a real browser: headless Chromium driven
// through the DevTools protocol over --remote-debugging-pipe (JSON messages
// separated by NUL bytes; the browser reads commands on its fd 3 and writes
// replies and events on its fd 4), so no port and no extra dependency. A
// page has a problem when the browser reports an uncaught exception
// (Runtime.exceptionThrown, unhandled promise rejections included), a
// console.error or console.assert failure (Runtime.consoleAPICalled), or an
// error entry of its own (Log.entryAdded: failed loads, refused assets,
// violations of the page's Content-Security-Policy).

// TestStatusPageInChromium starts `trunkline dev`, renders its status page
// in headless Chromium, checks that it shows live numbers without a
// problem, and writes a screenshot to $TRUNKLINE_SCREENSHOT (a temporary
// file when unset; `make screenshot` writes docs/status-page.png).
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel()
	br := startBrowser(t)
	p := startProc(t, nil, "dev", "--http", "127.0.0.1:0", "--rate", "500")
	addr := p.waitErr(t, `msg="http listening" addr=(\S+)`, 30*time.Second)[1]
	p.waitOut(t, consoleEvent, 30*time.Second) // counters and the latest events are not empty

	tab := br.open(t, "http://"+addr+"/")
	// Live: the page has polled, shows records consumed, and a later poll
	// shows more.
	const shown = `(() => {
		const n = (sel) => Number((document.querySelector(sel)?.textContent || "").replace(/[^0-9.]/g, "")) || 0;
		return {
			polls: Number(document.body.dataset.polls),
			consumed: n("#inputs tr.total td:nth-child(2)"),
			events: [...document.querySelectorAll("#events td:nth-child(2)")].reduce((a, td) => a + (Number(td.textContent.replace(/,/g, "")) || 0), 0),
			inRate: n("#k-in"),
			inPath: document.querySelector('#c-in path[data-series="in"]')?.getAttribute("d") || "",
			ready: document.getElementById("state").textContent,
		};
	})()`
	type view struct {
		Polls    int     `json:"polls"`
		Consumed float64 `json:"consumed"`
		Events   float64 `json:"events"`
		InRate   float64 `json:"inRate"`
		InPath   string  `json:"inPath"`
		Ready    string  `json:"ready"`
	}
	var first view
	tab.waitFor(t, shown, &first, 20*time.Second, func() bool {
		return first.Polls >= 2 && first.Consumed > 0 && first.Events > 0 && first.InRate > 0 &&
			strings.Count(first.InPath, "L") >= 1 && first.Ready == "ready"
	})
	var later view
	tab.waitFor(t, shown, &later, 20*time.Second, func() bool {
		return later.Polls >= first.Polls+2 && later.Consumed > first.Consumed
	})
	t.Logf("page after %d polls: %.0f records consumed, %.0f events, %.0f records/s", later.Polls, later.Consumed, later.Events, later.InRate)

	if problems := tab.problems(); len(problems) > 0 {
		t.Errorf("the status page has problems:\n%s", summarize(problems))
	}
	for _, w := range tab.warnings() {
		t.Logf("browser warning: %s", w)
	}

	// $TRUNKLINE_SCREENSHOT_AFTER (a duration) keeps the page open that
	// long before the screenshot, so that its charts have a history.
	if after := os.Getenv("TRUNKLINE_SCREENSHOT_AFTER"); after != "" {
		d, err := time.ParseDuration(after)
		if err != nil {
			t.Fatalf("TRUNKLINE_SCREENSHOT_AFTER: %v", err)
		}
		polls := int(d / time.Second)
		var v view
		tab.waitFor(t, shown, &v, d+20*time.Second, func() bool { return v.Polls >= polls })
	}
	shot := tab.screenshot(t, 1280)
	path := os.Getenv("TRUNKLINE_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "status-page.png")
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	if code := p.interrupt(t, 5*time.Second); code != exitOK {
		t.Fatalf("exit code %d after SIGINT, want 0", code)
	}
}

// TestChromiumReportsPageProblems shows that the browser check above can
// fail: each broken page must be reported, the clean one must not.
func TestChromiumReportsPageProblems(t *testing.T) {
	t.Parallel()
	pages := map[string]string{
		"/clean":     `<p>fine</p><script>console.log("hello")</script>`,
		"/exception": `<script>null.x = 1</script>`,
		"/rejection": `<script>Promise.reject(new Error("no"))</script>`,
		"/console":   `<script>console.error("broken")</script>`,
		"/assert":    `<script>console.assert(1 === 2, "one is two")</script>`,
		"/missing":   `<img src="/nothing.png" alt="">`,
		"/later":     `<script>setTimeout(() => { throw new Error("later") }, 50)</script>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><link rel="icon" href="data:,"></head><body>`+body+`</body></html>`)
	}))
	defer srv.Close()
	br := startBrowser(t)

	tests := []struct {
		path string
		want string // in a reported problem; "" for none
	}{
		{"/clean", ""},
		{"/exception", "Cannot set properties of null"},
		{"/rejection", "no"},
		{"/console", "broken"},
		{"/assert", "one is two"},
		{"/missing", "404"},
		{"/later", "later"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, "/"), func(t *testing.T) {
			tab := br.open(t, srv.URL+tt.path)
			if tt.want == "" {
				// Every other page reports its problem before the first
				// round trip after its load; one round trip later the clean
				// page has had the same chance.
				var v int
				tab.eval(t, `new Promise((ok) => setTimeout(() => ok(1), 100))`, &v)
				if got := tab.problems(); len(got) > 0 {
					t.Errorf("problems on a clean page: %q", got)
				}
				return
			}
			got := tab.waitProblem(t, 10*time.Second)
			if !strings.Contains(strings.Join(got, "\n"), tt.want) {
				t.Errorf("problems %q do not mention %q", got, tt.want)
			}
		})
	}
}

// browser is a headless Chromium driven over the DevTools protocol.
type browser struct {
	cmd    *exec.Cmd
	cmds   *os.File // the browser's fd 3
	stderr bytes.Buffer
	exited chan struct{}

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpMessage
	events  []cdpMessage
	changed chan struct{} // closed when an event arrives or the browser exits
	closed  bool
}

// cdpMessage is a DevTools protocol reply or event.
type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startBrowser starts headless Chromium, closed when the test ends. It
// skips the test when Chromium is not installed, unless $CI is set.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is not installed (apt-get install chromium): %v", err)
		}
		t.Skipf("chromium is not installed (apt-get install chromium); set CI=1 to make this a failure")
	}
	dir := t.TempDir()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{
		cmds:    cmdW,
		exited:  make(chan struct{}),
		waiting: make(map[int]chan cdpMessage),
		changed: make(chan struct{}),
	}
	b.cmd = exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--force-color-profile=srgb",
		"--user-data-dir="+dir, "--remote-debugging-pipe", "about:blank")
	b.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	b.cmd.ExtraFiles = []*os.File{cmdR, evW} // fd 3, fd 4
	b.cmd.Stderr = &lockedWriter{w: &b.stderr, mu: &b.mu}
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers go with it
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("cannot start chromium: %v", err)
	}
	cmdR.Close()
	evW.Close()
	go b.read(evR)
	go func() {
		b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		b.call(t, "", "Browser.close", nil, nil)
		select {
		case <-b.exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.exited
		}
		cmdW.Close()
	})
	return b
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// read dispatches the browser's messages until its fd 4 closes: replies to
// their callers, events to the event list.
func (b *browser) read(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			break
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.waiting[m.ID]; ok {
				ch <- m
				delete(b.waiting, m.ID)
			}
		} else {
			b.events = append(b.events, m)
			close(b.changed)
			b.changed = make(chan struct{})
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.closed = true
	close(b.changed)
	b.mu.Unlock()
}

// call sends a command and stores its result in result (when not nil). It
// fails the test on an error reply or when there is no reply within 15 s,
// except for Browser.close, whose reply may never come.
func (b *browser) call(t *testing.T, session, method string, params, result any) {
	t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	reply := make(chan cdpMessage, 1)
	b.waiting[id] = reply
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	raw, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.cmds.Write(append(raw, 0)); err != nil {
		if method == "Browser.close" {
			return
		}
		t.Fatalf("%s: %v", method, err)
	}
	timeout := 15 * time.Second
	if method == "Browser.close" {
		timeout = 5 * time.Second
	}
	select {
	case m := <-reply:
		if m.Error != nil {
			t.Fatalf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				t.Fatalf("%s: %v", method, err)
			}
		}
	case <-b.exited:
		if method != "Browser.close" {
			t.Fatalf("%s: chromium exited\n%s", method, b.stderrText())
		}
	case <-time.After(timeout):
		if method != "Browser.close" {
			t.Fatalf("%s: no reply within %v\n%s", method, timeout, b.stderrText())
		}
	}
}

func (b *browser) stderrText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// tab is one page of the browser, with its own DevTools session.
type tab struct {
	b       *browser
	session string
}

// open loads url in a new tab, with the Runtime, Log and Page domains
// reporting from the start, and waits for its load event.
func (b *browser) open(t *testing.T, url string) *tab {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call(t, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.call(t, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	tb := &tab{b: b, session: attached.SessionID}
	for _, domain := range []string{"Runtime.enable", "Log.enable", "Page.enable"} {
		b.call(t, tb.session, domain, nil, nil)
	}
	b.call(t, tb.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)
	b.mu.Lock()
	seen := len(b.events)
	b.mu.Unlock()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	b.call(t, tb.session, "Page.navigate", map[string]any{"url": url}, &nav)
	if nav.ErrorText != "" {
		t.Fatalf("cannot load %s: %s", url, nav.ErrorText)
	}
	if !tb.waitEvent(seen, 15*time.Second, func(m cdpMessage) bool { return m.Method == "Page.loadEventFired" }) {
		t.Fatalf("%s did not load within 15 s", url)
	}
	return tb
}

// waitEvent reports whether an event of the tab from index from on
// matches within timeout.
func (tb *tab) waitEvent(from int, timeout time.Duration, match func(cdpMessage) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		tb.b.mu.Lock()
		events, changed, closed := tb.b.events, tb.b.changed, tb.b.closed
		tb.b.mu.Unlock()
		for ; from < len(events); from++ {
			if events[from].SessionID == tb.session && match(events[from]) {
				return true
			}
		}
		if closed {
			return false
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// eval evaluates a JavaScript expression in the page, awaiting a promise,
// and stores its JSON value in out.
func (tb *tab) eval(t *testing.T, expr string, out any) {
	t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	tb.b.call(t, tb.session, "Runtime.evaluate",
		map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if r.ExceptionDetails != nil {
		t.Fatalf("evaluating %s: %s", expr, r.ExceptionDetails.Text)
	}
	if err := json.Unmarshal(r.Result.Value, out); err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
}

// waitFor evaluates expr into out until done reports true, failing the
// test after timeout. The page changes on its own timers; each evaluation
// is one round trip to the browser.
func (tb *tab) waitFor(t *testing.T, expr string, out any, timeout time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		tb.eval(t, expr, out)
		if problems := tb.problems(); len(problems) > 0 {
			t.Fatalf("the page has problems:\n%s", summarize(problems))
		}
		if done() {
			return
		}
		if time.Now().After(deadline) {
			got, _ := json.Marshal(out)
			t.Fatalf("the page did not get there within %v; it shows %s", timeout, got)
		}
		<-tick.C
	}
}

// summarize lists problems once each, in order, with how often each came.
func summarize(problems []string) string {
	var order []string
	n := map[string]int{}
	for _, p := range problems {
		if n[p] == 0 {
			order = append(order, p)
		}
		n[p]++
	}
	var b strings.Builder
	for _, p := range order {
		b.WriteString("  " + p)
		if n[p] > 1 {
			fmt.Fprintf(&b, " (×%d)", n[p])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// problems returns what the browser reported against the page so far:
// uncaught exceptions, console errors and failed assertions, error log
// entries.
func (tb *tab) problems() []string { return tb.reports(true) }

// warnings returns the console warnings and warning log entries so far.
func (tb *tab) warnings() []string { return tb.reports(false) }

// waitProblem waits until the browser reports a problem and returns them.
func (tb *tab) waitProblem(t *testing.T, timeout time.Duration) []string {
	t.Helper()
	tb.waitEvent(0, timeout, func(m cdpMessage) bool { _, bad := describe(m); return bad })
	return tb.problems()
}

func (tb *tab) reports(problems bool) []string {
	tb.b.mu.Lock()
	events := tb.b.events
	tb.b.mu.Unlock()
	var out []string
	for _, m := range events {
		if m.SessionID != tb.session {
			continue
		}
		text, bad := describe(m)
		if text != "" && bad == problems {
			out = append(out, text)
		}
	}
	return out
}

// describe returns the text of a console or log event and whether it is a
// problem; "" for other events and for plain messages.
func describe(m cdpMessage) (text string, problem bool) {
	switch m.Method {
	case "Runtime.exceptionThrown":
		var p struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				URL       string `json:"url"`
				Line      int    `json:"lineNumber"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(m.Params, &p)
		d := p.ExceptionDetails
		return fmt.Sprintf("uncaught exception at %s:%d: %s %s", d.URL, d.Line+1, d.Text, d.Exception.Description), true
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		json.Unmarshal(m.Params, &p)
		var args []string
		for _, a := range p.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, fmt.Sprint(a.Value))
			}
		}
		text = "console." + p.Type + ": " + strings.Join(args, " ")
		switch p.Type {
		case "error", "assert":
			return text, true
		case "warning":
			return text, false
		}
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Level  string `json:"level"`
				Source string `json:"source"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		json.Unmarshal(m.Params, &p)
		e := p.Entry
		text = fmt.Sprintf("%s %s: %s %s", e.Source, e.Level, e.Text, e.URL)
		switch e.Level {
		case "error":
			return text, true
		case "warning":
			return text, false
		}
	}
	return "", false
}

// screenshot returns a PNG of the whole page at the given width.
func (tb *tab) screenshot(t *testing.T, width int) []byte {
	t.Helper()
	var layout struct {
		ContentSize struct {
			Height float64 `json:"height"`
		} `json:"cssContentSize"`
	}
	tb.b.call(t, tb.session, "Page.getLayoutMetrics", nil, &layout)
	height := int(math.Ceil(layout.ContentSize.Height))
	tb.b.call(t, tb.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	var shot struct {
		Data string `json:"data"`
	}
	tb.b.call(t, tb.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	raw, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if got := img.Bounds().Dx(); got != width {
		t.Errorf("screenshot is %d px wide, want %d", got, width)
	}
	return raw
}
