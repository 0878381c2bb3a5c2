package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trunkline/trunkline/pipeline"
	"github.com/trunkline/trunkline/sink"
)

// Roles of a job.
const (
	roleProcessor = "processor" // pipeline.Processor with the Kafka sink
	roleBare      = "bare"      // franz-go group consumer that discards
	roleDecodeH3  = "decode-h3" // group consumer that decodes and indexes each ping
	roleRelay     = "relay"     // group consumer that produces each ping unchanged (live floor)
)

// job is one consumer the harness runs against the broker: the processor
// or a baseline. It runs in a child process (the default: its heap, GC and
// RSS are its own, as with a real broker) or in the harness's process.
type job struct {
	Role    string   `json:"role"`
	Brokers []string `json:"brokers"`
	Group   string   `json:"group"`
	// Expect is the number of car-ping records to consume; the job is done
	// once it has consumed them (and, for the processor, every event and
	// dead letter is acknowledged). 0 runs until stopped.
	Expect int64 `json:"expect"`
	// ExpectTables are the windows, routes and courier pings the processor
	// must also have consumed before it is done (memory scenario).
	ExpectWindows  int64 `json:"expect_windows,omitempty"`
	ExpectRoutes   int64 `json:"expect_routes,omitempty"`
	ExpectCouriers int64 `json:"expect_couriers,omitempty"`
	// Memory asks for the heap after a GC and the RSS once done.
	Memory bool `json:"memory,omitempty"`
	// Overrides change the processor's (or the baseline's) settings.
	Overrides Overrides `json:"overrides"`
	// CPUProfile, if set, is written over the timed phase.
	CPUProfile string `json:"cpuprofile,omitempty"`
	// HeapProfile, if set, receives a heap profile of a Memory job once
	// its state is loaded and collected.
	HeapProfile string `json:"heapprofile,omitempty"`
}

// jobMsg is one line a job reports.
type jobMsg struct {
	Kind     string     `json:"kind"` // "ready", "progress", "done", "error"
	Err      string     `json:"err,omitempty"`
	Progress jobCounts  `json:"progress"`
	Result   *jobResult `json:"result,omitempty"`
}

// jobCounts are a job's counters at a point in time.
type jobCounts struct {
	Consumed      uint64 `json:"consumed"`
	EventsEmitted uint64 `json:"events_emitted"`
	EventsAcked   uint64 `json:"events_acked"`
	// CPU is the job process's CPU time since the job started.
	CPU time.Duration `json:"cpu_ns"`
	// GCs is the collections the process has completed, GCCPU the CPU
	// time the Go runtime estimates its collector used (marking, idle
	// marking and pauses included), both since the process started.
	GCs   uint64        `json:"gcs"`
	GCCPU time.Duration `json:"gc_cpu_ns"`
}

// counts returns a job's counters with its CPU time since cpu0 and its
// process's collections filled in.
func counts(consumed, emitted, acked uint64, cpu0 time.Duration) jobCounts {
	gcs, gcCPU := gcTotals()
	return jobCounts{Consumed: consumed, EventsEmitted: emitted, EventsAcked: acked, CPU: cpuTime() - cpu0, GCs: gcs, GCCPU: gcCPU}
}

// gcTotals returns the collections this process has completed and the
// CPU time its collector used, from runtime/metrics.
func gcTotals() (cycles uint64, cpu time.Duration) {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		cycles = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindFloat64 {
		cpu = time.Duration(s[1].Value.Float64() * float64(time.Second))
	}
	return cycles, cpu
}

