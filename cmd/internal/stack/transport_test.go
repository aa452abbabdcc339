package stack

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/store"
)

// Over the http transport, with the simulated customs exchange in its own
// server, an adapter stopped mid-run and replaced by a new one loses
// nothing and declares nothing twice: the journal makes the new adapter
// send a message it finds in doubt again as it was, which the exchange
// takes once.
func TestHTTPTransportLosesAndDuplicatesNothingAcrossAnAdapterRestart(t *testing.T) {
	simCfg := sim.Config{Seed: 5, InspectionRate: 0.1, RejectionRate: 0.05, StepDelay: 200 * time.Millisecond}
	customs := sim.New(simCfg)
	exchange := sim.NewServer(customs, 2*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go exchange.Run(ctx)
	hs := httptest.NewServer(exchange.Handler())
	defer hs.Close()

	cfg, _ := testConfig(t, simCfg)
	cfg.Transport, cfg.CustomsURL = "http", hs.URL
	s, stopGateway := startParts(t, cfg, Parts{Gateway: true, Tracker: true})
	defer stopGateway()
	_, stopAdapter := startParts(t, cfg, Parts{Adapter: true})

	want := map[string]string{} // declaration id → logisticsNo
	post := func(no string, seed uint64) {
		m := sample.Manifest(no, 300, sample.Options{Seed: seed, Prefix: no})
		var rec struct {
			Accepted int
			Parcels  []struct{ DeclarationID, LogisticsNo string }
		}
		if code := call(t, "POST", s.URL+"/v1/manifests", "dev-courier-key", mustJSON(m), &rec); code != 202 || rec.Accepted != 300 {
			t.Fatalf("POST %s: %d, %d accepted", no, code, rec.Accepted)
		}
		for _, p := range rec.Parcels {
			want[p.DeclarationID] = p.LogisticsNo
		}
	}
	post("HTA", 1)
	// Stop the adapter as soon as customs has taken its first message,
	// while its receipts and the rest of the manifest are still on the
	// way; post a second manifest while no adapter runs; start a new one.
	for deadline := time.Now().Add(30 * time.Second); len(customs.NewDeclarations()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("customs never received the first manifest")
		}
	}
	stopAdapter()
	post("HTB", 2)
	_, stopAdapter = startParts(t, cfg, Parts{Adapter: true})
	defer stopAdapter()

	waitFinal(t, s, want)
	admin := store.Scope{Role: "admin", Tenant: "*"}
	for id := range want {
		r, err := s.Store.Get(context.Background(), admin, id)
		if err != nil {
			t.Fatal(err)
		}
		if wantStatus := simulatorStatus(simCfg.Decide(r.AgentCode, r.CopNo).Final()); r.Status != wantStatus {
			t.Fatalf("%s: %s, want %s", id, r.Status, wantStatus)
		}
	}
	declared := customs.NewDeclarations()
	if len(declared) != len(want) {
		t.Errorf("customs received %d inventories, want %d", len(declared), len(want))
	}
	for key, n := range declared {
		if n != 1 {
			t.Errorf("customs received %s as a new declaration %d times", key, n)
		}
	}
}
