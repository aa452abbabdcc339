package sim

import (
	"context"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
)

func TestDecideIsSeededAndHoldsItsRates(t *testing.T) {
	cfg := Config{Seed: 9, InspectionRate: 0.2, RejectionRate: 0.1}
	counts := map[string]int{}
	const n = 20000
	for i := range n {
		cop := "C" + string(rune('a'+i%26)) + time.Duration(i).String()
		o := cfg.Decide("A", cop)
		if o2 := cfg.Decide("A", cop); o2.Final() != o.Final() {
			t.Fatal("the same copNo must get the same outcome")
		}
		switch {
		case o.Final() == "100":
			counts["rejected"]++
		case len(o.Codes) == 5 && o.Codes[2] == "500":
			counts["inspected"]++
		}
	}
	for what, want := range map[string]float64{"rejected": 0.1, "inspected": 0.2} {
		got := float64(counts[what]) / n
		if got < want-0.02 || got > want+0.02 {
			t.Errorf("%s rate %.3f, want %.2f ± 0.02", what, got, want)
		}
	}
	differ := 0
	for i := range 200 {
		cop := time.Duration(i).String()
		if (Config{Seed: 1, RejectionRate: 0.5}).Decide("A", cop).Final() != (Config{Seed: 2, RejectionRate: 0.5}).Decide("A", cop).Final() {
			differ++
		}
	}
	if differ < 50 {
		t.Errorf("seeds 1 and 2 differ on %d of 200 parcels at a 50%% rate: the seed is not used", differ)
	}
}

// declarationEnvelope declares n sample parcels in one CEB603 envelope.
func declarationEnvelope(t *testing.T, n int) ([]*customs.Declaration, []byte) {
	t.Helper()
	m := sample.Manifest("S", n, sample.Options{Seed: 2})
	m.Parcels[n-1].Items[0].Gcode = "6404" // flag A pads it to 10 digits: valid
	decls, err := sample.Declarations(&m, "T")
	if err != nil {
		t.Fatal(err)
	}
	return decls, sample.Envelope("G", decls)
}

func TestSimulatorAnswersEachInventoryInOrderWithCEB604(t *testing.T) {
	cfg := Config{Seed: 1, StepDelay: time.Millisecond}
	s := New(cfg)
	decls, envelope := declarationEnvelope(t, 3)
	for range 2 { // the same message twice: the exchange takes it once
		if err := s.Send(context.Background(), envelope); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go s.Run(ctx, func(_ context.Context, b []byte) error {
		e, err := ceb.DecodeEnvelope(b)
		if err != nil || e.MsgType != "CEB604Message" {
			t.Errorf("envelope %v %v", e, err)
			return nil
		}
		rs, err := ceb.ParseCEB604(e.Data)
		if err != nil {
			t.Error(err)
		}
		for _, r := range rs {
			got[r.CopNo] = append(got[r.CopNo], r.ReturnStatus)
		}
		if s.Pending() == 0 {
			cancel()
		}
		return nil
	})
	<-ctx.Done()
	for _, d := range decls {
		want := cfg.Decide(d.Head.AgentCode, d.Head.CopNo).Codes
		if len(got[d.Head.CopNo]) != len(want) {
			t.Fatalf("%s: receipts %v, want %v", d.Head.CopNo, got[d.Head.CopNo], want)
		}
		for i := range want {
			if got[d.Head.CopNo][i] != want[i] {
				t.Fatalf("%s: receipts %v, want %v in order", d.Head.CopNo, got[d.Head.CopNo], want)
			}
		}
	}
	for k, n := range s.NewDeclarations() {
		if n != 1 {
			t.Errorf("%s declared %d times", k, n)
		}
	}
}
