// Package adapter is the customs adapter: it reads accepted declarations
// from Kafka, declares them to customs as CEB603 messages in the DXP
// envelope through a Transport, and publishes what it sent and every
// receipt customs returns to clearway.receipts.v1.
package adapter

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
)

// Transport carries envelopes to customs and brings envelopes back.
type Transport interface {
	// Send hands one envelope to customs; nil means customs (or the
	// exchange client standing in for it) has taken it.
	Send(ctx context.Context, envelope []byte) error
	// Run receives envelopes from customs until ctx ends, calling deliver
	// for each; an envelope is forgotten only after deliver returned nil.
	Run(ctx context.Context, deliver func(ctx context.Context, envelope []byte) error) error
}

// Config is the adapter's identity towards customs.
type Config struct {
	Sender     ceb.Sender
	ReceiverID string // the customs node envelopes are addressed to
}

// Adapter declares and brings receipts back.
type Adapter struct {
	cfg       Config
	transport Transport
	writer    *bus.Producer
	log       *slog.Logger
	now       func() time.Time

	// sent remembers, across retries of one batch, the declarations already
	// handed to the transport, so a retry after a partial failure does not
	// declare them again. It is cleared once the batch is committed.
	mu   sync.Mutex
	sent map[string]bool
}

func New(cfg Config, t Transport, w *bus.Producer, log *slog.Logger) *Adapter {
	return &Adapter{cfg: cfg, transport: t, writer: w, log: log, now: time.Now, sent: map[string]bool{}}
}

// Run consumes declarations and receives receipts until ctx ends.
func (a *Adapter) Run(ctx context.Context, r *kafka.Reader) error {
	errc := make(chan error, 1)
	go func() { errc <- a.transport.Run(ctx, a.HandleInbound) }()
	err := bus.Consume(ctx, r, bus.ConsumerConfig{MaxBatch: 1000, MaxWait: 20 * time.Millisecond}, a.HandleDeclarations, a.log)
	return errors.Join(err, <-errc)
}

// HandleDeclarations declares a batch of accepted declarations: grouped by
// declaring agent into CEB603 messages of at most 100 inventories.
func (a *Adapter) HandleDeclarations(ctx context.Context, msgs []kafka.Message) error {
	var poison []kafka.Message
	byAgent := map[string][]*customs.Declaration{}
	var agents []string
	for _, m := range msgs {
		d, err := bus.DecodeDeclaration(m.Value)
		if err != nil {
			a.log.Error("undecodable declaration; dead-lettered", "offset", m.Offset, "partition", m.Partition, "err", err)
			poison = append(poison, m)
			continue
		}
		if _, ok := byAgent[d.Head.AgentCode]; !ok {
			agents = append(agents, d.Head.AgentCode)
		}
		byAgent[d.Head.AgentCode] = append(byAgent[d.Head.AgentCode], d)
	}
	if len(poison) > 0 {
		if err := bus.DeadLetter(ctx, a.writer, "undecodable declaration", poison...); err != nil {
			return err
		}
	}
	for _, agent := range agents {
		decls := dedupe(byAgent[agent])
		for len(decls) > 0 {
			n := min(len(decls), ceb.MaxInventories)
			if err := a.declare(ctx, decls[:n]); err != nil {
				return err
			}
			decls = decls[n:]
		}
	}
	a.mu.Lock()
	clear(a.sent)
	a.mu.Unlock()
	return nil
}

// dedupe drops repeats of a declaration within one batch (a redelivery can
// put the same declaration in twice).
func dedupe(ds []*customs.Declaration) []*customs.Declaration {
	seen := make(map[string]bool, len(ds))
	out := ds[:0]
	for _, d := range ds {
		if !seen[d.ID] {
			seen[d.ID] = true
			out = append(out, d)
		}
	}
	return out
}

