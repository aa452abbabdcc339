package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clearway/clearway/cmd/internal/stack"
	"github.com/clearway/clearway/customs/sim"
)

// customsSim serves the customs simulator over HTTP on CLEARWAY_SIM_ADDR,
// for customs adapters running with CLEARWAY_TRANSPORT=http; or, with
// CLEARWAY_CUSTOMS_DIR set, plays the single-window client on the other
// side of the dir transport's folders.
func customsSim() int {
	cfg, err := stack.FromEnv()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "customs-sim")
	if err != nil {
		log.Error("bad configuration", "err", err)
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if cfg.CustomsDir != "" {
		log.Info("customs simulator serving folders", "dir", cfg.CustomsDir, "seed", cfg.Sim.Seed)
		if err := sim.ServeDir(ctx, sim.New(cfg.Sim), cfg.CustomsDir, log); err != nil {
			log.Error("stopped", "err", err)
			return 1
		}
		return 0
	}
	srv := sim.NewServer(sim.New(cfg.Sim), 30*time.Second)
	ln, err := net.Listen("tcp", cfg.SimAddr)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.SimAddr, "err", err)
		return 1
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); hs.Close() }()
	go srv.Run(ctx)
	log.Info("customs simulator listening", "url", "http://"+ln.Addr().String(), "seed", cfg.Sim.Seed)
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error("stopped", "err", err)
		return 1
	}
	return 0
}
