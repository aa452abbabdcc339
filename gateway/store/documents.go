package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/errs"
	"github.com/redis/go-redis/v9"
)

// A document (consolidation, arrival, departure, cancel, summary) is kept
// as one hash with its history, beside the declarations it lists; each of
// those declarations also shows where the document stands for it.
func docKey(id string) string        { return "doc:{" + id + "}" }
func docHistoryKey(id string) string { return "doc:{" + id + "}:h" }
func docPartsKey(id string) string   { return "doc:{" + id + "}:p" }
func partKey(guid string) string     { return "dp:{" + guid + "}" }
func sendingKey(guid string) string  { return "mg:{" + guid + "}" }
func sumNoKey(sumNo string) string   { return "sn:{" + sumNo + "}" }

// Document is a document as its sender reads it.
type Document struct {
	ID          string         `json:"documentId"`
	Kind        string         `json:"kind"`
	MessageType string         `json:"messageType"`
	Tenant      string         `json:"tenant"`
	AgentCode   string         `json:"agentCode,omitempty"`
	CopNo       string         `json:"copNo"`
	Parts       int            `json:"parts"` // messages it went in (msgCount)
	Parcels     int            `json:"parcels"`
	Status      customs.Status `json:"status"`
	Code        string         `json:"code,omitempty"`
	ReturnInfo  string         `json:"returnInfo,omitempty"`
	SumNo       string         `json:"sumNo,omitempty"`   // summary: customs' 汇总申请编号
	EntryID     string         `json:"entryId,omitempty"` // summary: the 报关单 number
	CreatedAt   time.Time      `json:"createdAt"`
	UpdatedAt   time.Time      `json:"updatedAt"`
	History     []HistoryEntry `json:"history"`
}

// CreateDocument records a document the gateway accepted (or any part of
// it, as a rebuild reads them from Kafka), before any part is sent: GET
// answers for it at once with status accepted. Its digest tells a repost,
// which changes nothing, from a different document under the same copNo,
// a conflict (customs would take the first and never see the second).
func (s *Store) CreateDocument(ctx context.Context, d *customs.Document) error {
	k := docKey(d.ID)
	var prior *redis.StringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, k, "digest", d.Digest)
		prior = p.HGet(ctx, k, "digest")
		p.HSetNX(ctx, k, "rank", customs.RankAccepted)
		for f, v := range map[string]any{"kind": string(d.Kind), "messageType": d.Kind.MessageType(), "tenant": d.Tenant, "agentCode": d.AgentCode,
			"copNo": d.CopNo, "parts": max(1, d.MsgCount), "parcels": d.ParcelCount, "status": string(customs.Accepted),
			"createdAt": stamp(d.AcceptedAt), "updatedAt": stamp(d.AcceptedAt)} {
			p.HSetNX(ctx, k, f, v)
		}
		p.Expire(ctx, k, s.indexTTL())
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	if prior.Val() != d.Digest {
		return errs.New(errs.Conflict, "copno_taken", "a different %s was already sent as copNo %s; give this one its own copNo", d.Kind, d.CopNo)
	}
	return nil
}

// SaveSending keeps what a sent event says, in one round trip: the
// message itself, once however many declarations it carried (where its
// event sits in Kafka, or without an archive its XML); which declarations
// or which document part it carried (so a CEB900 about it names them);
// and a document part's declarations (so its receipts do).
func (s *Store) SaveSending(ctx context.Context, e *bus.ReceiptEvent, at *Position) error {
	kept := e.XML
	if at != nil && s.archive != nil {
		kept = refValue(*at)
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ttl := s.indexTTL()
		p.SetNX(ctx, sentMessageKey(e.MessageGUID), kept, ttl)
		if e.DocumentID == "" {
			p.Set(ctx, sendingKey(e.MessageGUID), "ids:"+strings.Join(e.DeclarationIDs, ","), ttl)
			return nil
		}
		p.Set(ctx, sendingKey(e.MessageGUID), "part:"+e.PartGUID, ttl)
		p.HSet(ctx, partKey(e.PartGUID), "doc", e.DocumentID, "kind", e.DocumentKind, "ids", strings.Join(e.DeclarationIDs, ","))
		p.Expire(ctx, partKey(e.PartGUID), ttl)
		p.SAdd(ctx, docPartsKey(e.DocumentID), e.PartGUID)
		p.Expire(ctx, docPartsKey(e.DocumentID), ttl)
		return nil
	})
	return unavailableOrNil(err)
}

