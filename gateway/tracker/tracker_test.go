package tracker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/gateway/store"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

func events(t *testing.T, es ...*bus.ReceiptEvent) []kafka.Message {
	t.Helper()
	msgs := make([]kafka.Message, len(es))
	for i, e := range es {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = kafka.Message{Value: b}
	}
	return msgs
}

// Receipts about documents may overtake what they are about: a part's
// receipt its sent event, a CEB792 the CEB702 that gave its sumNo. They
// wait in Redis and are applied when it arrives, whatever the batches;
// and every step of a batch is applied, not only the first.
func TestDocumentReceiptsThatOvertookTheirMessageAreAppliedWhenItArrives(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := store.New(rdb)
	tr := New(s, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, now := context.Background(), time.Now().UTC()

	m := sample.Manifest("TRK", 3, sample.Options{Seed: 1, Prefix: "TRK"})
	var decls []*customs.Declaration
	var ids []string
	for i := range m.Parcels {
		d, errs := customs.Declare(&m, i, sample.LogisticsCode, "20261128", customs.Rules{})
		if errs != nil {
			t.Fatal(errs)
		}
		d.AcceptedAt = now
		decls, ids = append(decls, &d), append(ids, d.ID)
	}
	if err := s.Create(ctx, decls); err != nil {
		t.Fatal(err)
	}
	summary := &customs.Document{Kind: customs.DocSummary, ID: "sum-1", Tenant: sample.AgentCode, AgentCode: sample.AgentCode, CopNo: "S1", MsgSeqNo: 1, MsgCount: 1, AcceptedAt: now}
	arrival := &customs.Document{Kind: customs.DocArrival, ID: "arr-1", Tenant: "JJN", CopNo: "A1", MsgSeqNo: 1, MsgCount: 1, AcceptedAt: now}
	for _, d := range []*customs.Document{summary, arrival} {
		if err := s.CreateDocument(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	sent := func(d *customs.Document, msgGUID string) *bus.ReceiptEvent {
		return &bus.ReceiptEvent{Kind: bus.KindSent, MessageType: d.Kind.MessageType(), MessageGUID: msgGUID, DeclarationIDs: ids, XML: "<x/>",
			At: now, DocumentID: d.ID, DocumentKind: string(d.Kind), PartGUID: d.GUID(), Tenant: d.Tenant}
	}
	receipt := func(d *customs.Document, msgType, code, sumNo string, at time.Duration) *bus.ReceiptEvent {
		return &bus.ReceiptEvent{Kind: bus.KindDocument, MessageType: msgType, MessageGUID: "R-" + code, PartGUID: d.GUID(), SumNo: sumNo,
			ReturnStatus: code, ReturnTime: "20261128100000000", At: now.Add(at)}
	}
	result := &bus.ReceiptEvent{Kind: bus.KindDocument, MessageType: "CEB792Message", MessageGUID: "R-792", SumNo: "371720267000000001",
		EntryID: "371720261000000001", ReturnStatus: "800", At: now.Add(3 * time.Second)}

	// The CEB792 and the CEB702 arrive before the summary's sent event.
	if err := tr.HandleReceipts(ctx, events(t, result, receipt(summary, "CEB702Message", "399", "371720267000000001", 2*time.Second))); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.GetDocument(ctx, store.Scope{Role: "admin", Tenant: "*"}, summary.ID); d.EntryID != "" || d.Status != customs.Accepted {
		t.Fatalf("applied before its message was known: %+v", d)
	}
	// The sent event, and in the same batch two receipts of another document.
	if err := tr.HandleReceipts(ctx, events(t, sent(summary, "M-sum"), sent(arrival, "M-arr"),
		receipt(arrival, "CEB508Message", "2", "", time.Second), receipt(arrival, "CEB508Message", "399", "", 2*time.Second))); err != nil {
		t.Fatal(err)
	}
	admin := store.Scope{Role: "admin", Tenant: "*"}
	sum, err := s.GetDocument(ctx, admin, summary.ID)
	if err != nil || sum.EntryID != result.EntryID || sum.SumNo != result.SumNo || sum.Code != "800" || len(sum.History) != 3 {
		t.Fatalf("summary %+v %v, want its entryId, sumNo, code 800 and three steps (sent, 702, 792)", sum, err)
	}
	arr, err := s.GetDocument(ctx, admin, arrival.ID)
	if err != nil || arr.Code != "399" || len(arr.History) != 3 {
		t.Fatalf("arrival %+v %v, want code 399 after sent, 2 and 399", arr, err)
	}
	for _, id := range ids {
		r, err := s.Get(ctx, admin, id)
		if err != nil || r.EntryID != result.EntryID || r.Documents["summary"].Code != "800" || r.Documents["arrival"].Code != "399" {
			t.Fatalf("%s: %+v %v", id, r, err)
		}
	}
	if n, _ := rdb.Keys(ctx, "pk:*").Result(); len(n) != 0 {
		t.Fatalf("parked events left behind: %v", n)
	}

	// Applying every batch again changes nothing.
	before := mr.Dump()
	if err := tr.HandleReceipts(ctx, events(t, result, sent(summary, "M-sum"), receipt(arrival, "CEB508Message", "2", "", time.Second))); err != nil {
		t.Fatal(err)
	}
	if mr.Dump() != before {
		t.Fatal("a redelivered batch changed the store")
	}
}