// jobResult is what a finished job measured.
type jobResult struct {
	Role string `json:"role"`
	// Elapsed is from the start of the job (clients created, the processor
	// started) until it was done; Ready is when the processor was ready
	// (tables loaded, group joined).
	Elapsed time.Duration `json:"elapsed_ns"`
	Ready   time.Duration `json:"ready_ns"`
	// CPU is the CPU time (user and system) the job's process used over
	// Elapsed; HarnessCPU is about what the harness's process (the
	// broker, mostly) used meanwhile. Each includes all its process did:
	// in-process they are the same process's.
	CPU        time.Duration `json:"cpu_ns"`
	HarnessCPU time.Duration `json:"harness_cpu_ns"`
	// MachineCPU is the busy CPU time of the whole machine (every
	// process) over the same span as HarnessCPU, from /proc/stat.
	MachineCPU time.Duration `json:"machine_cpu_ns"`

	Consumed     uint64            `json:"consumed"`
	Applied      uint64            `json:"applied"`
	Filtered     uint64            `json:"filtered"`
	DeadLettered uint64            `json:"dead_lettered"`
	Emitted      uint64            `json:"events_emitted"`
	Acked        uint64            `json:"events_acked"`
	DeadLetters  uint64            `json:"dead_letters"`
	Events       map[string]uint64 `json:"events,omitempty"`
	Tables       [3]uint64         `json:"tables"` // windows, routes, courier pings consumed
	Checksum     int64             `json:"checksum,omitempty"`

	// Memory, when asked for: after runtime.GC.
	HeapAlloc uint64 `json:"heap_alloc"`
	HeapInuse uint64 `json:"heap_inuse"`
	HeapSys   uint64 `json:"heap_sys"`
	RSS       uint64 `json:"rss"`
	RSSPeak   uint64 `json:"rss_peak"`
	// RSSReleased is the RSS once the runtime has returned every free
	// page to the system (debug.FreeOSMemory): what the state needs.
	RSSReleased uint64 `json:"rss_released"`
	OpenWindows int64  `json:"open_windows"`
	TrackedCars int64  `json:"tracked_cars"`
	Couriers    int64  `json:"couriers"`
	StateBytes  int64  `json:"state_bytes"`
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy returns the CPU time every CPU of the machine has spent
// busy (all but idle and iowait), from /proc/stat; 0 if it cannot be read.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is already in user
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on Linux.
const clockTicks = 100

// benchGrantKey signs the grants of benchmark runs; it is not a secret.
var benchGrantKey = []byte("trunkline-bench-grant-key-0123456789")

// runJob runs j until it is done or ctx is done, reporting through report
// (from this goroutine only). It returns the result, or an error.
func runJob(ctx context.Context, j job, report func(jobMsg)) (*jobResult, error) {
	switch j.Role {
	case roleProcessor:
		return runProcessorJob(ctx, j, report)
	case roleBare, roleDecodeH3:
		return runBaselineJob(ctx, j, report)
	case roleRelay:
		return runRelayJob(ctx, j, report)
	}
	return nil, fmt.Errorf("unknown job role %q", j.Role)
}

// startProfile starts the CPU profile of j, if asked for; the returned
// function stops it and writes the allocation profile of the process so
// far (all allocations since it started, sampled) beside it, with
// .allocs before the extension.
func startProfile(j job) (func(), error) {
	if j.CPUProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(j.CPUProfile)
	if err != nil {
		return nil, fmt.Errorf("cannot create the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot start the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if err := WriteProfile("allocs", AllocsProfilePath(j.CPUProfile)); err != nil {
			fmt.Fprintln(os.Stderr, "trunkline-bench:", err)
		}
	}, nil
}

// pollEvery is how often a job checks whether it is done; progressEvery
// how often it reports its counters.
const (
	pollEvery     = 2 * time.Millisecond
	progressEvery = 100 * time.Millisecond
)

// runProcessorJob runs the processor with the Kafka sink of package sink,
// exactly as `trunkline run` wires them, with default settings.
func runProcessorJob(ctx context.Context, j job, report func(jobMsg)) (*jobResult, error) {
	cfg := pipeline.DefaultConfig()
	cfg.Brokers = j.Brokers
	cfg.Group = j.Group
	cfg.Engine.GrantKey = benchGrantKey
	o := j.Overrides
	if o.ProduceLinger != nil {
		cfg.ProduceLinger = *o.ProduceLinger
	}
	if o.MaxBufferedRecords > 0 {
		cfg.MaxBufferedRecords = o.MaxBufferedRecords
	}
	if o.MaxPollRecords > 0 {
		cfg.MaxPollRecords = o.MaxPollRecords
	}
	cfg.FetchMaxWait = o.fetchMaxWait(cfg)
	if o.MemoryLimit > 0 {
		debug.SetMemoryLimit(o.MemoryLimit)
	}
	if os.Getenv("GOGC") == "" { // as trunkline run: GOGC wins over gc_percent
		gc := pipeline.DefaultGCPercent
		if o.GCPercent != nil {
			gc = *o.GCPercent
		}
		debug.SetGCPercent(gc)
	}
	cfg.FetchMaxPartitionBytes = o.fetchMaxPartitionBytes(cfg)
	cfg.FetchMinBytes = o.fetchMinBytes(cfg)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	stopProfile, err := startProfile(j)
	if err != nil {
		return nil, err
	}
	profiling := true
	defer func() {
		if profiling {
			stopProfile()
		}
	}()

	start, cpu0 := time.Now(), cpuTime()
	snk, err := sink.NewKafka(sink.KafkaConfigFrom(cfg), sinkClientID)
	if err != nil {
		return nil, err
	}
	defer snk.Close(10 * time.Second)
	reg := prometheus.NewRegistry()
	proc, err := pipeline.NewProcessor(cfg, pipeline.Options{Sink: snk, Registerer: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- proc.Run(runCtx) }()

	res := &jobResult{Role: j.Role}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	lastProgress := start
	for {
		select {
		case err := <-runErr:
			if err == nil {
				err = errors.New("the processor stopped before it was done")
			}
			return nil, err
		case <-ctx.Done():
			if j.Expect > 0 {
				cancel()
				<-runErr
				return nil, ctx.Err()
			}
		case <-tick.C:
		}
		s := proc.Snapshot()
		now := time.Now()
		if res.Ready == 0 && s.Ready && s.Partitions > 0 {
			res.Ready = now.Sub(start)
			report(jobMsg{Kind: "ready"})
		}
		if now.Sub(lastProgress) >= progressEvery {
			lastProgress = now
			report(jobMsg{Kind: "progress", Progress: counts(s.CarPings.Consumed, s.EventsEmitted, s.EventsAcked, cpu0)})
		}
		done := ctx.Err() != nil
		if j.Expect > 0 {
			done = s.CarPings.Consumed >= uint64(j.Expect) &&
				s.Windows.Consumed >= uint64(j.ExpectWindows) &&
				s.Routes.Consumed >= uint64(j.ExpectRoutes) &&
				s.CourierPings.Consumed >= uint64(j.ExpectCouriers) &&
				s.EventsAcked == s.EventsEmitted && s.DeadLettersAcked == s.DeadLetters
		}
		if !done {
			continue
		}
		res.Elapsed, res.CPU = now.Sub(start), cpuTime()-cpu0
		stopProfile()
		profiling = false
		fillProcessorResult(res, s)
		if j.Memory {
			if err := measureMemory(res, reg, j.HeapProfile); err != nil {
				return nil, err
			}
		}
		break
	}
	cancel()
	if err := <-runErr; err != nil {
		return nil, fmt.Errorf("the processor failed on stop: %w", err)
	}
	// The counters after a clean stop: anything emitted while stopping is
	// acknowledged too.
	s := proc.Snapshot()
	fillProcessorResult(res, s)
	if s.EventsAcked != s.EventsEmitted || s.ProduceErrors != 0 {
		return nil, fmt.Errorf("the processor stopped with %d events emitted, %d acknowledged, %d produce errors", s.EventsEmitted, s.EventsAcked, s.ProduceErrors)
	}
	return res, nil
}

// sinkClientID names the sink's client as `trunkline run` does.
var sinkClientID = kgo.ClientID("trunkline-sink")

func fillProcessorResult(res *jobResult, s pipeline.Snapshot) {
	c := s.CarPings
	res.Consumed, res.Applied, res.Filtered, res.DeadLettered = c.Consumed, c.Applied, c.Filtered, c.DeadLettered
	res.Emitted, res.Acked, res.DeadLetters = s.EventsEmitted, s.EventsAcked, s.DeadLetters
	res.Tables = [3]uint64{s.Windows.Consumed, s.Routes.Consumed, s.CourierPings.Consumed}
	res.Events = make(map[string]uint64)
	for _, t := range pipeline.EventTypes() {
		if n := s.Events[t]; n > 0 {
			res.Events[t.String()] = n
		}
	}
}

// measureMemory collects garbage and reads the heap, the RSS of this
// process and the state gauges the processor exports.
func measureMemory(res *jobResult, reg *prometheus.Registry, heapProfile string) error {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if heapProfile != "" {
		if err := WriteProfile("heap", heapProfile); err != nil {
			return err
		}
	}
	res.HeapAlloc, res.HeapInuse, res.HeapSys = ms.HeapAlloc, ms.HeapInuse, ms.HeapSys
	res.RSS, res.RSSPeak = procStatus("VmRSS:"), procStatus("VmHWM:")
	debug.FreeOSMemory()
	res.RSSReleased = procStatus("VmRSS:")
	res.OpenWindows = gaugeValue(reg, "trunkline_open_windows")
	res.TrackedCars = gaugeValue(reg, "trunkline_tracked_cars")
	res.Couriers = gaugeValue(reg, "trunkline_couriers")
	res.StateBytes = gaugeValue(reg, "trunkline_state_bytes")
	return nil
}

// AllocsProfilePath returns where the allocation profile written with the
// CPU profile at path goes: path with .allocs before its extension.
func AllocsProfilePath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + ".allocs" + ext
}

// WriteProfile writes the named runtime/pprof profile (heap, allocs) of
// this process to path. It collects garbage first: these profiles are as
// of the last completed collection, which in a process with a large heap
// may be many seconds old, and would leave out everything allocated since.
func WriteProfile(name, path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create the %s profile: %w", name, err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("cannot write the %s profile: %w", name, err)
	}
	return f.Close()
}

