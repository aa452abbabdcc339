package store

import (
	"context"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/redis/go-redis/v9"
)

// How long statistics periods are kept: hours for a month's hourly view,
// days long enough to compare a period with the same one a year before.
const (
	statsHourTTL = 40 * 24 * time.Hour
	statsDayTTL  = 800 * 24 * time.Hour
)

// Statistics metrics, counted once per declaration when it first reaches
// the step.
const (
	MetricDeclared  = "declared"
	MetricReleased  = "released"
	MetricInspected = "inspected"
	MetricRejected  = "rejected"
	MetricDetained  = "detained"
	MetricReturned  = "returned"
	MetricDeparted  = "departed"
)

// valueScale is the unit declared values are summed in: 1/100000 of a
// currency unit, the finest the CEB formats carry, so sums are exact.
const valueScale = 100000

// currencyCNY is the customs code of the renminbi.
const currencyCNY = "142"

// Periods follow the airport's day: China time.
func hourPeriod(t time.Time) string { return "h:" + t.In(ceb.ChinaTime).Format("2006010215") }
func dayPeriod(t time.Time) string  { return "d:" + t.In(ceb.ChinaTime).Format("20060102") }

// statsKey is a period's counters in one group of declarations (tag).
func statsKey(tag, period string) string { return "st:" + tag + ":" + period }

// statsKeys are the hour and day periods a change at t to declaration id
// counts in, in the declaration's group.
func statsKeys(id string, t time.Time) (hour, day string) {
	tag := shardOf(id)
	return statsKey(tag, hourPeriod(t)), statsKey(tag, dayPeriod(t))
}

func seconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

// metricOf is the statistics metric a transition counts as, if any.
func metricOf(t *Transition) string {
	switch t.Status {
	case customs.Released:
		return MetricReleased
	case customs.Inspection:
		return MetricInspected
	case customs.Rejected:
		return MetricRejected
	case customs.Detained:
		return MetricDetained
	case customs.Returned:
		return MetricReturned
	case customs.Cleared: // 899 comes once the flight has left
		return MetricDeparted
	}
	return ""
}

