// Package tracker applies what happens to declarations to the status store:
// it consumes clearway.declarations.v1 (so the store can always be rebuilt
// from Kafka, and a declaration whose gateway died right after Kafka's ack
// is still recorded) and clearway.receipts.v1.
package tracker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/gateway/store"
	"github.com/segmentio/kafka-go"
)

// Consumer group names.
const (
	GroupDeclarations = "clearway-tracker-declarations"
	GroupReceipts     = "clearway-tracker-receipts"
)

type Tracker struct {
	store  *store.Store
	writer *bus.Producer // for dead letters
	log    *slog.Logger
}

func New(s *store.Store, w *bus.Producer, log *slog.Logger) *Tracker {
	return &Tracker{store: s, writer: w, log: log}
}

// Run consumes both topics until ctx ends.
func (t *Tracker) Run(ctx context.Context, declarations, receipts *kafka.Reader) error {
	cc := bus.ConsumerConfig{MaxBatch: 2000, MaxWait: 10 * time.Millisecond}
	errc := make(chan error, 1)
	go func() { errc <- bus.Consume(ctx, declarations, cc, t.HandleDeclarations, t.log) }()
	err := bus.Consume(ctx, receipts, cc, t.HandleReceipts, t.log)
	return errors.Join(err, <-errc)
}

// HandleDeclarations records accepted declarations (idempotently).
func (t *Tracker) HandleDeclarations(ctx context.Context, msgs []kafka.Message) error {
	decls := make([]*customs.Declaration, 0, len(msgs))
	var poison []kafka.Message
	for _, m := range msgs {
		d, err := bus.DecodeDeclaration(m.Value)
		if err != nil {
			t.log.Error("undecodable declaration; dead-lettered", "partition", m.Partition, "offset", m.Offset, "err", err)
			poison = append(poison, m)
			continue
		}
		decls = append(decls, d)
	}
	if len(poison) > 0 {
		if err := bus.DeadLetter(ctx, t.writer, "undecodable declaration", poison...); err != nil {
			return err
		}
	}
	return t.store.Create(ctx, "", decls)
}

// HandleReceipts applies sent and receipt events, each as one atomic
// transition that never moves a status backwards.
func (t *Tracker) HandleReceipts(ctx context.Context, msgs []kafka.Message) error {
	var ts []store.Transition
	for _, m := range msgs {
		e, err := bus.DecodeReceipt(m.Value)
		var more []store.Transition
		if err == nil {
			more, err = store.FromReceipt(e)
		}
		if err != nil {
			t.log.Error("unusable receipt event; dead-lettered", "partition", m.Partition, "offset", m.Offset, "err", err)
			if err := bus.DeadLetter(ctx, t.writer, err.Error(), m); err != nil {
				return err
			}
			continue
		}
		if e.Kind == bus.KindSent {
			if err := t.store.SaveSentMessage(ctx, e.MessageGUID, e.XML); err != nil {
				return err
			}
		}
		ts = append(ts, more...)
	}
	changed, err := t.store.Apply(ctx, ts)
	if err != nil {
		return err
	}
	t.log.Debug("receipts applied", "events", len(msgs), "transitions", len(ts), "changed", changed)
	return nil
}
