// Package tracker applies what happens to declarations to the status store:
// it consumes clearway.declarations.v1 (so the store can always be rebuilt
// from Kafka, and a declaration whose gateway died right after Kafka's ack
// is still recorded) and clearway.receipts.v1.
package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
	writer *bus.Producer // status events and dead letters
	log    *slog.Logger
	// replaying: rebuilding Redis from Kafka publishes no status events;
	// everyone was told of those changes when they happened.
	replaying bool
	// journal, when set, is restored in a rebuild from the sent events.
	journal SentJournal
}

// SentJournal is the customs adapter's record of which message each
// declaration went out in, which a rebuild restores.
type SentJournal interface {
	Restore(ctx context.Context, guid string, ids []string) error
	MarkWhole(ctx context.Context) error
}

// RestoringJournal makes Rebuild restore j too.
func (t *Tracker) RestoringJournal(j SentJournal) *Tracker {
	t.journal = j
	return t
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

// HandleDeclarations records accepted declarations the gateway has not
// (it died between Kafka's answer and Redis, or Redis was emptied).
func (t *Tracker) HandleDeclarations(ctx context.Context, msgs []kafka.Message) error {
	decls, poison := bus.DecodeEach(msgs, bus.DecodeDeclaration, "declaration", t.log)
	if err := t.deadLetter(ctx, "undecodable declaration", poison...); err != nil {
		return err
	}
	return t.store.CreateMissing(ctx, decls)
}

// HandleReceipts applies sent and receipt events, each as one atomic
// transition that never moves a status backwards.
func (t *Tracker) HandleReceipts(ctx context.Context, msgs []kafka.Message) error {
	var ts []store.Transition
	var invtIDs, invtNos []string
	for _, m := range msgs {
		e, err := bus.DecodeReceipt(m.Value)
		var more []store.Transition
		if err == nil {
			more, err = store.FromReceipt(e)
		}
		if err != nil {
			t.log.Error("unusable receipt event; dead-lettered", "partition", m.Partition, "offset", m.Offset, "err", err)
			if err := t.deadLetter(ctx, err.Error(), m); err != nil {
				return err
			}
			continue
		}
		if e.Kind == bus.KindSent {
			if err := t.store.SaveSentMessage(ctx, e.MessageGUID, e.XML); err != nil {
				return err
			}
			if t.replaying && t.journal != nil {
				if err := t.journal.Restore(ctx, e.MessageGUID, e.DeclarationIDs); err != nil {
					return err
				}
			}
		}
		ts = append(ts, more...)
		if e.InvtNo != "" {
			invtIDs, invtNos = append(invtIDs, e.DeclarationID), append(invtNos, e.InvtNo)
		}
	}
	if err := t.store.IndexInvtNo(ctx, invtIDs, invtNos); err != nil {
		return err
	}
	applied, err := t.store.Apply(ctx, ts)
	if err != nil {
		return err
	}
	return t.publishChanges(ctx, applied)
}

// deadLetter sets aside what cannot be processed. A rebuild replays
// messages that were dead-lettered when first consumed, so it does not add
// them again.
func (t *Tracker) deadLetter(ctx context.Context, reason string, msgs ...kafka.Message) error {
	if t.replaying {
		return nil
	}
	return bus.DeadLetter(ctx, t.writer, reason, msgs...)
}

// publishChanges publishes a status event for every transition applied
// now, and again for one applied before this batch was redelivered (the
// previous attempt may have died before publishing): at least once, with a
// stable event id. Stale receipts publish nothing.
func (t *Tracker) publishChanges(ctx context.Context, applied []store.Applied) error {
	if t.replaying {
		return nil
	}
	var msgs []kafka.Message
	for _, a := range applied {
		if a.Changed {
			bus.StatusChanges.WithLabelValues(string(a.Status)).Inc()
		}
		if !a.Changed && !a.Replayed {
			continue
		}
		m, err := bus.StatusMessage(&bus.StatusEvent{
			EventID: fmt.Sprintf("%s:%d", a.DeclarationID, a.Rank), DeclarationID: a.DeclarationID, Tenant: a.Tenant, AgentCode: a.AgentCode,
			LogisticsNo: a.LogisticsNo, ManifestID: a.ManifestID, Status: string(a.Status), Code: a.Code, ReturnInfo: a.ReturnInfo, At: a.At,
		})
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil
	}
	return t.writer.WriteMessages(ctx, msgs...)
}

// Rebuild replays clearway.declarations.v1, then clearway.receipts.v1,
// from their first offsets up to where they ended when it started, into
// the store. Applied to an empty Redis it reaches the state the tracker
// built live: every event about a declaration sits in its partition in the
// order it was applied, and every step is idempotent. progress is told how
// far each topic has come.
func (t *Tracker) Rebuild(ctx context.Context, cfg bus.Config, progress func(topic string, done, total int64)) error {
	t.replaying = true
	defer func() { t.replaying = false }()
	for _, step := range []struct {
		topic  string
		handle bus.Handler
	}{{bus.TopicDeclarations, t.HandleDeclarations}, {bus.TopicReceipts, t.HandleReceipts}} {
		if err := replayTopic(ctx, cfg, step.topic, step.handle, progress); err != nil {
			return fmt.Errorf("rebuild %s: %w", step.topic, err)
		}
	}
	if t.journal != nil {
		return t.journal.MarkWhole(ctx)
	}
	return nil
}

func replayTopic(ctx context.Context, cfg bus.Config, topic string, handle bus.Handler, progress func(string, int64, int64)) error {
	conn, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", cfg.Brokers[0])
	if err != nil {
		return err
	}
	parts, err := conn.ReadPartitions(cfg.TopicPrefix + topic)
	conn.Close()
	if err != nil {
		return err
	}
	var done, total int64
	type span struct{ first, last int64 }
	spans := make([]span, len(parts))
	for i, p := range parts {
		pc, err := kafka.DialLeader(ctx, "tcp", cfg.Brokers[0], p.Topic, p.ID)
		if err != nil {
			return err
		}
		first, last, err := pc.ReadOffsets()
		pc.Close()
		if err != nil {
			return err
		}
		spans[i] = span{first, last}
		total += last - first
	}
	for i, p := range parts {
		if spans[i].last <= spans[i].first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: p.Topic, Partition: p.ID, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(spans[i].first); err != nil {
			r.Close()
			return err
		}
		batch := make([]kafka.Message, 0, 2000)
		for offset := spans[i].first; offset < spans[i].last; {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return err
			}
			batch = append(batch, m)
			offset = m.Offset + 1
			if len(batch) == cap(batch) || offset >= spans[i].last {
				if err := handle(ctx, batch); err != nil {
					r.Close()
					return err
				}
				done += int64(len(batch))
				batch = batch[:0]
				if progress != nil {
					progress(topic, done, total)
				}
			}
		}
		r.Close()
	}
	return nil
}