// Part is one sent part of a document: its document and declarations.
type Part struct {
	DocumentID, Kind string
	IDs              []string
}

// PartOf is the part sent under guid; ok is false for a guid never sent.
func (s *Store) PartOf(ctx context.Context, guid string) (Part, bool, error) {
	h, err := s.rdb.HGetAll(ctx, partKey(guid)).Result()
	if err != nil {
		return Part{}, false, unavailable(err)
	}
	if h["doc"] == "" {
		return Part{}, false, nil
	}
	return Part{DocumentID: h["doc"], Kind: h["kind"], IDs: splitIDs(h["ids"])}, true, nil
}

// Sending is what message guid carried: a document part's guid, or
// declarations.
func (s *Store) Sending(ctx context.Context, guid string) (part string, ids []string, err error) {
	v, err := s.rdb.Get(ctx, sendingKey(guid)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, unavailable(err)
	}
	if p, ok := strings.CutPrefix(v, "part:"); ok {
		return p, nil, nil
	}
	return "", splitIDs(strings.TrimPrefix(v, "ids:")), nil
}

// SummaryOf is the summary document customs numbered sumNo, with all the
// declarations its parts listed.
func (s *Store) SummaryOf(ctx context.Context, sumNo string) (Part, bool, error) {
	id, err := s.rdb.Get(ctx, sumNoKey(sumNo)).Result()
	if errors.Is(err, redis.Nil) {
		return Part{}, false, nil
	}
	if err != nil {
		return Part{}, false, unavailable(err)
	}
	guids, err := s.rdb.SMembers(ctx, docPartsKey(id)).Result()
	if err != nil {
		return Part{}, false, unavailable(err)
	}
	out := Part{DocumentID: id, Kind: string(customs.DocSummary)}
	for _, g := range guids {
		p, ok, err := s.PartOf(ctx, g)
		if err != nil {
			return Part{}, false, err
		}
		if ok {
			out.IDs = append(out.IDs, p.IDs...)
		}
	}
	return out, true, nil
}

func parkedKey(key string) string { return "pk:{" + key + "}" }

// Parked is an event that arrived before what it is about, and where it
// sits in Kafka.
type Parked struct {
	At    Position        `json:"at"`
	Event json.RawMessage `json:"event"`
}

// Park keeps a receipt event that arrived before what it is about (a
// document part's receipt before its sent event, a CEB792 before the
// CEB702 that gave its sumNo, which sit on other partitions), to be
// applied once that arrives. Kept as long as the indexes.
func (s *Store) Park(ctx context.Context, key string, p Parked) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		pl.RPush(ctx, parkedKey(key), b)
		pl.Expire(ctx, parkedKey(key), s.indexTTL())
		return nil
	})
	return unavailableOrNil(err)
}

