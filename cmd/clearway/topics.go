package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/clearway/clearway/cmd/internal/stack"
	"github.com/clearway/clearway/customs/bus"
)

const topicsUsage = `usage: clearway topics ensure

Creates Clearway's topics on CLEARWAY_KAFKA_BROKERS if they are missing,
with CLEARWAY_KAFKA_PARTITIONS, CLEARWAY_KAFKA_REPLICATION and the
settings printed; an existing topic is left as it is. Every process does
the same when it starts; run this first where the processes may not
create topics.
`

func topics(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] != "ensure" {
		fmt.Fprint(stderr, topicsUsage)
		return 2
	}
	cfg, err := stack.FromEnv()
	if err == nil {
		err = cfg.Kafka.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "clearway topics:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := bus.EnsureTopics(ctx, cfg.Kafka); err != nil {
		fmt.Fprintln(stderr, "clearway topics:", err)
		return 1
	}
	for _, t := range bus.TopicSettings(cfg.Kafka) {
		fmt.Fprintf(stdout, "%-40s partitions=%d replication=%d", t.Topic, t.NumPartitions, t.ReplicationFactor)
		for _, e := range t.ConfigEntries {
			fmt.Fprintf(stdout, " %s=%s", e.ConfigName, e.ConfigValue)
		}
		fmt.Fprintln(stdout)
	}
	return 0
}
