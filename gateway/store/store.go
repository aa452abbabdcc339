// Package store keeps each declaration's clearance status in Redis: a hash
// per declaration, its history, the messages sent and received, and the
// indexes that find it. Every change is one atomic Lua step.
package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/errs"
	"github.com/redis/go-redis/v9"
)

// Store is the status store.
type Store struct {
	rdb redis.UniversalClient
	// retention is how long a declaration stays after its final status.
	retention time.Duration
	// archive reads an event of clearway.receipts.v1 back, for the XML
	// kept there rather than in Redis.
	archive func(ctx context.Context, at Position) ([]byte, error)
}

// Position is where an event sits in clearway.receipts.v1.
type Position struct {
	Partition int   `json:"p"`
	Offset    int64 `json:"o"`
}

// WithArchive makes the store keep, for each message sent or received,
// where its event sits in Kafka instead of its XML, and read the XML from
// there when asked.
func (s *Store) WithArchive(read func(ctx context.Context, at Position) ([]byte, error)) *Store {
	s.archive = read
	return s
}

func New(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, retention: DefaultRetention}
}

// ClaimTTL bounds how long a parcel stays reserved by a request that never
// finished (its gateway died between reserving it and Kafka's answer):
// longer than any publish may take; the courier's retry then succeeds.
const ClaimTTL = 30 * time.Second

// DefaultRetention keeps a finished declaration for 90 days.
const DefaultRetention = 90 * 24 * time.Hour

// WithRetention sets how long finished declarations are kept.
func (s *Store) WithRetention(d time.Duration) *Store {
	s.retention = d
	return s
}

// unavailable wraps a Redis failure for the caller.
func unavailable(err error) error {
	return &errs.Error{Kind: errs.Unavailable, Code: "redis_unavailable", Detail: "the status store is not answering; retry shortly", RetryAfter: 2, Err: err}
}

// Scope is who asks: reads are filtered by it in the store itself, so no
// handler can forget to.
type Scope struct {
	Role   string // courier, broker, airport, admin
	Tenant string // the courier's or broker's own code; "*" for an all-tenant admin
	KeyID  string // which key asked, for rate limits and the audit trail
}

// Sees reports whether the scope may see a declaration of tenant declared
// by agentCode. A courier sees its own; a broker what it declares as agent.
func (sc Scope) Sees(tenant, agentCode string) bool {
	switch sc.Role {
	case "admin":
		return sc.Tenant == "*" || sc.Tenant == tenant
	case "airport":
		return true
	case "courier":
		return sc.Tenant == tenant
	case "broker":
		return sc.Tenant == agentCode
	}
	return false
}

// HistoryEntry is one applied status change.
type HistoryEntry struct {
	Status customs.Status `json:"status"`
	Code   string         `json:"code,omitempty"`
	Info   string         `json:"info,omitempty"`
	At     time.Time      `json:"at"`
	Source string         `json:"source"` // clearway, CEB603Message, CEB604Message
}

// encode is how a history entry is kept in Redis: status|code|at|source|info,
// at in Unix nanoseconds base 36, info last because it is free text. A
// third of the JSON's size, for the list every declaration keeps.
func (e HistoryEntry) encode() string {
	return string(e.Status) + "|" + e.Code + "|" + strconv.FormatInt(e.At.UnixNano(), 36) + "|" + e.Source + "|" + e.Info
}

func decodeHistory(s string) (HistoryEntry, bool) {
	f := strings.SplitN(s, "|", 5)
	if len(f) != 5 {
		return HistoryEntry{}, false
	}
	ns, err := strconv.ParseInt(f[2], 36, 64)
	if err != nil {
		return HistoryEntry{}, false
	}
	return HistoryEntry{Status: customs.Status(f[0]), Code: f[1], At: time.Unix(0, ns).UTC(), Source: f[3], Info: f[4]}, true
}

