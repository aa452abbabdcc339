package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/clearway/clearway/gateway/store"
	"github.com/redis/go-redis/v9"
)

// Report is one run's figures; it prints as a table and as JSON.
type Report struct {
	Machine   Machine         `json:"machine"`
	Command   string          `json:"command"`
	Short     bool            `json:"short"`
	Started   time.Time       `json:"started"`
	Took      string          `json:"took"`
	Ingest    []IngestResult  `json:"ingest"`
	Lifecycle LifecycleResult `json:"lifecycle"`
	Reads     []ReadResult    `json:"reads"`
	Cost      Cost            `json:"cost"`
	Ceilings  Ceilings        `json:"ceilings"`
	Growth    []GrowthResult  `json:"growth"`
	Targets   []TargetResult  `json:"targets"`
}

type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Memory string `json:"memory"`
	OS     string `json:"os"`
	Go     string `json:"go"`
	Redis  string `json:"redis"`
}

type IngestResult struct {
	ManifestParcels  int     `json:"manifestParcels"`
	Manifests        int     `json:"manifests"`
	ParcelsPerSecond float64 `json:"parcelsPerSecond"`
	P50ms            float64 `json:"p50ms"`
	P99ms            float64 `json:"p99ms"`
}

type LifecycleResult struct {
	Seconds          float64 `json:"seconds"`
	Parcels          int64   `json:"parcels"`
	ParcelsPerSecond float64 `json:"parcelsPerSecond"`
}

type ReadResult struct {
	By        string  `json:"by"`
	Offered   float64 `json:"offeredPerSecond"`
	PerSecond float64 `json:"answeredPerSecond"`
	P50ms     float64 `json:"p50ms"`
	P99ms     float64 `json:"p99ms"`
}

type Cost struct {
	// CPUSecondsPer1000 is CPU-seconds per 1,000 released parcels, by
	// process (gateway, tracker, adapter; redis and kafka too), over the
	// lifecycle phase.
	CPUSecondsPer1000 map[string]float64 `json:"cpuSecondsPer1000Parcels"`
	// PeakMemoryMiB is each process's peak resident memory over the run.
	PeakMemoryMiB            map[string]float64 `json:"peakMemoryMiB"`
	RedisBytesPerDeclaration float64            `json:"redisBytesPerDeclaration"`
	StoredDeclarations       int64              `json:"storedDeclarations"`
}

type Ceilings struct {
	Messages                 int     `json:"messages"`
	KafkaProducePerSecond    float64 `json:"kafkaProducePerSecond"`
	KafkaConsumePerSecond    float64 `json:"kafkaConsumePerSecond"`
	RedisHashWritesPerSecond float64 `json:"redisHashWritesPerSecond"`
}

type GrowthResult struct {
	Level                  int     `json:"level"`
	Stored                 int64   `json:"stored"`
	IngestParcelsPerSecond float64 `json:"ingestParcelsPerSecond"`
	IngestP99ms            float64 `json:"ingestP99ms"`
	ReadP50ms              float64 `json:"readP50ms"`
	ReadP99ms              float64 `json:"readP99ms"`
	RedisUsedBytes         int64   `json:"redisUsedBytes"`
}

