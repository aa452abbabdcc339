// Package devenv provides Kafka and Redis for a laptop and for tests:
// in-process Kafka-protocol (kfake) and Redis-protocol (miniredis) servers
// that speak to the same client code as the real ones, or the real servers
// named by the environment.
package devenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/clearway/clearway/customs/bus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// StartKafka starts an in-process Kafka-protocol broker.
func StartKafka(partitions int) (brokers []string, stop func(), err error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(partitions))
	if err != nil {
		return nil, nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return c.ListenAddrs(), c.Close, nil
}

// StartRedis starts an in-process Redis-protocol server.
func StartRedis() (addr string, stop func(), err error) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		return "", nil, fmt.Errorf("embedded redis: %w", err)
	}
	return m.Addr(), m.Close, nil
}

// Env is what an integration test runs against.
type Env struct {
	Kafka     bus.Config
	RedisAddr string
	RedisDB   int
	Redis     *redis.Client
	Real      bool // real Kafka and Redis, not in-process stand-ins
}

// ForTest gives a test Kafka and Redis: the real servers named by
// CLEARWAY_KAFKA_BROKERS and CLEARWAY_REDIS_ADDR, or in-process ones. With
// CLEARWAY_REQUIRE_REAL=1 (as CI sets) a missing variable fails the test
// instead of falling back. Each test gets its own topic prefix; on a real
// Redis it gets database db, emptied first, so test packages running in
// parallel do not meet.
func ForTest(t testing.TB, db int) Env {
	t.Helper()
	brokers, redisAddr := os.Getenv("CLEARWAY_KAFKA_BROKERS"), os.Getenv("CLEARWAY_REDIS_ADDR")
	if os.Getenv("CLEARWAY_REQUIRE_REAL") == "1" && (brokers == "" || redisAddr == "") {
		t.Fatal("CLEARWAY_REQUIRE_REAL=1 but CLEARWAY_KAFKA_BROKERS or CLEARWAY_REDIS_ADDR is unset")
	}
	env := Env{Real: brokers != "" && redisAddr != ""}
	env.Kafka = bus.Config{Brokers: bus.ParseBrokers(brokers), Partitions: 6, ReplicationFactor: 1, ClientID: "clearway-test",
		TopicPrefix: fmt.Sprintf("test-%d-%x.", time.Now().Unix(), rand.Uint32())}
	if len(env.Kafka.Brokers) == 0 {
		addrs, stop, err := StartKafka(6)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		env.Kafka.Brokers = addrs
	}
	env.RedisAddr = redisAddr
	if redisAddr == "" {
		addr, stop, err := StartRedis()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		env.RedisAddr = addr
	} else {
		env.RedisDB = db
	}
	env.Redis = redis.NewClient(&redis.Options{Addr: env.RedisAddr, DB: env.RedisDB})
	t.Cleanup(func() { env.Redis.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.Redis.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", env.RedisAddr, err)
	}
	if err := bus.EnsureTopics(ctx, env.Kafka); err != nil {
		t.Fatalf("kafka at %v: %v", env.Kafka.Brokers, err)
	}
	return env
}

// ReadTopic reads cfg's topic from its start, as a group of its own,
// until no message has come for quiet: what a test checks a topic with.
func ReadTopic(cfg bus.Config, topic string, quiet time.Duration) []kafka.Message {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: cfg.TopicPrefix + topic, StartOffset: kafka.FirstOffset,
		GroupID: fmt.Sprintf("%sread-%s-%d", cfg.TopicPrefix, topic, time.Now().UnixNano()), MaxWait: 200 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, m)
	}
}