// declare sends one CEB603 message and publishes that it was sent.
func (a *Adapter) declare(ctx context.Context, decls []*customs.Declaration) error {
	a.mu.Lock()
	todo := decls[:0:0]
	for _, d := range decls {
		if !a.sent[d.ID] {
			todo = append(todo, d)
		}
	}
	a.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	ids := make([]string, len(todo))
	for i, d := range todo {
		ids[i] = d.ID
	}
	guid := messageGUID(ids)
	now := a.now()
	xml := ceb.RenderCEB603(guid, todo, a.cfg.Sender, now)
	env := ceb.Envelope{CopMsgID: guid, SenderID: a.cfg.Sender.DxpID, ReceiverID: a.cfg.ReceiverID, CreatTime: now, MsgType: "CEB603Message", Data: xml}
	err := a.transport.Send(ctx, env.Encode())
	if err != nil {
		return fmt.Errorf("adapter: send CEB603 %s (%d inventories): %w", guid, len(todo), err)
	}
	a.mu.Lock()
	for _, id := range ids {
		a.sent[id] = true
	}
	a.mu.Unlock()
	events := []*bus.ReceiptEvent{{Kind: bus.KindSent, MessageType: "CEB603Message", MessageGUID: guid, DeclarationIDs: ids, XML: string(xml), At: now}}
	for _, id := range ids {
		events = append(events, &bus.ReceiptEvent{Kind: bus.KindSubmitted, MessageType: "CEB603Message", MessageGUID: guid, DeclarationID: id, At: now})
	}
	msgs := make([]kafka.Message, len(events))
	for i, e := range events {
		if msgs[i], err = bus.ReceiptMessage(e); err != nil {
			return err
		}
	}
	if err := a.writer.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("adapter: publish sent %s: %w", guid, err)
	}
	return nil
}

// messageGUID derives a message's guid from the declarations in it, so a
// resend of the same inventories carries the same guid and CopMsgId.
func messageGUID(ids []string) string {
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	return strings.ToUpper(uuid.NewHash(sha1.New(), uuid.NameSpaceOID, []byte(strings.Join(sorted, ",")), 5).String())
}

// HandleInbound parses one envelope from customs and publishes its receipts.
// Something that cannot be parsed is dead-lettered with the reason, not
// retried forever.
func (a *Adapter) HandleInbound(ctx context.Context, envelope []byte) error {
	events, err := a.parseInbound(envelope)
	if err != nil {
		a.log.Error("unparseable message from customs; dead-lettered", "err", err)
		return bus.DeadLetter(ctx, a.writer, err.Error(), kafka.Message{Topic: "customs.inbound", Value: envelope})
	}
	msgs := make([]kafka.Message, 0, len(events))
	for i := range events {
		m, err := bus.ReceiptMessage(&events[i])
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if err := a.writer.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("adapter: publish %d receipts: %w", len(msgs), err)
	}
	for _, e := range events {
		bus.ReceiptsReceived.WithLabelValues(e.ReturnStatus).Inc()
	}
	return nil
}

func (a *Adapter) parseInbound(envelope []byte) ([]bus.ReceiptEvent, error) {
	env, err := ceb.DecodeEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	root, err := ceb.RootName(env.Data)
	if err != nil {
		return nil, err
	}
	switch root {
	case "CEB604Message":
		returns, err := ceb.ParseCEB604(env.Data)
		if err != nil {
			return nil, err
		}
		now := a.now()
		events := make([]bus.ReceiptEvent, len(returns))
		for i, r := range returns {
			events[i] = bus.ReceiptEvent{
				Kind: bus.KindReceipt, MessageType: root, MessageGUID: env.CopMsgID,
				DeclarationID: customs.DeclarationID(r.AgentCode, r.CopNo),
				ReturnStatus:  r.ReturnStatus, ReturnTime: r.ReturnTime, ReturnInfo: r.ReturnInfo,
				InvtNo: r.InvtNo, PreNo: r.PreNo, XML: string(r.Raw), At: now,
			}
		}
		return events, nil
	default:
		return nil, fmt.Errorf("adapter: no parser for %s from customs", root)
	}
}
