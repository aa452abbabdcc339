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
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
)

// Group is the adapters' consumer group on clearway.declarations.v1.
const Group = "clearway-adapter"

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
	journal   *Journal
	writer    *bus.Producer
	log       *slog.Logger
	now       func() time.Time
}

func New(cfg Config, t Transport, j *Journal, w *bus.Producer, log *slog.Logger) *Adapter {
	return &Adapter{cfg: cfg, transport: t, journal: j, writer: w, log: log, now: time.Now}
}

// Run consumes declarations and receives receipts until ctx ends.
func (a *Adapter) Run(ctx context.Context, r *kafka.Reader) error {
	errc := make(chan error, 1)
	go func() { errc <- a.transport.Run(ctx, a.HandleInbound) }()
	err := bus.Consume(ctx, r, bus.ConsumerConfig{MaxBatch: 1000, MaxWait: 20 * time.Millisecond}, a.HandleDeclarations, a.log)
	return errors.Join(err, <-errc)
}

// HandleDeclarations declares a batch of accepted declarations: grouped by
// declaring agent into CEB603 messages of at most 100 inventories. A
// declaration the journal knows was sent (a redelivery after a crash, or
// a retry of this batch) is not declared again: its message is sent again
// as it was.
func (a *Adapter) HandleDeclarations(ctx context.Context, msgs []kafka.Message) error {
	decls, poison := bus.DecodeEach(msgs, bus.DecodeDeclaration, "declaration", a.log)
	if err := bus.DeadLetter(ctx, a.writer, "undecodable declaration", poison...); err != nil {
		return err
	}
	decls = dedupe(decls)
	ids := make([]string, len(decls))
	for i, d := range decls {
		ids[i] = d.ID
	}
	sentIn, err := a.journal.SentIn(ctx, ids)
	if err != nil {
		return err
	}
	again := map[string][]string{} // message guid → its declarations in this batch
	var guids []string
	byAgent := map[string][]*customs.Declaration{}
	var agents []string
	for _, d := range decls {
		if guid, ok := sentIn[d.ID]; ok {
			if _, seen := again[guid]; !seen {
				guids = append(guids, guid)
			}
			again[guid] = append(again[guid], d.ID)
			continue
		}
		if _, ok := byAgent[d.Head.AgentCode]; !ok {
			agents = append(agents, d.Head.AgentCode)
		}
		byAgent[d.Head.AgentCode] = append(byAgent[d.Head.AgentCode], d)
	}
	for _, guid := range guids {
		if err := a.sendAgain(ctx, guid, again[guid]); err != nil {
			return err
		}
	}
	for _, agent := range agents {
		for fresh := byAgent[agent]; len(fresh) > 0; {
			n := min(len(fresh), ceb.MaxInventories)
			if err := a.declare(ctx, fresh[:n]); err != nil {
				return err
			}
			fresh = fresh[n:]
		}
	}
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

// declare journals, sends and publishes one new CEB603 message.
func (a *Adapter) declare(ctx context.Context, decls []*customs.Declaration) error {
	ids := make([]string, len(decls))
	for i, d := range decls {
		ids[i] = d.ID
	}
	guid := messageGUID(ids)
	now := a.now()
	xml := ceb.RenderCEB603(guid, decls, a.cfg.Sender, now)
	env := ceb.Envelope{CopMsgID: guid, SenderID: a.cfg.Sender.DxpID, ReceiverID: a.cfg.ReceiverID, CreatTime: now, MsgType: "CEB603Message", Data: xml}
	envelope := env.Encode()
	if err := a.journal.Record(ctx, guid, ids, envelope); err != nil {
		return err
	}
	if err := a.transport.Send(ctx, envelope); err != nil {
		return fmt.Errorf("adapter: send CEB603 %s (%d inventories): %w", guid, len(decls), err)
	}
	return a.publishSent(ctx, guid, xml, ids, ids, now)
}

// sendAgain sends a journaled message again, exactly as it was, for the
// declarations of this batch it carries; once its envelope has expired,
// the message went out long ago and nothing is sent.
func (a *Adapter) sendAgain(ctx context.Context, guid string, ids []string) error {
	envelope, err := a.journal.Envelope(ctx, guid)
	if err != nil || envelope == nil {
		return err
	}
	env, err := ceb.DecodeEnvelope(envelope)
	if err != nil {
		return fmt.Errorf("adapter: journaled message %s: %w", guid, err)
	}
	_, invs, err := ceb.ParseCEB603(env.Data)
	if err != nil {
		return fmt.Errorf("adapter: journaled message %s: %w", guid, err)
	}
	all := make([]string, len(invs))
	for i, inv := range invs {
		all[i] = customs.DeclarationID(inv.Head.AgentCode, inv.Head.CopNo)
	}
	if err := a.transport.Send(ctx, envelope); err != nil {
		return fmt.Errorf("adapter: send CEB603 %s again: %w", guid, err)
	}
	a.log.Info("message sent again after a redelivery", "guid", guid, "declarations", len(ids))
	return a.publishSent(ctx, guid, env.Data, all, ids, env.CreatTime)
}

// publishSent publishes that message guid (carrying all) went to customs,
// and that each of submitted went in it; then the message's envelope is
// no longer needed to send it again.
func (a *Adapter) publishSent(ctx context.Context, guid string, xml []byte, all, submitted []string, at time.Time) error {
	events := []*bus.ReceiptEvent{{Kind: bus.KindSent, MessageType: "CEB603Message", MessageGUID: guid, DeclarationIDs: all, XML: string(xml), At: at}}
	for _, id := range submitted {
		events = append(events, &bus.ReceiptEvent{Kind: bus.KindSubmitted, MessageType: "CEB603Message", MessageGUID: guid, DeclarationID: id, At: at})
	}
	msgs := make([]kafka.Message, len(events))
	for i, e := range events {
		var err error
		if msgs[i], err = bus.ReceiptMessage(e); err != nil {
			return err
		}
	}
	if err := a.writer.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("adapter: publish sent %s: %w", guid, err)
	}
	return a.journal.Delivered(ctx, guid)
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
