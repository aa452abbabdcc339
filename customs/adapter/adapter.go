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

// Consumer groups: the adapters' on clearway.declarations.v1 and on
// clearway.documents.v1.
const (
	Group          = "clearway-adapter"
	GroupDocuments = "clearway-adapter-documents"
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
	// Signer signs each business message (XML-DSig) before it is put in
	// its envelope; nil sends them unsigned, which only the simulator takes.
	Signer Signer
}

// Signer adds an enveloped signature to a business message.
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// ErrRefused marks a send customs (or its exchange) refused outright:
// sending the same bytes again cannot help, so the message is set aside
// and its declarations shown in error, instead of retried for ever.
var ErrRefused = errors.New("refused by customs")

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

// Run consumes declarations and documents, and receives receipts, until
// ctx ends.
func (a *Adapter) Run(ctx context.Context, declarations, documents *kafka.Reader) error {
	errc := make(chan error, 2)
	go func() { errc <- a.transport.Run(ctx, a.HandleInbound) }()
	go func() {
		errc <- bus.Consume(ctx, documents, bus.ConsumerConfig{MaxBatch: 100, MaxWait: 20 * time.Millisecond}, a.HandleDocuments, a.log)
	}()
	err := bus.Consume(ctx, declarations, bus.ConsumerConfig{MaxBatch: 1000, MaxWait: 20 * time.Millisecond}, a.HandleDeclarations, a.log)
	return errors.Join(err, <-errc, <-errc)
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

// declare journals, sends and publishes one new CEB603 message, and
// before it the CEB505 waybills of those of its parcels whose courier
// declares its waybills through Clearway.
func (a *Adapter) declare(ctx context.Context, decls []*customs.Declaration) error {
	ids := make([]string, len(decls))
	var waybills []*customs.Declaration
	for i, d := range decls {
		ids[i] = d.ID
		if d.Waybill {
			waybills = append(waybills, d)
		}
	}
	guid := messageGUID(ids)
	now := a.now()
	var envelopes [][]byte
	if len(waybills) > 0 {
		wguid := derivedGUID("waybills", guid)
		env, _, err := a.seal(wguid, "CEB505Message", ceb.RenderCEB505(wguid, waybills, a.cfg.Sender, now), now)
		if err != nil {
			return err
		}
		envelopes = append(envelopes, env)
	}
	env, xml, err := a.seal(guid, "CEB603Message", ceb.RenderCEB603(guid, decls, a.cfg.Sender, now), now)
	if err != nil {
		return err
	}
	envelopes = append(envelopes, env)
	if err := a.journal.Record(ctx, guid, ids, envelopes...); err != nil {
		return err
	}
	return a.sendAndTell(ctx, guid, xml, ids, ids, now, envelopes, fmt.Sprintf("send CEB603 %s (%d inventories)", guid, len(decls)))
}

// sendAndTell publishes that message guid (carrying all) goes to customs
// and that each of submitted goes in it, then sends its envelopes; once
// they are sent, the journal no longer needs them to send again. The
// events go first, so on their partitions they precede every receipt
// customs returns, however fast it answers; if the send fails, the batch
// is retried and they are published again, which the tracker takes once.
func (a *Adapter) sendAndTell(ctx context.Context, guid string, xml []byte, all, submitted []string, at time.Time, envelopes [][]byte, what string) error {
	events := []*bus.ReceiptEvent{{Kind: bus.KindSent, MessageType: "CEB603Message", MessageGUID: guid, DeclarationIDs: all, XML: string(xml), At: at}}
	for _, id := range submitted {
		events = append(events, &bus.ReceiptEvent{Kind: bus.KindSubmitted, MessageType: "CEB603Message", MessageGUID: guid, DeclarationID: id, At: at})
	}
	if err := a.publish(ctx, events); err != nil {
		return fmt.Errorf("adapter: publish sent %s: %w", guid, err)
	}
	if err := a.send(ctx, envelopes); err != nil {
		return a.refusedOr(ctx, err, guid, all, what, envelopes[len(envelopes)-1])
	}
	return a.journal.Delivered(ctx, guid)
}

// seal signs a business message and puts it in its DXP envelope, whose
// CopMsgId is the message's guid; it returns the envelope and the message
// as sent (signed), which is what Clearway keeps.
func (a *Adapter) seal(guid, msgType string, xml []byte, now time.Time) (envelope, sent []byte, err error) {
	if a.cfg.Signer != nil {
		if xml, err = a.cfg.Signer.Sign(xml); err != nil {
			return nil, nil, fmt.Errorf("adapter: sign %s %s: %w", msgType, guid, err)
		}
	}
	env := ceb.Envelope{CopMsgID: guid, SenderID: a.cfg.Sender.DxpID, ReceiverID: a.cfg.ReceiverID, CreatTime: now, MsgType: msgType, Data: xml}
	return env.Encode(), xml, nil
}

// send hands envelopes to customs in order.
func (a *Adapter) send(ctx context.Context, envelopes [][]byte) error {
	for _, env := range envelopes {
		if err := a.transport.Send(ctx, env); err != nil {
			return err
		}
	}
	return nil
}

// refusedOr passes a transient send failure up (the batch is retried with
// backoff until it passes: customs being away for an hour must not put an
// hour of parcels in error); a refusal is final: the envelope goes to the
// dead-letter topic with the reason, and its declarations (or document)
// are shown in error.
func (a *Adapter) refusedOr(ctx context.Context, err error, guid string, ids []string, what string, envelope []byte) error {
	if !errors.Is(err, ErrRefused) {
		return fmt.Errorf("adapter: %s: %w", what, err)
	}
	a.log.Error("customs refused a message; dead-lettered, its declarations are in error", "guid", guid, "err", err)
	if dlErr := bus.DeadLetter(ctx, a.writer, what+": "+err.Error(), kafka.Message{Topic: "customs.outbound", Key: []byte(guid), Value: envelope}); dlErr != nil {
		return dlErr
	}
	m, mErr := bus.ReceiptMessage(&bus.ReceiptEvent{Kind: bus.KindRefused, MessageGUID: guid, DeclarationIDs: ids,
		ReturnStatus: "4", ReturnInfo: "发送海关失败 (sending to customs failed): " + err.Error(), At: a.now()})
	if mErr != nil {
		return mErr
	}
	return a.writer.WriteMessages(ctx, m)
}

// sendAgain sends a journaled sending again, exactly as it was, for the
// declarations of this batch it carries; once its envelopes have expired,
// it went out long ago and nothing is sent.
func (a *Adapter) sendAgain(ctx context.Context, guid string, ids []string) error {
	envelopes, err := a.journal.Envelopes(ctx, guid)
	if err != nil || len(envelopes) == 0 {
		return err
	}
	env, err := ceb.DecodeEnvelope(envelopes[len(envelopes)-1])
	if err != nil {
		return fmt.Errorf("adapter: journaled message %s: %w", guid, err)
	}
	_, invs, err := ceb.ParseCEB603(ceb.WithoutSignature(env.Data))
	if err != nil {
		return fmt.Errorf("adapter: journaled message %s: %w", guid, err)
	}
	all := make([]string, len(invs))
	for i, inv := range invs {
		all[i] = customs.DeclarationID(inv.Head.AgentCode, inv.Head.CopNo)
	}
	a.log.Info("message sent again after a redelivery", "guid", guid, "declarations", len(ids))
	return a.sendAndTell(ctx, guid, env.Data, all, ids, env.CreatTime, envelopes, fmt.Sprintf("send CEB603 %s again", guid))
}

func (a *Adapter) publish(ctx context.Context, events []*bus.ReceiptEvent) error {
	msgs := make([]kafka.Message, len(events))
	for i, e := range events {
		var err error
		if msgs[i], err = bus.ReceiptMessage(e); err != nil {
			return err
		}
	}
	return a.writer.WriteMessages(ctx, msgs...)
}

// HandleDocuments sends each part of a document as one message. A part's
// message guid derives from the part, so sending it again after a
// redelivery carries the same CopMsgId, which the exchange takes once: no
// journal is needed.
func (a *Adapter) HandleDocuments(ctx context.Context, msgs []kafka.Message) error {
	docs, poison := bus.DecodeEach(msgs, bus.DecodeDocument, "document", a.log)
	if err := bus.DeadLetter(ctx, a.writer, "undecodable document", poison...); err != nil {
		return err
	}
	for _, d := range docs {
		if err := a.sendDocument(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (a *Adapter) sendDocument(ctx context.Context, d *customs.Document) error {
	part := d.GUID()
	guid := derivedGUID("message", part)
	msgType := d.Kind.MessageType()
	now := a.now()
	rendered, err := ceb.RenderDocuments(guid, []customs.Document{*d}, a.cfg.Sender, now)
	if err != nil { // the gateway checked it, so this is a bug: set it aside rather than retry it for ever
		a.log.Error("a document cannot be rendered; dead-lettered", "document", d.ID, "part", d.MsgSeqNo, "err", err)
		m, mErr := bus.DocumentMessage(d)
		if mErr != nil {
			return mErr
		}
		return bus.DeadLetter(ctx, a.writer, fmt.Sprintf("render %s: %v", msgType, err), m)
	}
	env, xml, err := a.seal(guid, msgType, rendered, now)
	if err != nil {
		return err
	}
	ids := make([]string, len(d.Parcels))
	for i, p := range d.Parcels {
		ids[i] = p.DeclarationID
	}
	// The sent event goes first, keyed by the part as its receipts are, so
	// the tracker knows the part before any receipt about it. Sending again
	// after a failure publishes it again, which the tracker takes once.
	sent := &bus.ReceiptEvent{Kind: bus.KindSent, MessageType: msgType, MessageGUID: guid, DeclarationIDs: ids, XML: string(xml), At: now,
		DocumentID: d.ID, DocumentKind: string(d.Kind), PartGUID: part, Tenant: d.Tenant}
	if err := a.publish(ctx, []*bus.ReceiptEvent{sent}); err != nil {
		return fmt.Errorf("adapter: publish sent %s: %w", guid, err)
	}
	if err := a.transport.Send(ctx, env); err != nil {
		return a.refusedOr(ctx, err, guid, nil, fmt.Sprintf("send %s %s part %d", msgType, d.ID, d.MsgSeqNo), env)
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

// derivedGUID is the guid of a message that goes with another guid (the
// waybills sent with an inventory message, the message of a document
// part): stable, so sending it again carries the same CopMsgId.
func derivedGUID(what, guid string) string {
	return strings.ToUpper(uuid.NewHash(sha1.New(), uuid.NameSpaceOID, []byte(what+"\x00"+guid), 5).String())
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
	if err := a.publish(ctx, events); err != nil {
		return fmt.Errorf("adapter: publish %d receipts: %w", len(events), err)
	}
	for _, e := range events {
		bus.ReceiptsReceived.WithLabelValues(e.ReturnStatus).Inc()
	}
	return nil
}

func (a *Adapter) parseInbound(envelope []byte) ([]*bus.ReceiptEvent, error) {
	env, err := ceb.DecodeEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	root, err := ceb.RootName(env.Data)
	if err != nil {
		return nil, err
	}
	now := a.now()
	if root == "CEB792Message" {
		_, results, err := ceb.ParseCEB792(env.Data)
		if err != nil {
			return nil, err
		}
		events := make([]*bus.ReceiptEvent, len(results))
		for i, r := range results {
			// decState is customs' own code for the 报关单; the result is
			// final once it carries the entryId.
			events[i] = &bus.ReceiptEvent{Kind: bus.KindDocument, MessageType: root, MessageGUID: env.CopMsgID, SumNo: r.Head.SumNo,
				EntryID: r.Head.EntryID, ReturnStatus: summaryResultStatus(r.Head.EntryID), ReturnInfo: "decState " + r.Head.DecState, At: now}
		}
		return events, nil
	}
	_, returns, err := ceb.ParseReturns(env.Data)
	if err != nil {
		return nil, err
	}
	events := make([]*bus.ReceiptEvent, len(returns))
	for i, r := range returns {
		e := bus.ReceiptEvent{Kind: bus.KindReceipt, MessageType: root, MessageGUID: env.CopMsgID, ReturnStatus: r.ReturnStatus,
			ReturnTime: r.ReturnTime, ReturnInfo: r.ReturnInfo, InvtNo: r.InvtNo, PreNo: r.PreNo, XML: string(r.Raw), At: now}
		switch root {
		case "CEB604Message", "CEB606Message": // about one inventory: its declarer and number name it
			e.DeclarationID = customs.DeclarationID(r.AgentCode, r.CopNo)
		case "CEB506Message": // a waybill's guid is its inventory's
			e.DeclarationID = strings.ToLower(r.GUID)
		case "CEB900Message":
			e.Kind, e.MessageGUID = bus.KindRefused, r.OriCopMsgID
		default: // CEB508, CEB510, CEB608, CEB702: about one part of a document, by its guid
			e.Kind, e.PartGUID, e.SumNo = bus.KindDocument, r.GUID, r.SumNo
		}
		events[i] = &e
	}
	return events, nil
}

// summaryResultStatus ranks a CEB792: 800 once customs has given the
// 报关单 its entryId, 399 before.
func summaryResultStatus(entryID string) string {
	if entryID != "" {
		return "800"
	}
	return "399"
}
