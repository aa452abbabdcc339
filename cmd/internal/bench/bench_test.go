package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuantileIsTheNearestRank(t *testing.T) {
	l := &latencies{}
	for i := 100; i >= 1; i-- { // out of order, as goroutines add them
		l.add(time.Duration(i) * time.Millisecond)
	}
	if p50, p99 := l.quantile(0.5), l.quantile(0.99); p50 != 50 || p99 != 99 {
		t.Fatalf("p50 %v, p99 %v; want 50 and 99 ms", p50, p99)
	}
	if (&latencies{}).quantile(0.5) != 0 {
		t.Fatal("no samples should give 0")
	}
}

// A target says whether it was met and by how much it was missed, as a
// share of the target, in the direction the target points.
func TestTargetsSayByHowMuchEachIsMissed(t *testing.T) {
	r := &Report{
		Ingest:    []IngestResult{{ManifestParcels: 1000, ParcelsPerSecond: 25000}},
		Ceilings:  Ceilings{KafkaProducePerSecond: 40000},
		Lifecycle: LifecycleResult{ParcelsPerSecond: 12000},
		Reads:     []ReadResult{{By: "id", Offered: 5000, P99ms: 7.5}},
		Cost:      Cost{RedisBytesPerDeclaration: 300},
		Growth:    []GrowthResult{{Stored: 0, IngestParcelsPerSecond: 1000, ReadP99ms: 2}, {Stored: 5e6, IngestParcelsPerSecond: 700, ReadP99ms: 2.2}},
	}
	got := map[string]TargetResult{}
	for _, tr := range targets(r) {
		got[tr.Name] = tr
	}
	for name, want := range map[string]struct {
		met bool
		off float64
	}{
		"ingest, 1,000-parcel manifests":                 {false, 0.5},
		"ingest ÷ raw produce ceiling":                   {true, 0},
		"lifecycle, sustained":                           {true, 0},
		"status read p99 by id at 5000/s during ingest":  {false, 0.5},
		"Redis per stored declaration":                   {true, 0},
		"flat from 0 to 5000000 stored: ingest change":   {false, 0.5},
		"flat from 0 to 5000000 stored: read p99 change": {true, 0},
	} {
		tr, ok := got[name]
		if !ok {
			t.Errorf("no target %q in %v", name, got)
			continue
		}
		if tr.Met != want.met || tr.Off < want.off-1e-9 || tr.Off > want.off+1e-9 {
			t.Errorf("%s: met %v off %.3f, want met %v off %.3f", name, tr.Met, tr.Off, want.met, want.off)
		}
	}
}

func TestParallelStopsAtTheFirstError(t *testing.T) {
	var calls atomic.Int64
	boom := errors.New("boom")
	err := parallel(context.Background(), 4, 1_000_000, 1, func(from int) error {
		calls.Add(1)
		if from == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() > 1000 {
		t.Fatalf("err %v after %d calls; want boom, soon", err, calls.Load())
	}
	var sum atomic.Int64
	if err := parallel(context.Background(), 3, 10, 3, func(from int) error { sum.Add(int64(from)); return nil }); err != nil || sum.Load() != 0+3+6+9 {
		t.Fatalf("err %v, sum of starts %d; want 18", err, sum.Load())
	}
}