// TargetResult is one target of the performance issue against this run.
type TargetResult struct {
	Name     string  `json:"name"`
	Target   string  `json:"target"`
	Measured float64 `json:"measured"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
	// Off is how far the figure is from the target, as a share of it
	// (0.25: 25 % short of it, or over it for an upper bound).
	Off float64 `json:"off"`
}

// targets sets the run against the targets; a short run's figures are
// printed but prove nothing.
func targets(r *Report) []TargetResult {
	var out []TargetResult
	atLeast := func(name string, want, got float64, unit string) {
		out = append(out, TargetResult{Name: name, Target: fmt.Sprintf("≥ %g %s", want, unit), Measured: got, Unit: unit, Met: got >= want, Off: max(0, (want-got)/want)})
	}
	atMost := func(name string, want, got float64, unit string) {
		out = append(out, TargetResult{Name: name, Target: fmt.Sprintf("≤ %g %s", want, unit), Measured: got, Unit: unit, Met: got <= want, Off: max(0, (got-want)/want)})
	}
	for _, in := range r.Ingest {
		if in.ManifestParcels == 1000 {
			atLeast("ingest, 1,000-parcel manifests", 50000, in.ParcelsPerSecond, "parcels/s")
			if r.Ceilings.KafkaProducePerSecond > 0 {
				atLeast("ingest ÷ raw produce ceiling", 0.5, in.ParcelsPerSecond/r.Ceilings.KafkaProducePerSecond, "")
			}
		}
	}
	atLeast("lifecycle, sustained", 10000, r.Lifecycle.ParcelsPerSecond, "parcels/s")
	for _, rd := range r.Reads {
		atMost("status read p99 by "+rd.By+fmt.Sprintf(" at %.0f/s during ingest", rd.Offered), 5, rd.P99ms, "ms")
	}
	atMost("Redis per stored declaration", 400, r.Cost.RedisBytesPerDeclaration, "bytes")
	if len(r.Growth) >= 2 {
		first, last := r.Growth[0], r.Growth[len(r.Growth)-1]
		name := fmt.Sprintf("flat from %d to %d stored", first.Stored, last.Stored)
		if first.IngestParcelsPerSecond > 0 {
			atMost(name+": ingest change", 0.2, 1-last.IngestParcelsPerSecond/first.IngestParcelsPerSecond, "")
		}
		if first.ReadP99ms > 0 {
			atMost(name+": read p99 change", 0.2, last.ReadP99ms/first.ReadP99ms-1, "")
		}
	}
	return out
}

// Print writes the report as tables.
func (r *Report) Print(w io.Writer) {
	t := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	defer t.Flush()
	fmt.Fprintf(t, "Clearway benchmark, %s (%s)\n", r.Started.Format(time.RFC3339), r.Took)
	fmt.Fprintf(t, "machine: %s, %d cores, %s, %s, %s, Redis %s\n", r.Machine.CPU, r.Machine.Cores, r.Machine.Memory, r.Machine.OS, r.Machine.Go, r.Machine.Redis)
	if r.Short {
		fmt.Fprintln(t, "SHORT RUN: each phase a second or two; the figures prove the harness works, not the speed")
	}
	ratio := func(x, ceiling float64) string {
		if ceiling <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", x/ceiling)
	}
	fmt.Fprintln(t, "\ningest\tparcels/s\tp50 ms\tp99 ms\t÷ raw produce")
	for _, in := range r.Ingest {
		fmt.Fprintf(t, "manifests of %d (%d posted)\t%.0f\t%.1f\t%.1f\t%s\n", in.ManifestParcels, in.Manifests, in.ParcelsPerSecond, in.P50ms, in.P99ms,
			ratio(in.ParcelsPerSecond, r.Ceilings.KafkaProducePerSecond))
	}
	fmt.Fprintln(t, "\nlifecycle (POST → released)\tparcels/s\tseconds\t÷ raw consume")
	fmt.Fprintf(t, "four receipts a parcel\t%.0f\t%.0f\t%s\n", r.Lifecycle.ParcelsPerSecond, r.Lifecycle.Seconds, ratio(r.Lifecycle.ParcelsPerSecond, r.Ceilings.KafkaConsumePerSecond))
	fmt.Fprintln(t, "\nstatus reads during ingest\toffered/s\tanswered/s\tp50 ms\tp99 ms")
	for _, rd := range r.Reads {
		fmt.Fprintf(t, "by %s\t%.0f\t%.0f\t%.2f\t%.2f\n", rd.By, rd.Offered, rd.PerSecond, rd.P50ms, rd.P99ms)
	}
	fmt.Fprintln(t, "\ncost\tvalue")
	names := make([]string, 0, len(r.Cost.CPUSecondsPer1000))
	for n := range r.Cost.CPUSecondsPer1000 {
		names = append(names, n)
	}
	sort.Strings(names)
	var total float64
	for _, n := range names {
		fmt.Fprintf(t, "%s CPU-seconds per 1,000 parcels\t%.3f\n", n, r.Cost.CPUSecondsPer1000[n])
		total += r.Cost.CPUSecondsPer1000[n]
	}
	if total > 0 { // what the cores allow when every process shares them
		fmt.Fprintf(t, "all of them: CPU-seconds per 1,000 parcels (%d cores carry at most %.0f parcels/s)\t%.3f\n", r.Machine.Cores,
			float64(r.Machine.Cores)*1000/total, total)
	}
	for _, n := range names {
		if mib, ok := r.Cost.PeakMemoryMiB[n]; ok {
			fmt.Fprintf(t, "%s peak resident memory, MiB\t%.0f\n", n, mib)
		}
	}
	fmt.Fprintf(t, "Redis bytes per stored declaration (%d stored)\t%.0f\n", r.Cost.StoredDeclarations, r.Cost.RedisBytesPerDeclaration)
	fmt.Fprintf(t, "\nceilings, same broker and server, same bytes (%d messages)\tper second\n", r.Ceilings.Messages)
	fmt.Fprintf(t, "kafka-go produce (acks=all, batches of 1,000)\t%.0f\n", r.Ceilings.KafkaProducePerSecond)
	fmt.Fprintf(t, "kafka-go consume (consumer group)\t%.0f\n", r.Ceilings.KafkaConsumePerSecond)
	fmt.Fprintf(t, "go-redis pipelined HSET of a stored declaration's hash\t%.0f\n", r.Ceilings.RedisHashWritesPerSecond)
	fmt.Fprintln(t, "\ngrowth (1,000-parcel manifests; reads by id at up to 1,000/s)")
	fmt.Fprintln(t, "stored declarations\tingest parcels/s\tingest p99 ms\tread p50 ms\tread p99 ms\tRedis MiB")
	for _, g := range r.Growth {
		fmt.Fprintf(t, "%d\t%.0f\t%.1f\t%.2f\t%.2f\t%.0f\n", g.Stored, g.IngestParcelsPerSecond, g.IngestP99ms, g.ReadP50ms, g.ReadP99ms, float64(g.RedisUsedBytes)/(1<<20))
	}
	fmt.Fprintln(t, "\ntarget\twanted\tmeasured\tmet\toff by")
	for _, tr := range r.Targets {
		met := "yes"
		if !tr.Met {
			met = "NO"
		}
		fmt.Fprintf(t, "%s\t%s\t%.3g %s\t%s\t%.0f%%\n", tr.Name, tr.Target, tr.Measured, tr.Unit, met, tr.Off*100)
	}
}

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		fields := strings.Fields(string(b))
		if len(fields) > 1 {
			kb, _ := strconv.ParseFloat(fields[1], 64)
			m.Memory = fmt.Sprintf("%.0f GiB", kb/(1<<20))
		}
	}
	return m
}

func redisVersion(ctx context.Context, rdb redis.UniversalClient) string {
	return infoField(ctx, rdb, "server", "redis_version")
}

// usedMemory is Redis's used_memory: summed over the masters of a cluster.
func usedMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	var total atomic.Int64
	err := store.ForEachServer(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		n, err := strconv.ParseInt(infoField(ctx, c, "memory", "used_memory"), 10, 64)
		total.Add(n)
		return err
	})
	return total.Load(), err
}

// redisCPUSeconds is the CPU every Redis server has used, user and system.
func redisCPUSeconds(ctx context.Context, rdb redis.UniversalClient) (float64, error) {
	var mu sync.Mutex
	var total float64
	err := store.ForEachServer(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		user, uerr := strconv.ParseFloat(infoField(ctx, c, "cpu", "used_cpu_user"), 64)
		sys, serr := strconv.ParseFloat(infoField(ctx, c, "cpu", "used_cpu_sys"), 64)
		mu.Lock()
		total += user + sys
		mu.Unlock()
		return errors.Join(uerr, serr)
	})
	return total, err
}

func infoField(ctx context.Context, rdb redis.UniversalClient, section, field string) string {
	info, _ := rdb.Info(ctx, section).Result()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}
