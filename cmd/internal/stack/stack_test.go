package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/devenv"
	"github.com/clearway/clearway/gateway/store"
	"github.com/clearway/clearway/schemas"
	"github.com/segmentio/kafka-go"
)

const exportXSD = "../../../schemas/ceb/ceb-export-202205.xsd"

// startStack runs the whole pipeline (gateway, tracker, adapter, simulator)
// on real Kafka and Redis, or their in-process stand-ins on a bare laptop.
func startStack(t *testing.T, simCfg sim.Config) (*Stack, devenv.Env) {
	t.Setenv("CLEARWAY_API_KEYS", "")
	return startStackWith(t, simCfg, nil)
}

func startStackWith(t *testing.T, simCfg sim.Config, configure func(*Config)) (*Stack, devenv.Env) {
	t.Helper()
	cfg, env := testConfig(t, simCfg)
	if configure != nil {
		configure(&cfg)
	}
	s, stop := startParts(t, cfg, All)
	t.Cleanup(stop)
	return s, env
}

// testConfig is the configuration of a test stack on its own topics and
// Redis database.
func testConfig(t *testing.T, simCfg sim.Config) (Config, devenv.Env) {
	t.Helper()
	env := devenv.ForTest(t, 3)
	cfg, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka, cfg.RedisAddr, cfg.RedisDB = env.Kafka, env.RedisAddr, env.RedisDB
	cfg.HTTP.Addr, cfg.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.HTTP.RateLimit = 0 // the test reads every declaration back as fast as it can
	cfg.Sim = simCfg
	cfg.ShutdownGrace = 2 * time.Second
	return cfg, env
}