// Record is a declaration's status as brokers and couriers read it.
type Record struct {
	ID          string         `json:"declarationId"`
	Tenant      string         `json:"tenant"`
	ManifestID  string         `json:"manifestId"`
	LogisticsNo string         `json:"logisticsNo"`
	CopNo       string         `json:"copNo"`
	OrderNo     string         `json:"orderNo"`
	AgentCode   string         `json:"agentCode"`
	TradeMode   string         `json:"tradeMode"`
	VoyageNo    string         `json:"voyageNo,omitempty"`
	BillNo      string         `json:"billNo,omitempty"`
	IeDate      string         `json:"ieDate,omitempty"`
	Status      customs.Status `json:"status"`
	Code        string         `json:"code,omitempty"`
	ReturnInfo  string         `json:"returnInfo,omitempty"`
	InvtNo      string         `json:"invtNo,omitempty"`
	PreNo       string         `json:"preNo,omitempty"`
	AcceptedAt  time.Time      `json:"acceptedAt"`
	ArrivedAt   *time.Time     `json:"arrivedAt,omitempty"` // at the supervised site, as the airport desk recorded
	// Documents: where each document about the parcel stands with customs
	// (waybill, consolidation, arrival, departure, cancel, summary).
	Documents map[string]DocState `json:"documents,omitempty"`
	EntryID   string              `json:"entryId,omitempty"` // the 报关单 its summary went into
	UpdatedAt time.Time           `json:"updatedAt"`
	History   []HistoryEntry      `json:"history"`
}

// Claim outcomes for one parcel.
const (
	ClaimNew      = iota // reserved: publish it, then Create or Release
	ClaimExisting        // already declared: answer with its id, publish nothing
	ClaimConflict        // another parcel is declared under the same agentCode and copNo
	// ClaimInFlight: reserved by a request not finished yet, which may
	// never finish (its gateway died before Kafka had the parcel): nothing
	// can be answered for it until that request ends or the claim lapses.
	ClaimInFlight
)

// Claim reserves each declaration's (tenant, logisticsNo) before it is
// published, so that the same parcel posted twice, even concurrently, is
// declared once. It returns one outcome per declaration, and for
// ClaimExisting the id already declared.
func (s *Store) Claim(ctx context.Context, decls []*customs.Declaration) ([]int, []string, error) {
	setCmds := make([]*redis.BoolCmd, len(decls))
	ownerCmds := make([]*redis.SliceCmd, len(decls))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, d := range decls {
			setCmds[i] = p.SetNX(ctx, claimKey(d.Tenant, d.Head.LogisticsNo), d.ID, ClaimTTL)
			ownerCmds[i] = p.HMGet(ctx, declKey(d.ID), "tenant", "logisticsNo")
		}
		return nil
	})
	if err != nil {
		return nil, nil, unavailable(err)
	}
	outcome := make([]int, len(decls))
	ids := make([]string, len(decls))
	var taken []int
	var release []string
	for i, d := range decls {
		owner := ownerCmds[i].Val()
		exists := len(owner) == 2 && owner[0] != nil
		sameParcel := exists && owner[0] == d.Tenant && owner[1] == d.Head.LogisticsNo
		switch {
		case !setCmds[i].Val():
			taken = append(taken, i)
		case exists && !sameParcel:
			outcome[i] = ClaimConflict
			release = append(release, claimKey(d.Tenant, d.Head.LogisticsNo))
		case exists: // declared, but its claim had lapsed: it is the same parcel
			outcome[i], ids[i] = ClaimExisting, d.ID
		default:
			outcome[i], ids[i] = ClaimNew, d.ID
		}
	}
	if len(taken) > 0 {
		getCmds := make([]*redis.StringCmd, len(taken))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, i := range taken {
				getCmds[j] = p.Get(ctx, claimKey(decls[i].Tenant, decls[i].Head.LogisticsNo))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, nil, unavailable(err)
		}
		existCmds := make([]*redis.BoolCmd, len(taken))
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := range taken {
				existCmds[j] = p.HExists(ctx, declKey(cmp.Or(getCmds[j].Val(), decls[taken[j]].ID)), "tenant")
			}
			return nil
		})
		if err != nil {
			return nil, nil, unavailable(err)
		}
		for j, i := range taken {
			outcome[i], ids[i] = ClaimExisting, cmp.Or(getCmds[j].Val(), decls[i].ID) // empty: the claim lapsed between the two calls
			if !existCmds[j].Val() {
				outcome[i] = ClaimInFlight
			}
		}
	}
	if err := s.del(ctx, release); err != nil {
		return nil, nil, err
	}
	return outcome, ids, nil
}