// procStatus returns a kB field of /proc/self/status in bytes, 0 if it
// cannot be read.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// gaugeValue sums the gauge name over its series; -1 when it is not
// exported.
func gaugeValue(reg *prometheus.Registry, name string) int64 {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var v float64
		for _, m := range mf.GetMetric() {
			v += m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
		return int64(v)
	}
	return -1
}

// ChildEnv, set to 1 in a process's environment, makes a program built
// with the harness run one job (RunChild) instead of its own main.
const ChildEnv = "TRUNKLINE_BENCH_CHILD"

// RunChild runs one job in this process for a parent harness: it reads the
// job (one JSON line) from stdin, reports on stdout (one JSON line per
// message) and stops the job when stdin is closed. It blocks until the job
// ends and returns its error.
func RunChild(stdin io.Reader, stdout io.Writer) error {
	r := bufio.NewReader(stdin)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("cannot read the job: %w", err)
	}
	var j job
	if err := json.Unmarshal(line, &j); err != nil {
		return fmt.Errorf("cannot decode the job: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, r) // returns when the parent closes stdin
		cancel()
	}()
	enc := json.NewEncoder(stdout)
	res, err := runJob(ctx, j, func(m jobMsg) { _ = enc.Encode(m) })
	if err != nil {
		_ = enc.Encode(jobMsg{Kind: "error", Err: err.Error()})
		return err
	}
	return enc.Encode(jobMsg{Kind: "done", Result: res})
}

