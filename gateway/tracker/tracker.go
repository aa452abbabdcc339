// Package tracker applies what happens to declarations to the status store:
// it consumes clearway.declarations.v1 (so the store can always be rebuilt
// from Kafka, and a declaration whose gateway died right after Kafka's ack
// is still recorded) and clearway.receipts.v1.
package tracker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/errs"
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
// (it died between Kafka's answer and Redis, or Redis was emptied). Each
// message is keyed by its declaration's id, so only the ones Redis lacks
// are decoded: decoding every one was a fifth of the tracker's CPU.
func (t *Tracker) HandleDeclarations(ctx context.Context, msgs []kafka.Message) error {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = string(m.Key)
	}
	recorded, err := t.store.Recorded(ctx, ids)
	if err != nil {
		return err
	}
	var missing []kafka.Message
	for i, m := range msgs {
		if !recorded[i] {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	decls, poison := bus.DecodeEach(missing, bus.DecodeDeclaration, "declaration", t.log)
	if err := t.deadLetter(ctx, "undecodable declaration", poison...); err != nil {
		return err
	}
	return t.store.Create(ctx, decls)
}

// RecordDocuments records the documents of a rebuild, from their parts on
// clearway.documents.v1 (the gateway records each when it accepts it).
func (t *Tracker) RecordDocuments(ctx context.Context, msgs []kafka.Message) error {
	docs, poison := bus.DecodeEach(msgs, bus.DecodeDocument, "document", t.log)
	if err := t.deadLetter(ctx, "undecodable document", poison...); err != nil {
		return err
	}
	for _, d := range docs {
		if err := t.store.CreateDocument(ctx, d); err != nil && !errs.IsKind(err, errs.Conflict) {
			return err
		}
	}
	return nil
}

// HandleReceipts applies sent and receipt events, each as one atomic
// transition that never moves a status backwards, and receipts about
// documents to the document and the declarations it lists.
func (t *Tracker) HandleReceipts(ctx context.Context, msgs []kafka.Message) error {
	var ts []store.Transition
	var steps []store.DocStep
	var invtIDs, invtNos, known []string
	for _, m := range msgs {
		e, err := bus.DecodeReceipt(m.Value)
		var more []store.Transition
		var moreSteps []store.DocStep
		if err == nil {
			more, moreSteps, err = t.convert(ctx, e, m.Value, &store.Position{Partition: m.Partition, Offset: m.Offset})
		}
		if errors.Is(err, errParked) {
			continue
		}
		if errors.Is(err, errUnavailable) {
			return err
		}
		if err != nil {
			t.log.Error("unusable receipt event; dead-lettered", "partition", m.Partition, "offset", m.Offset, "err", err)
			if err := t.deadLetter(ctx, err.Error(), m); err != nil {
				return err
			}
			continue
		}
		ts, steps, known = append(ts, more...), append(steps, moreSteps...), append(known, awaited(e)...)
		if e.InvtNo != "" && e.DeclarationID != "" {
			invtIDs, invtNos = append(invtIDs, e.DeclarationID), append(invtNos, e.InvtNo)
		}
	}
	if err := t.store.IndexInvtNo(ctx, invtIDs, invtNos); err != nil {
		return err
	}
	return t.apply(ctx, ts, steps, known, 0)
}

// awaited are the keys under which receipts that overtook e may be
// parked: a sent event's message and part, a CEB702's sumNo.
func awaited(e *bus.ReceiptEvent) []string {
	switch {
	case e.Kind == bus.KindSent:
		return []string{e.MessageGUID, e.PartGUID}
	case e.Kind == bus.KindDocument && e.PartGUID != "" && e.SumNo != "":
		return []string{e.SumNo}
	}
	return nil
}

// apply applies document steps and status changes, publishes the changes,
// then applies the receipts that were parked waiting for what this batch
// made known (their own keys, one level further: a CEB792 parked for a
// CEB702 that was itself parked for its part).
func (t *Tracker) apply(ctx context.Context, ts []store.Transition, steps []store.DocStep, known []string, depth int) error {
	for _, st := range steps {
		if err := t.store.ApplyDocument(ctx, st); err != nil {
			return err
		}
	}
	applied, err := t.store.Apply(ctx, ts)
	if err != nil {
		return err
	}
	if err := t.publishChanges(ctx, applied); err != nil {
		return err
	}
	if depth > 1 {
		return nil
	}
	// Each key once: a redelivered sent event names its key again, and
	// unparking one twice from one reading would drop what was parked again.
	slices.Sort(known)
	known = slices.DeleteFunc(slices.Compact(known), func(k string) bool { return k == "" })
	waiting, err := t.store.Parked(ctx, known)
	if err != nil {
		return err
	}
	for _, key := range known {
		parked := waiting[key]
		if len(parked) == 0 {
			continue
		}
		var moreTs []store.Transition
		var moreSteps []store.DocStep
		var moreKnown []string
		for _, p := range parked {
			e, err := bus.DecodeReceipt(p.Event)
			if err != nil {
				continue // it decoded when it was parked
			}
			ts, steps, err := t.convert(ctx, e, p.Event, &p.At)
			if errors.Is(err, errParked) {
				continue // still waiting: parked again, behind the ones read
			}
			if err != nil {
				return err
			}
			moreTs, moreSteps, moreKnown = append(moreTs, ts...), append(moreSteps, steps...), append(moreKnown, awaited(e)...)
		}
		if err := t.apply(ctx, moreTs, moreSteps, moreKnown, depth+1); err != nil {
			return err
		}
		if err := t.store.Unpark(ctx, key, len(parked)); err != nil { // a crash before this applies them again: no change
			return err
		}
	}
	return nil
}

// errUnavailable marks a failure of the store while converting: the batch
// is retried, never dead-lettered. errParked: the event waits in Redis for
// what it is about.
var (
	errUnavailable = errors.New("tracker: store unavailable")
	errParked      = errors.New("tracker: parked until what it is about arrives")
)

// convert turns one event into what it does to declarations and
// documents, keeping a sent message first and looking up the declarations
// of an event about a document part or a whole message.
func (t *Tracker) convert(ctx context.Context, e *bus.ReceiptEvent, raw []byte, at *store.Position) ([]store.Transition, []store.DocStep, error) {
	unavailable := func(err error) error { return fmt.Errorf("%w: %w", errUnavailable, err) }
	switch e.Kind {
	case bus.KindSent:
		if err := t.store.SaveSending(ctx, e, at); err != nil {
			return nil, nil, unavailable(err)
		}
		if t.replaying && t.journal != nil && e.DocumentID == "" {
			if err := t.journal.Restore(ctx, e.MessageGUID, e.DeclarationIDs); err != nil {
				return nil, nil, unavailable(err)
			}
		}
		return t.store.FromReceipt(e, at)
	case bus.KindDocument:
		part, ok, err := t.store.PartOf(ctx, e.PartGUID)
		if e.PartGUID == "" {
			part, ok, err = t.store.SummaryOf(ctx, e.SumNo)
		}
		if err != nil {
			return nil, nil, unavailable(err)
		}
		if !ok { // it overtook its part's sent event, or its CEB702
			return nil, nil, t.park(ctx, cmp.Or(e.PartGUID, e.SumNo), raw, at)
		}
		st, err := t.store.FromDocumentReceipt(e, part, at)
		return nil, []store.DocStep{st}, err
	case bus.KindRefused:
		ids := e.DeclarationIDs
		if len(ids) == 0 {
			partGUID, sent, err := t.store.Sending(ctx, e.MessageGUID)
			if err != nil {
				return nil, nil, unavailable(err)
			}
			if partGUID == "" && len(sent) == 0 { // it overtook the message's sent event
				return nil, nil, t.park(ctx, e.MessageGUID, raw, at)
			}
			if partGUID != "" {
				part, _, err := t.store.PartOf(ctx, partGUID)
				if err != nil {
					return nil, nil, unavailable(err)
				}
				st, err := t.store.FromDocumentReceipt(e, part, at)
				return nil, []store.DocStep{st}, err
			}
			ids = sent
		}
		return t.store.FromRefusal(e, ids, at), nil, nil
	}
	return t.store.FromReceipt(e, at)
}

// park keeps an event until what it is about is applied.
func (t *Tracker) park(ctx context.Context, key string, raw []byte, at *store.Position) error {
	if err := t.store.Park(ctx, key, store.Parked{At: *at, Event: raw}); err != nil {
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
	return errParked
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

// Rebuild replays clearway.declarations.v1, clearway.documents.v1, then
// clearway.receipts.v1, from their first offsets up to where they ended
// when it started, into the store. Applied to an empty Redis it reaches
// the state the tracker built live: every event about a declaration sits
// in its partition in the order it was applied, and every step is
// idempotent. progress is told how
// far each topic has come.
func (t *Tracker) Rebuild(ctx context.Context, cfg bus.Config, progress func(topic string, done, total int64)) error {
	t.replaying = true
	defer func() { t.replaying = false }()
	for _, step := range []struct {
		topic  string
		handle bus.Handler
	}{{bus.TopicDeclarations, t.HandleDeclarations}, {bus.TopicDocuments, t.RecordDocuments}, {bus.TopicReceipts, t.HandleReceipts}} {
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