// declaredValues is a declaration's goods value per currency, as
// "currency:amount" pairs in 1/valueScale units.
func declaredValues(d *customs.Declaration) string {
	sums := map[string]*big.Rat{}
	for _, l := range d.Items {
		if !l.TotalPrice.Valid() {
			continue
		}
		if sums[l.Currency] == nil {
			sums[l.Currency] = new(big.Rat)
		}
		sums[l.Currency].Add(sums[l.Currency], l.TotalPrice.Rat())
	}
	pairs := make([]string, 0, len(sums))
	for cur, sum := range sums {
		scaled := new(big.Rat).Mul(sum, big.NewRat(valueScale, 1))
		n := new(big.Int).Quo(scaled.Num(), scaled.Denom()) // ≤ 5 decimals: exact
		pairs = append(pairs, cur+":"+n.String())
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// heldOffFlight: statuses that keep a parcel off its flight until someone
// acts (the Lua side's HELD).
func heldOffFlight(s customs.Status) bool {
	return needsAttention(s) || s == customs.Returned
}

// Figures are the green channel's numbers for a period or a group.
type Figures struct {
	Declared         int64  `json:"declared"`
	Released         int64  `json:"released"`
	Inspected        int64  `json:"inspected"`
	Rejected         int64  `json:"rejected"`
	Detained         int64  `json:"detained"`
	Returned         int64  `json:"returned"`
	Departed         int64  `json:"departed"`
	DeclaredValueCNY string `json:"declaredValueCNY"`
	// DeclaredValueOther sums goods priced in other currencies, by customs
	// currency code; no exchange rate is applied.
	DeclaredValueOther map[string]string `json:"declaredValueOther,omitempty"`
	// InspectionRate is inspected / declared; ReleaseRate is released over
	// all outcomes (released, rejected, detained, returned) in the period.
	InspectionRate     float64       `json:"inspectionRate"`
	ReleaseRate        float64       `json:"releaseRate"`
	DeclaredToReleased *Distribution `json:"declaredToReleased,omitempty"`
	ArrivalToReleased  *Distribution `json:"arrivalToReleased,omitempty"`
}

// tally accumulates the counters of one group.
type tally struct {
	counts     map[string]int64
	dr, ar     Histogram
	timed      bool // whether this group carries clearance times
	rejections map[string]int64
}

func newTally(timed bool) *tally {
	return &tally{counts: map[string]int64{}, dr: Histogram{}, ar: Histogram{}, timed: timed, rejections: map[string]int64{}}
}

func (t *tally) figures(withBuckets bool) Figures {
	c := t.counts
	f := Figures{Declared: c[MetricDeclared], Released: c[MetricReleased], Inspected: c[MetricInspected], Rejected: c[MetricRejected],
		Detained: c[MetricDetained], Returned: c[MetricReturned], Departed: c[MetricDeparted], DeclaredValueCNY: "0.00"}
	for metric, v := range c {
		cur, ok := strings.CutPrefix(metric, "value:")
		if !ok {
			continue
		}
		if cur == currencyCNY {
			f.DeclaredValueCNY = formatValue(v)
			continue
		}
		if f.DeclaredValueOther == nil {
			f.DeclaredValueOther = map[string]string{}
		}
		f.DeclaredValueOther[cur] = formatValue(v)
	}
	if f.Declared > 0 {
		f.InspectionRate = float64(f.Inspected) / float64(f.Declared)
	}
	if outcomes := f.Released + f.Rejected + f.Detained + f.Returned; outcomes > 0 {
		f.ReleaseRate = float64(f.Released) / float64(outcomes)
	}
	if t.timed {
		dr, ar := t.dr.Distribution(withBuckets), t.ar.Distribution(withBuckets)
		f.DeclaredToReleased, f.ArrivalToReleased = &dr, &ar
	}
	return f
}

// formatValue renders a sum in 1/valueScale units with at least two
// decimals: 1234500000 → "12345.00".
func formatValue(v int64) string {
	r := new(big.Rat).SetFrac64(v, valueScale)
	s := strings.TrimRight(r.FloatString(5), "0")
	if i := strings.IndexByte(s, '.'); len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	return s
}

// add folds one period hash into the tally: fields without a dimension
// when dim is "", else those of dim=value.
func (t *tally) add(fields map[string]string, dim, value string) {
	for f, raw := range fields {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			continue
		}
		if rest, ok := strings.CutPrefix(f, "t:"); ok {
			if dim != "" {
				continue
			}
			kind, b, _ := strings.Cut(rest, ":")
			i, _ := strconv.Atoi(b)
			if kind == "dr" {
				t.dr[i] += n
			} else {
				t.ar[i] += n
			}
			continue
		}
		if reason, ok := strings.CutPrefix(f, "r:"); ok {
			if dim == "" {
				t.rejections[reason] += n
			}
			continue
		}
		metric, rest, hasDim := strings.Cut(f, "|")
		switch {
		case !hasDim && dim == "":
			t.counts[metric] += n
		case hasDim && dim != "" && rest == dim+"|"+value:
			t.counts[metric] += n
		}
	}
}

// Groupings GreenChannel takes, and the dimension each reads.
var StatsGroupings = map[string]string{
	"hour": "", "day": "", "courier": "courier", "country": "country", "flight": "flight", "tradeMode": "tradeMode", "customsOffice": "customsOffice",
}

// StatsQuery asks for the days [From, To) (China time) grouped by GroupBy.
type StatsQuery struct {
	From, To time.Time
	GroupBy  string
}

// StatsRow is one group's figures.
type StatsRow struct {
	Key string `json:"key"`
	Figures
}

// ReasonCount is how often customs gave one rejection reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// PeriodTotals are the totals of a period compared with.
type PeriodTotals struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Totals Figures   `json:"totals"`
}

// Comparison sets a period against the one before it and the same one a
// year before: the plan's doubling target is read off GrowthOverYearBefore.
type Comparison struct {
	Previous             PeriodTotals `json:"previous"`
	YearBefore           PeriodTotals `json:"yearBefore"`
	GrowthOverPrevious   *float64     `json:"growthOverPrevious"`
	GrowthOverYearBefore *float64     `json:"growthOverYearBefore"`
}

// GreenChannel is the channel's statistics for a period.
type GreenChannel struct {
	From                   time.Time     `json:"from"`
	To                     time.Time     `json:"to"`
	GroupBy                string        `json:"groupBy"`
	Timezone               string        `json:"timezone"`
	Totals                 Figures       `json:"totals"`
	Rows                   []StatsRow    `json:"rows"`
	RejectionReasons       []ReasonCount `json:"rejectionReasons"`
	Comparison             Comparison    `json:"comparison"`
	HistogramRelativeError float64       `json:"histogramRelativeError"`
}

// maxReasons bounds the rejection reasons listed.
const maxReasons = 10

