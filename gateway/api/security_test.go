package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/gateway/api"
	"github.com/clearway/clearway/gateway/store"
	"github.com/segmentio/kafka-go"
)

func do(t *testing.T, method, url, key string, body []byte) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = strings.NewReader(string(body))
	}
	req, _ := http.NewRequest(method, url, r)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := http.DefaultClient
	if strings.Contains(url, "/v1/events") {
		client = &http.Client{Timeout: time.Second} // a stream does not end by itself
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestRoleMatrix walks every route for every role, and another tenant's
// ids, and fails if any cell answers other than the matrix says.
func TestRoleMatrix(t *testing.T) {
	ts, _ := newServer(t, false, 64<<20)
	code, _, body := do(t, "POST", ts.URL+"/v1/manifests", courierKey, mustJSON(exampleManifest(t)))
	if code != 202 {
		t.Fatalf("setup: %d %s", code, body)
	}
	var rec api.ManifestReceipt
	json.Unmarshal([]byte(body), &rec)
	decl, man := rec.Parcels[0].DeclarationID, rec.ManifestID
	_, _, added := do(t, "POST", ts.URL+"/v1/admin/blacklist", "test-admin-key", mustJSON(map[string]string{"kind": "company", "value": "ZZZZZZZZZZ", "reason": "test"}))
	var entry store.BlacklistEntry
	json.Unmarshal([]byte(added), &entry)
	_, _, hook := do(t, "POST", ts.URL+"/v1/webhooks", courierKey, mustJSON(map[string]string{"url": "http://127.0.0.1:9/hook"}))
	var sub struct{ ID string }
	json.Unmarshal([]byte(hook), &sub)

	keys := map[string]string{"courier": courierKey, "other courier": "other-courier-key", "broker": "test-broker-key",
		"other broker": "other-broker-key", "airport": "test-airport-key", "admin": "test-admin-key"}
	type cell = map[string]int
	matrix := []struct {
		method, path string
		body         []byte
		want         cell
	}{
		{"POST", "/v1/manifests", mustJSON(exampleManifest(t)),
			cell{"courier": 202, "other courier": 422 /* agent and copNo taken */, "broker": 403, "other broker": 403, "airport": 403, "admin": 400}},
		{"GET", "/v1/manifests/" + man, nil,
			cell{"courier": 200, "other courier": 404, "broker": 403, "other broker": 403, "airport": 200, "admin": 200}},
		{"GET", "/v1/declarations/" + decl, nil,
			cell{"courier": 200, "other courier": 404, "broker": 200, "other broker": 404, "airport": 200, "admin": 200}},
		{"GET", "/v1/declarations/" + decl + "/messages", nil,
			cell{"courier": 200, "other courier": 404, "broker": 200, "other broker": 404, "airport": 403, "admin": 200}},
		{"GET", "/v1/declarations?logisticsNo=QZX100000000001", nil,
			cell{"courier": 200, "other courier": 200, "broker": 200, "other broker": 200, "airport": 200, "admin": 200}},
		{"GET", "/v1/admin/blacklist", nil,
			cell{"courier": 403, "other courier": 403, "broker": 403, "other broker": 403, "airport": 403, "admin": 200}},
		{"POST", "/v1/admin/blacklist", mustJSON(map[string]string{"kind": "company", "value": "YYYYYYYYYY", "reason": "x"}),
			cell{"courier": 403, "other courier": 403, "broker": 403, "other broker": 403, "airport": 403, "admin": 201}},
		{"DELETE", "/v1/admin/blacklist/" + entry.ID, nil,
			cell{"courier": 403, "other courier": 403, "broker": 403, "other broker": 403, "airport": 403, "admin": 204}},
		{"POST", "/v1/webhooks", mustJSON(map[string]string{"url": "https://example.org/hook"}),
			cell{"courier": 201, "other courier": 201, "broker": 201, "other broker": 201, "airport": 201, "admin": 201}},
		{"GET", "/v1/webhooks", nil,
			cell{"courier": 200, "other courier": 200, "broker": 200, "other broker": 200, "airport": 200, "admin": 200}},
		{"DELETE", "/v1/webhooks/wh_0000000000000000", nil,
			cell{"courier": 404, "other courier": 404, "broker": 404, "other broker": 404, "airport": 404, "admin": 404}},
		{"POST", "/v1/admin/webhooks/" + sub.ID + "/unblock", nil,
			cell{"courier": 403, "other courier": 403, "broker": 403, "other broker": 403, "airport": 403, "admin": 204}},
		{"GET", "/v1/events", nil,
			cell{"courier": 200, "other courier": 200, "broker": 200, "other broker": 200, "airport": 200, "admin": 200}},
		{"GET", "/v1/stats/green-channel", nil,
			cell{"courier": 403, "other courier": 403, "broker": 403, "other broker": 403, "airport": 200, "admin": 200}},
		{"GET", "/v1/flights", nil,
			cell{"courier": 403, "other courier": 403, "broker": 403, "other broker": 403, "airport": 200, "admin": 200}},
		{"POST", "/v1/arrivals", mustJSON(map[string]string{"voyageNo": "CA9999", "date": "2026-11-28"}),
			cell{"courier": 403, "other courier": 403, "broker": 403, "other broker": 403, "airport": 404, "admin": 404}},
		{"GET", "/v1/flights/CA9999/2026-11-28", nil,
			cell{"courier": 403, "other courier": 403, "broker": 403, "other broker": 403, "airport": 404, "admin": 404}},
		{"POST", "/v1/consolidations", mustJSON(map[string]any{"trafName": "CA9999", "voyageNo": "CA9999", "billNo": "999-12345675", "grossWeight": "1",
			"parcels": []map[string]string{{"logisticsNo": "QZX100000000001"}}}),
			cell{"courier": 202, "other courier": 422 /* not its parcel */, "broker": 403, "other broker": 403, "airport": 403, "admin": 422}},
		{"POST", "/v1/departures", mustJSON(map[string]string{"voyageNo": "CA9999", "date": "2026-11-28", "leaveTime": "2026-11-28T10:00:00+08:00"}),
			cell{"courier": 404, "other courier": 404, "broker": 403, "other broker": 403, "airport": 403, "admin": 404}},
		{"POST", "/v1/declarations/" + decl + "/cancel", mustJSON(map[string]string{"reason": "买家取消订单"}),
			cell{"courier": 409 /* not numbered by customs yet */, "other courier": 404, "broker": 409, "other broker": 404, "airport": 403, "admin": 409}},
		{"POST", "/v1/summaries", mustJSON(map[string]string{"ebcCode": "3502960ABC", "from": "2026-11-01", "to": "2026-11-30", "declAgentCode": "3502980XYZ", "declAgentName": "顺达"}),
			cell{"courier": 403, "other courier": 403, "broker": 422 /* nothing released */, "other broker": 422, "airport": 403, "admin": 403}},
		{"GET", "/v1/documents/00000000-0000-0000-0000-000000000000", nil,
			cell{"courier": 404, "other courier": 404, "broker": 404, "other broker": 404, "airport": 404, "admin": 404}},
	}
	covered := map[string]bool{}
	for _, row := range matrix {
		for who, want := range row.want {
			code, _, body := do(t, row.method, ts.URL+row.path, keys[who], row.body)
			if code != want {
				t.Errorf("%s %s as %s: %d, want %d: %s", row.method, row.path, who, code, want, body)
			}
			if code == 404 && (strings.Contains(body, "3502680EMS") || strings.Contains(body, "QZX100000000001")) {
				t.Errorf("%s %s as %s: a 404 reveals the declaration: %s", row.method, row.path, who, body)
			}
		}
		covered[row.method+" "+strings.SplitN(row.path, "?", 2)[0]] = true
	}
	// The visible declarations by logisticsNo are scoped too.
	for who, n := range map[string]int{"courier": 1, "other courier": 0, "broker": 1, "other broker": 0, "airport": 1} {
		_, _, body := do(t, "GET", ts.URL+"/v1/declarations?logisticsNo=QZX100000000001", keys[who], nil)
		var out struct{ Declarations []json.RawMessage }
		json.Unmarshal([]byte(body), &out)
		if len(out.Declarations) != n {
			t.Errorf("by logisticsNo as %s: %d declarations, want %d", who, len(out.Declarations), n)
		}
	}
	if len(api.Policy()) != len(matrix) {
		t.Errorf("the policy has %d routes, the matrix walked %d: add the new route here", len(api.Policy()), len(matrix))
	}
	if code, _, _ := do(t, "GET", ts.URL+"/v1/declarations/"+decl, "", nil); code != 401 {
		t.Errorf("no key: %d, want 401", code)
	}
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	ts, _ := newServerWith(t, false, func(c *api.Config) { c.RateLimit, c.RateBurst = 2, 2 })
	var got429 bool
	for i := 0; i < 10 && !got429; i++ {
		code, h, body := do(t, "GET", ts.URL+"/v1/declarations?logisticsNo=X", courierKey, nil)
		if code == 429 {
			got429 = true
			if h.Get("Retry-After") == "" || !strings.Contains(body, "rate_limited") {
				t.Errorf("429 without Retry-After or code: %v %s", h, body)
			}
		}
	}
	if !got429 {
		t.Fatal("10 requests at a limit of 2/s never got 429")
	}
	// Another key has its own budget.
	if code, _, _ := do(t, "GET", ts.URL+"/v1/declarations?logisticsNo=X", "test-broker-key", nil); code != 200 {
		t.Errorf("another key was limited too: %d", code)
	}
}

func TestStoredKeysWorkAndRevokedKeysStopWithinASecond(t *testing.T) {
	ts, env := newServer(t, false, 64<<20)
	st := store.New(env.Redis)
	ctx := context.Background()
	secret, key, err := st.CreateKey(ctx, "broker", "3502980XYZ")
	if err != nil {
		t.Fatal(err)
	}
	if raw := env.Redis.Keys(ctx, "ak:*").Val(); strings.Contains(strings.Join(raw, ","), secret) {
		t.Fatal("the secret is stored in clear")
	}
	if code, _, body := do(t, "GET", ts.URL+"/v1/declarations?logisticsNo=X", secret, nil); code != 200 {
		t.Fatalf("new key: %d %s", code, body)
	}
	if err := st.RevokeKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if code, _, _ := do(t, "GET", ts.URL+"/v1/declarations?logisticsNo=X", secret, nil); code != 401 {
		t.Fatalf("revoked key still answered %d after a second", code)
	}
	if _, _, err := st.CreateKey(ctx, "courier", "*"); err == nil {
		t.Error("a courier key for every tenant was created")
	}
}

func TestAuditTrailRecordsWhoDidWhatFromWhere(t *testing.T) {
	ts, env := newServer(t, false, 64<<20)
	do(t, "GET", ts.URL+"/v1/declarations/nope", "test-broker-key", nil)
	do(t, "POST", ts.URL+"/v1/admin/blacklist", "test-broker-key", mustJSON(map[string]string{"kind": "company"}))
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: env.Kafka.Brokers, Topic: env.Kafka.TopicPrefix + bus.TopicAudit, GroupID: env.Kafka.TopicPrefix + "audit-probe",
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	seen := map[string]int{}
	for len(seen) < 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			t.Fatalf("audit events so far %v: %v", seen, err)
		}
		var e api.AuditEvent
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatal(err)
		}
		if e.Role != "broker" || e.Tenant != "3502980XYZ" || e.KeyID == "" || e.RemoteAddr == "" || e.RequestID == "" || e.At.IsZero() {
			t.Fatalf("incomplete audit event %+v", e)
		}
		seen[e.Method+" "+e.Route] = e.Status
	}
	if seen["GET /v1/declarations/:id"] != 404 || seen["POST /v1/admin/blacklist"] != 403 {
		t.Fatalf("audit statuses %v", seen)
	}
}