// Release gives up the claims of declarations Kafka did not take.
func (s *Store) Release(ctx context.Context, decls []*customs.Declaration) error {
	keys := make([]string, len(decls))
	for i, d := range decls {
		keys[i] = claimKey(d.Tenant, d.Head.LogisticsNo)
	}
	return s.del(ctx, keys)
}

// del deletes keys one command each, in one round trip: on Redis Cluster
// a multi-key DEL must stay in one slot, and claims spread over all.
func (s *Store) del(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Manifest is a courier's manifest and what became of its parcels.
type Manifest struct {
	ID         string                 `json:"manifestId"`
	ManifestNo string                 `json:"manifestNo"`
	Tenant     string                 `json:"tenant"`
	CreatedAt  time.Time              `json:"createdAt"`
	Parcels    int                    `json:"parcels"`
	Counts     map[customs.Status]int `json:"counts"`
	// Attention lists the parcels someone must act on: rejected,
	// detained or in error, with customs' reason.
	Attention []Attention `json:"attention"`
}

// Create records declarations Kafka has acknowledged, with their indexes
// and manifest membership. It is idempotent: the tracker runs it again for
// every declaration it reads from Kafka.
func (s *Store) Create(ctx context.Context, decls []*customs.Declaration) error {
	// The indexes first, settled, then the Lua steps: a declaration counted
	// ("cd") has all its indexes, whatever cut the work short.
	var writes []indexWrite
	cmds, _ := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		manifests, timelines := map[string]bool{}, map[string]bool{"tl:all": true}
		for _, d := range decls {
			timelines["tl:courier:"+d.Tenant], timelines["tl:broker:"+d.Head.AgentCode] = true, true
			if !manifests[d.ManifestID] {
				manifests[d.ManifestID] = true
				p.HSetNX(ctx, manifestKey(d.ManifestID), "tenant", d.Tenant)
				p.HSetNX(ctx, manifestKey(d.ManifestID), "createdAt", stamp(d.AcceptedAt))
				p.HSetNX(ctx, manifestKey(d.ManifestID), "manifestNo", d.ManifestNo)
			}
			p.SAdd(ctx, manifestMembersKey(d.ManifestID), d.ID)
			p.Set(ctx, claimKey(d.Tenant, d.Head.LogisticsNo), d.ID, s.indexTTL())
			writes = append(writes, s.index(ctx, p, d)...)
		}
		for id := range manifests {
			p.Expire(ctx, manifestKey(id), s.indexTTL())
			p.Expire(ctx, manifestMembersKey(id), s.indexTTL())
		}
		s.pruneTimelines(ctx, p, timelines)
		return nil
	})
	if err := failed(cmds, writes); err != nil {
		return err
	}
	if err := s.settle(ctx, writes); err != nil {
		return err
	}
	return s.withScripts(ctx, func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, batch := range byGroup(len(decls), func(i int) string { return decls[i].ID }) {
				keys, args := make([]string, 0, 4*len(batch)), make([]any, 0, 36*len(batch))
				for _, i := range batch {
					d := decls[i]
					h := &d.Head
					hour, day := statsKeys(d.ID, d.AcceptedAt)
					at := stamp(d.AcceptedAt)
					keys = append(keys, declKey(d.ID), historyKey(d.ID), hour, day)
					own := []any{at, HistoryEntry{Status: customs.Accepted, At: d.AcceptedAt, Source: "clearway"}.encode(),
						d.ID, declaredValues(d), seconds(statsHourTTL), seconds(statsDayTTL), seconds(s.indexTTL()),
						"tenant", d.Tenant, "manifestId", d.ManifestID, "logisticsNo", h.LogisticsNo, "copNo", h.CopNo,
						"orderNo", h.OrderNo, "agentCode", h.AgentCode, "tradeMode", h.TradeMode, "acceptedAt", at,
						"acceptedMs", d.AcceptedAt.UnixMilli(), "country", h.Country, "customsCode", h.CustomsCode,
						"voyageNo", h.VoyageNo, "billNo", h.BillNo, "ieDate", h.IeDate,
						// what documents about the parcel (CEB607, 507, 509, 605, 701) carry
						"logisticsCode", h.LogisticsCode, "logisticsName", h.LogisticsName, "agentName", h.AgentName,
						"ebcCode", h.EbcCode, "ebcName", h.EbcName, "statisticsFlag", h.StatisticsFlag}
					args = append(append(args, len(own)), own...)
				}
				createScript.EvalSha(ctx, p, keys, args...)
			}
			return nil
		})
		return err
	})
}

