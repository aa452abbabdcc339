package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/gateway/devenv"
	"github.com/clearway/clearway/gateway/store"
)

var admin = store.Scope{Role: "admin", Tenant: "*"}

func declaration(t *testing.T, tenant, logisticsNo string) *customs.Declaration {
	t.Helper()
	m := sample.Manifest("M1", 1, sample.Options{Seed: 3})
	m.Parcels[0].LogisticsNo = logisticsNo
	d, errs := customs.Declare(&m, 0, tenant, "20261128", customs.Rules{})
	if errs != nil {
		t.Fatal(errs)
	}
	d.AcceptedAt = time.Now().UTC()
	return &d
}

func receipt(id, code, returnTime string) *bus.ReceiptEvent {
	return &bus.ReceiptEvent{Kind: bus.KindReceipt, MessageType: "CEB604Message", MessageGUID: "G-" + code, DeclarationID: id,
		ReturnStatus: code, ReturnTime: returnTime, ReturnInfo: "info " + code, XML: "<ceb:InventoryReturn>" + code + "</ceb:InventoryReturn>", At: time.Now()}
}

func apply(t *testing.T, s *store.Store, events ...*bus.ReceiptEvent) int {
	t.Helper()
	var ts []store.Transition
	for _, e := range events {
		more, _, err := s.FromReceipt(e, nil)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, more...)
	}
	applied, err := s.Apply(context.Background(), ts)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range applied {
		if a.Changed {
			n++
		}
	}
	return n
}

