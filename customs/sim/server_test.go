package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clearway/clearway/customs/ceb"
)

func request(t *testing.T, method, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// Over HTTP, a message posted twice is taken once, and a receipt envelope
// not acknowledged is offered again when its lease ends.
func TestServerTakesEachMessageOnceAndRedeliversUnacknowledgedReceipts(t *testing.T) {
	cfg := Config{Seed: 1, StepDelay: time.Millisecond}
	srv := NewServer(New(cfg), 300*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Run(ctx)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	decls, envelope := declarationEnvelope(t, 3)
	for range 2 {
		if resp, body := request(t, "POST", hs.URL+"/dxp/messages", envelope); resp.StatusCode != 202 {
			t.Fatalf("POST message: %d %s", resp.StatusCode, body)
		}
	}
	if resp, _ := request(t, "POST", hs.URL+"/dxp/messages", []byte("<not-an-envelope/>")); resp.StatusCode != 400 {
		t.Fatalf("POST garbage: %d, want 400", resp.StatusCode)
	}

	// The first receipt envelope, not acknowledged, comes again after its lease.
	resp, first := request(t, "GET", hs.URL+"/dxp/receipts?wait=2s", nil)
	id := resp.Header.Get("X-Receipt-Id")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("GET receipt: %d %q", resp.StatusCode, id)
	}
	start := time.Now()
	for {
		resp, again := request(t, "GET", hs.URL+"/dxp/receipts?wait=2s", nil)
		if resp.StatusCode == 200 && resp.Header.Get("X-Receipt-Id") == id {
			if !bytes.Equal(again, first) {
				t.Fatal("a receipt offered again changed")
			}
			if time.Since(start) < 200*time.Millisecond {
				t.Fatalf("offered again after %v, within its lease", time.Since(start))
			}
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("an unacknowledged receipt was never offered again")
		}
	}

	// Acknowledge everything; every inventory's receipts arrive, once each
	// (envelopes leased by the polling above come back with their lease).
	want := map[string][]string{}
	total := 0
	for _, d := range decls {
		want[d.Head.CopNo] = cfg.Decide(d.Head.AgentCode, d.Head.CopNo).Codes
		total += len(want[d.Head.CopNo])
	}
	got := map[string][]string{}
	for n, deadline := 0, time.Now().Add(5*time.Second); n < total; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d receipts after 5 s: %v", n, total, got)
		}
		resp, body := request(t, "GET", hs.URL+"/dxp/receipts?wait=1s", nil)
		if resp.StatusCode == 204 {
			continue
		}
		env, err := ceb.DecodeEnvelope(body)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := ceb.ParseCEB604(env.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			got[r.CopNo] = append(got[r.CopNo], r.ReturnStatus)
			n++
		}
		if ack, _ := request(t, "DELETE", hs.URL+"/dxp/receipts/"+resp.Header.Get("X-Receipt-Id"), nil); ack.StatusCode != 204 {
			t.Fatalf("ack: %d", ack.StatusCode)
		}
	}
	for cop, codes := range want {
		if len(got[cop]) != len(codes) {
			t.Errorf("%s: receipts %v, want %v", cop, got[cop], codes)
		}
	}
	if resp, _ := request(t, "GET", hs.URL+"/dxp/receipts?wait=700ms", nil); resp.StatusCode != 204 {
		t.Errorf("after every receipt was acknowledged, GET answered %d, want 204", resp.StatusCode)
	}
	if resp, _ := request(t, "DELETE", hs.URL+"/dxp/receipts/"+id, nil); resp.StatusCode != 404 {
		t.Errorf("acknowledging twice: %d, want 404", resp.StatusCode)
	}
	_, body := request(t, "GET", hs.URL+"/sim/new-declarations", nil)
	var counts map[string]int
	json.Unmarshal(body, &counts)
	if len(counts) != 3 {
		t.Fatalf("new declarations %v, want 3", counts)
	}
	for k, n := range counts {
		if n != 1 {
			t.Errorf("%s declared new %d times, want once", k, n)
		}
	}
}