// startParts starts parts of a stack; stop stops them and reports how.
func startParts(t *testing.T, cfg Config, parts Parts) (s *Stack, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := Start(ctx, cfg, parts, nil, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return s, func() {
		cancel()
		if err := s.Wait(); err != nil {
			t.Errorf("stack stopped with: %v", err)
		}
	}
}

func call(t *testing.T, method, url, key string, body []byte, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("X-API-Key", key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 && out != nil {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	if out != nil && json.Unmarshal(b, out) != nil {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	return res.StatusCode
}

// simulatorStatus is the Clearway status for the simulator's final code.
func simulatorStatus(code string) customs.Status {
	s, _, _ := customs.FromReturnStatus(code)
	return s
}

func TestThousandParcelManifestReachesFinalStatusesOnTheRealStack(t *testing.T) {
	simCfg := sim.Config{Seed: 42, InspectionRate: 0.1, RejectionRate: 0.05, StepDelay: 5 * time.Millisecond}
	s, env := startStack(t, simCfg)

	m := sample.Manifest("E2E-1000", 1000, sample.Options{Seed: 1, Prefix: "E2E", Bonded: 0.2, Flight: "CZ8471"})
	invalid := map[string]bool{}
	for i := 0; i < 1000; i += 20 { // 50 invalid parcels, three kinds of fault
		p := &m.Parcels[i]
		switch i % 60 {
		case 0:
			p.Items[0].Gcode = "640411" // neither 10 digits nor a flag-A 4-digit heading
		case 20:
			p.Items[0].TotalPrice = customs.MustDecimal("100000")
		case 40:
			p.TradeMode, p.StatisticsFlag, p.EmsNo = "1210", "B", "" // bonded without account book
		}
		invalid[p.LogisticsNo] = true
	}
	body, _ := json.Marshal(m)
	var rec struct {
		ManifestID string `json:"manifestId"`
		Accepted   int    `json:"accepted"`
		Rejected   int    `json:"rejected"`
		Parcels    []struct {
			LogisticsNo   string `json:"logisticsNo"`
			DeclarationID string `json:"declarationId"`
			Result        string `json:"result"`
			Errors        []struct{ Path, Code string }
		} `json:"parcels"`
	}
	if code := call(t, "POST", s.URL+"/v1/manifests", "dev-courier-key", body, &rec); code != 202 {
		t.Fatalf("POST manifest: %d", code)
	}
	if rec.Accepted != 950 || rec.Rejected != 50 {
		t.Fatalf("accepted %d rejected %d, want 950 and 50", rec.Accepted, rec.Rejected)
	}
	want := map[string]customs.Status{} // declarationId → final status the simulator decides
	bonded := 0
	for i, p := range rec.Parcels {
		if invalid[p.LogisticsNo] {
			if p.Result != "rejected" || len(p.Errors) == 0 {
				t.Errorf("parcel %d (%s) should be rejected with field errors: %+v", i, p.LogisticsNo, p)
			}
			continue
		}
		if p.Result != "accepted" {
			t.Fatalf("parcel %d: %+v", i, p)
		}
		mp := m.Parcels[i]
		if mp.TradeMode == "1210" {
			bonded++
		}
		want[p.DeclarationID] = simulatorStatus(simCfg.Decide(mp.AgentCode, mp.LogisticsNo).Final())
	}
	if bonded < 100 {
		t.Fatalf("only %d bonded parcels; the test needs a real share of 1210", bonded)
	}

	// Every accepted parcel reaches the status the simulator decided.
	ctx := context.Background()
	sc := store.Scope{Role: "admin", Tenant: "*"}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		pending := 0
		var wrong []string
		for id, st := range want {
			r, err := s.Store.Get(ctx, sc, id)
			switch {
			case err != nil || !r.Status.Final():
				pending++
			case r.Status != st:
				wrong = append(wrong, fmt.Sprintf("%s: %s, want %s", id, r.Status, st))
			}
		}
		if len(wrong) > 0 {
			t.Fatalf("%d declarations in the wrong final status, e.g. %s", len(wrong), wrong[0])
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d declarations still not final after 3 minutes", pending, len(want))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The manifest's counts agree.
	var man store.Manifest
	call(t, "GET", s.URL+"/v1/manifests/"+rec.ManifestID, "dev-courier-key", nil, &man)
	counted := map[customs.Status]int{}
	for _, st := range want {
		counted[st]++
	}
	for st, n := range counted {
		if man.Counts[st] != n {
			t.Errorf("manifest counts %s = %d, want %d", st, man.Counts[st], n)
		}
	}
	if man.Parcels != 950 {
		t.Errorf("manifest has %d parcels, want 950", man.Parcels)
	}

	// The CEB603 XML of every accepted parcel validates against the XSD;
	// every receipt's XML reads back.
	dir := t.TempDir()
	messages := map[string]bool{}
	for id := range want {
		var out struct {
			Messages []store.Message `json:"messages"`
		}
		call(t, "GET", s.URL+"/v1/declarations/"+id+"/messages", "dev-broker-key", nil, &out)
		var sent, received int
		for _, msg := range out.Messages {
			switch msg.Direction {
			case "sent":
				sent++
				if !bytes.Contains([]byte(msg.XML), []byte("<ceb:guid>"+declGUID(id)+"</ceb:guid>")) {
					t.Fatalf("%s: sent message %s does not carry its inventory", id, msg.MessageGUID)
				}
				if !messages[msg.MessageGUID] {
					messages[msg.MessageGUID] = true
					os.WriteFile(filepath.Join(dir, msg.MessageGUID+".xml"), []byte(msg.XML), 0o644)
				}
			case "received": // read back from its event in Kafka: Redis keeps only where it is
				received++
				if !bytes.Contains([]byte(msg.XML), []byte("<ceb:returnStatus>"+msg.Code+"</ceb:returnStatus>")) {
					t.Fatalf("%s: receipt %s %s reads %q", id, msg.MessageType, msg.Code, msg.XML)
				}
			}
		}
		if sent != 1 || received < 2 {
			t.Fatalf("%s: %d sent and %d received messages, want 1 and at least 2", id, sent, received)
		}
	}
	if len(messages) < 10 { // 950 inventories, at most 100 a message
		t.Fatalf("only %d CEB603 messages for 950 inventories", len(messages))
	}
	validateXSD(t, dir, exportXSD)

	// Raw XML stays out of the hot hash; on a real Redis, say what a
	// declaration costs.
	for id := range want {
		for k, v := range env.Redis.HGetAll(context.Background(), store.DeclarationKey(id)).Val() {
			if strings.Contains(v, "<") {
				t.Fatalf("%s field %s holds XML", id, k)
			}
		}
		break
	}
	if env.Real {
		logMemory(t, env, len(want))
	}

	// Invalid parcels never reached Kafka, and each valid one did once;
	// every payload on both topics matches its JSON Schema.
	onKafka := readAllKeys(t, env.Kafka, bus.TopicDeclarations, schemas.Declaration)
	receipts := readAllKeys(t, env.Kafka, bus.TopicReceipts, schemas.ReceiptEvent)
	if len(receipts) < len(want) {
		t.Errorf("receipt events for %d keys, want at least one per declaration (%d)", len(receipts), len(want))
	}
	for id, n := range onKafka {
		if _, ok := want[id]; !ok {
			t.Errorf("declaration %s on Kafka is not one of the accepted parcels", id)
		}
		if n != 1 {
			t.Errorf("declaration %s is on Kafka %d times", id, n)
		}
	}
	if len(onKafka) != len(want) {
		t.Errorf("%d declarations on Kafka, want %d", len(onKafka), len(want))
	}
	for key, n := range s.Sim.NewDeclarations() {
		if n != 1 {
			t.Errorf("customs received %s as a new declaration %d times", key, n)
		}
	}
}

func declGUID(id string) string { return string(bytes.ToUpper([]byte(id))) }

// validateXSD runs xmllint over every file in dir. CI installs xmllint; on a
// laptop without it the check is skipped, unless CLEARWAY_REQUIRE_REAL=1.
func validateXSD(t *testing.T, dir, xsd string) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		if os.Getenv("CLEARWAY_REQUIRE_REAL") == "1" {
			t.Fatal("xmllint is required (apt-get install libxml2-utils)")
		}
		t.Log("xmllint not installed: XSD validation skipped")
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	args := append([]string{"--noout", "--schema", xsd}, files...)
	if out, err := exec.Command("xmllint", args...).CombinedOutput(); err != nil {
		t.Fatalf("XSD validation failed: %v\n%s", err, out)
	}
}

// readAllKeys counts a topic's messages per key (see readAll).
func readAllKeys(t *testing.T, cfg bus.Config, topic, schema string) map[string]int {
	keys := map[string]int{}
	for _, m := range readAll(t, cfg, topic, schema) {
		keys[string(m.Key)]++
	}
	return keys
}

// readAll reads a topic from the start until it goes quiet and checks
// each payload against its JSON Schema.
func readAll(t *testing.T, cfg bus.Config, topic, schema string) []kafka.Message {
	t.Helper()
	sch, err := schemas.Compile(schema)
	if err != nil {
		t.Fatal(err)
	}
	out := devenv.ReadTopic(cfg, topic, 5*time.Second)
	for _, m := range out {
		if err := schemas.Validate(sch, m.Value); err != nil {
			t.Fatalf("%s payload at offset %d does not match %s: %v", topic, m.Offset, schema, err)
		}
	}
	return out
}

// logMemory reports Redis bytes per declaration by kind of key (MEMORY
// USAGE), as documented in the README.
func logMemory(t *testing.T, env devenv.Env, n int) {
	ctx := context.Background()
	for _, group := range []struct{ name, pattern string }{
		{"status hash", "d:{*}:*"}, {"history", "d:{*}:*:h"}, {"messages (where each is in Kafka)", "d:{*}:*:x"},
		{"lookup indexes", "ix:*"}, {"timelines", "tl:*"}, {"claims", "ln:*"}, {"manifests", "m:*"}, {"sent CEB603 (where it is in Kafka)", "x:*"},
		{"send journal", "aj:d:*"}, {"statistics (all periods)", "st:*"}, {"flight readiness", "fl*"}, {"what each message carried (for CEB900)", "mg:*"},
	} {
		var total int64
		keys := env.Redis.Keys(ctx, group.pattern).Val()
		for _, k := range keys {
			if group.pattern == "d:{*}:*" && (strings.HasSuffix(k, ":h") || strings.HasSuffix(k, ":x")) {
				continue
			}
			total += env.Redis.MemoryUsage(ctx, k).Val()
		}
		t.Logf("redis memory: %-24s %6.0f bytes per declaration (%d keys)", group.name, float64(total)/float64(n), len(keys))
	}
}
