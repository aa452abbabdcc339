package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sign"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/store"
)

const (
	courierKey = "dev-courier-key"
	brokerKey  = "dev-broker-key"
	airportKey = "dev-airport-key"
)

// eventually polls cond until it holds, or fails the test after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s; %s", what, limit, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// devSigner writes a development key pair and points the adapter at it.
func devSigner(t *testing.T, cfg *Config, alg sign.Algorithm) {
	t.Helper()
	key, cert, err := sign.DevCert(alg, "clearway-test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.SignAlg, cfg.SignKey, cfg.SignCert = string(alg), filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	if os.WriteFile(cfg.SignKey, key, 0o600) != nil || os.WriteFile(cfg.SignCert, cert, 0o644) != nil {
		t.Fatal("writing the dev key pair")
	}
}

// flight is one flight's parcels as the courier posted them.
type flight struct {
	voyageNo, billNo, date string
	ids                    []string          // declarations accepted
	logisticsNo            map[string]string // by declaration id
}

func postFlight(t *testing.T, s *Stack, n int, prefix, voyageNo string) flight {
	t.Helper()
	today := time.Now().In(ceb.ChinaTime)
	m := sample.Manifest("FLIGHT-"+prefix, n, sample.Options{Seed: 5, Prefix: prefix, Bonded: 0.5, Flight: voyageNo, IeDate: today.Format("20060102")})
	var rec struct {
		Accepted int `json:"accepted"`
		Parcels  []struct {
			DeclarationID string `json:"declarationId"`
			LogisticsNo   string `json:"logisticsNo"`
		} `json:"parcels"`
	}
	if code := call(t, "POST", s.URL+"/v1/manifests", courierKey, mustJSON(m), &rec); code != 202 || rec.Accepted != n {
		t.Fatalf("POST manifest: %d, %d accepted of %d", code, rec.Accepted, n)
	}
	f := flight{voyageNo: voyageNo, billNo: m.Transport.BillNo, date: today.Format(time.DateOnly), logisticsNo: map[string]string{}}
	for _, p := range rec.Parcels {
		f.ids = append(f.ids, p.DeclarationID)
		f.logisticsNo[p.DeclarationID] = p.LogisticsNo
	}
	return f
}

