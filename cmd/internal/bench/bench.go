// Package bench measures Clearway on real Kafka and Redis: the gateway,
// tracker, customs adapter and simulator run as separate processes of the
// clearway binary, driven with generated manifests, and every figure is
// set beside a ceiling measured in the same run with raw kafka-go and
// go-redis on the same broker and server.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clearway/clearway/cmd/internal/stack"
	"github.com/clearway/clearway/gateway/store"
	"github.com/redis/go-redis/v9"
)

// Options shape a run.
type Options struct {
	Config stack.Config // Kafka and Redis to run on
	Binary string       // the clearway binary that runs each part
	Dir    string       // logs and CPU profiles
	// Short runs each phase for a second or two and grows the store only
	// to Growth's small levels: CI proves the harness works, nothing more.
	Short bool
	// Growth lists how many declarations are stored when ingest and
	// reads are measured again.
	Growth []int
	// ReadRate is the status reads per second offered during ingest.
	ReadRate int
	// KafkaPID is the local broker's process, whose CPU the report counts
	// beside Clearway's and Redis's; 0 when the broker is elsewhere.
	KafkaPID int
	Progress io.Writer
}

// durations of each phase.
type durations struct {
	ingest, lifecycle, warmup, reads, growth time.Duration
	ceilingMessages                          int
}

func (o Options) durations() durations {
	if o.Short {
		return durations{ingest: 2 * time.Second, lifecycle: 4 * time.Second, warmup: time.Second, reads: 2 * time.Second,
			growth: time.Second, ceilingMessages: 5000}
	}
	return durations{ingest: 20 * time.Second, lifecycle: 60 * time.Second, warmup: 10 * time.Second, reads: 20 * time.Second,
		growth: 10 * time.Second, ceilingMessages: 200000}
}

// Run starts the processes, runs every phase and reports.
func Run(ctx context.Context, o Options) (*Report, error) {
	r := &Report{Machine: describeMachine(), Command: strings.Join(os.Args, " "), Short: o.Short, Started: time.Now().UTC()}
	rdb := o.Config.NewRedis()
	defer rdb.Close()
	if held, err := store.HoldsDeclarations(ctx, rdb); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	} else if held {
		return nil, fmt.Errorf("the Redis at %s (database %d) holds declarations: the benchmark stores millions and needs an empty one", o.Config.RedisAddr, o.Config.RedisDB)
	}
	r.Machine.Redis = redisVersion(ctx, rdb)
	baseline, err := usedMemory(ctx, rdb)
	if err != nil {
		return nil, err
	}
	sys, err := startSystem(ctx, o)
	if err != nil {
		return nil, err
	}
	defer sys.stop()
	b := &run{Options: o, d: o.durations(), sys: sys, rdb: rdb, store: store.New(rdb).WithArchive(func(context.Context, store.Position) ([]byte, error) {
		return nil, errors.New("bench: a seeded declaration's messages were never produced")
	}), report: r, memoryBaseline: baseline}
	for _, phase := range []struct {
		name string
		do   func(context.Context) error
	}{
		{"growth at an empty store", func(ctx context.Context) error { return b.growthPoint(ctx, 0) }},
		{"ingest", b.ingest},
		{"lifecycle", b.lifecycle},
		{"status reads during ingest", b.reads},
		{"ceilings", b.ceilings},
		{"growth", b.growth},
	} {
		b.progress("== %s", phase.name)
		if err := phase.do(ctx); err != nil {
			return r, fmt.Errorf("%s: %w", phase.name, err)
		}
	}
	r.Cost.PeakMemoryMiB = map[string]float64{}
	for _, p := range sys.procs {
		if n, err := p.peakMemory(); err == nil && p.pprof != "" {
			r.Cost.PeakMemoryMiB[p.name] = float64(n) / (1 << 20)
		}
	}
	r.Targets = targets(r)
	r.Took = time.Since(r.Started).Round(time.Second).String()
	return r, nil
}

// run is one benchmark run's state.
type run struct {
	Options
	d              durations
	sys            *system
	rdb            redis.UniversalClient
	store          *store.Store
	report         *Report
	memoryBaseline int64
	feeder         *feeder
	seeded         int64        // declarations stored directly, for the growth levels
	seedSeq        atomic.Int64 // numbers each seeded declaration's invtNo and made-up positions
}

func (b *run) progress(format string, args ...any) {
	if b.Progress != nil {
		fmt.Fprintf(b.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

// profile saves a CPU profile of each Clearway process over d, into
// Dir as <phase>-<process>.pprof; wait waits for them.
func (b *run) profile(ctx context.Context, phase string, d time.Duration) (wait func()) {
	var wg sync.WaitGroup
	for _, p := range b.sys.procs {
		if p.pprof == "" {
			continue
		}
		wg.Go(func() {
			path := filepath.Join(b.Dir, fmt.Sprintf("%s-%s.pprof", phase, p.name))
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprof, max(1, int(d.Seconds())))
			if err := fetch(ctx, url, path); err != nil {
				b.progress("profile %s: %v", path, err)
			}
		})
	}
	return wg.Wait
}
