package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/errs"
	"github.com/redis/go-redis/v9"
)

// BlacklistEntry is one listed subject (违法失信主体).
type BlacklistEntry struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Value   string    `json:"value"` // an identity number is shown masked
	Reason  string    `json:"reason"`
	AddedAt time.Time `json:"addedAt"`
}

func blacklistKey(kind string) string { return "bl:" + kind }

// blacklistField is what a value is listed and matched under. Identity
// numbers are kept only as SHA-256, so the list holds no ID in clear.
func blacklistField(kind, value string) string {
	value = strings.TrimSpace(value)
	switch kind {
	case customs.BlacklistSenderID:
		sum := sha256.Sum256([]byte(strings.ToUpper(value)))
		return hex.EncodeToString(sum[:])
	case customs.BlacklistConsignee:
		return customs.NormalizeName(value)
	}
	return strings.ToUpper(value)
}

func blacklistID(kind, field string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + field))
	return hex.EncodeToString(sum[:8])
}

// AddBlacklist lists a subject; listing it again replaces the reason.
func (s *Store) AddBlacklist(ctx context.Context, kind, value, reason string) (*BlacklistEntry, error) {
	valid := false
	for _, k := range customs.BlacklistKinds {
		valid = valid || k == kind
	}
	if !valid || strings.TrimSpace(value) == "" || strings.TrimSpace(reason) == "" || len(value) > 100 || len(reason) > 500 {
		return nil, &errs.Error{Kind: errs.Invalid, Code: "bad_blacklist_entry", Detail: "give kind (company, senderId or consignee), value (≤100) and reason (≤500)"}
	}
	field := blacklistField(kind, value)
	shown := strings.TrimSpace(value)
	if kind == customs.BlacklistSenderID {
		shown = customs.MaskID(strings.ToUpper(shown))
	}
	e := &BlacklistEntry{ID: blacklistID(kind, field), Kind: kind, Value: shown, Reason: reason, AddedAt: time.Now().UTC()}
	b, _ := json.Marshal(e)
	if err := s.rdb.HSet(ctx, blacklistKey(kind), field, b).Err(); err != nil {
		return nil, unavailable(err)
	}
	return e, nil
}

// ListBlacklist lists every entry, newest first.
func (s *Store) ListBlacklist(ctx context.Context) ([]BlacklistEntry, error) {
	out := []BlacklistEntry{}
	for _, kind := range customs.BlacklistKinds {
		all, err := s.rdb.HGetAll(ctx, blacklistKey(kind)).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		for _, v := range all {
			var e BlacklistEntry
			if json.Unmarshal([]byte(v), &e) == nil {
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AddedAt.After(out[j].AddedAt) })
	return out, nil
}

// RemoveBlacklist removes an entry by its id.
func (s *Store) RemoveBlacklist(ctx context.Context, id string) error {
	for _, kind := range customs.BlacklistKinds {
		all, err := s.rdb.HGetAll(ctx, blacklistKey(kind)).Result()
		if err != nil {
			return unavailable(err)
		}
		for field := range all {
			if blacklistID(kind, field) == id {
				if err := s.rdb.HDel(ctx, blacklistKey(kind), field).Err(); err != nil {
					return unavailable(err)
				}
				return nil
			}
		}
	}
	return errs.New(errs.NotFound, "not_found", "no blacklist entry %s", id)
}

// MatchBlacklist looks every probe up in one round trip and returns, for
// each, the listing reason or "".
func (s *Store) MatchBlacklist(ctx context.Context, probes []customs.BlacklistProbe) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(probes))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, pr := range probes {
			cmds[i] = p.HGet(ctx, blacklistKey(pr.Kind), blacklistField(pr.Kind, pr.Value))
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, unavailable(err)
	}
	reasons := make([]string, len(probes))
	for i, c := range cmds {
		var e BlacklistEntry
		if v, err := c.Result(); err == nil && json.Unmarshal([]byte(v), &e) == nil {
			reasons[i] = e.Reason
		}
	}
	return reasons, nil
}

// CountScreened adds parcels refused by screening to the day's statistics
// (st:screened:YYYYMMDD, by kind).
func (s *Store) CountScreened(ctx context.Context, day string, byKind map[string]int) error {
	if len(byKind) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for kind, n := range byKind {
			p.HIncrBy(ctx, "st:screened:"+day, kind, int64(n))
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}
