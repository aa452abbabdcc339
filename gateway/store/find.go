package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/errs"
	"github.com/redis/go-redis/v9"
)

// Lookup fields: every number a broker or courier may hold for a parcel.
// Each index maps a value to the ids of the declarations carrying it. An
// index holds no status, so it can never disagree with the declaration it
// points at; every answer is read from the declaration itself.
const (
	ByLogisticsNo = "logisticsNo"
	ByOrderNo     = "orderNo"
	ByCopNo       = "copNo"
	ByInvtNo      = "invtNo"
	ByBillNo      = "billNo" // the master air waybill
	ByFlight      = "flight" // voyageNo/ieDate
)

// LookupFields lists the fields Find takes.
var LookupFields = []string{ByLogisticsNo, ByOrderNo, ByCopNo, ByInvtNo, ByBillNo, ByFlight}

func indexKey(field, value string) string { return "ix:" + field + ":" + value }

// FlightKey is how a flight is looked up: its voyageNo and its date.
func FlightKey(voyageNo, ieDate string) string { return voyageNo + "/" + ieDate }

// Timelines list declarations newest first, one per reader scope.
func timelineKey(sc Scope) string {
	switch sc.Role {
	case "courier":
		return "tl:courier:" + sc.Tenant
	case "broker":
		return "tl:broker:" + sc.Tenant
	case "admin":
		if sc.Tenant != "*" {
			return "tl:courier:" + sc.Tenant
		}
	}
	return "tl:all"
}

// A value of a unique field (logisticsNo, orderNo, copNo, invtNo) names
// one declaration, nearly always: its index entry is a string holding that
// id, half a one-member set's memory. The rare value two declarations
// share turns into a set of both (mergeIndexScript). A billNo or a flight
// names many, and is a set from the start.

// indexWrite is one unique index entry written with SET NX GET: what the
// key held before says whether it needs merging.
type indexWrite struct {
	key, id string
	prior   *redis.StatusCmd
}

func (s *Store) setIndex(ctx context.Context, p redis.Pipeliner, key, id string) indexWrite {
	return indexWrite{key: key, id: id, prior: p.SetArgs(ctx, key, id, redis.SetArgs{Mode: "NX", Get: true, TTL: s.indexTTL()})}
}

// settle merges the index entries whose value another declaration held
// already, once the pipeline that wrote them has run.
func (s *Store) settle(ctx context.Context, writes []indexWrite) error {
	var merge []indexWrite
	for _, w := range writes {
		prior, err := w.prior.Result()
		switch {
		case errors.Is(err, redis.Nil), err == nil && prior == w.id: // new, or this declaration's already
		case err == nil, wrongType(err): // another's id, or a set of them
			merge = append(merge, w)
		default:
			return unavailable(err)
		}
	}
	if len(merge) == 0 {
		return nil
	}
	return s.withScripts(ctx, func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, w := range merge {
				mergeIndexScript.EvalSha(ctx, p, []string{w.key}, w.id, seconds(s.indexTTL()))
			}
			return nil
		})
		return err
	})
}

// wrongType is Redis's answer to a string command on a set.
func wrongType(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE") }

// failed is the first failure among a pipeline's commands but the unique
// index writes, whose answers (WRONGTYPE for a set) settle reads.
func failed(cmds []redis.Cmder, writes []indexWrite) error {
	settled := make(map[redis.Cmder]bool, len(writes))
	for _, w := range writes {
		settled[w.prior] = true
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) && !settled[c] {
			return unavailable(err)
		}
	}
	return nil
}

// mergeIndexScript adds an id to a unique field's index entry that holds
// another: a string becomes a set of both. KEYS: the entry; ARGV: id, TTL
// seconds.
var mergeIndexScript = redis.NewScript(`
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if kind == 'string' then
  local cur = redis.call('GET', KEYS[1])
  if cur == ARGV[1] then return 0 end
  redis.call('DEL', KEYS[1])
  redis.call('SADD', KEYS[1], cur)
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`)

