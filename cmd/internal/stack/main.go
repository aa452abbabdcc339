package stack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main runs parts as a binary: configuration from the environment, JSON
// logs, and a graceful stop on SIGINT or SIGTERM. It returns the exit code.
func Main(name string, parts Parts, embedded bool, started func(*Stack)) int {
	cfg, err := FromEnv()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", name)
	if err != nil {
		log.Error("bad configuration", "err", err)
		return 2
	}
	if embedded {
		stop, err := Embedded(&cfg)
		defer stop()
		if err != nil {
			log.Error("cannot start embedded servers", "err", err)
			return 1
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if cfg.PprofAddr != "" {
		if err := servePprof(ctx, cfg.PprofAddr); err != nil {
			log.Error("cannot serve profiles", "addr", cfg.PprofAddr, "err", err)
			return 1
		}
	}
	s, err := Start(ctx, cfg, parts, nil, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	log.Info("started", "kafka", cfg.Kafka.Brokers, "redis", cfg.RedisAddr, "url", s.URL)
	if started != nil {
		started(s)
	}
	<-ctx.Done()
	log.Info("stopping", "grace", cfg.ShutdownGrace.String())
	if err := s.Wait(); err != nil {
		log.Error("stopped with errors", "err", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, name+": stopped")
	return 0
}

// servePprof serves the runtime's profiles on addr until ctx ends.
func servePprof(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	go srv.Serve(ln)
	return nil
}
