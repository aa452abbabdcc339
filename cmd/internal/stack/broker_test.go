package stack

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/notify"
	"github.com/clearway/clearway/gateway/store"
	"github.com/clearway/clearway/schemas"
	"github.com/redis/go-redis/v9"
)

// receiver is a webhook endpoint that fails on purpose: its first
// failFirst calls, and every call while failing is set.
type receiver struct {
	t         *testing.T
	secret    string
	mu        sync.Mutex
	failing   bool
	failFirst int
	calls     int
	events    map[string][]bus.StatusEvent // by declaration, in arrival order
	ids       map[string]bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	if rc.failing || rc.calls <= rc.failFirst {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if err := notify.Verify(rc.secret, r.Header.Get(notify.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		rc.t.Errorf("delivery with a bad signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var e bus.StatusEvent
	json.Unmarshal(body, &e)
	if r.Header.Get(notify.HeaderEventID) != e.EventID {
		rc.t.Errorf("event id header %q, body %q", r.Header.Get(notify.HeaderEventID), e.EventID)
	}
	if !rc.ids[e.EventID] { // de-duplicate, as receivers are told to
		rc.ids[e.EventID] = true
		rc.events[e.DeclarationID] = append(rc.events[e.DeclarationID], e)
	}
}

func (rc *receiver) set(failing bool) { rc.mu.Lock(); rc.failing = failing; rc.mu.Unlock() }

func newReceiver(t *testing.T, secret string) (*receiver, string) {
	rc := &receiver{t: t, secret: secret, events: map[string][]bus.StatusEvent{}, ids: map[string]bool{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

// sseClient reads a Server-Sent Events stream until n events or timeout.
func readSSE(t *testing.T, url, key, lastID string, n int, timeout time.Duration) (ids []string, events []bus.StatusEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/v1/events", nil)
	req.Header.Set("X-API-Key", key)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("SSE: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	var id string
	for len(ids) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			var e bus.StatusEvent
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil {
				t.Fatalf("SSE data: %v", err)
			}
			ids, events = append(ids, id), append(events, e)
		}
	}
	return ids, events
}

func TestBrokersFindSubscribeResumeAndRebuild(t *testing.T) {
	t.Setenv("CLEARWAY_API_KEYS", DevKeys+",broker:OTHERAGENT:other-broker-key")
	simCfg := sim.Config{Seed: 11, InspectionRate: 0.2, RejectionRate: 0.2, StepDelay: 5 * time.Millisecond}
	s, env := startStackWith(t, simCfg, func(c *Config) {
		c.Webhooks = notify.Config{BlockAfter: 4 * time.Second, Timeout: 10 * time.Second, MaxBackoff: 200 * time.Millisecond} // a slow machine must not time out into a block
	})
	base := s.URL

	// A broker subscribes; its endpoint fails at first, then recovers. A
	// second subscription fails until it is blocked.
	good, goodURL := newReceiver(t, "broker-secret-0123456789")
	good.failFirst = 3 // then recovers, well before BlockAfter
	var sub notify.Subscription
	if code := call(t, "POST", base+"/v1/webhooks", "dev-broker-key", mustJSON(map[string]string{"url": goodURL, "secret": good.secret}), &sub); code != 201 || sub.Secret != good.secret {
		t.Fatalf("subscribe: %d %+v", code, sub)
	}
	bad, badURL := newReceiver(t, "")
	bad.set(true)
	var badSub notify.Subscription
	call(t, "POST", base+"/v1/webhooks", "dev-broker-key", mustJSON(map[string]string{"url": badURL}), &badSub)
	bad.secret = badSub.Secret

	m := sample.Manifest("BROKER-1", 40, sample.Options{Seed: 4, Prefix: "BRK", Flight: "MU2078", IeDate: "20261128"})
	body, _ := json.Marshal(m)
	var rec struct {
		ManifestID string
		Parcels    []struct{ DeclarationID string }
	}
	if code := call(t, "POST", base+"/v1/manifests", "dev-courier-key", body, &rec); code != 202 {
		t.Fatalf("manifest: %d", code)
	}
	want := map[string]string{} // declarationId → final code
	for i, p := range rec.Parcels {
		want[p.DeclarationID] = simCfg.Decide(m.Parcels[i].AgentCode, m.Parcels[i].LogisticsNo).Final()
	}
	waitFinal(t, s, want)

	// Find by every number a broker holds.
	first, err := s.Store.Get(context.Background(), store.Scope{Role: "admin", Tenant: "*"}, rec.Parcels[0].DeclarationID)
	if err != nil || first.InvtNo == "" {
		t.Fatalf("first declaration %+v %v", first, err)
	}
	for q, n := range map[string]int{
		"logisticsNo=" + first.LogisticsNo: 1, "orderNo=" + first.OrderNo: 1, "copNo=" + first.CopNo: 1, "invtNo=" + first.InvtNo: 1,
		"billNo=" + m.Transport.BillNo: 40, "voyageNo=MU2078&date=20261128": 40, "voyageNo=MU2078&date=20261129": 0,
	} {
		var page store.Page
		call(t, "GET", base+"/v1/declarations?"+q, "dev-broker-key", nil, &page)
		if len(page.Declarations) != n {
			t.Errorf("%s: %d declarations, want %d", q, len(page.Declarations), n)
		}
		var other store.Page
		call(t, "GET", base+"/v1/declarations?"+q, "other-broker-key", nil, &other)
		if len(other.Declarations) != 0 {
			t.Errorf("%s: another agent sees %d declarations", q, len(other.Declarations))
		}
	}
	if code := call(t, "GET", base+"/v1/declarations/"+first.ID, "other-broker-key", nil, nil); code != 404 {
		t.Errorf("another agent's declaration: %d, want 404", code)
	}

	// List newest first in pages of 7, filtered by status, while more
	// parcels arrive: nothing repeats, nothing from the first manifest is lost.
	rejected := 0
	for _, c := range want {
		if c == "100" {
			rejected++
		}
	}
	seen := map[string]bool{}
	cursor := ""
	var extraRec struct {
		Parcels []struct{ DeclarationID string }
	}
	for pages := 0; pages < 20; pages++ {
		var page store.Page
		q := "status=rejected&limit=7"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		call(t, "GET", base+"/v1/declarations?"+q, "dev-courier-key", nil, &page)
		if pages == 0 {
			extra := sample.Manifest("BROKER-2", 5, sample.Options{Seed: 5, Prefix: "NEW"})
			b, _ := json.Marshal(extra)
			call(t, "POST", base+"/v1/manifests", "dev-courier-key", b, &extraRec)
		}
		for i, d := range page.Declarations {
			if seen[d.ID] || d.Status != customs.Rejected {
				t.Fatalf("page %d: %s repeated or not rejected (%s)", pages, d.ID, d.Status)
			}
			if i > 0 && d.AcceptedAt.After(page.Declarations[i-1].AcceptedAt) {
				t.Fatalf("page %d is not newest first", pages)
			}
			seen[d.ID] = true
		}
		if len(page.Declarations) == 0 || page.Next == "" {
			break
		}
		cursor = page.Next
	}
	for id, c := range want {
		if c == "100" && !seen[id] {
			t.Errorf("rejected %s never listed", id)
		}
	}

	// The manifest names the parcels that need attention.
	var man store.Manifest
	call(t, "GET", base+"/v1/manifests/"+rec.ManifestID, "dev-courier-key", nil, &man)
	if len(man.Attention) != rejected || (rejected > 0 && man.Attention[0].ReturnInfo != sim.RejectReason) {
		t.Errorf("attention %+v, want the %d rejected with their reason", man.Attention, rejected)
	}

	// Every status change reached the webhook once the endpoint recovered,
	// in order per declaration, signed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		good.mu.Lock()
		complete, got := true, 0
		for id, code := range want {
			if evs := good.events[id]; len(evs) > 0 && evs[len(evs)-1].Code == code {
				got++
			} else {
				complete = false
			}
		}
		good.mu.Unlock()
		if complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook got %d of %d declarations' final status", got, len(want))
		}
		time.Sleep(200 * time.Millisecond)
	}
	statusSchema, _ := schemas.Compile(schemas.StatusEvent)
	good.mu.Lock()
	for id, evs := range good.events {
		ranks := []int{}
		for _, e := range evs {
			_, r, _ := customs.FromReturnStatus(e.Code)
			if e.Status == string(customs.Submitted) {
				r = customs.RankSubmitted
			}
			ranks = append(ranks, r)
			b, _ := json.Marshal(e)
			if err := schemas.Validate(statusSchema, b); err != nil {
				t.Fatalf("status event does not match its schema: %v", err)
			}
		}
		if !sort.IntsAreSorted(ranks) || evs[0].Status != string(customs.Submitted) {
			t.Errorf("%s: events out of order: %+v", id, evs)
		}
	}
	if good.calls < len(good.ids)+good.failFirst {
		t.Errorf("the failing endpoint was not retried (%d calls for %d events)", good.calls, len(good.ids))
	}
	good.mu.Unlock()

	// The always-failing subscription is blocked with its events kept;
	// unblocked, it receives them all.
	var blocked *notify.Subscription
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var subs struct{ Webhooks []notify.Subscription }
		call(t, "GET", base+"/v1/webhooks", "dev-broker-key", nil, &subs)
		for i := range subs.Webhooks {
			if subs.Webhooks[i].ID == badSub.ID && subs.Webhooks[i].Blocked {
				blocked = &subs.Webhooks[i]
			}
		}
		if blocked != nil {
			break
		}
	}
	if blocked == nil || blocked.Pending == 0 || blocked.Secret != "" {
		t.Fatalf("failing subscription %+v, want blocked with events kept and no secret shown", blocked)
	}
	bad.set(false)
	if code := call(t, "POST", base+"/v1/admin/webhooks/"+badSub.ID+"/unblock", "dev-admin-key", nil, nil); code != 204 {
		t.Fatalf("unblock: %d", code)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		bad.mu.Lock()
		n := len(bad.ids)
		bad.mu.Unlock()
		good.mu.Lock()
		total := len(good.ids)
		good.mu.Unlock()
		if n >= total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after unblocking, %d of %d kept events were replayed", n, total)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Server-Sent Events: read part of the stream, drop, resume with
	// Last-Event-ID: together the two reads are the whole stream, in order.
	ids1, ev1 := readSSE(t, base, "dev-courier-key", "0-0", 10, 10*time.Second)
	ids2, ev2 := readSSE(t, base, "dev-courier-key", ids1[len(ids1)-1], 10, 10*time.Second)
	all, evAll := readSSE(t, base, "dev-courier-key", "0-0", 20, 10*time.Second)
	got := append(append([]string{}, ids1...), ids2...)
	for i := range all {
		if got[i] != all[i] || append(ev1, ev2...)[i].EventID != evAll[i].EventID {
			t.Fatalf("resumed stream differs at %d: %s vs %s", i, got[i], all[i])
		}
	}

	// Rebuild: flush Redis and replay Kafka; every declaration, its
	// history, messages and indexes come back identical. First let the
	// second manifest finish, so nothing moves while the snapshot is taken.
	extra := map[string]string{}
	for _, p := range extraRec.Parcels {
		extra[p.DeclarationID] = ""
	}
	waitFinal(t, s, extra)
	time.Sleep(500 * time.Millisecond) // let the last batches commit
	before := snapshot(t, env.Redis)
	if len(before) < 40*4 {
		t.Fatalf("snapshot of only %d keys", len(before))
	}
	env.Redis.FlushDB(context.Background())
	cfg := s.Config
	if err := Rebuild(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, env.Redis)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("after rebuild %s = %.200s, was %.200s", k, after[k], v)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("rebuild made %s, which was not there", k)
		}
	}
}

// snapshot renders every key the declarations own, statistics and flight
// readiness included (not API keys, blacklist, webhooks, streams or rate
// counters, which are not derived from Kafka): of one Redis, or of every
// master of a Redis Cluster.
func snapshot(t *testing.T, rdb redis.UniversalClient) map[string]string {
	ctx := context.Background()
	out := map[string]string{}
	for _, pattern := range []string{"d:*", "m:*", "ix:*", "tl:*", "ln:*", "x:*", "st:*", "fl*"} {
		for _, k := range keysMatching(t, rdb, pattern) {
			var v any
			switch rdb.Type(ctx, k).Val() {
			case "hash":
				v = rdb.HGetAll(ctx, k).Val()
			case "list":
				v = rdb.LRange(ctx, k, 0, -1).Val()
			case "set":
				m := rdb.SMembers(ctx, k).Val()
				sort.Strings(m)
				v = m
			case "zset":
				v = rdb.ZRange(ctx, k, 0, -1).Val()
			default:
				v = rdb.Get(ctx, k).Val()
			}
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out
}

// keysMatching lists the keys matching pattern on one Redis or on every
// master of a cluster.
func keysMatching(t *testing.T, rdb redis.UniversalClient, pattern string) []string {
	ctx := context.Background()
	var mu sync.Mutex
	var keys []string
	err := store.ForEachServer(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		keys = append(keys, ks...)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func waitFinal(t *testing.T, s *Stack, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pending := 0
		for id := range want {
			r, err := s.Store.Get(context.Background(), store.Scope{Role: "admin", Tenant: "*"}, id)
			if err != nil || !r.Status.Final() {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d declarations not final after 2 minutes", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