// GreenChannel reads the statistics of q's period.
func (s *Store) GreenChannel(ctx context.Context, q StatsQuery) (*GreenChannel, error) {
	span := q.To.Sub(q.From)
	previous := PeriodTotals{From: q.From.Add(-span), To: q.From}
	yearBefore := PeriodTotals{From: q.From.AddDate(-1, 0, 0), To: q.To.AddDate(-1, 0, 0)}
	step, period := 24*time.Hour, dayPeriod
	if q.GroupBy == "hour" {
		step, period = time.Hour, hourPeriod
	}
	periods := func(from, to time.Time, step time.Duration, period func(time.Time) string) []string {
		var names []string
		for t := from; t.Before(to); t = t.Add(step) {
			names = append(names, period(t))
		}
		return names
	}
	main := periods(q.From, q.To, step, period)
	before := periods(previous.From, previous.To, 24*time.Hour, dayPeriod)
	lastYear := periods(yearBefore.From, yearBefore.To, 24*time.Hour, dayPeriod)
	all := append(append(append([]string{}, main...), before...), lastYear...)
	hashes, err := s.addUpShards(ctx, all, statsKey)
	if err != nil {
		return nil, err
	}
	out := &GreenChannel{From: q.From, To: q.To, GroupBy: q.GroupBy, Timezone: "+08:00", Rows: []StatsRow{},
		RejectionReasons: []ReasonCount{}, HistogramRelativeError: HistogramRelativeError}

	totals := newTally(true)
	dim := StatsGroupings[q.GroupBy]
	groups := map[string]*tally{}
	for i := range main {
		totals.add(hashes[i], "", "")
		if dim == "" {
			row := newTally(true)
			row.add(hashes[i], "", "")
			groups[periodLabel(main[i])] = row
			continue
		}
		for _, v := range dimValues(hashes[i], dim) {
			if groups[v] == nil {
				groups[v] = newTally(false)
			}
			groups[v].add(hashes[i], dim, v)
		}
	}
	out.Totals = totals.figures(true)
	for k, t := range groups {
		out.Rows = append(out.Rows, StatsRow{Key: k, Figures: t.figures(false)})
	}
	sort.Slice(out.Rows, func(i, j int) bool { return out.Rows[i].Key < out.Rows[j].Key })
	for reason, n := range totals.rejections {
		out.RejectionReasons = append(out.RejectionReasons, ReasonCount{Reason: reason, Count: n})
	}
	sort.Slice(out.RejectionReasons, func(i, j int) bool {
		a, b := out.RejectionReasons[i], out.RejectionReasons[j]
		return a.Count > b.Count || (a.Count == b.Count && a.Reason < b.Reason)
	})
	out.RejectionReasons = out.RejectionReasons[:min(len(out.RejectionReasons), maxReasons)]

	sum := func(hs []map[string]string) Figures {
		t := newTally(false)
		for _, h := range hs {
			t.add(h, "", "")
		}
		return t.figures(false)
	}
	previous.Totals = sum(hashes[len(main) : len(main)+len(before)])
	yearBefore.Totals = sum(hashes[len(main)+len(before):])
	out.Comparison = Comparison{Previous: previous, YearBefore: yearBefore,
		GrowthOverPrevious: growth(out.Totals.Declared, previous.Totals.Declared), GrowthOverYearBefore: growth(out.Totals.Declared, yearBefore.Totals.Declared)}
	return out, nil
}

// periodLabel turns h:2026112810 into 2026-11-28T10 and d:20261128 into
// 2026-11-28.
func periodLabel(period string) string {
	p := period[len("h:"):]
	label := p[0:4] + "-" + p[4:6] + "-" + p[6:8]
	if len(p) == 10 {
		label += "T" + p[8:10]
	}
	return label
}

// dimValues lists the values of dim present in a period hash.
func dimValues(fields map[string]string, dim string) []string {
	seen := map[string]bool{}
	var out []string
	for f := range fields {
		if _, rest, ok := strings.Cut(f, "|"); ok {
			if d, v, ok := strings.Cut(rest, "|"); ok && d == dim && !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}

func growth(now, then int64) *float64 {
	if then == 0 {
		return nil
	}
	g := float64(now) / float64(then)
	return &g
}

// DayCount is one metric's count over the whole channel on t's day (China
// time): one field per group, a read cheap enough for a monitor to poll.
func (s *Store) DayCount(ctx context.Context, metric string, t time.Time) (int64, error) {
	cmds, err := readShards(ctx, s, []string{dayPeriod(t)}, statsKey, func(p redis.Pipeliner, k string) *redis.StringCmd { return p.HGet(ctx, k, metric) })
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range cmds[0] {
		v, _ := c.Int64()
		n += v
	}
	return n, nil
}
