package stack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/store"
	"github.com/clearway/clearway/gateway/tracker"
	"github.com/clearway/clearway/schemas"
	"github.com/segmentio/kafka-go"
	"gopkg.in/yaml.v3"
)

// The statistics a seeded run produces equal an independent count from
// the raw Kafka topics (exactly for counts, within the stated histogram
// error for percentiles), and do not move when every receipt is delivered
// again.
func TestGreenChannelStatisticsMatchTheRawReceipts(t *testing.T) {
	simCfg := sim.Config{Seed: 7, InspectionRate: 0.2, RejectionRate: 0.1, DetentionRate: 0.05, StepDelay: 200 * time.Millisecond}
	s, env := startStack(t, simCfg)
	today := time.Now().In(ceb.ChinaTime).Format("20060102")
	m := sample.Manifest("STATS-400", 400, sample.Options{Seed: 11, Prefix: "GCS", Bonded: 0.2, Flight: "MU2091", IeDate: today})
	var rec struct {
		Accepted int `json:"accepted"`
		Parcels  []struct {
			DeclarationID string `json:"declarationId"`
			LogisticsNo   string `json:"logisticsNo"`
		} `json:"parcels"`
	}
	if code := call(t, "POST", s.URL+"/v1/manifests", "dev-courier-key", mustJSON(m), &rec); code != 202 || rec.Accepted != 400 {
		t.Fatalf("POST manifest: %d, %d accepted", code, rec.Accepted)
	}
	// The airport desk records the flight's arrival while customs works.
	arrival := map[string]any{"voyageNo": "MU2091", "date": time.Now().In(ceb.ChinaTime).Format(time.DateOnly),
		"operatorCode": "3502960001", "operatorName": "晋江国际机场货站", "domesticTrafNo": "闽C12345"}
	if code := call(t, "POST", s.URL+"/v1/arrivals", "dev-airport-key", mustJSON(arrival), nil); code != 202 {
		t.Fatalf("POST arrival: %d", code)
	}
	want := map[string]string{}
	for _, p := range rec.Parcels {
		want[p.DeclarationID] = p.LogisticsNo
	}
	waitFinal(t, s, want)

	// The independent count: declarations and receipts as Kafka holds them.
	accepted := map[string]time.Time{}
	for _, msg := range readAll(t, env.Kafka, bus.TopicDeclarations, schemas.Declaration) {
		d, err := bus.DecodeDeclaration(msg.Value)
		if err != nil {
			t.Fatal(err)
		}
		accepted[d.ID] = d.AcceptedAt
	}
	first := map[string]time.Time{}   // declarationId/returnStatus → when first received
	arrived := map[string]time.Time{} // declarationId → arrival recorded before its release
	var sinceArrival []float64
	for _, msg := range readAll(t, env.Kafka, bus.TopicReceipts, schemas.ReceiptEvent) { // in each declaration's order
		e, err := bus.DecodeReceipt(msg.Value)
		if err != nil {
			t.Fatal(err)
		}
		k := e.DeclarationID + "/" + e.ReturnStatus
		switch {
		case e.Kind == bus.KindArrived && arrived[e.DeclarationID].IsZero() && first[e.DeclarationID+"/800"].IsZero():
			arrived[e.DeclarationID] = e.At
		case e.Kind == bus.KindReceipt && first[k].IsZero():
			first[k] = e.At
			if e.ReturnStatus == "800" && !arrived[e.DeclarationID].IsZero() {
				sinceArrival = append(sinceArrival, millisBetween(arrived[e.DeclarationID], e.At))
			}
		}
	}
	if len(sinceArrival) == 0 {
		t.Fatal("no parcel's arrival was recorded before its release")
	}
	counts := map[string]int64{"declared": int64(len(accepted))}
	metric := map[string]string{"800": "released", "500": "inspected", "100": "rejected", "501": "detained"}
	var durations []float64
	from, to := time.Now(), time.Time{}
	for k, at := range first {
		id, code := k[:36], k[37:]
		if name := metric[code]; name != "" {
			counts[name]++
		}
		if code == "800" {
			durations = append(durations, millisBetween(accepted[id], at))
		}
		from, to = minTime(from, at, accepted[id]), maxTime(to, at)
	}
	for _, name := range []string{"released", "inspected", "rejected", "detained"} {
		if counts[name] == 0 {
			t.Fatalf("no %s parcels: the seeded rates should produce some", name)
		}
	}

	url := fmt.Sprintf("%s/v1/stats/green-channel?from=%s&to=%s&groupBy=hour", s.URL, from.In(ceb.ChinaTime).Format(time.DateOnly), to.In(ceb.ChinaTime).Format(time.DateOnly))
	var g store.GreenChannel
	if code := call(t, "GET", url, "dev-airport-key", nil, &g); code != 200 {
		t.Fatalf("GET stats: %d", code)
	}
	got := map[string]int64{"declared": g.Totals.Declared, "released": g.Totals.Released, "inspected": g.Totals.Inspected,
		"rejected": g.Totals.Rejected, "detained": g.Totals.Detained}
	for name, n := range counts {
		if got[name] != n {
			t.Errorf("%s: the API says %d, the raw receipts %d", name, got[name], n)
		}
	}
	checkDistribution(t, "declared → released", g.Totals.DeclaredToReleased, durations, g.HistogramRelativeError)
	checkDistribution(t, "arrival → released", g.Totals.ArrivalToReleased, sinceArrival, g.HistogramRelativeError)

	// The flight: every parcel counted, the held ones listed with reasons.
	var f store.Flight
	call(t, "GET", s.URL+"/v1/flights/MU2091/"+today, "dev-airport-key", nil, &f)
	if f.Parcels != 400 || f.Released != counts["released"] || f.Held != counts["rejected"]+counts["detained"] || f.ReadyToLoad {
		t.Errorf("flight readiness %+v, want 400 parcels, %d released, %d held", f.Readiness, counts["released"], counts["rejected"]+counts["detained"])
	}
	if int64(len(f.HeldParcels)) != f.Held || f.HeldParcels[0].ReturnInfo == "" {
		t.Errorf("held parcels %d listed (want %d), first %+v", len(f.HeldParcels), f.Held, f.HeldParcels[0])
	}

	// The pipeline's metrics saw the same run.
	metrics := scrape(t, s.URL+"/metrics")
	prefix := env.Kafka.TopicPrefix
	for series, least := range map[string]float64{
		`clearway_gateway_parcels_total{result="accepted"}`:                                              400,
		`clearway_kafka_produced_total{topic="` + prefix + bus.TopicDeclarations + `"}`:                  400,
		`clearway_customs_receipts_total{return_status="800"}`:                                           float64(counts["released"]),
		`clearway_status_changes_total{status="released"}`:                                               float64(counts["released"]),
		`clearway_http_request_duration_seconds_count{method="POST",route="/v1/manifests",status="202"}`: 1,
	} {
		if metrics[series] < least {
			t.Errorf("/metrics: %s = %v, want at least %v", series, metrics[series], least)
		}
	}
	if _, ok := metrics[`clearway_kafka_consumer_lag{group="`+prefix+tracker.GroupReceipts+`",topic="`+prefix+bus.TopicReceipts+`"}`]; !ok {
		t.Errorf("/metrics has no consumer lag for the tracker")
	}

	checkDeployedMetrics(t, metrics)

	// Redelivery: every receipt once more; once the tracker has consumed
	// them, nothing has moved.
	before, _ := json.Marshal(g)
	raw := readAll(t, env.Kafka, bus.TopicReceipts, schemas.ReceiptEvent)
	again := make([]kafka.Message, len(raw))
	for i, msg := range raw {
		again[i] = kafka.Message{Topic: bus.TopicReceipts, Key: msg.Key, Value: msg.Value}
	}
	if err := s.Producer.WriteMessages(context.Background(), again...); err != nil {
		t.Fatal(err)
	}
	waitConsumed(t, env.Kafka, tracker.GroupReceipts, bus.TopicReceipts)
	var after store.GreenChannel
	call(t, "GET", url, "dev-airport-key", nil, &after)
	if b, _ := json.Marshal(after); string(b) != string(before) {
		t.Fatalf("statistics moved when %d receipts were delivered again:\nbefore %s\nafter  %s", len(raw), before, b)
	}
	t.Logf("%d receipts delivered again; statistics unchanged", len(raw))
}

