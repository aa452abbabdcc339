package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/gateway/devenv"
	"github.com/segmentio/kafka-go"
)

// topics ensure creates every topic with its settings, and running it
// again changes nothing.
func TestTopicsEnsureCreatesEveryTopicWithItsSettings(t *testing.T) {
	env := devenv.ForTest(t, 5)
	t.Setenv("CLEARWAY_KAFKA_BROKERS", strings.Join(env.Kafka.Brokers, ","))
	prefix := env.Kafka.TopicPrefix + "ensure." // topics of its own, which it creates
	t.Setenv("CLEARWAY_KAFKA_TOPIC_PREFIX", prefix)
	for range 2 {
		var out, errOut bytes.Buffer
		if code := topics([]string{"ensure"}, &out, &errOut); code != 0 {
			t.Fatalf("topics ensure: %d %s", code, errOut.String())
		}
		if n := strings.Count(out.String(), "\n"); n != len(bus.Topics) {
			t.Fatalf("printed %d topics, want %d:\n%s", n, len(bus.Topics), out.String())
		}
	}
	client := &kafka.Client{Addr: kafka.TCP(env.Kafka.Brokers...), Timeout: 10 * time.Second}
	name := prefix + bus.TopicDeclarations
	res, err := client.DescribeConfigs(context.Background(), &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: name, ConfigNames: []string{"retention.ms", "min.insync.replicas", "cleanup.policy"}}}})
	if err != nil || len(res.Resources) != 1 {
		t.Fatalf("describe %s: %v", name, err)
	}
	got := map[string]string{}
	for _, e := range res.Resources[0].ConfigEntries {
		got[e.ConfigName] = e.ConfigValue
	}
	want := map[string]string{"retention.ms": "11232000000", "min.insync.replicas": "1", "cleanup.policy": "delete"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s %s = %q, want %q", name, k, got[k], v)
		}
	}
	var parts []kafka.Partition
	meta, err := client.Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{name}})
	if err == nil && len(meta.Topics) == 1 {
		parts = meta.Topics[0].Partitions
	}
	if len(parts) != 6 {
		t.Errorf("%s has %d partitions, want 6", name, len(parts))
	}
}
