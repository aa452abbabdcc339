package stack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
)

// A tracker that starts behind a backlog is not ready until it has caught
// up; then it is.
func TestReadyOnlyOnceConsumersHaveCaughtUp(t *testing.T) {
	cfg, _ := testConfig(t, sim.Config{Seed: 1, StepDelay: time.Millisecond})
	g, stopGateway := startParts(t, cfg, Parts{Gateway: true})
	defer stopGateway()
	m := sample.Manifest("BACKLOG", 5000, sample.Options{Seed: 4, Prefix: "BL", MaxItems: 1})
	if code := call(t, "POST", g.URL+"/v1/manifests", "dev-courier-key", mustJSON(m), nil); code != 202 {
		t.Fatalf("POST manifest: %d", code)
	}
	if err := g.ready(context.Background()); err != nil {
		t.Fatalf("a gateway without consumers: %v, want ready", err)
	}

	tr, stopTracker := startParts(t, cfg, Parts{Tracker: true})
	defer stopTracker()
	err := tr.ready(context.Background())
	if err == nil || !strings.Contains(err.Error(), "catching up") {
		t.Fatalf("a tracker 5,000 declarations behind: %v, want not ready (catching up)", err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if err = tr.ready(context.Background()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not ready after a minute: %v", err)
		}
	}
}