// Spawner starts a child process that runs RunChild (for instance the
// harness's own executable with ChildEnv=1). nil runs jobs in the
// harness's process.
type Spawner func(ctx context.Context) *exec.Cmd

// runningJob is a job started by the harness.
type runningJob struct {
	msgs   chan jobMsg // closed when the job ends
	stop   func()      // asks the job to stop
	wait   func() error
	result *jobResult
	err    error
	mu     sync.Mutex
	last   jobCounts
	// doneCPU and doneBusy are the harness's and the machine's CPU time
	// when the result came.
	doneCPU, doneBusy time.Duration
}

// startJob starts j in a child process made by spawn, or in this process
// when spawn is nil.
func startJob(ctx context.Context, spawn Spawner, j job) (*runningJob, error) {
	rj := &runningJob{msgs: make(chan jobMsg, 64)}
	if spawn == nil {
		jctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		rj.stop = cancel
		go func() {
			defer close(done)
			defer close(rj.msgs)
			res, err := runJob(jctx, j, rj.deliver)
			if err != nil {
				rj.msgs <- jobMsg{Kind: "error", Err: err.Error()}
				return
			}
			rj.msgs <- jobMsg{Kind: "done", Result: res}
		}()
		rj.wait = func() error { <-done; cancel(); return nil }
		return rj, nil
	}
	cmd := spawn(ctx)
	cmd.Env = append(cmd.Environ(), ChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start the job process: %w", err)
	}
	line, _ := json.Marshal(j)
	if _, err := stdin.Write(append(line, '\n')); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("cannot send the job: %w", err)
	}
	var once sync.Once
	rj.stop = func() { once.Do(func() { stdin.Close() }) }
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(rj.msgs)
		dec := json.NewDecoder(stdout)
		for {
			var m jobMsg
			if err := dec.Decode(&m); err != nil {
				return
			}
			rj.deliver(m)
		}
	}()
	rj.wait = func() error {
		rj.stop()
		<-readDone
		return cmd.Wait()
	}
	return rj, nil
}