// Parked are the events parked under each of keys, oldest first, read in
// one round trip (a batch awaits a key per message it sent); Unpark drops the
// first n once they are applied (a crash in between applies them again,
// which changes nothing), keeping any parked again meanwhile.
func (s *Store) Parked(ctx context.Context, keys []string) (map[string][]Parked, error) {
	cmds := make([]*redis.StringSliceCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, key := range keys {
			cmds[i] = p.LRange(ctx, parkedKey(key), 0, -1)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	out := map[string][]Parked{}
	for i, cmd := range cmds {
		for _, v := range cmd.Val() {
			var p Parked
			if json.Unmarshal([]byte(v), &p) == nil {
				out[keys[i]] = append(out[keys[i]], p)
			}
		}
	}
	return out, nil
}

func (s *Store) Unpark(ctx context.Context, key string, n int) error {
	return unavailableOrNil(s.rdb.LTrim(ctx, parkedKey(key), int64(n), -1).Err())
}

func splitIDs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// DocStep is one receipt about a document, applied to the document and to
// each declaration it lists.
type DocStep struct {
	DocumentID string
	Kind       string // consolidation, arrival, … ; waybill and cancel steps have no document record
	Status     customs.Status
	Rank       int
	Code       string
	ReturnInfo string
	SumNo      string
	EntryID    string
	At         time.Time
	Source     string   // the message type that caused it
	Identity   string   // the receipt's identity: applied once
	Message    []byte   // the receipt as kept (receivedMessage)
	IDs        []string // the declarations it is about
}

// ApplyDocument applies a document step: to the document (when it has a
// record) and, for each declaration it lists, to where the document
// stands for it. Each is applied once per receipt identity, and a status
// moves only to a higher rank, as a declaration's does.
func (s *Store) ApplyDocument(ctx context.Context, st DocStep) error {
	entry := HistoryEntry{Status: st.Status, Code: st.Code, Info: st.ReturnInfo, At: st.At, Source: st.Source}.encode()
	return s.withScripts(ctx, func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			if st.DocumentID != "" {
				docStepScript.EvalSha(ctx, p, []string{docKey(st.DocumentID), docHistoryKey(st.DocumentID)},
					st.Rank, string(st.Status), st.Code, st.ReturnInfo, stamp(st.At), entry, "r:"+st.Identity, st.SumNo, st.EntryID, st.Message)
				if st.SumNo != "" {
					p.Set(ctx, sumNoKey(st.SumNo), st.DocumentID, s.indexTTL())
				}
			}
			for _, batch := range byGroup(len(st.IDs), func(i int) string { return st.IDs[i] }) {
				keys := make([]string, 0, 3*len(batch))
				for _, i := range batch {
					id := st.IDs[i]
					keys = append(keys, declKey(id), historyKey(id), messagesKey(id))
				}
				declDocScript.EvalSha(ctx, p, keys, st.Kind, st.Rank, st.Code, entry, "doc:"+st.Identity, st.Message, st.EntryID, string(st.Status))
			}
			return nil
		})
		return err
	})
}

// docStepScript: KEYS doc, history; ARGV rank, status, code, info, at,
// history entry, receipt identity, sumNo, entryId, receipt JSON.
var docStepScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[7], ARGV[10]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[2], redis.call('TTL', KEYS[1]))
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'sumNo', ARGV[8]) end
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'entryId', ARGV[9]) end
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1') then
  redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'status', ARGV[2], 'code', ARGV[3], 'returnInfo', ARGV[4], 'updatedAt', ARGV[5])
  return 1
end
return 0
`)

// declDocScript records, per declaration of one group, where a document
// stands for it: fields doc:<kind> and doc:<kind>:code hold the
// highest-ranked status and code, each receipt goes into its history and
// messages once, and a summary's entryId is kept. KEYS per declaration:
// decl, history, messages; ARGV kind, rank, code, history entry, receipt
// identity, receipt JSON, entryId, status.
var declDocScript = redis.NewScript(`
for i = 1, #KEYS, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 and redis.call('HSETNX', KEYS[i + 2], ARGV[5], ARGV[6]) == 1 then
    local f = 'doc:' .. ARGV[1]
    if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[i], f .. ':rank') or '-1') then
      redis.call('HSET', KEYS[i], f, ARGV[8], f .. ':code', ARGV[3], f .. ':rank', ARGV[2])
    end
    redis.call('RPUSH', KEYS[i + 1], ARGV[4])
    if ARGV[7] ~= '' then redis.call('HSET', KEYS[i], 'entryId', ARGV[7]) end
  end