// indexed reads the ids index entries hold, sorted and each once.
func (s *Store) indexed(ctx context.Context, keys ...string) ([]string, error) {
	gets := make([]*redis.StringCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			gets[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !wrongType(err) {
		return nil, unavailable(err)
	}
	var ids []string
	for i, g := range gets {
		id, err := g.Result()
		switch {
		case err == nil:
			ids = append(ids, id)
		case errors.Is(err, redis.Nil): // no such value
		case wrongType(err): // a set: a value shared, or a billNo or flight
			members, err := s.rdb.SMembers(ctx, keys[i]).Result()
			if err != nil {
				return nil, unavailable(err)
			}
			ids = append(ids, members...)
		default:
			return nil, unavailable(err)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// index adds a declaration to the lookup indexes and timelines; every
// write is idempotent, so the gateway and the tracker may both do it. The
// unique entries come back, for settle once p has run.
func (s *Store) index(ctx context.Context, p redis.Pipeliner, d *customs.Declaration) []indexWrite {
	h := &d.Head
	var writes []indexWrite
	for field, value := range map[string]string{ByLogisticsNo: h.LogisticsNo, ByOrderNo: h.OrderNo, ByCopNo: h.CopNo} {
		if value != "" && (field != ByCopNo || value != h.LogisticsNo) { // a copNo equal to the logisticsNo (the default) is found through that index
			writes = append(writes, s.setIndex(ctx, p, indexKey(field, value), d.ID))
		}
	}
	add := func(key string) {
		p.SAdd(ctx, key, d.ID)
		p.Expire(ctx, key, s.indexTTL())
	}
	if h.BillNo != "" {
		add(indexKey(ByBillNo, h.BillNo))
	}
	if h.VoyageNo != "" {
		add(indexKey(ByFlight, FlightKey(h.VoyageNo, h.IeDate)))
	}
	// Timeline members sort by acceptedAt, then id, all at score 0, so a
	// lexicographic range pages exactly even through a 10,000-parcel
	// manifest accepted in one millisecond.
	z := redis.Z{Member: timelineMember(d.AcceptedAt, d.ID)}
	p.ZAdd(ctx, "tl:courier:"+d.Tenant, z)
	p.ZAdd(ctx, "tl:broker:"+h.AgentCode, z)
	p.ZAdd(ctx, "tl:all", z)
	return writes
}

func timelineMember(at time.Time, id string) string {
	return fmt.Sprintf("%013d:%s", at.UnixMilli(), id)
}

// IndexInvtNo records the inventory number customs assigned.
func (s *Store) IndexInvtNo(ctx context.Context, ids, invtNos []string) error {
	if len(ids) == 0 {
		return nil
	}
	writes := make([]indexWrite, len(ids))
	cmds, _ := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			writes[i] = s.setIndex(ctx, p, indexKey(ByInvtNo, invtNos[i]), id)
		}
		return nil
	})
	if err := failed(cmds, writes); err != nil {
		return err
	}
	return s.settle(ctx, writes)
}

// Find returns the declarations with field = value that sc may see.
func (s *Store) Find(ctx context.Context, sc Scope, field, value string) ([]*Record, error) {
	if field != ByCopNo {
		ids, err := s.indexed(ctx, indexKey(field, value))
		if err != nil {
			return nil, err
		}
		return s.visible(ctx, sc, ids)
	}
	// A copNo is indexed under its own name only when it differs from the
	// parcel's logisticsNo.
	ids, err := s.indexed(ctx, indexKey(ByCopNo, value), indexKey(ByLogisticsNo, value))
	if err != nil {
		return nil, err
	}
	found, err := s.visible(ctx, sc, ids)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(found, func(r *Record) bool { return r.CopNo != value }), nil
}

// visible reads ids and keeps the ones sc may see.
func (s *Store) visible(ctx context.Context, sc Scope, ids []string) ([]*Record, error) {
	out := []*Record{}
	for _, id := range ids {
		r, err := s.Get(ctx, sc, id)
		if errs.IsKind(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// ListQuery filters and pages the declarations a scope sees.
type ListQuery struct {
	Status    customs.Status
	TradeMode string
	From, To  time.Time // acceptedAt range; zero for open
	Cursor    string    // from the previous page
	Limit     int
}

// Page is one page of a list, newest first; Next continues it ("" at the end).
type Page struct {
	Declarations []*Record `json:"declarations"`
	Next         string    `json:"next,omitempty"`
}

// maxScan bounds how many timeline entries one page may look at, so a
// filter that matches rarely answers with a partial page and a cursor
// instead of scanning millions.
const maxScan = 5000

// List pages through the declarations sc sees, newest first. The cursor
// is the last timeline entry returned (acceptedAt and id), so declarations
// accepted while a client pages neither shift nor repeat what it reads.
func (s *Store) List(ctx context.Context, sc Scope, q ListQuery) (*Page, error) {
	upper := "+"
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || !strings.Contains(string(b), ":") {
			return nil, &errs.Error{Kind: errs.Invalid, Code: "bad_cursor", Detail: "the cursor is not one this API returned",
				Fields: []errs.FieldError{{Path: "cursor", Code: "bad_format", Message: "pass next from the previous page unchanged"}}}
		}
		upper = "(" + string(b)
	} else if !q.To.IsZero() {
		upper = "(" + fmt.Sprintf("%013d:", q.To.UnixMilli()+1)
	}
	lower := "-"
	if !q.From.IsZero() {
		lower = "[" + fmt.Sprintf("%013d:", q.From.UnixMilli())
	}
	if !q.To.IsZero() && q.Cursor != "" && upper > "("+fmt.Sprintf("%013d:", q.To.UnixMilli()+1) {
		upper = "(" + fmt.Sprintf("%013d:", q.To.UnixMilli()+1)
	}
	page := &Page{Declarations: []*Record{}}
	key := timelineKey(sc)
	for scanned := 0; scanned < maxScan && len(page.Declarations) < q.Limit; {
		members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: upper, Stop: lower, ByLex: true, Rev: true, Count: int64(q.Limit + 100)}).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		if len(members) == 0 {
			return page, nil // the end of the timeline
		}
		for _, m := range members {
			scanned++
			upper = "(" + m
			_, id, _ := strings.Cut(m, ":")
			r, err := s.Get(ctx, sc, id)
			if errs.IsKind(err, errs.NotFound) {
				continue // expired, or not this scope's
			}
			if err != nil {
				return nil, err
			}
			if (q.Status == "" || r.Status == q.Status) && (q.TradeMode == "" || r.TradeMode == q.TradeMode) {
				page.Declarations = append(page.Declarations, r)
			}
			if len(page.Declarations) == q.Limit || scanned == maxScan {
				break
			}
		}
	}
	page.Next = base64.RawURLEncoding.EncodeToString([]byte(upper[1:]))
	return page, nil
}

// Attention is a parcel of a manifest that needs someone to act.
type Attention struct {
	DeclarationID string         `json:"declarationId"`
	LogisticsNo   string         `json:"logisticsNo"`
	Status        customs.Status `json:"status"`
	Code          string         `json:"code,omitempty"`
	ReturnInfo    string         `json:"returnInfo,omitempty"`
}

// needsAttention: statuses a courier or broker must act on.
func needsAttention(s customs.Status) bool {
	return s == customs.Rejected || s == customs.Detained || s == customs.Error
}

// clearanceAllowance is how long past acceptance a declaration may take to
// reach its final status before its indexes go: retention counts from the
// final status, index lifetimes from the last parcel added.
const clearanceAllowance = 30 * 24 * time.Hour

func (s *Store) indexTTL() time.Duration { return s.retention + clearanceAllowance }

// pruneTimelines drops timeline entries older than any declaration kept.
func (s *Store) pruneTimelines(ctx context.Context, p redis.Pipeliner, keys map[string]bool) {
	cutoff := "(" + fmt.Sprintf("%013d:", time.Now().Add(-s.indexTTL()).UnixMilli())
	for k := range keys {
		p.ZRemRangeByLex(ctx, k, "-", cutoff)
	}
}