// Recorded reports which of the declarations ids are recorded and counted
// already: one command each, where recording again costs a Lua step and a
// dozen index writes. The tracker asks it of every declaration it reads,
// nearly all of which the gateway recorded after Kafka's answer.
func (s *Store) Recorded(ctx context.Context, ids []string) ([]bool, error) {
	cmds := make([]*redis.BoolCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HExists(ctx, declKey(id), "cd") // set by the step that recorded and counted it
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]bool, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// Transition is one status change to apply; one without a status records
// the parcel's arrival at the supervised site at At.
type Transition struct {
	DeclarationID string
	Status        customs.Status
	Rank          int
	Code          string
	ReturnInfo    string
	InvtNo        string
	PreNo         string
	MessageGUID   string
	At            time.Time
	Source        string // the message type that caused it
	// The message to keep in the declaration's record, once: its identity
	// and its JSON.
	MessageField string
	MessageValue []byte
}

// Applied is the outcome of one transition: whether it changed the
// status now (Changed), or had already (Replayed), and whose declaration it
// is, for the status event.
type Applied struct {
	Transition
	Changed, Replayed                          bool
	Tenant, AgentCode, LogisticsNo, ManifestID string
}

// Apply applies transitions, each atomically, and reports each outcome.
func (s *Store) Apply(ctx context.Context, ts []Transition) ([]Applied, error) {
	batches := byGroup(len(ts), func(i int) string { return ts[i].DeclarationID })
	cmds := make([]*redis.Cmd, len(batches))
	err := s.withScripts(ctx, func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for b, batch := range batches {
				keys, args := make([]string, 0, 5*len(batch)), make([]any, 0, 18*len(batch))
				for _, i := range batch {
					t := &ts[i]
					ttl := ""
					if t.Status.Final() {
						ttl = seconds(s.retention)
					}
					hour, day := statsKeys(t.DeclarationID, t.At)
					keys = append(keys, declKey(t.DeclarationID), historyKey(t.DeclarationID), messagesKey(t.DeclarationID), hour, day)
					args = append(args, t.Rank, string(t.Status), t.Code, t.ReturnInfo, t.InvtNo, t.PreNo, stamp(t.At), t.MessageField, t.MessageValue,
						HistoryEntry{Status: t.Status, Code: t.Code, Info: t.ReturnInfo, At: t.At, Source: t.Source}.encode(), t.MessageGUID, ttl,
						metricOf(t), t.At.UnixMilli(), seconds(statsHourTTL), seconds(statsDayTTL), seconds(s.indexTTL()), t.DeclarationID)
				}
				cmds[b] = transitionScript.EvalSha(ctx, p, keys, args...)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Applied, len(ts))
	for b, batch := range batches {
		results, _ := cmds[b].Slice()
		if len(results) != len(batch) {
			return nil, unavailable(fmt.Errorf("store: transition script answered %d results for %d changes", len(results), len(batch)))
		}
		for j, i := range batch {
			v, _ := results[j].([]any)
			if len(v) != 5 {
				return nil, unavailable(fmt.Errorf("store: transition script answered %v", results[j]))
			}
			n, _ := v[0].(int64)
			out[i].Transition = ts[i]
			out[i].Changed, out[i].Replayed = n == 1, n == 2
			out[i].Tenant, _ = v[1].(string)
			out[i].AgentCode, _ = v[2].(string)
			out[i].LogisticsNo, _ = v[3].(string)
			out[i].ManifestID, _ = v[4].(string)
		}
	}
	return out, nil
}

// byGroup splits n items, each belonging to the declaration id(i), into
// batches of at most batchSize of one group of declarations each (one
// Redis Cluster slot), keeping their order: a declaration's changes stay
// in the order given.
func byGroup(n int, id func(i int) string) [][]int {
	var batches [][]int
	open := map[string]int{} // group → its batch being filled
	for i := range n {
		g := shardOf(id(i))
		b, ok := open[g]
		if !ok || len(batches[b]) == batchSize {
			b = len(batches)
			batches = append(batches, nil)
			open[g] = b
		}
		batches[b] = append(batches[b], i)
	}
	return batches
}

// withScripts runs f, loading the scripts first if Redis lost them (a
// restart empties its script cache) and trying once more.
func (s *Store) withScripts(ctx context.Context, f func() error) error {
	err := f()
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
		for _, sc := range []*redis.Script{createScript, transitionScript, docStepScript, declDocScript, mergeIndexScript} {
			if lerr := sc.Load(ctx, s.rdb).Err(); lerr != nil {
				return unavailable(lerr)
			}
		}
		err = f()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return unavailable(err)
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseStamp(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

var errNotFound = errs.New(errs.NotFound, "not_found", "no such declaration")

// Get reads one declaration as sc may see it; one the scope may not see is
// not found, never forbidden, so ids of other tenants reveal nothing.
func (s *Store) Get(ctx context.Context, sc Scope, id string) (*Record, error) {
	h, history, err := s.readWithHistory(ctx, sc, declKey(id), historyKey(id))
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errNotFound
	}
	r := &Record{
		ID: id, Tenant: h["tenant"], ManifestID: h["manifestId"], LogisticsNo: h["logisticsNo"], CopNo: h["copNo"],
		OrderNo: h["orderNo"], AgentCode: h["agentCode"], TradeMode: h["tradeMode"], Status: customs.Status(h["status"]),
		VoyageNo: h["voyageNo"], BillNo: h["billNo"], IeDate: h["ieDate"],
		Code: h["code"], ReturnInfo: h["returnInfo"], InvtNo: h["invtNo"], PreNo: h["preNo"],
		AcceptedAt: parseStamp(h["acceptedAt"]), UpdatedAt: parseStamp(h["updatedAt"]), History: history,
	}
	if at := h["arrivedAt"]; at != "" {
		t := parseStamp(at)
		r.ArrivedAt = &t
	}
	r.Documents, r.EntryID = docStates(h), h["entryId"]
	return r, nil
}

// readWithHistory reads a record's hash and its history in one round
// trip, as sc may see it: nil when absent or not sc's.
func (s *Store) readWithHistory(ctx context.Context, sc Scope, key, history string) (map[string]string, []HistoryEntry, error) {
	var hcmd *redis.MapStringStringCmd
	var lcmd *redis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		hcmd = p.HGetAll(ctx, key)
		lcmd = p.LRange(ctx, history, 0, -1)
		return nil
	})
	if err != nil {
		return nil, nil, unavailable(err)
	}
	h := hcmd.Val()
	if h["tenant"] == "" || !sc.Sees(h["tenant"], h["agentCode"]) {
		return nil, nil, nil
	}
	entries := make([]HistoryEntry, 0, len(lcmd.Val()))
	for _, raw := range lcmd.Val() {
		if e, ok := decodeHistory(raw); ok {
			entries = append(entries, e)
		}
	}
	// In time order: a declaration's own steps are already, but the steps
	// of the documents about it come from other partitions, in an order a
	// rebuild need not repeat.
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].At.Before(entries[j].At) })
	return h, entries, nil
}

