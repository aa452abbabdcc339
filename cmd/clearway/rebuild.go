package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clearway/clearway/cmd/internal/stack"
	"github.com/clearway/clearway/gateway/store"
)

const rebuildUsage = `usage: clearway rebuild [--force]

Replays clearway.declarations.v1 and clearway.receipts.v1 from Kafka
(CLEARWAY_KAFKA_BROKERS) into Redis (CLEARWAY_REDIS_ADDR) and exits. Into
an empty Redis it rebuilds every declaration, its history, messages and
indexes exactly, statistics and the customs adapter's send journal included.
Refuses a Redis that holds declarations unless --force.
API keys, the blacklist and webhook subscriptions live only in Redis and
are not rebuilt.
`

func rebuild(args []string, stderr io.Writer) int {
	force := len(args) == 1 && args[0] == "--force"
	if len(args) > 1 || (len(args) == 1 && !force) {
		fmt.Fprint(stderr, rebuildUsage)
		return 2
	}
	cfg, err := stack.FromEnv()
	if err != nil {
		fmt.Fprintln(stderr, "clearway rebuild:", err)
		return 2
	}
	if len(cfg.Kafka.Brokers) == 0 || cfg.RedisAddr == "" {
		fmt.Fprintln(stderr, "clearway rebuild: set CLEARWAY_KAFKA_BROKERS and CLEARWAY_REDIS_ADDR")
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rdb := cfg.NewRedis()
	holds, err := store.HoldsDeclarations(ctx, rdb)
	rdb.Close()
	if err != nil {
		fmt.Fprintln(stderr, "clearway rebuild: redis:", err)
		return 1
	}
	if holds && !force {
		fmt.Fprintln(stderr, "clearway rebuild: Redis already holds declarations; rebuild into an empty one, or pass --force to replay over it")
		return 1
	}
	start, last := time.Now(), time.Time{}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	err = stack.Rebuild(ctx, cfg, log, func(topic string, done, total int64) {
		if time.Since(last) > time.Second || done == total {
			last = time.Now()
			fmt.Fprintf(stderr, "%s: %d of %d messages (%.0f%%)\n", topic, done, total, 100*float64(done)/float64(max(total, 1)))
		}
	})
	if err != nil {
		fmt.Fprintln(stderr, "clearway rebuild:", err)
		return 1
	}
	fmt.Fprintf(stderr, "rebuilt in %s\n", time.Since(start).Round(time.Millisecond))
	return 0
}