func minTime(ts ...time.Time) time.Time {
	m := ts[0]
	for _, t := range ts[1:] {
		if t.Before(m) {
			m = t
		}
	}
	return m
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// waitConsumed waits until group has committed every message of topic.
func waitConsumed(t *testing.T, cfg bus.Config, group, topic string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		lag, err := bus.GroupLag(context.Background(), cfg, group, topic)
		if err != nil {
			t.Fatal(err)
		}
		if lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %d messages behind on %s after a minute", group, lag, topic)
		}
	}
}

// scrape reads a Prometheus text exposition into series → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// checkDeployedMetrics: every metric the Grafana dashboard and the alert
// rules in deployments/ query is one the processes expose, and the files
// parse.
func checkDeployedMetrics(t *testing.T, exposed map[string]float64) {
	t.Helper()
	names := map[string]bool{}
	for series := range exposed {
		name, _, _ := strings.Cut(series, "{")
		names[name] = true
	}
	files, _ := filepath.Glob("../../../deployments/grafana/dashboards/*.json")
	yamls, _ := filepath.Glob("../../../deployments/prometheus/*.yml")
	if len(files) == 0 || len(yamls) < 2 {
		t.Fatalf("deployments/: found dashboards %v and Prometheus files %v", files, yamls)
	}
	for _, f := range append(files, yamls...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil { // JSON is YAML too
			t.Errorf("%s does not parse: %v", f, err)
		}
		for _, m := range metricName.FindAllString(string(b), -1) {
			if !names[m] {
				t.Errorf("%s queries %s, which no Clearway process exposes", f, m)
			}
		}
	}
}

var metricName = regexp.MustCompile(`clearway_[a-z_]+`)

// checkDistribution compares a distribution the API reports with the exact
// nearest-rank percentiles of the raw durations (milliseconds).
// millisBetween is a duration as the store measures it, from each end's
// Unix milliseconds: the difference of truncated times, which can be a
// millisecond off the truncated difference and, at a bucket's edge, put
// the duration in the next bucket.
func millisBetween(from, to time.Time) float64 { return float64(to.UnixMilli() - from.UnixMilli()) }

func checkDistribution(t *testing.T, name string, d *store.Distribution, raw []float64, relErr float64) {
	t.Helper()
	if d == nil || d.Count != int64(len(raw)) {
		t.Fatalf("%s: the API's histogram %+v, want %d durations", name, d, len(raw))
	}
	sort.Float64s(raw)
	for _, q := range []struct {
		q   float64
		api float64
	}{{0.5, d.P50Seconds}, {0.9, d.P90Seconds}, {0.99, d.P99Seconds}} {
		exact := raw[int(math.Ceil(q.q*float64(len(raw))))-1] / 1000
		if math.Abs(q.api-exact) > relErr*exact {
			t.Errorf("%s p%.0f: the API says %.4f s, the raw events %.4f s; more than %.0f%% apart", name, q.q*100, q.api, exact, relErr*100)
		}
		t.Logf("%s p%.0f: %.4f s (exact %.4f s, %d durations)", name, q.q*100, q.api, exact, len(raw))
	}
}