// Message is one business message sent or received about a declaration,
// as read: with its XML, from its event in Kafka.
type Message struct {
	Direction   string    `json:"direction"` // sent, received
	MessageType string    `json:"messageType"`
	MessageGUID string    `json:"messageGuid"`
	Code        string    `json:"returnStatus,omitempty"`
	At          time.Time `json:"at"`
	XML         string    `json:"xml"`
}

// How a message is kept in a declaration's list (and a document's). With
// an archive, a receipt is kept as where its event sits in Kafka,
// "@<partition>:<offset>", and a sent message as "s" under "sent:<guid>"
// (x:<guid> says where its event sits, once for every declaration it
// carried): everything else is read back from the event. Values that short keep the list a listpack, a
// sixth of the memory of a hash table of JSON. Without an archive the
// whole Message is kept as JSON.
const sentValue = "s"

func refValue(at Position) string {
	return "@" + strconv.Itoa(at.Partition) + ":" + strconv.FormatInt(at.Offset, 10)
}

func parseRef(v string) (Position, bool) {
	p, o, ok := strings.Cut(strings.TrimPrefix(v, "@"), ":")
	partition, perr := strconv.Atoi(p)
	offset, oerr := strconv.ParseInt(o, 10, 64)
	return Position{Partition: partition, Offset: offset}, ok && strings.HasPrefix(v, "@") && perr == nil && oerr == nil
}

