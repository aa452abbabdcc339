package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/clearway/clearway/cmd/internal/bench"
	"github.com/clearway/clearway/cmd/internal/stack"
)

const benchUsage = `usage: clearway bench [--short] [--json] [--growth 0,1000000,5000000] [--read-rate 5000] [--kafka-pid PID] [--dir DIR]

Measures Clearway on the real Kafka (CLEARWAY_KAFKA_BROKERS) and Redis
(CLEARWAY_REDIS_ADDR, CLEARWAY_REDIS_DB, CLEARWAY_REDIS_CLUSTER): runs the
customs simulator, gateway, tracker and adapter as processes of this
binary on topics of their own, and reports ingest, lifecycle, status
reads, CPU per process (Redis's and a local broker's too), Redis bytes per declaration, raw kafka-go and
go-redis ceilings in the same run, and the same figures again with more
declarations stored. The Redis database must hold no declarations: the
run stores millions and leaves them (FLUSHDB it after). Progress goes to
stderr, the report to stdout; logs, CPU profiles and report.json to --dir.
`

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage) }
	short := fs.Bool("short", false, "a second or two a phase (CI): proves the harness works, measures nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	growth := fs.String("growth", "", "stored declarations at which ingest and reads are measured again (default 0,1000000,5000000; short 0,20000)")
	readRate := fs.Int("read-rate", 0, "status reads offered per second (default 5000; short 500)")
	kafkaPID := fs.Int("kafka-pid", 0, "the local Kafka broker's process, to count its CPU beside Redis's and Clearway's")
	dir := fs.String("dir", "", "where process logs and CPU profiles go (default a new temporary folder)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := stack.FromEnv()
	if err != nil {
		fmt.Fprintln(stderr, "clearway bench:", err)
		return 2
	}
	if len(cfg.Kafka.Brokers) == 0 || cfg.RedisAddr == "" {
		fmt.Fprintln(stderr, "clearway bench: set CLEARWAY_KAFKA_BROKERS and CLEARWAY_REDIS_ADDR to a real Kafka and Redis (make bench starts both)")
		return 2
	}
	o := bench.Options{Config: cfg, Short: *short, ReadRate: *readRate, KafkaPID: *kafkaPID, Dir: *dir, Progress: stderr}
	if o.ReadRate == 0 {
		o.ReadRate = map[bool]int{false: 5000, true: 500}[o.Short]
	}
	levels := *growth
	if levels == "" {
		levels = map[bool]string{false: "0,1000000,5000000", true: "0,20000"}[o.Short]
	}
	for _, v := range strings.Split(levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			fmt.Fprintf(stderr, "clearway bench: --growth %q: whole numbers, comma-separated\n", levels)
			return 2
		}
		o.Growth = append(o.Growth, n)
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "clearway-bench-"); err != nil {
			fmt.Fprintln(stderr, "clearway bench:", err)
			return 1
		}
	}
	if o.Binary, err = os.Executable(); err != nil {
		fmt.Fprintln(stderr, "clearway bench:", err)
		return 1
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "clearway bench:", err)
		return 1
	}
	fmt.Fprintf(stderr, "clearway bench: logs and profiles in %s\n", o.Dir)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	r, err := bench.Run(ctx, o)
	if r != nil {
		if b, jerr := json.MarshalIndent(r, "", "  "); jerr == nil {
			os.WriteFile(filepath.Join(o.Dir, "report.json"), b, 0o644)
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(r)
		} else {
			r.Print(stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "clearway bench:", err)
		return 1
	}
	return 0
}