func TestStatusNeverMovesBackwardsAndDuplicatesChangeNothing(t *testing.T) {
	env := devenv.ForTest(t, 1)
	s, ctx := store.New(env.Redis), context.Background()
	d := declaration(t, "3502680EMS", "LN1")
	if err := s.Create(ctx, []*customs.Declaration{d}); err != nil {
		t.Fatal(err)
	}
	// Out of order: release arrives before review; then review, then a
	// duplicate release, then a late "declaring".
	if n := apply(t, s, receipt(d.ID, "800", "20261128100003000")); n != 1 {
		t.Fatalf("800 changed %d, want 1", n)
	}
	if n := apply(t, s, receipt(d.ID, "120", "20261128100001000"), receipt(d.ID, "800", "20261128100003000"), receipt(d.ID, "2", "20261128100000000")); n != 0 {
		t.Fatalf("late and duplicate receipts changed %d statuses, want 0", n)
	}
	r, err := s.Get(ctx, admin, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != customs.Released || r.Code != "800" {
		t.Fatalf("status %s %s, want released 800", r.Status, r.Code)
	}
	if len(r.History) != 2 || r.History[0].Status != customs.Accepted || r.History[1].Code != "800" {
		t.Fatalf("history %+v, want accepted then 800 only", r.History)
	}
	// Every distinct receipt is kept once, the duplicate not twice.
	ms, err := s.Messages(ctx, admin, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("%d messages kept, want 3 distinct receipts", len(ms))
	}
}

func TestReceiptBeforeTheDeclarationRecordKeepsItsStatus(t *testing.T) {
	env := devenv.ForTest(t, 1)
	s, ctx := store.New(env.Redis), context.Background()
	d := declaration(t, "3502680EMS", "LN2")
	apply(t, s, receipt(d.ID, "120", "20261128100001000"))
	// The gateway's record and the tracker's replay of it both arrive later.
	for range 2 {
		if err := s.Create(ctx, []*customs.Declaration{d}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Get(ctx, admin, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != customs.InReview || r.LogisticsNo != "LN2" || r.Tenant != "3502680EMS" {
		t.Fatalf("record %+v, want in_review with the parcel's fields", r)
	}
}

func TestScopes(t *testing.T) {
	env := devenv.ForTest(t, 1)
	s, ctx := store.New(env.Redis), context.Background()
	d := declaration(t, "3502680EMS", "LN3")
	if err := s.Create(ctx, []*customs.Declaration{d}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		scope store.Scope
		sees  bool
	}{
		{store.Scope{Role: "courier", Tenant: "3502680EMS"}, true},
		{store.Scope{Role: "courier", Tenant: "OTHERCOUR1"}, false},
		{store.Scope{Role: "broker", Tenant: sample.AgentCode}, true},
		{store.Scope{Role: "broker", Tenant: "OTHERAGENT"}, false},
		{store.Scope{Role: "airport", Tenant: "JJN"}, true},
		{store.Scope{Role: "admin", Tenant: "OTHERCOUR1"}, false},
		{admin, true},
	}
	for _, c := range cases {
		_, err := s.Get(ctx, c.scope, d.ID)
		if (err == nil) != c.sees {
			t.Errorf("%+v: err %v, sees want %v", c.scope, err, c.sees)
		}
		rs, _ := s.Find(ctx, c.scope, store.ByLogisticsNo, "LN3")
		if (len(rs) == 1) != c.sees {
			t.Errorf("%+v: by logisticsNo found %d", c.scope, len(rs))
		}
	}
}

func TestClaimDeclaresTheSameParcelOnceAndRefusesATakenCopNo(t *testing.T) {
	env := devenv.ForTest(t, 1)
	s, ctx := store.New(env.Redis), context.Background()
	d := declaration(t, "3502680EMS", "LN4")
	out, ids, err := s.Claim(ctx, []*customs.Declaration{d})
	if err != nil || out[0] != store.ClaimNew || ids[0] != d.ID {
		t.Fatalf("first claim: %v %v %v", out, ids, err)
	}
	if err := s.Create(ctx, []*customs.Declaration{d}); err != nil {
		t.Fatal(err)
	}
	out, ids, _ = s.Claim(ctx, []*customs.Declaration{d})
	if out[0] != store.ClaimExisting || ids[0] != d.ID {
		t.Fatalf("second claim: %v %v, want existing %s", out, ids, d.ID)
	}
	// Another waybill number under the same agentCode and copNo.
	other := *d
	other.Head.LogisticsNo = "LN5"
	out, _, _ = s.Claim(ctx, []*customs.Declaration{&other})
	if out[0] != store.ClaimConflict {
		t.Fatalf("claim of a taken copNo: %v, want conflict", out)
	}
	// A released claim can be taken again.
	fresh := declaration(t, "3502680EMS", "LN6")
	s.Claim(ctx, []*customs.Declaration{fresh})
	if err := s.Release(ctx, []*customs.Declaration{fresh}); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := s.Claim(ctx, []*customs.Declaration{fresh}); out[0] != store.ClaimNew {
		t.Fatalf("claim after release: %v, want new", out)
	}
}

func TestFinishedDeclarationsExpireAndReplaysAreToldApart(t *testing.T) {
	env := devenv.ForTest(t, 1)
	ctx := context.Background()
	s := store.New(env.Redis).WithRetention(time.Hour)
	d := declaration(t, "3502680EMS", "LN7")
	if err := s.Create(ctx, []*customs.Declaration{d}); err != nil {
		t.Fatal(err)
	}
	ts, _, _ := s.FromReceipt(receipt(d.ID, "120", "20261128100001000"), nil)
	first, _ := s.Apply(ctx, ts)
	again, _ := s.Apply(ctx, ts)
	if !first[0].Changed || again[0].Changed || !again[0].Replayed || again[0].Tenant != "3502680EMS" || again[0].LogisticsNo != "LN7" {
		t.Fatalf("first %+v, again %+v: a redelivered receipt must be told apart, with its owner", first[0], again[0])
	}
	stale, _, _ := s.FromReceipt(receipt(d.ID, "2", "20261128100000000"), nil)
	if out, _ := s.Apply(ctx, stale); out[0].Changed || out[0].Replayed {
		t.Fatalf("a stale receipt reported %+v", out[0])
	}
	if ttl := env.Redis.TTL(ctx, store.DeclarationKey(d.ID)).Val(); ttl > 0 {
		t.Fatalf("an unfinished declaration expires in %v", ttl)
	}
	final, _, _ := s.FromReceipt(receipt(d.ID, "800", "20261128100003000"), nil)
	s.Apply(ctx, final)
	for _, k := range []string{store.DeclarationKey(d.ID), store.DeclarationKey(d.ID) + ":h", store.DeclarationKey(d.ID) + ":x"} {
		if ttl := env.Redis.TTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s expires in %v, want within the retention of 1h", k, ttl)
		}
	}
	if ttl := env.Redis.TTL(ctx, "ix:logisticsNo:LN7").Val(); ttl <= time.Hour {
		t.Errorf("the index expires in %v, want after the declaration", ttl)
	}
}

// A parcel reserved by a request that has not finished (perhaps never
// will: its gateway died before Kafka had it) is not answered as declared.
func TestAClaimWithoutItsDeclarationIsInFlightNotDuplicate(t *testing.T) {
	env := devenv.ForTest(t, 1)
	s, ctx := store.New(env.Redis), context.Background()
	d := declaration(t, "3502680EMS", "LN-FLIGHT")
	decls := []*customs.Declaration{d}
	if out, _, err := s.Claim(ctx, decls); err != nil || out[0] != store.ClaimNew {
		t.Fatalf("first claim: %v %v", out, err)
	}
	if out, _, err := s.Claim(ctx, decls); err != nil || out[0] != store.ClaimInFlight {
		t.Fatalf("claimed but not declared: %v %v, want in flight", out, err)
	}
	if err := s.Create(ctx, decls); err != nil {
		t.Fatal(err)
	}
	if out, ids, err := s.Claim(ctx, decls); err != nil || out[0] != store.ClaimExisting || ids[0] != d.ID {
		t.Fatalf("declared: %v %v %v, want existing %s", out, ids, err, d.ID)
	}
}

// With an archive, a declaration's messages are kept as where their
// events sit and read back whole: type, guid, status, time and XML.
func TestMessagesKeptAsPositionsReadBackFromTheArchive(t *testing.T) {
	env := devenv.ForTest(t, 1)
	ctx := context.Background()
	archive := map[store.Position][]byte{}
	s := store.New(env.Redis).WithArchive(func(_ context.Context, at store.Position) ([]byte, error) {
		payload, ok := archive[at]
		if !ok {
			t.Fatalf("read %+v, which was never kept", at)
		}
		return payload, nil
	})
	d := declaration(t, "3502680EMS", "LN9")
	if err := s.Create(ctx, []*customs.Declaration{d}); err != nil {
		t.Fatal(err)
	}
	sent := &bus.ReceiptEvent{Kind: bus.KindSubmitted, MessageType: "CEB603Message", MessageGUID: "M-1", DeclarationID: d.ID,
		DeclarationIDs: []string{d.ID}, XML: "<ceb:CEB603Message>M-1</ceb:CEB603Message>", At: time.Now().Add(-time.Second)}
	// A consolidation that listed the parcel, sent after its inventory.
	docSent := &bus.ReceiptEvent{Kind: bus.KindSent, MessageType: "CEB607Message", MessageGUID: "M-2", DeclarationIDs: []string{d.ID},
		DocumentID: "D-1", DocumentKind: "consolidation", PartGUID: "P-1", XML: "<ceb:CEB607Message>M-2</ceb:CEB607Message>", At: time.Now().Add(-time.Second / 2)}
	events := []*bus.ReceiptEvent{sent, docSent, receipt(d.ID, "2", "20261128100000000"), receipt(d.ID, "800", "20261128100003000")}
	var ts []store.Transition
	var steps []store.DocStep
	for i, e := range events {
		at := store.Position{Partition: 2, Offset: int64(100 + i)}
		payload, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		archive[at] = payload
		if e == sent || e == docSent {
			if err := s.SaveSending(ctx, e, &at); err != nil {
				t.Fatal(err)
			}
		}
		more, moreSteps, err := s.FromReceipt(e, &at)
		if err != nil {
			t.Fatal(err)
		}
		ts, steps = append(ts, more...), append(steps, moreSteps...)
	}
	for _, st := range steps {
		if err := s.ApplyDocument(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Apply(ctx, ts); err != nil {
		t.Fatal(err)
	}
	for f, v := range env.Redis.HGetAll(ctx, store.DeclarationKey(d.ID)+":x").Val() {
		if len(f)+len(v) > 64 {
			t.Errorf("entry %s = %s is %d bytes: the list would leave listpack encoding", f, v, len(f)+len(v))
		}
	}
	ms, err := s.Messages(ctx, admin, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(events) {
		t.Fatalf("%d messages, want %d: %+v", len(ms), len(events), ms)
	}
	for i, want := range events {
		m := ms[i]
		direction := "received"
		if want.Kind != bus.KindReceipt {
			direction = "sent"
		}
		if m.Direction != direction || m.MessageType != want.MessageType || m.MessageGUID != want.MessageGUID ||
			m.Code != want.ReturnStatus || !m.At.Equal(want.At) || m.XML != want.XML {
			t.Errorf("message %d reads %+v, want %s %s %s %s", i, m, direction, want.MessageType, want.ReturnStatus, want.XML)
		}
	}
}

// A logisticsNo names one declaration and is kept as a string; two
// couriers using the same one turn it into a set, and both are found.
func TestALookupValueSharedByTwoDeclarationsFindsBoth(t *testing.T) {
	env := devenv.ForTest(t, 1)
	s, ctx := store.New(env.Redis), context.Background()
	first := declaration(t, "3502680EMS", "LN-SHARED")
	m := sample.Manifest("M2", 1, sample.Options{Seed: 3})
	m.Parcels[0].LogisticsNo, m.Parcels[0].CopNo = "LN-SHARED", "SFX-COP-1"
	d, errs := customs.Declare(&m, 0, "3502680SFX", "20261128", customs.Rules{})
	if errs != nil {
		t.Fatal(errs)
	}
	d.AcceptedAt = time.Now().UTC()
	second := &d
	for _, d := range []*customs.Declaration{first, first, second, second} { // each recorded twice, as gateway and tracker do
		if err := s.Create(ctx, []*customs.Declaration{d}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.IndexInvtNo(ctx, []string{first.ID, first.ID}, []string{"37172026E000000001", "37172026E000000001"}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"ix:logisticsNo:LN-SHARED": "set", "ix:invtNo:37172026E000000001": "string", "ix:copNo:SFX-COP-1": "string"} {
		if got := env.Redis.Type(ctx, key).Val(); got != want {
			t.Errorf("%s is a %s, want a %s", key, got, want)
		}
	}
	for _, c := range []struct {
		scope store.Scope
		want  []string
	}{{admin, []string{first.ID, second.ID}}, {store.Scope{Role: "courier", Tenant: "3502680SFX"}, []string{second.ID}}} {
		rs, err := s.Find(ctx, c.scope, store.ByLogisticsNo, "LN-SHARED")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.ID)
		}
		slices.Sort(got)
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v finds %v, want %v", c.scope, got, c.want)
		}
	}
	if rs, _ := s.Find(ctx, admin, store.ByInvtNo, "37172026E000000001"); len(rs) != 1 || rs[0].ID != first.ID {
		t.Errorf("by invtNo found %d, want the first declaration", len(rs))
	}
}