// receivedMessage is how a message received is kept.
func (s *Store) receivedMessage(e *bus.ReceiptEvent, messageType string, at *Position) []byte {
	if at != nil && s.archive != nil {
		return []byte(refValue(*at))
	}
	b, _ := json.Marshal(Message{Direction: "received", MessageType: messageType, MessageGUID: e.MessageGUID, Code: e.ReturnStatus, At: e.At, XML: e.XML})
	return b
}

// sentMessage is how a message sent is kept in a declaration's list, under
// "sent:<guid>"; the message itself is kept once (SaveSending).
func (s *Store) sentMessage(e *bus.ReceiptEvent) []byte {
	if s.archive != nil {
		return []byte(sentValue)
	}
	b, _ := json.Marshal(Message{Direction: "sent", MessageType: e.MessageType, MessageGUID: e.MessageGUID, At: e.At})
	return b
}

// readEvent reads a kept message's event back from Kafka.
func (s *Store) readEvent(ctx context.Context, at Position) (*bus.ReceiptEvent, error) {
	if s.archive == nil {
		return nil, fmt.Errorf("store: message kept at %d/%d but no archive to read it from", at.Partition, at.Offset)
	}
	payload, err := s.archive(ctx, at)
	if err != nil {
		return nil, &errs.Error{Kind: errs.Unavailable, Code: "kafka_unavailable", Detail: "the message archive is not answering; retry shortly", RetryAfter: 2, Err: err}
	}
	e, err := bus.DecodeReceipt(payload)
	if err != nil {
		return nil, fmt.Errorf("store: archived message at %d/%d: %w", at.Partition, at.Offset, err)
	}
	return e, nil
}

