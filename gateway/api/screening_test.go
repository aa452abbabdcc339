package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/gateway/api"
	"github.com/segmentio/kafka-go"
)

func TestRealNameSendingIsRequiredAndTheIDIsMaskedEverywhere(t *testing.T) {
	ts, env := newServerWith(t, false, func(c *api.Config) { c.Screening.RealNameTenants = []string{"3502680EMS"} })
	m := exampleManifest(t)
	code, _, body := do(t, "POST", ts.URL+"/v1/manifests", courierKey, mustJSON(m))
	if code != 422 || !strings.Contains(body, "parcels[0].senderIdNo") {
		t.Fatalf("without sender: %d %s", code, body)
	}
	const id = "11010519491231002X"
	for _, p := range m["parcels"].([]any) {
		p := p.(map[string]any)
		p["senderName"], p["senderIdType"], p["senderIdNo"] = "张三", "1", id
	}
	code, _, body = do(t, "POST", ts.URL+"/v1/manifests", courierKey, mustJSON(m))
	if code != 202 || strings.Contains(body, id) {
		t.Fatalf("with sender: %d %s", code, body)
	}
	var rec api.ManifestReceipt
	json.Unmarshal([]byte(body), &rec)
	_, _, got := do(t, "GET", ts.URL+"/v1/declarations/"+rec.Parcels[0].DeclarationID, courierKey, nil)
	if strings.Contains(got, id) || strings.Contains(got, "张三") {
		t.Fatalf("the status response shows the sender: %s", got)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: env.Kafka.Brokers, Topic: env.Kafka.TopicPrefix + bus.TopicDeclarations, GroupID: env.Kafka.TopicPrefix + "rn",
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msg, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(msg.Value), id) || !strings.Contains(string(msg.Value), "1101**********002X") {
		t.Fatalf("Kafka payload must hold the ID masked: %s", msg.Value)
	}
	for _, k := range env.Redis.Keys(context.Background(), "*").Val() {
		if v := env.Redis.Dump(context.Background(), k).Val(); strings.Contains(v, id) {
			t.Fatalf("Redis key %s holds the ID in clear", k)
		}
	}
}

func TestBlacklistedSubjectsAreRefusedWithTheReasonAndCounted(t *testing.T) {
	ts, env := newServer(t, false, 64<<20)
	code, _, body := do(t, "POST", ts.URL+"/v1/admin/blacklist", "test-admin-key",
		mustJSON(map[string]string{"kind": "company", "value": "3502960abc", "reason": "失信被执行人 2026-118"}))
	if code != 201 {
		t.Fatalf("add: %d %s", code, body)
	}
	do(t, "POST", ts.URL+"/v1/admin/blacklist", "test-admin-key", mustJSON(map[string]string{"kind": "senderId", "value": "11010519491231002X", "reason": "走私前科"}))
	_, _, list := do(t, "GET", ts.URL+"/v1/admin/blacklist", "test-admin-key", nil)
	if strings.Contains(list, "11010519491231002X") || !strings.Contains(list, "1101**********002X") {
		t.Fatalf("the list shows an ID in clear: %s", list)
	}
	code, _, body = do(t, "POST", ts.URL+"/v1/manifests", courierKey, mustJSON(exampleManifest(t)))
	if code != 422 || !strings.Contains(body, customs.CodeBlacklisted) || !strings.Contains(body, "失信被执行人 2026-118") || !strings.Contains(body, "parcels[0].ebcCode") {
		t.Fatalf("blacklisted seller: %d %s", code, body)
	}
	day := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	if n, _ := env.Redis.HGet(context.Background(), "st:screened:"+day, "company").Int(); n != 2 {
		t.Fatalf("screened count %d, want 2", n)
	}
}

func TestProhibitedGoodsAreHeldBack(t *testing.T) {
	ts, _ := newServerWith(t, false, func(c *api.Config) { c.Screening.HS = customs.HSRules{Prohibited: []string{"6109"}} })
	code, _, body := do(t, "POST", ts.URL+"/v1/manifests", courierKey, mustJSON(exampleManifest(t)))
	var rec api.ManifestReceipt
	json.Unmarshal([]byte(body), &rec)
	if code != 202 || rec.Accepted != 1 || rec.Parcels[1].Errors[0].Code != customs.CodeHSProhibited {
		t.Fatalf("%d %s", code, body)
	}
}
