package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/gateway/api"
	"github.com/clearway/clearway/gateway/devenv"
	"github.com/clearway/clearway/gateway/notify"
	"github.com/clearway/clearway/gateway/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

const courierKey = "test-courier-key"

// newServer serves the API on real (or in-process) Kafka and Redis; with
// kafkaDown the producer points at a port where nothing listens.
func newServer(t *testing.T, kafkaDown bool, maxBody int64) (*httptest.Server, devenv.Env) {
	return newServerWith(t, kafkaDown, func(c *api.Config) { c.MaxBodyBytes = maxBody })
}

func newServerWith(t *testing.T, kafkaDown bool, configure func(*api.Config)) (*httptest.Server, devenv.Env) {
	env := devenv.ForTest(t, 2)
	keys, err := api.ParseKeys("courier:3502680EMS:" + courierKey + ",courier:OTHERCOUR1:other-courier-key,broker:3502980XYZ:test-broker-key," +
		"broker:OTHERAGENT:other-broker-key,airport:JJN:test-airport-key,admin:*:test-admin-key")
	if err != nil {
		t.Fatal(err)
	}
	kcfg := env.Kafka
	if kafkaDown {
		kcfg.Brokers = []string{"127.0.0.1:1"}
	}
	p := bus.NewProducer(kcfg)
	audit := bus.NewProducer(env.Kafka)
	t.Cleanup(func() { p.Close(); audit.Close() })
	cfg := api.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 64 << 20, PublishTimeout: 3 * time.Second, RequestTimeout: 30 * time.Second, Keys: keys}
	if configure != nil {
		configure(&cfg)
	}
	srv := api.New(cfg, api.Deps{Store: store.New(env.Redis), Kafka: p, Audit: audit, Redis: env.Redis, Webhooks: notify.NewRegistry(env.Redis),
		Ready:    func(context.Context) error { return nil },
		Registry: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, env
}

func exampleManifest(t *testing.T) map[string]any {
	b, err := os.ReadFile("../../schemas/examples/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func post(t *testing.T, url, key, contentType string, body []byte) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/manifests", bytes.NewReader(body))
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestBadInputGetsProblemJSONAndAcceptsNothing(t *testing.T) {
	ts, env := newServer(t, false, 64<<10)
	valid := exampleManifest(t)

	withUnknown := exampleManifest(t)
	withUnknown["parcels"].([]any)[0].(map[string]any)["colour"] = "red"
	allInvalid := exampleManifest(t)
	for _, p := range allInvalid["parcels"].([]any) {
		p.(map[string]any)["items"].([]any)[0].(map[string]any)["gcode"] = "6404"
		p.(map[string]any)["statisticsFlag"] = "B"
	}
	cases := []struct {
		name       string
		key, ctype string
		body       []byte
		status     int
		code       string
		errorPath  string
	}{
		{"no key", "", "application/json", mustJSON(valid), 401, "missing_api_key", ""},
		{"unknown key", "nope-nope-nope", "application/json", mustJSON(valid), 401, "unknown_api_key", ""},
		{"broker may not post", "test-broker-key", "application/json", mustJSON(valid), 403, "role_not_allowed", ""},
		{"malformed JSON", courierKey, "application/json", []byte(`{"manifestNo": "X", "parcels": [`), 400, "malformed_json", ""},
		{"not JSON at all", courierKey, "application/json", []byte(`manifest`), 400, "malformed_json", ""},
		{"wrong content type", courierKey, "text/plain", []byte("a,b\n"), 415, "unsupported_media_type", ""},
		{"unknown field", courierKey, "application/json", mustJSON(withUnknown), 400, "unknown_field", "parcels[0].colour"},
		{"wrong type", courierKey, "application/json", []byte(`{"manifestNo": 7, "parcels": []}`), 400, "wrong_type", "manifestNo"},
		{"body over the limit", courierKey, "application/json", mustJSON(map[string]any{"manifestNo": strings.Repeat("x", 70<<10)}), 413, "body_too_large", ""},
		{"no parcel valid", courierKey, "application/json", mustJSON(allInvalid), 422, "no_valid_parcel", "parcels[0].items[0].gcode"},
		{"no parcels", courierKey, "application/json", []byte(`{"manifestNo": "EMPTY", "parcels": []}`), 422, "invalid_manifest", "parcels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := post(t, ts.URL, c.key, c.ctype, c.body)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %v", res.StatusCode, c.status, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			if body["code"] != c.code || body["status"] != float64(c.status) || body["type"] == "" || body["title"] == "" {
				t.Errorf("problem %v, want code %s", body, c.code)
			}
			if c.errorPath != "" && !hasErrorPath(body, c.errorPath) {
				t.Errorf("no field error at %s in %v", c.errorPath, body["errors"])
			}
		})
	}
	if keys := env.Redis.Keys(context.Background(), "[dmlx]*").Val(); len(keys) != 0 {
		t.Errorf("bad requests left declarations in Redis: %v", keys)
	}
}

func TestManifestOverTenThousandParcelsIsRefused(t *testing.T) {
	ts, _ := newServer(t, false, 64<<20)
	tooMany := map[string]any{"manifestNo": "BIG", "parcels": make([]map[string]any, 10001)}
	for i := range tooMany["parcels"].([]map[string]any) {
		tooMany["parcels"].([]map[string]any)[i] = map[string]any{"logisticsNo": "X"}
	}
	res, body := post(t, ts.URL, courierKey, "application/json", mustJSON(tooMany))
	if res.StatusCode != 413 || body["code"] != "too_many_parcels" {
		t.Fatalf("got %d %v, want 413 too_many_parcels", res.StatusCode, body)
	}
}

func hasErrorPath(body map[string]any, path string) bool {
	list, _ := body["errors"].([]any)
	for _, e := range list {
		if m, _ := e.(map[string]any); m["path"] == path && m["code"] != "" && m["message"] != "" {
			return true
		}
	}
	return false
}

func TestKafkaDownAnswers503WithRetryAfterAndAcceptsNothing(t *testing.T) {
	ts, env := newServer(t, true, 64<<20)
	res, body := post(t, ts.URL, courierKey, "application/json", mustJSON(exampleManifest(t)))
	if res.StatusCode != 503 || body["code"] != "kafka_unavailable" {
		t.Fatalf("got %d %v, want 503 kafka_unavailable", res.StatusCode, body)
	}
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After header")
	}
	keys := env.Redis.Keys(context.Background(), "*").Val()
	if len(keys) != 0 {
		t.Errorf("nothing may be recorded when Kafka refused, found %v", keys)
	}
}