// deliver records a progress message and queues the others, so that a
// job never waits for the harness to read its progress.
func (rj *runningJob) deliver(m jobMsg) {
	if m.Kind == "progress" {
		rj.mu.Lock()
		rj.last = m.Progress
		rj.mu.Unlock()
		return
	}
	rj.msgs <- m
}

// progress returns the job's latest counters.
func (rj *runningJob) progress() jobCounts {
	rj.mu.Lock()
	defer rj.mu.Unlock()
	return rj.last
}

// next returns the job's next message other than progress, or false when
// the job ended without one.
func (rj *runningJob) next(ctx context.Context) (jobMsg, bool) {
	select {
	case m, ok := <-rj.msgs:
		return m, ok
	case <-ctx.Done():
		return jobMsg{}, false
	}
}

// finish waits for the job's result, stops it and waits for it to exit.
func (rj *runningJob) finish(ctx context.Context) (*jobResult, error) {
	var res *jobResult
	var err error
	for res == nil && err == nil {
		m, ok := rj.next(ctx)
		switch {
		case !ok:
			err = errors.New("the job ended without a result")
			if ctx.Err() != nil {
				err = ctx.Err()
			}
		case m.Kind == "done":
			res = m.Result
			rj.doneCPU, rj.doneBusy = cpuTime(), machineBusy()
		case m.Kind == "error":
			err = errors.New(m.Err)
		}
	}
	rj.stop()
	go func() {
		for range rj.msgs { // drain until the reader ends
		}
	}()
	if werr := rj.wait(); werr != nil && err == nil {
		err = fmt.Errorf("the job process failed: %w", werr)
	}
	return res, err
}

// runJobTo runs j to completion.
func runJobTo(ctx context.Context, spawn Spawner, j job) (*jobResult, error) {
	cpu0, busy0 := cpuTime(), machineBusy()
	rj, err := startJob(ctx, spawn, j)
	if err != nil {
		return nil, err
	}
	res, err := rj.finish(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.Role, err)
	}
	// From the job's start until its result came: the child's start
	// (a few tens of milliseconds) more than its timed phase.
	res.HarnessCPU = rj.doneCPU - cpu0
	res.MachineCPU = rj.doneBusy - busy0
	return res, nil
}

// fetchMinBytes is the fetch_min_bytes of the processor and the relay.
func (o Overrides) fetchMinBytes(cfg pipeline.Config) int32 {
	if o.FetchMinBytes > 0 {
		return o.FetchMinBytes
	}
	return cfg.FetchMinBytes
}

// fetchMaxPartitionBytes is the fetch_max_partition_bytes of a job that
// follows the processor's settings: the override, else cfg's.
func (o Overrides) fetchMaxPartitionBytes(cfg pipeline.Config) int32 {
	if o.FetchMaxPartitionBytes > 0 {
		return o.FetchMaxPartitionBytes
	}
	return cfg.FetchMaxPartitionBytes
}

// fetchMaxWait is the fetch_max_wait of every consumer of a job: the
// override, else cfg's.
func (o Overrides) fetchMaxWait(cfg pipeline.Config) time.Duration {
	if o.FetchMaxWait > 0 {
		return o.FetchMaxWait
	}
	return cfg.FetchMaxWait
}
