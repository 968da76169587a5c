// Command prism is newsbeam's build of Prism, Apache Beam's portable local
// runner: the job server that `newsbeam stream` starts, owns and stops
// (pipelines/prism.py).  `make prism` builds it into .tools/bin/prism.
//
// Why it exists: systemd stops a service by sending SIGTERM to every process
// in its control group (the default KillMode=control-group and
// KillSignal=SIGTERM), so Prism gets the SIGTERM meant for newsbeam.  The
// stock binary (github.com/apache/beam/sdks/v2/go/cmd/prism) dies of it: the
// Go runtime installs its own SIGTERM handler whatever disposition a program
// inherits, so neither newsbeam nor systemd can keep SIGTERM from it, and the
// job died with a gRPC error before newsbeam could commit its open windows.
// Only the program itself can ignore SIGTERM, and this one does, first thing
// in main.  (Before main, while Go initialises its packages, about 15 ms
// after exec here, a SIGTERM still kills it; newsbeam has not submitted the
// job then, and takes such a death during a stop as part of that stop.)
//
// It runs the same job server as the stock binary, from the same Beam
// version as newsbeam's Python SDK (prism.CreateJobServer), and differs in:
//
//   - SIGTERM, SIGINT and SIGHUP are ignored: a signal sent to every process
//     of the service, a terminal or a process group never stops it.
//   - SIGUSR1 stops it (exit status 0): newsbeam sends it once the job has
//     ended.  SIGKILL does too, and SIGQUIT (Ctrl-\ in a terminal) still
//     makes the Go runtime dump its goroutines and exit with status 2.
//   - It exits (status 1) when its parent process is gone, checked every
//     second: newsbeam also starts it with PR_SET_PDEATHSIG=SIGKILL, and this
//     is the second line of defence, for a parent that dies while the
//     kernel's death signal cannot be set or does not fire.
//   - It has no web UI, and logs to stderr as text (-log_kind=text, the
//     default) or JSON.
//   - With NEWSBEAM_PRISM_PPROF=127.0.0.1:PORT it serves Go's profiles
//     (net/http/pprof) on that loopback address, for memory investigations.
//
// Its flags are those of the stock binary that newsbeam uses: -job_port,
// -idle_shutdown_timeout, -log_kind (text or json), -log_level, and
// -serve_http, which must be false.  newsbeam passes the same command line to
// either binary ($NEWSBEAM_PRISM or --prism_location may name a stock one).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

// StopSignal is the signal that newsbeam sends to stop this Prism.
const StopSignal = syscall.SIGUSR1

var (
	jobPort             = flag.Int("job_port", 8073, "the job management service port")
	idleShutdownTimeout = flag.Duration("idle_shutdown_timeout", -1, "how long to wait for a new job before shutting down; negative: never")
	logKind             = flag.String("log_kind", "text", "the format of the log on stderr: 'text' or 'json'")
	logLevel            = flag.String("log_level", "info", "the minimum log level: 'debug', 'info', 'warn' or 'error'")
	serveHTTP           = flag.Bool("serve_http", false, "accepted for the stock binary's command line; this build has no web UI, so it must be false")
)

var errStopped = errors.New("stopped by SIGUSR1, its owner's stop signal")

func main() {
	// First thing: from here on, only SIGUSR1, SIGKILL or the parent's death stop it.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	parent := os.Getppid()
	flag.Parse()
	logger, err := newLogger(*logKind, *logLevel)
	if err != nil {
		fail(2, err.Error())
	}
	slog.SetDefault(logger)
	if *serveHTTP {
		fail(2, "-serve_http=true: this build of Prism has no web UI")
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, StopSignal)
	go func() {
		<-stop
		cancel(errStopped)
	}()
	go watchParent(parent)
	if address := os.Getenv(PprofEnv); address != "" {
		servePprof(address)
	}

	if _, err := prism.CreateJobServer(ctx, prism.Options{
		Port:                *jobPort,
		IdleShutdownTimeout: *idleShutdownTimeout,
		CancelFn:            cancel,
	}); err != nil {
		fail(1, fmt.Sprintf("error creating job server: %v", err))
	}
	slog.Info("newsbeam's Prism serves jobs; it ignores SIGTERM, SIGINT and SIGHUP",
		"stop_signal", "SIGUSR1", "parent", parent)
	<-ctx.Done()
	slog.Info("Prism stops", "cause", context.Cause(ctx))
}

// PprofEnv names the environment variable that, set to a loopback address
// (127.0.0.1:PORT), makes Prism serve Go's profiles (net/http/pprof) there:
// heap, goroutines, allocations, for memory investigations.  Unset, nothing
// listens.
const PprofEnv = "NEWSBEAM_PRISM_PPROF"

// servePprof serves /debug/pprof/ on a loopback address only.
func servePprof(address string) {
	host, _, err := net.SplitHostPort(address)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fail(2, fmt.Sprintf("%s=%s: must be a loopback address and port, such as 127.0.0.1:6060", PprofEnv, address))
	}
	listener, err := net.Listen("tcp", address)
	if err != nil {
		fail(2, fmt.Sprintf("%s=%s: %v", PprofEnv, address, err))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	slog.Info("serving Go profiles", "address", listener.Addr().String())
	go func() { _ = http.Serve(listener, mux) }()
}

// watchParent exits once the process that started Prism is gone: Prism is
// then re-parented to init or a subreaper, and os.Getppid changes.
func watchParent(parent int) {
	for range time.Tick(time.Second) {
		if now := os.Getppid(); now != parent {
			slog.Error("Prism's parent process is gone: exiting", "parent", parent, "now", now)
			os.Exit(1)
		}
	}
}

func newLogger(kind, level string) (*slog.Logger, error) {
	options := &slog.HandlerOptions{}
	switch strings.ToLower(level) {
	case "debug":
		options.Level, options.AddSource = slog.LevelDebug, true
	case "info":
		options.Level = slog.LevelInfo
	case "warn":
		options.Level = slog.LevelWarn
	case "error":
		options.Level = slog.LevelError
	default:
		return nil, fmt.Errorf("invalid -log_level=%s: must be 'debug', 'info', 'warn' or 'error'", level)
	}
	switch strings.ToLower(kind) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, options)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, options)), nil
	}
	return nil, fmt.Errorf("invalid -log_kind=%s: this build of Prism logs 'text' or 'json'", kind)
}

func fail(status int, message string) {
	fmt.Fprintln(os.Stderr, "prism:", message)
	os.Exit(status)
}