func TestPartlyValidManifestAcceptsValidParcelsAndNamesTheRest(t *testing.T) {
	ts, env := newServer(t, false, 64<<20)
	m := exampleManifest(t)
	bad := m["parcels"].([]any)[1].(map[string]any)
	delete(bad, "emsNo")                                              // 1210 needs its account book
	bad["items"].([]any)[0].(map[string]any)["totalPrice"] = "178.50" // 3 × 59 = 177
	res, body := post(t, ts.URL, courierKey, "application/json", mustJSON(m))
	if res.StatusCode != 202 {
		t.Fatalf("status %d: %v", res.StatusCode, body)
	}
	if body["accepted"] != float64(1) || body["rejected"] != float64(1) {
		t.Fatalf("accepted/rejected = %v/%v, want 1/1", body["accepted"], body["rejected"])
	}
	parcels := body["parcels"].([]any)
	rejected := parcels[1].(map[string]any)
	if rejected["result"] != "rejected" || rejected["logisticsNo"] != "QZX100000000002" || !hasErrorPath(rejected, "parcels[1].emsNo") ||
		!hasErrorPath(rejected, "parcels[1].items[0].totalPrice") {
		t.Errorf("rejected parcel %v lacks its errors", rejected)
	}
	id := parcels[0].(map[string]any)["declarationId"].(string)

	// Only the valid parcel reached Kafka.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: env.Kafka.Brokers, Topic: env.Kafka.TopicPrefix + bus.TopicDeclarations, GroupID: env.Kafka.TopicPrefix + "probe", StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	msg, err := r.ReadMessage(ctx)
	cancel()
	if err != nil || string(msg.Key) != id {
		t.Fatalf("first declaration on Kafka: key %q err %v, want %s", msg.Key, err, id)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if extra, err := r.ReadMessage(ctx); err == nil {
		t.Errorf("a second declaration reached Kafka: %s", extra.Key)
	}

	// Posting the same manifest again declares nothing twice.
	res, body = post(t, ts.URL, courierKey, "application/json", mustJSON(m))
	if res.StatusCode != 202 || body["duplicates"] != float64(1) || body["accepted"] != float64(0) {
		t.Fatalf("repost: %d %v, want 1 duplicate", res.StatusCode, body)
	}
	if got := body["parcels"].([]any)[0].(map[string]any)["declarationId"]; got != id {
		t.Errorf("repost returned %v, want the existing %s", got, id)
	}
}

func TestOtherTenantsDeclarationIsNotFound(t *testing.T) {
	ts, _ := newServer(t, false, 64<<20)
	res, body := post(t, ts.URL, courierKey, "application/json", mustJSON(exampleManifest(t)))
	if res.StatusCode != 202 {
		t.Fatalf("status %d: %v", res.StatusCode, body)
	}
	id := body["parcels"].([]any)[0].(map[string]any)["declarationId"].(string)
	for key, want := range map[string]int{courierKey: 200, "other-courier-key": 404, "test-broker-key": 200, "test-admin-key": 200} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/declarations/"+id, nil)
		req.Header.Set("X-API-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s: status %d, want %d (%s)", key, res.StatusCode, want, b)
		}
		if want == 404 && !strings.Contains(string(b), `"code":"not_found"`) {
			t.Errorf("%s: 404 body %s is not a problem", key, b)
		}
	}
}
