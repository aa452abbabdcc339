package schemas_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/schemas"
)

func TestDeclarationPayloadsMatchTheirSchema(t *testing.T) {
	s, err := schemas.Compile(schemas.Declaration)
	if err != nil {
		t.Fatal(err)
	}
	m := sample.Manifest("S", 50, sample.Options{Seed: 5, Bonded: 0.5, Flight: "CZ1"})
	m.Parcels[0].Items[0].Qty2, m.Parcels[0].Items[0].Unit2 = customs.MustDecimal("0.5"), "035"
	for i := range m.Parcels {
		d, errs := customs.Declare(&m, i, "3502680EMS", "20261128", customs.Rules{})
		if errs != nil {
			t.Fatal(errs)
		}
		d.AcceptedAt = time.Now()
		msg, err := bus.DeclarationMessage(&d)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(s, msg.Value); err != nil {
			t.Fatalf("parcel %d: %v\n%s", i, err, msg.Value)
		}
	}
	// The schema is not a check that cannot fail.
	bad, _ := json.Marshal(map[string]any{"declarationId": "x", "head": map[string]any{}})
	if schemas.Validate(s, bad) == nil {
		t.Fatal("an incomplete declaration passed the schema")
	}
}

func TestReceiptEventsMatchTheirSchema(t *testing.T) {
	s, err := schemas.Compile(schemas.ReceiptEvent)
	if err != nil {
		t.Fatal(err)
	}
	id := customs.DeclarationID("3502980XYZ", "C1")
	events := []*bus.ReceiptEvent{
		{Kind: bus.KindSent, MessageType: "CEB603Message", MessageGUID: "G1", DeclarationIDs: []string{id}, XML: "<x/>", At: time.Now()},
		{Kind: bus.KindReceipt, MessageType: "CEB604Message", MessageGUID: "G2", DeclarationID: id, ReturnStatus: "-621004",
			ReturnTime: "20261128103000123", ReturnInfo: "重复申报", XML: "<x/>", At: time.Now()},
	}
	for _, e := range events {
		msg, _ := bus.ReceiptMessage(e)
		if err := schemas.Validate(s, msg.Value); err != nil {
			t.Fatalf("%s event: %v", e.Kind, err)
		}
	}
	mixed, _ := json.Marshal(bus.ReceiptEvent{Kind: bus.KindReceipt, MessageType: "CEB604Message", MessageGUID: "G", XML: "<x/>", At: time.Now()})
	if schemas.Validate(s, mixed) == nil {
		t.Fatal("a receipt without declarationId passed the schema")
	}
}
