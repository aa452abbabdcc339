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
	c := sim.New(cfg.Sim)
	srv := sim.NewServer(c, 30*time.Second)
	ln, err := net.Listen("tcp", cfg.SimAddr)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.SimAddr, "err", err)
		return 1
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); hs.Close() }()
	if cfg.CustomsDir != "" {
		// The folders carry the messages; HTTP still answers /sim/
		// (what was declared, faults) for tests and operators.
		go hs.Serve(ln)
		log.Info("customs simulator serving folders", "dir", cfg.CustomsDir, "seed", cfg.Sim.Seed, "inspect", "http://"+ln.Addr().String()+"/sim/")
		if err := sim.ServeDir(ctx, c, cfg.CustomsDir, log); err != nil {
			log.Error("stopped", "err", err)
			return 1
		}
		return 0
	}
	go srv.Run(ctx)
	log.Info("customs simulator listening", "url", "http://"+ln.Addr().String(), "seed", cfg.Sim.Seed)
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error("stopped", "err", err)
		return 1
	}
	return 0
}