end
return 0
`)

// GetDocument reads a document as sc may see it.
func (s *Store) GetDocument(ctx context.Context, sc Scope, id string) (*Document, error) {
	h, history, err := s.readWithHistory(ctx, sc, docKey(id), docHistoryKey(id))
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errs.New(errs.NotFound, "not_found", "no such document")
	}
	d := &Document{ID: id, Kind: h["kind"], MessageType: h["messageType"], Tenant: h["tenant"], AgentCode: h["agentCode"], CopNo: h["copNo"],
		Status: customs.Status(h["status"]), Code: h["code"], ReturnInfo: h["returnInfo"], SumNo: h["sumNo"], EntryID: h["entryId"],
		CreatedAt: parseStamp(h["createdAt"]), UpdatedAt: parseStamp(h["updatedAt"]), History: history}
	fmt.Sscan(h["parts"], &d.Parts)
	fmt.Sscan(h["parcels"], &d.Parcels)
	return d, nil
}

func unavailableOrNil(err error) error {
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Parcel is what a document needs to know of a declaration it lists.
type Parcel struct {
	ID, Tenant, AgentCode, AgentName, LogisticsNo, LogisticsCode, LogisticsName string
	CopNo, InvtNo, CustomsCode, EbcCode, EbcName, StatisticsFlag, BillNo        string
	Status                                                                      customs.Status
	AcceptedAt                                                                  time.Time
}

var parcelFields = []string{"tenant", "agentCode", "agentName", "logisticsNo", "logisticsCode", "logisticsName", "copNo", "invtNo",
	"customsCode", "ebcCode", "ebcName", "statisticsFlag", "billNo", "status", "acceptedMs"}

// Parcels reads the declarations ids as sc may see them; one it may not
// see, or that is gone, is left out.
func (s *Store) Parcels(ctx context.Context, sc Scope, ids []string) ([]Parcel, error) {
	rows, err := s.declarationFields(ctx, ids, parcelFields...)
	if err != nil {
		return nil, err
	}
	out := make([]Parcel, 0, len(ids))
	for i, v := range rows {
		if v[0] == "" || !sc.Sees(v[0], v[1]) {
			continue
		}
		var ms int64
		fmt.Sscan(v[14], &ms)
		out = append(out, Parcel{ID: ids[i], Tenant: v[0], AgentCode: v[1], AgentName: v[2], LogisticsNo: v[3], LogisticsCode: v[4],
			LogisticsName: v[5], CopNo: v[6], InvtNo: v[7], CustomsCode: v[8], EbcCode: v[9], EbcName: v[10], StatisticsFlag: v[11],
			BillNo: v[12], Status: customs.Status(v[13]), AcceptedAt: time.UnixMilli(ms).UTC()})
	}
	return out, nil
}

// declarationFields reads fields of each declaration, in pipelines of
// 1,000: one row per id, "" for a field (or a declaration) that is not
// there.
func (s *Store) declarationFields(ctx context.Context, ids []string, fields ...string) ([][]string, error) {
	rows := make([][]string, 0, len(ids))
	for chunk := range slices.Chunk(ids, 1000) {
		cmds := make([]*redis.SliceCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range chunk {
				cmds[i] = p.HMGet(ctx, declKey(id), fields...)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, unavailable(err)
		}
		for _, cmd := range cmds {
			row := make([]string, len(fields))
			for j, x := range cmd.Val() {
				row[j], _ = x.(string)
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// ClaimedIDs are the declarations tenant posted as logisticsNos, in order;
// "" for a logisticsNo it never posted.
func (s *Store) ClaimedIDs(ctx context.Context, tenant string, logisticsNos []string) ([]string, error) {
	ids := make([]string, len(logisticsNos))
	for start := 0; start < len(logisticsNos); start += 1000 {
		chunk := logisticsNos[start:min(len(logisticsNos), start+1000)]
		cmds := make([]*redis.StringCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, no := range chunk {
				cmds[i] = p.Get(ctx, claimKey(tenant, no))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, unavailable(err)
		}
		for i, cmd := range cmds {
			ids[start+i] = cmd.Val()
		}
	}
	return ids, nil
}

// Declared lists the declarations agentCode declared that were accepted
// in [from, to), oldest first, as the broker sees them: what a summary
// application chooses from.
func (s *Store) Declared(ctx context.Context, agentCode string, from, to time.Time) ([]Parcel, error) {
	members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: "tl:broker:" + agentCode, ByLex: true,
		Start: "[" + fmt.Sprintf("%013d:", from.UnixMilli()), Stop: "(" + fmt.Sprintf("%013d:", to.UnixMilli())}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	ids := make([]string, len(members))
	for i, m := range members {
		_, ids[i], _ = strings.Cut(m, ":")
	}
	return s.Parcels(ctx, Scope{Role: "broker", Tenant: agentCode}, ids)
}

// DocState is where one document about a declaration stands for it.
type DocState struct {
	Status customs.Status `json:"status"`
	Code   string         `json:"code,omitempty"`
}

// docStates reads a declaration's doc:<kind> fields.
func docStates(h map[string]string) map[string]DocState {
	var out map[string]DocState
	for f, v := range h {
		kind, ok := strings.CutPrefix(f, "doc:")
		if !ok || strings.Contains(kind, ":") {
			continue
		}
		if out == nil {
			out = map[string]DocState{}
		}
		out[kind] = DocState{Status: customs.Status(v), Code: h[f+":code"]}
	}
	return out
}
