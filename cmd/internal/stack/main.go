package stack

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
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
