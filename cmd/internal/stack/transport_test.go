package stack

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/devenv"
	"github.com/clearway/clearway/gateway/store"
)

// startExchange serves the simulated customs exchange over HTTP until the
// test ends.
func startExchange(t *testing.T, cfg sim.Config) (*sim.Customs, string) {
	customs := sim.New(cfg)
	exchange := sim.NewServer(customs, 2*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	go exchange.Run(ctx)
	hs := httptest.NewServer(exchange.Handler())
	t.Cleanup(func() { hs.Close(); cancel() })
	return customs, hs.URL
}

// Over the http transport, with the simulated customs exchange in its own
// server, an adapter stopped mid-run and replaced by a new one loses
// nothing and declares nothing twice: the journal makes the new adapter
// send a message it finds in doubt again as it was, which the exchange
// takes once.
func TestHTTPTransportLosesAndDuplicatesNothingAcrossAnAdapterRestart(t *testing.T) {
	simCfg := sim.Config{Seed: 5, InspectionRate: 0.1, RejectionRate: 0.05, StepDelay: 200 * time.Millisecond}
	customs, url := startExchange(t, simCfg)
	cfg, _ := testConfig(t, simCfg)
	cfg.Transport, cfg.CustomsURL = "http", url
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

var refusedCEB603 = regexp.MustCompile(`^send CEB603 [0-9A-F-]{36} \((\d+) inventories\): .*HTTP 400$`)

// A message the exchange refuses outright (HTTP 4xx) is not retried for
// ever: it goes to the dead-letter topic with the reason, and each of its
// declarations shows error with code 4 (sending to customs failed).
func TestARefusedMessageIsDeadLetteredAndItsDeclarationsShowError(t *testing.T) {
	customs, url := startExchange(t, sim.Config{Seed: 6, StepDelay: 10 * time.Millisecond})
	req, _ := http.NewRequest("PUT", url+"/sim/fault", strings.NewReader(`{"mode":"refuse"}`))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 204 {
		t.Fatalf("set the fault: %v %v", res, err)
	}
	cfg, env := testConfig(t, sim.Config{})
	cfg.Transport, cfg.CustomsURL = "http", url
	s, stop := startParts(t, cfg, All)
	defer stop()
	f := postFlight(t, s, 4, "REF", "MU5002")
	eventually(t, time.Minute, "every declaration in error", func() (bool, string) {
		for _, id := range f.ids {
			if r := record(t, s, id); r.Status != "error" || r.Code != "4" || !strings.Contains(r.ReturnInfo, "refused") {
				return false, fmt.Sprintf("%s: %s %s %q", id, r.Status, r.Code, r.ReturnInfo)
			}
		}
		return true, ""
	})
	var reasons []string
	for _, m := range devenv.ReadTopic(env.Kafka, bus.TopicDeadLetter, 3*time.Second) {
		for _, h := range m.Headers {
			if h.Key == "clearway-reason" {
				reasons = append(reasons, string(h.Value))
			}
		}
	}
	inventories := 0 // the parcels may have gone in one message or several
	for _, r := range reasons {
		m := refusedCEB603.FindStringSubmatch(r)
		if m == nil {
			t.Fatalf("dead letter %q, want a refused CEB603 message with its reason", r)
		}
		n, _ := strconv.Atoi(m[1])
		inventories += n
	}
	if inventories != len(f.ids) {
		t.Fatalf("dead letters %q carry %d inventories, want the %d refused", reasons, inventories, len(f.ids))
	}
	if len(customs.NewDeclarations()) != 0 {
		t.Fatal("customs took a message it refused")
	}
}