func record(t *testing.T, s *Stack, id string) *store.Record {
	t.Helper()
	r, err := s.Store.Get(context.Background(), store.Scope{Role: "admin", Tenant: "*"}, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitDocument waits until a document reaches customs' decision (399), as
// its sender (key) reads it.
func waitDocument(t *testing.T, s *Stack, key, id string) *store.Document {
	t.Helper()
	var d store.Document
	eventually(t, 2*time.Minute, "document "+id+" decided by customs", func() (bool, string) {
		call(t, "GET", s.URL+"/v1/documents/"+id, key, nil, &d)
		return d.Code == "399" || d.Code == "800", fmt.Sprintf("%s, code %q", d.Status, d.Code)
	})
	return &d
}

// A flight's whole life on the real stack, every message signed with
// SM2-SM3: the manifest's inventories and waybills, the consolidation, the
// arrival, release, a cancel, the departure that clears what was released
// (899), and the monthly summary that gives the B-flag inventories their
// customs declaration number (entryId); then Redis rebuilt from Kafka.
// Customs sends a third of its receipts twice, and in the second run
// every document's receipts newest first.
func TestAFlightFromManifestToClearanceAndSummary(t *testing.T) {
	for _, c := range []struct {
		name       string
		outOfOrder bool
	}{{"duplicated receipts", false}, {"duplicated and out-of-order receipts", true}} {
		t.Run(c.name, func(t *testing.T) {
			flightLife(t, sim.Config{Seed: 3, InspectionRate: 0.2, RejectionRate: 0.1, StepDelay: 50 * time.Millisecond, DuplicateRate: 0.3, OutOfOrder: c.outOfOrder})
		})
	}
}

func flightLife(t *testing.T, simCfg sim.Config) {
	t.Setenv("CLEARWAY_API_KEYS", "")
	s, env := startStackWith(t, simCfg, func(cfg *Config) {
		cfg.HTTP.WaybillTenants = []string{sample.LogisticsCode}
		devSigner(t, cfg, sign.SM2SM3)
	})
	f := postFlight(t, s, 60, "FLT", "CZ8471")

	// Inventories and waybills: each parcel's CEB505 is decided (399).
	eventually(t, 2*time.Minute, "every waybill decided", func() (bool, string) {
		for _, id := range f.ids {
			if w := record(t, s, id).Documents["waybill"]; w.Code != "399" {
				return false, fmt.Sprintf("%s waybill %+v", id, w)
			}
		}
		return true, ""
	})

	// The consolidation binds the parcels customs will not stop (the
	// simulator's decision is a pure function) to the master air waybill,
	// in bags; a stopped parcel cannot be bound.
	cons := map[string]any{"trafName": "南航CZ8471", "voyageNo": f.voyageNo, "billNo": f.billNo, "grossWeight": "61.5", "parcels": []map[string]string{}}
	bound := 0
	for i, id := range f.ids {
		if final := simCfg.Decide(sample.AgentCode, f.logisticsNo[id]).Final(); final != "800" {
			continue
		}
		bound++
		cons["parcels"] = append(cons["parcels"].([]map[string]string), map[string]string{"logisticsNo": f.logisticsNo[id], "totalPackageNo": fmt.Sprintf("BAG-%02d", i/20)})
	}
	var consolidation struct{ DocumentID string }
	if code := call(t, "POST", s.URL+"/v1/consolidations", courierKey, mustJSON(cons), &consolidation); code != 202 {
		t.Fatalf("POST consolidation: %d", code)
	}
	if code := call(t, "POST", s.URL+"/v1/consolidations", courierKey, mustJSON(cons), nil); code != 202 {
		t.Fatalf("POST the same consolidation again: %d, want 202 (nothing new)", code)
	}
	changed := maps.Clone(cons)
	changed["grossWeight"] = "99"
	if code := call(t, "POST", s.URL+"/v1/consolidations", courierKey, mustJSON(changed), nil); code != 409 {
		t.Fatalf("a different consolidation under the same copNo: %d, want 409", code)
	}
	if d := waitDocument(t, s, courierKey, consolidation.DocumentID); d.Parcels != bound || d.MessageType != "CEB607Message" {
		t.Fatalf("consolidation: %+v", d)
	}

	// The airport desk records the arrival; customs takes the CEB507.
	arrival := map[string]any{"voyageNo": f.voyageNo, "date": f.date, "operatorCode": "3502960001", "operatorName": "晋江国际机场货站", "domesticTrafNo": "闽C12345"}
	var arrived struct {
		Documents []struct{ DocumentID string } `json:"documents"`
		Parcels   int                           `json:"parcels"`
	}
	if code := call(t, "POST", s.URL+"/v1/arrivals", airportKey, mustJSON(arrival), &arrived); code != 202 || arrived.Parcels != len(f.ids) || len(arrived.Documents) != 1 {
		t.Fatalf("POST arrival: %d %+v", code, arrived)
	}
	waitDocument(t, s, airportKey, arrived.Documents[0].DocumentID)

	// Customs decides every inventory.
	want := map[string]string{}
	for _, id := range f.ids {
		want[id] = f.logisticsNo[id]
	}
	waitFinal(t, s, want)
	var again struct{ DocumentID string }
	if code := call(t, "POST", s.URL+"/v1/consolidations", courierKey, mustJSON(cons), &again); code != 202 || again.DocumentID != consolidation.DocumentID {
		t.Fatalf("the same consolidation posted once customs numbered its parcels: %d %s, want 202 and the same document", code, again.DocumentID)
	}
	var released []string
	for _, id := range f.ids {
		if r := record(t, s, id); r.Status == customs.Released {
			released = append(released, id)
		}
	}
	if len(released) < 10 {
		t.Fatalf("only %d of %d released; the seed should release most", len(released), len(f.ids))
	}

	// A broker cancels one released inventory before the flight leaves.
	cancelled := released[0]
	if code := call(t, "POST", s.URL+"/v1/declarations/"+cancelled+"/cancel", brokerKey, mustJSON(map[string]string{"reason": "买家取消订单"}), nil); code != 202 {
		t.Fatalf("POST cancel: %d", code)
	}
	eventually(t, time.Minute, "the cancel approved", func() (bool, string) {
		r := record(t, s, cancelled)
		return r.Status == customs.Cancelled, string(r.Status)
	})
	if code := call(t, "POST", s.URL+"/v1/declarations/"+cancelled+"/cancel", brokerKey, mustJSON(map[string]string{"reason": "again"}), nil); code != 409 {
		t.Fatalf("cancelling a cancelled inventory: %d, want 409", code)
	}

	// The flight leaves: customs clears every released parcel (899).
	dep := map[string]any{"voyageNo": f.voyageNo, "date": f.date, "leaveTime": time.Now().Add(-time.Minute).Format(time.RFC3339)}
	var departed struct {
		Leaving     int `json:"leaving"`
		NotReleased int `json:"notReleased"`
	}
	if code := call(t, "POST", s.URL+"/v1/departures", courierKey, mustJSON(dep), &departed); code != 202 || departed.Leaving != len(released)-1 {
		t.Fatalf("POST departure: %d %+v, want %d leaving", code, departed, len(released)-1)
	}
	eventually(t, 2*time.Minute, "every released parcel cleared", func() (bool, string) {
		for _, id := range released[1:] {
			if r := record(t, s, id); r.Status != customs.Cleared {
				return false, fmt.Sprintf("%s is %s", id, r.Status)
			}
		}
		return true, ""
	})
	if r := record(t, s, cancelled); r.Status != customs.Cancelled {
		t.Fatalf("the cancelled parcel is %s after departure", r.Status)
	}

	// The month's summary of the seller's B-flag inventories.
	summary := map[string]string{"ebcCode": sample.EbpCode, "from": f.date, "to": f.date, "declAgentCode": sample.AgentCode, "declAgentName": "泉州顺达报关有限公司"}
	var applied struct{ DocumentID string }
	if code := call(t, "POST", s.URL+"/v1/summaries", brokerKey, mustJSON(summary), &applied); code != 202 {
		t.Fatalf("POST summary: %d", code)
	}
	var sum store.Document
	eventually(t, 2*time.Minute, "the summary's customs declaration number", func() (bool, string) {
		call(t, "GET", s.URL+"/v1/documents/"+applied.DocumentID, brokerKey, nil, &sum)
		return sum.EntryID != "" && sum.SumNo != "", fmt.Sprintf("%+v", sum)
	})
	if len(sum.EntryID) != 18 || len(sum.SumNo) != 18 {
		t.Fatalf("summary numbers %q %q, want 18 characters each", sum.SumNo, sum.EntryID)
	}
	summarised := 0
	for _, id := range released[1:] {
		r := record(t, s, id)
		if r.EntryID != "" {
			summarised++
			if r.EntryID != sum.EntryID || r.Documents["summary"].Code == "" {
				t.Fatalf("%s: entryId %q documents %+v, want the summary's %s", id, r.EntryID, r.Documents, sum.EntryID)
			}
		}
	}
	if summarised == 0 || summarised != sum.Parcels {
		t.Fatalf("%d declarations carry the entryId, the summary listed %d", summarised, sum.Parcels)
	}

	// Every business message that went out is signed, verifies, and is
	// valid against the official XSD without its signature too.
	dir := t.TempDir()
	types := map[string]int{}
	for _, m := range readAll(t, env.Kafka, bus.TopicReceipts, "receipt-event.schema.json") {
		e, err := bus.DecodeReceipt(m.Value)
		if err != nil || e.Kind != bus.KindSent {
			continue
		}
		if _, err := sign.Verify([]byte(e.XML)); err != nil {
			t.Fatalf("%s %s: %v", e.MessageType, e.MessageGUID, err)
		}
		types[e.MessageType]++
		os.WriteFile(filepath.Join(dir, e.MessageGUID+".xml"), []byte(e.XML), 0o644)
	}
	for _, mt := range []string{"CEB603Message", "CEB607Message", "CEB507Message", "CEB605Message", "CEB509Message", "CEB701Message"} {
		if types[mt] == 0 {
			t.Errorf("no %s went out: %v", mt, types)
		}
	}
	validateXSD(t, dir, exportXSD)

	// Redis can be rebuilt from Kafka: every declaration and document
	// reads the same afterwards.
	docs := []string{consolidation.DocumentID, arrived.Documents[0].DocumentID, applied.DocumentID}
	views := func() map[string]string {
		out := map[string]string{}
		admin := store.Scope{Role: "admin", Tenant: "*"}
		for _, id := range f.ids {
			r, err := s.Store.Get(context.Background(), admin, id)
			b, _ := json.Marshal(r)
			out[id] = fmt.Sprintf("%s %v", b, err)
		}
		for _, id := range docs {
			d, err := s.Store.GetDocument(context.Background(), admin, id)
			b, _ := json.Marshal(d)
			out[id] = fmt.Sprintf("%s %v", b, err)
		}
		return out
	}
	time.Sleep(500 * time.Millisecond) // let the last batches commit
	before := views()
	if !strings.Contains(before[f.ids[0]], `"arrivedAt"`) || !strings.Contains(before[applied.DocumentID], sum.EntryID) {
		t.Fatalf("the views miss what they should compare: %s", before[f.ids[0]])
	}
	env.Redis.FlushDB(context.Background())
	if err := Rebuild(context.Background(), s.Config, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err != nil {
		t.Fatal(err)
	}
	for id, after := range views() {
		if after != before[id] {
			t.Errorf("after the rebuild %s reads\n%s\nwas\n%s", id, after, before[id])
		}
	}
}

// A message customs cannot read comes back as a CEB900; every declaration
// it carried shows error with customs' code and words.
func TestAFormatErrorPutsTheMessagesDeclarationsInError(t *testing.T) {
	s, _ := startStack(t, sim.Config{Seed: 4, StepDelay: 10 * time.Millisecond, FormatErrorRate: 1})
	f := postFlight(t, s, 5, "F900", "MU5001")
	eventually(t, time.Minute, "every declaration in error", func() (bool, string) {
		for _, id := range f.ids {
			if r := record(t, s, id); r.Status != customs.Error || r.Code != sim.FormatError || !strings.Contains(r.ReturnInfo, "format") {
				return false, fmt.Sprintf("%s: %s %s %q", id, r.Status, r.Code, r.ReturnInfo)
			}
		}
		return true, ""
	})
}
