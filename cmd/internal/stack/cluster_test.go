package stack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/store"
	"github.com/redis/go-redis/v9"
)

// The pipeline and the rebuild on a real Redis Cluster of three masters
// (deployments/local/redis-cluster.sh, named by
// CLEARWAY_REDIS_CLUSTER_ADDR): every Lua step stays in one slot, the
// declarations and the statistics spread over every master, reads add
// the groups up to the right figures, and a rebuild from Kafka reproduces
// every key.
func TestPipelineAndRebuildOnRedisCluster(t *testing.T) {
	seeds := os.Getenv("CLEARWAY_REDIS_CLUSTER_ADDR")
	if seeds == "" {
		if os.Getenv("CLEARWAY_REQUIRE_REAL") == "1" {
			t.Fatal("CLEARWAY_REQUIRE_REAL=1 but CLEARWAY_REDIS_CLUSTER_ADDR is unset")
		}
		t.Skip("no Redis Cluster: deployments/local/redis-cluster.sh start, then CLEARWAY_REDIS_CLUSTER_ADDR=127.0.0.1:7001")
	}
	cfg, _ := testConfig(t, sim.Config{Seed: 5, InspectionRate: 0.2, RejectionRate: 0.1, DetentionRate: 0.05, StepDelay: 50 * time.Millisecond})
	cfg.RedisAddr, cfg.RedisDB, cfg.RedisCluster = seeds, 0, true
	rdb := cfg.NewRedis()
	t.Cleanup(func() { rdb.Close() })
	cluster, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("CLEARWAY_REDIS_CLUSTER gave a %T", rdb)
	}
	ctx := context.Background()
	flushCluster(t, cluster)
	s, stopParts := startParts(t, cfg, All)
	stop := sync.OnceFunc(stopParts)
	defer stop()

	today := time.Now().In(ceb.ChinaTime)
	want := map[string]string{}
	flights := map[string]int{"CZ3101": 180, "MU2093": 120}
	for flight, n := range flights {
		m := sample.Manifest("CLUSTER-"+flight, n, sample.Options{Seed: uint64(n), Prefix: "RC" + flight[:2], Bonded: 0.2, Flight: flight, IeDate: today.Format("20060102")})
		var rec struct {
			Accepted int `json:"accepted"`
			Parcels  []struct {
				DeclarationID string `json:"declarationId"`
			} `json:"parcels"`
		}
		if code := call(t, "POST", s.URL+"/v1/manifests", "dev-courier-key", mustJSON(m), &rec); code != 202 || rec.Accepted != n {
			t.Fatalf("POST manifest for %s: %d, %d accepted", flight, code, rec.Accepted)
		}
		for _, p := range rec.Parcels {
			want[p.DeclarationID] = flight
		}
	}
	waitFinal(t, s, want)

	// Declarations and statistics are spread over every master.
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		decls, stats := len(c.Keys(ctx, "d:*").Val()), len(c.Keys(ctx, "st:*").Val())
		t.Logf("master %s: %d declaration keys, %d statistics keys", c.Options().Addr, decls, stats)
		if decls == 0 || stats == 0 {
			return fmt.Errorf("master %s holds %d declaration and %d statistics keys: not spread", c.Options().Addr, decls, stats)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The figures read across the groups are the declarations' own.
	admin := store.Scope{Role: "admin", Tenant: "*"}
	count := map[customs.Status]int64{}
	perFlight := map[string]map[customs.Status]int64{}
	for id, flight := range want {
		r, err := s.Store.Get(ctx, admin, id)
		if err != nil {
			t.Fatal(err)
		}
		count[r.Status]++
		if perFlight[flight] == nil {
			perFlight[flight] = map[customs.Status]int64{}
		}
		perFlight[flight][r.Status]++
	}
	var stats struct {
		Totals store.Figures `json:"totals"`
	}
	if code := call(t, "GET", s.URL+"/v1/stats/green-channel", "dev-airport-key", nil, &stats); code != 200 {
		t.Fatalf("GET stats: %d", code)
	}
	got := stats.Totals
	if got.Declared != int64(len(want)) || got.Released != count[customs.Released] || got.Rejected != count[customs.Rejected] || got.Detained != count[customs.Detained] {
		t.Errorf("statistics %+v, the declarations say %d declared, %v", got, len(want), count)
	}
	if got.Released == 0 || got.Rejected == 0 {
		t.Errorf("the seeded rates should release and reject some: %v", count)
	}
	for flight, n := range flights {
		var f store.Flight
		if code := call(t, "GET", s.URL+"/v1/flights/"+flight+"/"+today.Format(time.DateOnly), "dev-airport-key", nil, &f); code != 200 {
			t.Fatalf("GET flight %s: %d", flight, code)
		}
		held := perFlight[flight][customs.Rejected] + perFlight[flight][customs.Detained]
		if f.Parcels != int64(n) || f.Released != perFlight[flight][customs.Released] || f.Held != held || len(f.HeldParcels) != int(held) {
			t.Errorf("flight %s: %+v with %d held listed, the declarations say %v", flight, f.Readiness, len(f.HeldParcels), perFlight[flight])
		}
	}

	// Rebuild into the emptied cluster reproduces every key.
	stop()
	before := snapshot(t, cluster)
	flushCluster(t, cluster)
	if err := Rebuild(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, cluster)
	var diff []string
	for k, v := range before {
		if after[k] != v {
			diff = append(diff, fmt.Sprintf("%s = %.120s, was %.120s", k, after[k], v))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diff = append(diff, "rebuild made "+k)
		}
	}
	if len(diff) > 0 {
		t.Fatalf("rebuild differs in %d of %d keys:\n%s", len(diff), len(before), strings.Join(diff[:min(len(diff), 10)], "\n"))
	}
	t.Logf("rebuild on the cluster reproduced all %d keys", len(before))
}

// flushCluster empties every master.
func flushCluster(t *testing.T, c *redis.ClusterClient) {
	t.Helper()
	err := c.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error { return m.FlushAll(ctx).Err() })
	if err != nil {
		t.Fatalf("redis cluster: %v", err)
	}
}
