package store_test

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"sort"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/gateway/devenv"
	"github.com/clearway/clearway/gateway/store"
)

// flightDeclarations declares n parcels of one manifest bound to flight
// CA1001 on 2026-11-28, accepted at 10:00 China time.
func flightDeclarations(t *testing.T, n int) []*customs.Declaration {
	t.Helper()
	m := sample.Manifest("STATS", n, sample.Options{Seed: 5, Flight: "CA1001", IeDate: "20261128"})
	accepted := time.Date(2026, 11, 28, 10, 0, 0, 0, ceb.ChinaTime)
	out := make([]*customs.Declaration, n)
	for i := range m.Parcels {
		d, errs := customs.Declare(&m, i, "SF", "20261128", customs.Rules{})
		if errs != nil {
			t.Fatal(errs)
		}
		d.AcceptedAt = accepted
		out[i] = &d
	}
	return out
}

func at(id, code string, t time.Time) *bus.ReceiptEvent {
	e := receipt(id, code, t.Format("20060102150405000"))
	e.At = t
	return e
}

func green(t *testing.T, s *store.Store, groupBy string) *store.GreenChannel {
	t.Helper()
	from := time.Date(2026, 11, 28, 0, 0, 0, 0, ceb.ChinaTime)
	g, err := s.GreenChannel(context.Background(), store.StatsQuery{From: from, To: from.AddDate(0, 0, 1), GroupBy: groupBy})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestStatisticsCountEachAppliedChangeOnceWhateverIsRedelivered(t *testing.T) {
	env := devenv.ForTest(t, 1) // this package's database: other packages' tests run at the same time on theirs
	s, ctx := store.New(env.Redis), context.Background()
	decls := flightDeclarations(t, 20)
	if err := s.Create(ctx, decls); err != nil {
		t.Fatal(err)
	}
	// Parcel i: released after i+1 minutes; every 5th inspected first;
	// every 7th rejected instead; the last one's release overtakes its
	// own record (created below, after its receipts).
	base := decls[0].AcceptedAt
	var events []*bus.ReceiptEvent
	var wantDurations []float64
	wantValue := new(big.Rat)
	want := map[string]int64{"declared": 21}
	late := flightDeclarations(t, 21)[20]
	var late500 *bus.ReceiptEvent
	for i, d := range append(append([]*customs.Declaration{}, decls...), late) {
		for _, l := range d.Items {
			wantValue.Add(wantValue, l.TotalPrice.Rat())
		}
		done := base.Add(time.Duration(i+1) * time.Minute)
		events = append(events, at(d.ID, "2", base.Add(time.Second)), at(d.ID, "120", base.Add(2*time.Second)))
		switch {
		case i%7 == 3:
			events = append(events, at(d.ID, "100", done))
			want["rejected"]++
			continue
		case i == 5: // its inspection receipt comes after its release, and still counts
			late500 = at(d.ID, "500", base.Add(30*time.Second))
			want["inspected"]++
		case i%5 == 0:
			events = append(events, at(d.ID, "500", base.Add(30*time.Second)))
			want["inspected"]++
		}
		events = append(events, at(d.ID, "399", done.Add(-time.Second)), at(d.ID, "800", done))
		want["released"]++
		wantDurations = append(wantDurations, float64(done.Sub(base).Milliseconds()))
	}
	events = append(events, late500)
	apply(t, s, events...)
	if err := s.Create(ctx, []*customs.Declaration{late}); err != nil {
		t.Fatal(err)
	}
	first := green(t, s, "hour")
	check := func(g *store.GreenChannel) {
		t.Helper()
		got := map[string]int64{"declared": g.Totals.Declared, "released": g.Totals.Released, "inspected": g.Totals.Inspected, "rejected": g.Totals.Rejected}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %d, want %d", k, got[k], v)
			}
		}
		if wantCNY := wantValue.FloatString(2); g.Totals.DeclaredValueCNY != wantCNY {
			t.Errorf("declared value %s CNY, want %s", g.Totals.DeclaredValueCNY, wantCNY)
		}
		sort.Float64s(wantDurations)
		for _, q := range []struct {
			q   float64
			got float64
		}{{0.5, g.Totals.DeclaredToReleased.P50Seconds}, {0.9, g.Totals.DeclaredToReleased.P90Seconds}, {0.99, g.Totals.DeclaredToReleased.P99Seconds}} {
			exact := wantDurations[int(math.Ceil(q.q*float64(len(wantDurations))))-1] / 1000
			if math.Abs(q.got-exact) > store.HistogramRelativeError*exact {
				t.Errorf("p%.0f = %.3f s, exact %.3f s: beyond the stated %.0f%% error", q.q*100, q.got, exact, store.HistogramRelativeError*100)
			}
		}
		if len(g.RejectionReasons) != 1 || g.RejectionReasons[0].Reason != "info 100" || g.RejectionReasons[0].Count != want["rejected"] {
			t.Errorf("rejection reasons %+v", g.RejectionReasons)
		}
	}
	check(first)

	// Redelivery: every declaration and every receipt again, in a new order.
	if err := s.Create(ctx, decls); err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
		events[i], events[j] = events[j], events[i]
	}
	if n := apply(t, s, events...); n != 0 {
		t.Fatalf("redelivered receipts changed %d statuses", n)
	}
	again := green(t, s, "hour")
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Fatalf("statistics moved on redelivery:\nbefore %s\nafter  %s", a, b)
	}
	check(again)

	// Grouped by courier and by flight, the rows add up to the totals.
	for _, by := range []string{"courier", "flight", "tradeMode", "customsOffice", "country", "day"} {
		g := green(t, s, by)
		var declared, released int64
		for _, r := range g.Rows {
			declared, released = declared+r.Declared, released+r.Released
		}
		if declared != want["declared"] || released != want["released"] {
			t.Errorf("groupBy=%s rows add to %d declared, %d released; want %d, %d", by, declared, released, want["declared"], want["released"])
		}
	}

	// Flight readiness: everything but the rejected parcels released.
	f, err := s.Flight(ctx, "20261128", "CA1001")
	if err != nil {
		t.Fatal(err)
	}
	if f.Parcels != 21 || f.Released != want["released"] || f.Held != want["rejected"] || f.ReadyToLoad || len(f.HeldParcels) != int(want["rejected"]) {
		t.Fatalf("flight %+v", f)
	}
	if len(f.Waybills) != 1 || f.Waybills[0].Parcels != 21 {
		t.Fatalf("waybills %+v", f.Waybills)
	}
	if f.HeldParcels[0].Status != customs.Rejected || f.HeldParcels[0].ReturnInfo != "info 100" {
		t.Fatalf("held parcel %+v", f.HeldParcels[0])
	}
	list, err := s.Flights(ctx, "20261128")
	if err != nil || len(list) != 1 || list[0].Parcels != 21 {
		t.Fatalf("flights of the day %+v, %v", list, err)
	}
}