// Messages lists what was sent to and received from customs about a
// declaration, oldest first.
func (s *Store) Messages(ctx context.Context, sc Scope, id string) ([]Message, error) {
	if _, err := s.Get(ctx, sc, id); err != nil {
		return nil, err
	}
	raw, err := s.rdb.HGetAll(ctx, messagesKey(id)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Message, 0, len(raw))
	for field, v := range raw {
		m, err := s.keptMessage(ctx, field, v)
		if err != nil {
			return nil, err
		}
		if m != nil {
			out = append(out, *m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// keptMessage reads one entry of a declaration's list back, with its XML:
// nil for one it cannot make sense of.
func (s *Store) keptMessage(ctx context.Context, field, v string) (*Message, error) {
	// A message sent, the declaration's CEB603 ("sent:<guid>") or a
	// document's that listed it ("doc:sent:<guid>"): the message itself is
	// kept once, under x:<guid>. A receipt's field is a hash, without ':'.
	if _, guid, sent := strings.Cut(field, "sent:"); sent {
		kept, err := s.rdb.Get(ctx, sentMessageKey(guid)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, unavailable(err)
		}
		if at, ok := parseRef(kept); ok {
			return s.archived(ctx, "sent", at)
		}
		var m Message // without an archive: the message as JSON, its XML under x:<guid>
		if json.Unmarshal([]byte(v), &m) != nil {
			return nil, nil
		}
		m.XML = kept
		return &m, nil
	}
	if at, ok := parseRef(v); ok {
		return s.archived(ctx, "received", at)
	}
	var m Message
	if json.Unmarshal([]byte(v), &m) != nil {
		return nil, nil
	}
	return &m, nil
}

// archived reads a kept message whole from its event in Kafka.
func (s *Store) archived(ctx context.Context, direction string, at Position) (*Message, error) {
	e, err := s.readEvent(ctx, at)
	if err != nil {
		return nil, err
	}
	return &Message{Direction: direction, MessageType: cmp.Or(e.MessageType, "transport"), MessageGUID: e.MessageGUID,
		Code: e.ReturnStatus, At: e.At, XML: e.XML}, nil
}

// GetManifest reads a manifest with its counts by status.
func (s *Store) GetManifest(ctx context.Context, sc Scope, id string) (*Manifest, error) {
	h, err := s.rdb.HGetAll(ctx, manifestKey(id)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if h["tenant"] == "" || !sc.Sees(h["tenant"], "") {
		return nil, errs.New(errs.NotFound, "not_found", "no such manifest")
	}
	ids, err := s.rdb.SMembers(ctx, manifestMembersKey(id)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	sort.Strings(ids)
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, did := range ids {
			cmds[i] = p.HMGet(ctx, declKey(did), "status", "logisticsNo", "code", "returnInfo")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	m := &Manifest{ID: id, ManifestNo: h["manifestNo"], Tenant: h["tenant"], CreatedAt: parseStamp(h["createdAt"]), Parcels: len(ids),
		Counts: map[customs.Status]int{}, Attention: []Attention{}}
	for i, c := range cmds {
		v := c.Val()
		st, _ := v[0].(string)
		if st == "" {
			continue
		}
		m.Counts[customs.Status(st)]++
		if needsAttention(customs.Status(st)) {
			ln, _ := v[1].(string)
			code, _ := v[2].(string)
			info, _ := v[3].(string)
			m.Attention = append(m.Attention, Attention{DeclarationID: ids[i], LogisticsNo: ln, Status: customs.Status(st), Code: code, ReturnInfo: info})
		}
	}
	return m, nil
}

// messageField is the identity under which a message is kept once: a
// sent message by its guid, a receipt by receiptIdentity.
func messageField(e *bus.ReceiptEvent) string {
	if e.Kind == bus.KindSubmitted {
		return "sent:" + e.MessageGUID
	}
	return "r:" + receiptIdentity(e)
}

// receiptIdentity tells a receipt apart from the other receipts about the
// same declaration or document: a 64-bit hash (base 36) of its type,
// status, time and size, and of what else names it (a document's part).
// Short, because every receipt's entry carries it.
func receiptIdentity(e *bus.ReceiptEvent, more ...string) string {
	h := fnv.New64a()
	for _, s := range append([]string{e.MessageType, e.ReturnStatus, e.ReturnTime, strconv.Itoa(len(e.XML))}, more...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// FromReceipt converts a receipt event about declarations into the
// status changes it causes and the document steps it records: the one
// crossing from the adapter's events into the store. Events about a
// document part or a whole message (document, refused) name their
// declarations only through the store; the tracker looks them up and calls
// FromDocumentReceipt or FromRefusal.
func (s *Store) FromReceipt(e *bus.ReceiptEvent, at *Position) ([]Transition, []DocStep, error) {
	switch e.Kind {
	case bus.KindSent: // the message itself is kept by SaveSending; a document's part is submitted
		if e.DocumentID == "" {
			return nil, nil, nil
		}
		return nil, []DocStep{{DocumentID: e.DocumentID, Kind: e.DocumentKind, Status: customs.Submitted, Rank: customs.RankSubmitted,
			At: e.At, Source: e.MessageType, Identity: "sent:" + e.MessageGUID, Message: s.sentMessage(e), IDs: e.DeclarationIDs}}, nil
	case bus.KindArrived:
		return []Transition{{DeclarationID: e.DeclarationID, At: e.At, Source: "arrival"}}, nil, nil
	case bus.KindSubmitted:
		return []Transition{{DeclarationID: e.DeclarationID, Status: customs.Submitted, Rank: customs.RankSubmitted, MessageGUID: e.MessageGUID,
			At: e.At, Source: e.MessageType, MessageField: messageField(e), MessageValue: s.sentMessage(e)}}, nil, nil
	}
	status, rank, ok := customs.FromReturnStatus(e.ReturnStatus)
	if !ok {
		return nil, nil, fmt.Errorf("store: unknown returnStatus %q for %s", e.ReturnStatus, e.DeclarationID)
	}
	switch e.MessageType {
	case "CEB506Message": // the parcel's waybill: where it stands, not the inventory's status
		return nil, []DocStep{s.docStep(e, "waybill", status, rank, []string{e.DeclarationID}, at)}, nil
	case "CEB606Message":
		if e.ReturnStatus != "399" && e.ReturnStatus != "800" {
			return nil, []DocStep{s.docStep(e, string(customs.DocCancel), status, rank, []string{e.DeclarationID}, at)}, nil
		}
		// 审结 of a cancel: customs withdrew the inventory.
		status, rank = customs.Cancelled, customs.RankCancelled
	}
	return []Transition{{
		DeclarationID: e.DeclarationID, Status: status, Rank: rank, Code: e.ReturnStatus, ReturnInfo: e.ReturnInfo, InvtNo: e.InvtNo, PreNo: e.PreNo,
		At: e.At, Source: e.MessageType, MessageField: messageField(e), MessageValue: s.receivedMessage(e, e.MessageType, at),
	}}, nil, nil
}

// FromDocumentReceipt is the step a receipt about a document part (or a
// summary) causes, once the tracker knows the part.
func (s *Store) FromDocumentReceipt(e *bus.ReceiptEvent, part Part, at *Position) (DocStep, error) {
	status, rank, ok := customs.FromReturnStatus(e.ReturnStatus)
	if !ok {
		return DocStep{}, fmt.Errorf("store: unknown returnStatus %q for document %s", e.ReturnStatus, part.DocumentID)
	}
	st := s.docStep(e, part.Kind, status, rank, part.IDs, at)
	st.DocumentID = part.DocumentID
	return st, nil
}

// FromRefusal is what a message customs could not take (CEB900) or the
// transport gave up on does to the declarations it carried: each is in
// error, with the code and customs' words.
func (s *Store) FromRefusal(e *bus.ReceiptEvent, ids []string, at *Position) []Transition {
	status, rank, ok := customs.FromReturnStatus(e.ReturnStatus)
	if !ok || status != customs.Error {
		status, rank = customs.Error, customs.RankError
	}
	msg := s.receivedMessage(e, cmp.Or(e.MessageType, "transport"), at)
	ts := make([]Transition, len(ids))
	for i, id := range ids {
		ts[i] = Transition{DeclarationID: id, Status: status, Rank: rank, Code: e.ReturnStatus, ReturnInfo: e.ReturnInfo, At: e.At,
			Source: cmp.Or(e.MessageType, "transport"), MessageField: messageField(e), MessageValue: msg}
	}
	return ts
}

func (s *Store) docStep(e *bus.ReceiptEvent, kind string, status customs.Status, rank int, ids []string, at *Position) DocStep {
	return DocStep{Kind: kind, Status: status, Rank: rank, Code: e.ReturnStatus, ReturnInfo: e.ReturnInfo, SumNo: e.SumNo, EntryID: e.EntryID,
		At: e.At, Source: e.MessageType, Identity: receiptIdentity(e, e.PartGUID, e.SumNo), Message: s.receivedMessage(e, e.MessageType, at), IDs: ids}
}
