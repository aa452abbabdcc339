package bus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// Handler processes a batch of messages. It must be idempotent: after a
// crash the same messages come again. An error makes the whole batch be
// retried; a message that can never be processed is the handler's to
// dead-letter, so one bad message cannot stop a partition.
type Handler func(ctx context.Context, msgs []kafka.Message) error

// ConsumerConfig bounds a batch.
type ConsumerConfig struct {
	MaxBatch int           // at most this many messages per handler call
	MaxWait  time.Duration // how long to wait for more once one message is there
}

// Consume runs fetch → handle → commit until ctx ends. Offsets are
// committed only after the handler succeeded, so delivery is at-least-once.
// A failing batch is retried with exponential backoff, never skipped.
func Consume(ctx context.Context, r *kafka.Reader, cc ConsumerConfig, h Handler, log *slog.Logger) error {
	batch := make([]kafka.Message, 0, cc.MaxBatch)
	topic, group := r.Config().Topic, r.Config().GroupID
	for _, reason := range []string{"fetch", "handle", "commit", "dead_letter"} { // exposed at zero from the start
		failures.WithLabelValues(topic, reason)
	}
	for {
		batch = batch[:0]
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures.WithLabelValues(topic, "fetch").Inc()
			log.Warn("kafka fetch failed", "topic", r.Config().Topic, "err", err)
			if !Sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		batch = append(batch, m)
		batch = fill(ctx, r, batch, cc)

		for attempt := 0; ; attempt++ {
			err := h(ctx, batch)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil // not committed: redelivered to whoever takes the partition
			}
			failures.WithLabelValues(topic, "handle").Inc()
			log.Warn("batch failed; retrying", "topic", r.Config().Topic, "messages", len(batch), "attempt", attempt+1, "err", err)
			if !Sleep(ctx, Backoff(attempt)) {
				return nil
			}
		}
		for {
			err := r.CommitMessages(ctx, batch...)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			failures.WithLabelValues(topic, "commit").Inc()
			log.Warn("kafka commit failed; retrying", "topic", r.Config().Topic, "err", err)
			if !Sleep(ctx, time.Second) {
				return nil
			}
		}
		consumed.WithLabelValues(topic, group).Add(float64(len(batch)))
	}
}

// fill adds messages that are already there, up to MaxBatch or MaxWait.
func fill(ctx context.Context, r *kafka.Reader, batch []kafka.Message, cc ConsumerConfig) []kafka.Message {
	wait, cancel := context.WithTimeout(ctx, cc.MaxWait)
	defer cancel()
	for len(batch) < cc.MaxBatch {
		m, err := r.FetchMessage(wait)
		if err != nil {
			break
		}
		batch = append(batch, m)
	}
	return batch
}

// Backoff is 100 ms doubled per attempt, capped at 10 s.
func Backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 7)
	return min(d, 10*time.Second)
}

func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// DecodeEach decodes every message; those that cannot be decoded are
// logged and returned apart, for the caller to dead-letter with its reason.
func DecodeEach[T any](msgs []kafka.Message, decode func([]byte) (T, error), what string, log *slog.Logger) (decoded []T, poison []kafka.Message) {
	decoded = make([]T, 0, len(msgs))
	for _, m := range msgs {
		v, err := decode(m.Value)
		if err != nil {
			log.Error("undecodable "+what+"; dead-lettered", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			poison = append(poison, m)
			continue
		}
		decoded = append(decoded, v)
	}
	return decoded, poison
}

// DeadLetter records msgs that cannot be processed, with the reason, on
// clearway.deadletter.v1; the consumer then commits past them.
func DeadLetter(ctx context.Context, w *Producer, reason string, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafka.Message{
			Topic: TopicDeadLetter,
			Key:   m.Key,
			Value: m.Value,
			Headers: append(m.Headers,
				kafka.Header{Key: "clearway-reason", Value: []byte(reason)},
				kafka.Header{Key: "clearway-source", Value: []byte(m.Topic)}),
		}
	}
	if err := w.WriteMessages(ctx, out...); err != nil {
		return errors.Join(errors.New("bus: dead-letter write failed"), err)
	}
	for _, m := range msgs {
		failures.WithLabelValues(m.Topic, "dead_letter").Inc()
	}
	return nil
}
