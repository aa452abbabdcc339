package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/gateway/store"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// ceilings measures raw kafka-go and go-redis on the same broker and
// server with the same bytes: the declarations this run's gateway wrote,
// and a hash the tracker stored.
func (b *run) ceilings(ctx context.Context) error {
	msgs, consume, err := b.consumeCeiling(ctx, b.d.ceilingMessages)
	if err != nil {
		return fmt.Errorf("raw consume: %w", err)
	}
	produce, err := b.produceCeiling(ctx, msgs)
	if err != nil {
		return fmt.Errorf("raw produce: %w", err)
	}
	hashes, err := b.redisCeiling(ctx, len(msgs))
	if err != nil {
		return fmt.Errorf("raw redis: %w", err)
	}
	b.report.Ceilings = Ceilings{Messages: len(msgs), KafkaProducePerSecond: produce, KafkaConsumePerSecond: consume, RedisHashWritesPerSecond: hashes}
	b.progress("ceilings: kafka-go produce %.0f msg/s, consume %.0f msg/s; go-redis %.0f hashes/s", produce, consume, hashes)
	return nil
}

// consumeCeiling reads n declaration messages as a consumer group, as the
// tracker and the adapter do, committing every 1,000.
func (b *run) consumeCeiling(ctx context.Context, n int) ([]kafka.Message, float64, error) {
	cfg := b.Config.Kafka
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: b.sys.prefix + bus.TopicDeclarations,
		GroupID: fmt.Sprintf("%sbench-ceiling-%d", b.sys.prefix, time.Now().UnixNano()), StartOffset: kafka.FirstOffset,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	msgs := make([]kafka.Message, 0, n)
	var start time.Time
	for len(msgs) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("after %d messages: %w", len(msgs), err)
		}
		if start.IsZero() {
			start = time.Now() // from the first message: joining the group is not reading
		}
		msgs = append(msgs, m)
		if len(msgs)%1000 == 0 {
			if err := r.CommitMessages(ctx, m); err != nil {
				return nil, 0, err
			}
		}
	}
	return msgs, float64(len(msgs)-1) / time.Since(start).Seconds(), nil
}

// produceCeiling writes msgs to a topic of their own with the gateway's
// writer settings (every replica acknowledges, batches of 1,000) from as
// many writers as ingest has couriers.
func (b *run) produceCeiling(ctx context.Context, msgs []kafka.Message) (float64, error) {
	cfg := b.Config.Kafka
	topic := b.sys.prefix + "bench.ceiling"
	if err := createTopic(cfg, topic); err != nil {
		return 0, err
	}
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond, BatchSize: 1000, WriteTimeout: 10 * time.Second}
	defer w.Close()
	start := time.Now()
	err := parallel(ctx, b.ingestWorkers(), len(msgs), 1000, func(from int) error {
		batch := make([]kafka.Message, 0, 1000)
		for _, m := range msgs[from:min(from+1000, len(msgs))] {
			batch = append(batch, kafka.Message{Key: m.Key, Value: m.Value, Headers: m.Headers})
		}
		return w.WriteMessages(ctx, batch...)
	})
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	return float64(len(msgs)) / took.Seconds(), nil
}

// createTopic makes a topic with the run's partitions and replication.
func createTopic(cfg bus.Config, topic string) error {
	conn, err := kafka.Dial("tcp", cfg.Brokers[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return err
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return err
	}
	defer cc.Close()
	err = cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor})
	if errors.Is(err, kafka.TopicAlreadyExists) {
		return nil
	}
	return err
}

// redisCeiling writes n copies of a stored declaration's hash with
// pipelines of 1,000 from four connections, then deletes them.
func (b *run) redisCeiling(ctx context.Context, n int) (float64, error) {
	fields, err := b.rdb.HGetAll(ctx, store.DeclarationKey(b.feed().pick().ID)).Result()
	if err != nil || len(fields) == 0 {
		return 0, fmt.Errorf("reading a stored declaration: %v (%d fields)", err, len(fields))
	}
	key := func(i int) string { return "bench:ceiling:" + strconv.Itoa(i) }
	pipelines := func(do func(p redis.Pipeliner, i int)) error {
		return parallel(ctx, 4, n, 1000, func(from int) error {
			_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := from; i < min(from+1000, n); i++ {
					do(p, i)
				}
				return nil
			})
			return err
		})
	}
	start := time.Now()
	if err := pipelines(func(p redis.Pipeliner, i int) { p.HSet(ctx, key(i), fields) }); err != nil {
		return 0, err
	}
	took := time.Since(start)
	return float64(n) / took.Seconds(), pipelines(func(p redis.Pipeliner, i int) { p.Unlink(ctx, key(i)) })
}
