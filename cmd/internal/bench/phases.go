package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/gateway/store"
)

// Ingest load: manifests are posted by this many couriers at once (two
// in a short run, so that one round of 10,000-parcel manifests stays
// short).
func (b *run) ingestWorkers() int {
	if b.Short {
		return 2
	}
	return 8
}

// Manifest sizes measured.
var manifestSizes = []int{100, 1000, 10000}

// backlogCap bounds how many accepted parcels may wait for their release
// while the lifecycle is measured: enough to keep every stage busy,
// little enough that the rate measured is the one the pipeline sustains.
const backlogCap = 20000

func (b *run) feed() *feeder {
	if b.feeder == nil {
		b.feeder = newFeeder(b.sys.gatewayURL, manifestSizes...)
	}
	return b.feeder
}

// released counts the parcels released today and yesterday (China time,
// as the statistics count: a run may cross midnight), from the statistics.
func (b *run) released(ctx context.Context) (int64, error) {
	var n int64
	for _, day := range []time.Time{time.Now(), time.Now().Add(-24 * time.Hour)} {
		c, err := b.store.DayCount(ctx, store.MetricReleased, day)
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

// drain waits until every accepted or seeded parcel is released.
func (b *run) drain(ctx context.Context) error {
	want := b.feed().accepted.Load() + b.seeded
	start, last := time.Now(), time.Now()
	for {
		n, err := b.released(ctx)
		if err != nil {
			return err
		}
		if n >= want {
			b.progress("all %d parcels released (waited %s)", want, time.Since(start).Round(time.Second))
			return nil
		}
		if time.Since(start) > 20*time.Minute {
			return fmt.Errorf("%d of %d parcels released after 20 minutes", n, want)
		}
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			b.progress("waiting for the backlog: %d of %d parcels released", n, want)
		}
		sleep(ctx, 250*time.Millisecond)
	}
}

// ingest posts manifests of each size as fast as the gateway answers.
func (b *run) ingest(ctx context.Context) error {
	for _, n := range manifestSizes {
		res, err := b.measureIngest(ctx, n, b.d.ingest)
		if err != nil {
			return err
		}
		b.report.Ingest = append(b.report.Ingest, res)
		b.progress("ingest, manifests of %d: %.0f parcels/s, p50 %.1f ms, p99 %.1f ms", n, res.ParcelsPerSecond, res.P50ms, res.P99ms)
	}
	return nil
}

// measureIngest posts manifests of n parcels for d, then lets the posts
// in flight finish: parcels/s from the first POST to the last 202.
func (b *run) measureIngest(ctx context.Context, n int, d time.Duration) (IngestResult, error) {
	f := b.feed()
	before := f.accepted.Load()
	lat := &latencies{}
	wait := b.profile(ctx, fmt.Sprintf("ingest-%d", n), d)
	start := time.Now()
	err := f.feed(ctx, b.ingestWorkers(), n, start.Add(d), nil, lat)
	took := time.Since(start)
	wait()
	if err != nil {
		return IngestResult{}, err
	}
	parcels := f.accepted.Load() - before
	return IngestResult{ManifestParcels: n, Manifests: lat.count(), ParcelsPerSecond: float64(parcels) / took.Seconds(),
		P50ms: lat.quantile(0.5), P99ms: lat.quantile(0.99)}, nil
}

// lifecycle keeps the pipeline fed, the backlog bounded, and measures how
// many parcels reach released per second, and what each process spends.
func (b *run) lifecycle(ctx context.Context) error {
	if err := b.drain(ctx); err != nil {
		return err
	}
	f := b.feed()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	released, feedErr, err := b.sustain(runCtx, 4)
	if err != nil {
		return err
	}
	sleep(ctx, b.d.warmup)
	r0, cpu0, t0 := released.Load(), b.cpu(ctx), time.Now()
	wait := b.profile(ctx, "lifecycle", b.d.lifecycle)
	sleep(ctx, b.d.lifecycle)
	r1, cpu1, t1 := released.Load(), b.cpu(ctx), time.Now()
	cancel()
	wait()
	if err := <-feedErr; err != nil {
		return err
	}
	parcels := float64(r1 - r0)
	if parcels <= 0 {
		return fmt.Errorf("no parcel was released in %s", b.d.lifecycle)
	}
	b.report.Lifecycle = LifecycleResult{Seconds: t1.Sub(t0).Seconds(), Parcels: int64(parcels), ParcelsPerSecond: parcels / t1.Sub(t0).Seconds()}
	b.report.Cost.CPUSecondsPer1000 = map[string]float64{}
	for name, c1 := range cpu1 {
		b.report.Cost.CPUSecondsPer1000[name] = (c1 - cpu0[name]) / parcels * 1000
	}
	b.progress("lifecycle: %.0f parcels/s released over %.0f s", b.report.Lifecycle.ParcelsPerSecond, b.report.Lifecycle.Seconds)
	if err := b.drain(ctx); err != nil {
		return err
	}
	used, err := usedMemory(ctx, b.rdb)
	if err != nil {
		return err
	}
	stored := f.accepted.Load()
	b.report.Cost.RedisBytesPerDeclaration = float64(used-b.memoryBaseline) / float64(stored)
	b.report.Cost.StoredDeclarations = stored
	return nil
}

// sustain feeds 1,000-parcel manifests from workers couriers until ctx
// ends, while fewer than backlogCap parcels wait for their release: the
// rate the pipeline sustains. It returns the count of released parcels it
// keeps (polled from the statistics) and the feeder's outcome.
func (b *run) sustain(ctx context.Context, workers int) (*atomic.Int64, <-chan error, error) {
	f := b.feed()
	released := &atomic.Int64{}
	n, err := b.released(ctx)
	if err != nil {
		return nil, nil, err
	}
	released.Store(n)
	go func() {
		for ctx.Err() == nil {
			if n, err := b.released(ctx); err == nil {
				released.Store(n)
			}
			sleep(ctx, 100*time.Millisecond)
		}
	}()
	done := make(chan error, 1)
	go func() {
		done <- f.feed(ctx, workers, 1000, time.Time{}, func() bool { return f.accepted.Load()+b.seeded-released.Load() < backlogCap }, nil)
	}()
	return released, done, nil
}

// cpu reads the CPU seconds each process has used so far: Clearway's own;
// the simulator's and this load generator's, which stand in for customs
// and the couriers; Redis's (every server's used_cpu_user and
// used_cpu_sys) and, when the broker runs on this machine and KafkaPID
// names it, Kafka's. All of them share the cores, so the report says where
// they went.
func (b *run) cpu(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	for _, p := range b.sys.procs {
		if s, err := p.cpuSeconds(); err == nil {
			out[p.name] = s
		}
	}
	if s, err := pidCPUSeconds(os.Getpid()); err == nil {
		out["load generator"] = s
	}
	if s, err := redisCPUSeconds(ctx, b.rdb); err == nil {
		out["redis"] = s
	}
	if b.KafkaPID > 0 {
		if s, err := pidCPUSeconds(b.KafkaPID); err == nil {
			out["kafka"] = s
		}
	}
	return out
}

// reads offers status reads at ReadRate while parcels keep arriving at
// the rate the pipeline sustains.
func (b *run) reads(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, feedErr, err := b.sustain(runCtx, 2)
	if err != nil {
		return err
	}
	for _, by := range []string{"id", "logisticsNo"} {
		res, err := b.measureReads(ctx, by, b.ReadRate, b.d.reads, "reads-"+by)
		if err != nil {
			return err
		}
		b.report.Reads = append(b.report.Reads, res)
		b.progress("reads by %s: %.0f/s offered, %.0f/s answered, p50 %.2f ms, p99 %.2f ms", by, res.Offered, res.PerSecond, res.P50ms, res.P99ms)
	}
	cancel()
	if err := <-feedErr; err != nil {
		return err
	}
	return b.drain(ctx)
}

// measureReads sends GETs at a fixed rate (open loop: a slow answer does
// not slow the sender) and times each from when it was due, so a stall
// shows in the percentiles instead of hiding in a lower rate.
func (b *run) measureReads(ctx context.Context, by string, rate int, d time.Duration, profile string) (ReadResult, error) {
	f := b.feed()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	lat := &latencies{}
	var failed atomic.Int64
	var firstErr atomic.Value
	due := make(chan time.Time, rate)
	var wg sync.WaitGroup
	for range 128 {
		wg.Go(func() {
			for at := range due {
				p := f.pick()
				url := b.sys.gatewayURL + "/v1/declarations/" + p.ID
				if by == "logisticsNo" {
					url = b.sys.gatewayURL + "/v1/declarations?logisticsNo=" + p.LogisticsNo
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				req.Header.Set("X-API-Key", courierKey)
				resp, err := client.Do(req)
				if err == nil {
					var body json.RawMessage
					err = json.NewDecoder(resp.Body).Decode(&body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("GET %s: %s", url, resp.Status)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				lat.add(time.Since(at))
			}
		})
	}
	wait := b.profile(ctx, profile, d)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	sent := 0
	for next := start; time.Since(start) < d && ctx.Err() == nil; next = next.Add(interval) {
		time.Sleep(time.Until(next))
		due <- next
		sent++
	}
	close(due)
	wg.Wait()
	took := time.Since(start)
	wait()
	if n := failed.Load(); n > 0 {
		return ReadResult{}, fmt.Errorf("%d of %d reads failed, the first with: %v", n, sent, firstErr.Load())
	}
	return ReadResult{By: by, Offered: float64(rate), PerSecond: float64(lat.count()) / took.Seconds(),
		P50ms: lat.quantile(0.5), P99ms: lat.quantile(0.99)}, nil
}

// growth stores declarations up to each level and measures ingest and
// reads again.
func (b *run) growth(ctx context.Context) error {
	for _, level := range b.Growth {
		if level == 0 {
			continue // measured first, on the empty store
		}
		if err := b.growthPoint(ctx, level); err != nil {
			return err
		}
	}
	return nil
}

// growthReadRate is the read rate at each growth level: no more than the
// machine answers, so the latency compares the store's sizes rather than
// the length of a queue.
func (b *run) growthReadRate() int { return min(b.ReadRate, 1000) }

// growthPoint fills the store to level declarations and measures
// 1,000-parcel ingest and reads by id there.
func (b *run) growthPoint(ctx context.Context, level int) error {
	if err := b.seedTo(ctx, int64(level)); err != nil {
		return err
	}
	stored := b.feed().accepted.Load() + b.seeded
	in, err := b.measureIngest(ctx, 1000, b.d.growth)
	if err != nil {
		return err
	}
	rd, err := b.measureReads(ctx, "id", b.growthReadRate(), b.d.growth, fmt.Sprintf("growth-%d-reads", level))
	if err != nil {
		return err
	}
	used, err := usedMemory(ctx, b.rdb)
	if err != nil {
		return err
	}
	g := GrowthResult{Level: level, Stored: stored, IngestParcelsPerSecond: in.ParcelsPerSecond, IngestP99ms: in.P99ms,
		ReadP50ms: rd.P50ms, ReadP99ms: rd.P99ms, RedisUsedBytes: used}
	b.report.Growth = append(b.report.Growth, g)
	b.progress("growth at %d stored: ingest %.0f parcels/s, reads p50 %.2f ms p99 %.2f ms, Redis %.1f MiB", stored, g.IngestParcelsPerSecond,
		g.ReadP50ms, g.ReadP99ms, float64(used)/(1<<20))
	return b.drain(ctx)
}

// seedTo stores declarations until level are stored, through the store's
// own create and transition steps (what the tracker runs), each with the
// receipts of a release: submitted, 2, 120 (with its invtNo, indexed),
// 399, 800. Each is kept as the running system keeps it, as where its
// event sits in Kafka; these events were never produced, so the positions
// are made up and the run never reads a seeded declaration's messages.
func (b *run) seedTo(ctx context.Context, level int64) error {
	f := b.feed()
	missing := level - f.accepted.Load() - b.seeded
	if missing <= 0 {
		return nil
	}
	b.progress("storing %d declarations to reach %d", missing, level)
	start := time.Now()
	var done atomic.Int64
	err := parallel(ctx, 4, int(missing), 1000, func(int) error {
		if err := b.seedBatch(ctx); err != nil {
			return err
		}
		if n := done.Add(1000); n%200000 == 0 {
			b.progress("stored %d of %d (%.0f/s)", n, missing, float64(n)/time.Since(start).Seconds())
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.seeded += done.Load()
	return nil
}

// seedBatch stores one 1,000-parcel manifest's declarations, released.
func (b *run) seedBatch(ctx context.Context) error {
	var m customs.Manifest
	if err := json.Unmarshal(b.feed().body(1000), &m); err != nil {
		return err
	}
	today := time.Now().In(ceb.ChinaTime).Format("20060102")
	now := time.Now().UTC()
	decls := make([]*customs.Declaration, 0, len(m.Parcels))
	var ts []store.Transition
	var invtIDs, invtNos []string
	for i := range m.Parcels {
		d, fields := customs.Declare(&m, i, "3502680EMS", today, customs.Rules{})
		if len(fields) > 0 {
			return fmt.Errorf("a generated parcel is invalid: %v", fields)
		}
		d.AcceptedAt = now
		decls = append(decls, &d)
		guid := d.GUID()
		events := []*bus.ReceiptEvent{{Kind: bus.KindSubmitted, MessageType: "CEB603Message", MessageGUID: guid, DeclarationID: d.ID, At: now}}
		seq := b.seedSeq.Add(1)
		invtNo := fmt.Sprintf("3717%sB%09d", today[:4], seq)
		invtIDs, invtNos = append(invtIDs, d.ID), append(invtNos, invtNo)
		for j, code := range []string{"2", "120", "399", "800"} {
			at := now.Add(time.Duration(j+1) * time.Second)
			events = append(events, &bus.ReceiptEvent{Kind: bus.KindReceipt, MessageType: "CEB604Message", MessageGUID: guid, DeclarationID: d.ID,
				ReturnStatus: code, ReturnTime: at.In(ceb.ChinaTime).Format("20060102150405000"), InvtNo: invtNo, At: at})
		}
		for j, e := range events {
			t, _, err := b.store.FromReceipt(e, &store.Position{Partition: int(seq % 6), Offset: seq*5 + int64(j)})
			if err != nil {
				return err
			}
			ts = append(ts, t...)
		}
	}
	if err := b.store.Create(ctx, decls); err != nil {
		return err
	}
	if err := b.store.IndexInvtNo(ctx, invtIDs, invtNos); err != nil {
		return err
	}
	_, err := b.store.Apply(ctx, ts)
	return err
}
