package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPConfig is the http section of the configuration.
type HTTPConfig struct {
	// Addr is the listen address of the operations endpoint (/metrics,
	// /healthz, /readyz). Port 0 picks a free port; the actual address is
	// logged.
	Addr string `yaml:"addr"`
	// PProf serves the Go profiler under /debug/pprof/ on Addr. Off by
	// default: profiles show internals and cost CPU while they run.
	PProf bool `yaml:"pprof"`
}

// httpErrorLogInterval is the least time between two logged errors of the
// operations endpoint (bad requests, failed scrapes): a client can cause
// them at will.
const httpErrorLogInterval = 10 * time.Second

// newRegistry returns the registry a command's metrics go to: a fresh
// registry with the Go runtime and process collectors, never the global one.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// httpServer is the operations endpoint of a long-running command.
type httpServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan error // Serve's result
}

// startOps listens on c.Addr and serves, in its own goroutine:
//
//	/metrics       the registry, in the Prometheus exposition format
//	/healthz       200 "ok" while the process runs
//	/readyz        200 "ready" when ready() is true, else 503 "not ready"
//	/debug/pprof/  the Go profiler, when c.PProf is set (404 otherwise)
//	/              status, when status is not nil
//
// ready must be safe for concurrent use. Errors of the endpoint itself are
// logged at most once per httpErrorLogInterval. The server runs until
// Shutdown.
func startOps(c HTTPConfig, reg *prometheus.Registry, ready func() bool, status http.Handler, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on http address %q: %w (set --http or http.addr)", c.Addr, err)
	}
	errLog := slog.NewLogLogger(newLimitedHandler(log.Handler(), httpErrorLogInterval), slog.LevelWarn)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: errLog}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	if c.PProf {
		// pprof.Index serves the named profiles (heap, goroutine, ...)
		// below /debug/pprof/ too.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	if status != nil {
		mux.Handle("GET /{$}", status)
	}
	s := &httpServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          errLog,
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	args := []any{"addr", s.Addr(), "metrics", "http://" + s.Addr() + "/metrics"}
	if c.PProf {
		args = append(args, "pprof", "http://"+s.Addr()+"/debug/pprof/")
	}
	log.Info("http listening", args...)
	return s, nil
}

// Addr returns the address the server listens on.
func (s *httpServer) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting requests, waits for those in flight until ctx
// ends, and waits for the serving goroutine.
func (s *httpServer) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
