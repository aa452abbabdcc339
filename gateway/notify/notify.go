// Package notify pushes status changes to those who follow them: signed
// webhooks, delivered in order per subscription and at least once, and
// the per-scope event streams that Server-Sent Events read. Both are fed
// from clearway.status.v1 by a consumer group, never from a request.
package notify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs/errs"
	"github.com/clearway/clearway/gateway/store"
	"github.com/redis/go-redis/v9"
)

// Subscription is a registered callback.
type Subscription struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Tenant    string    `json:"tenant"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"` // shown once, when created
	CreatedAt time.Time `json:"createdAt"`
	// State, as GET shows it.
	Blocked      bool      `json:"blocked"`
	FailingSince time.Time `json:"failingSince,omitzero"`
	LastError    string    `json:"lastError,omitempty"`
	Pending      int64     `json:"pending"`
}

func (s *Subscription) scope() store.Scope { return store.Scope{Role: s.Role, Tenant: s.Tenant} }

const subsKey = "wh:subs"

// A subscription's keys share the hash tag {id}: one DEL removes its
// queue and state together, which Redis Cluster allows only within a slot.
func queueKey(id string) string { return "wh:q:{" + id + "}" }
func stateKey(id string) string { return "wh:state:{" + id + "}" }
func leaseKey(id string) string { return "wh:lease:{" + id + "}" }

// Registry stores subscriptions in Redis.
type Registry struct{ rdb redis.UniversalClient }

func NewRegistry(rdb redis.UniversalClient) *Registry { return &Registry{rdb: rdb} }

func unavailable(err error) error {
	return &errs.Error{Kind: errs.Unavailable, Code: "redis_unavailable", Detail: "the subscription store is not answering; retry shortly", RetryAfter: 2, Err: err}
}

// Create registers a callback for sc; with no secret, one is made. The
// secret is returned only here.
func (r *Registry) Create(ctx context.Context, sc store.Scope, callback, secret string) (*Subscription, error) {
	u, err := url.Parse(callback)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(callback) > 500 {
		return nil, &errs.Error{Kind: errs.Invalid, Code: "bad_webhook", Detail: "url must be an absolute http(s) URL of at most 500 characters",
			Fields: []errs.FieldError{{Path: "url", Code: "bad_format", Message: "an absolute http(s) URL"}}}
	}
	if secret == "" {
		raw := make([]byte, 32)
		rand.Read(raw)
		secret = hex.EncodeToString(raw)
	} else if len(secret) < 16 || len(secret) > 200 {
		return nil, &errs.Error{Kind: errs.Invalid, Code: "bad_webhook", Detail: "secret must be 16 to 200 characters (or omitted, to have one made)",
			Fields: []errs.FieldError{{Path: "secret", Code: "too_short", Message: "16 to 200 characters"}}}
	}
	raw := make([]byte, 8)
	rand.Read(raw)
	sub := &Subscription{ID: "wh_" + hex.EncodeToString(raw), Role: sc.Role, Tenant: sc.Tenant, URL: callback, Secret: secret, CreatedAt: time.Now().UTC()}
	b, _ := json.Marshal(sub)
	if err := r.rdb.HSet(ctx, subsKey, sub.ID, b).Err(); err != nil {
		return nil, unavailable(err)
	}
	return sub, nil
}

// all lists every subscription with its secret.
func (r *Registry) all(ctx context.Context) ([]*Subscription, error) {
	raw, err := r.rdb.HGetAll(ctx, subsKey).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]*Subscription, 0, len(raw))
	for _, v := range raw {
		var s Subscription
		if json.Unmarshal([]byte(v), &s) == nil {
			out = append(out, &s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// owns: a caller manages its own subscriptions; an all-tenant admin all.
func owns(sc store.Scope, s *Subscription) bool {
	return (sc.Role == "admin" && sc.Tenant == "*") || (sc.Role == s.Role && sc.Tenant == s.Tenant)
}

// List shows sc's subscriptions with their delivery state, secrets hidden.
func (r *Registry) List(ctx context.Context, sc store.Scope) ([]*Subscription, error) {
	subs, err := r.all(ctx)
	if err != nil {
		return nil, err
	}
	out := []*Subscription{}
	for _, s := range subs {
		if !owns(sc, s) {
			continue
		}
		s.Secret = ""
		st, err := r.rdb.HGetAll(ctx, stateKey(s.ID)).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		s.Blocked, s.LastError = st["blocked"] == "1", st["lastError"]
		if ms, _ := strconv.ParseInt(st["failingSince"], 10, 64); ms > 0 {
			s.FailingSince = time.UnixMilli(ms).UTC()
		}
		s.Pending = r.rdb.LLen(ctx, queueKey(s.ID)).Val()
		out = append(out, s)
	}
	return out, nil
}

// Delete removes one of sc's subscriptions and its kept events.
func (r *Registry) Delete(ctx context.Context, sc store.Scope, id string) error {
	s, err := r.get(ctx, sc, id)
	if err != nil {
		return err
	}
	if err := r.rdb.Del(ctx, queueKey(s.ID), stateKey(s.ID)).Err(); err != nil {
		return unavailable(err)
	}
	return r.rdb.HDel(ctx, subsKey, s.ID).Err()
}

// Unblock lets a blocked subscription receive again: its kept events are
// delivered first, in order (the replay).
func (r *Registry) Unblock(ctx context.Context, sc store.Scope, id string) error {
	s, err := r.get(ctx, sc, id)
	if err != nil {
		return err
	}
	if err := r.rdb.Del(ctx, stateKey(s.ID)).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

func (r *Registry) get(ctx context.Context, sc store.Scope, id string) (*Subscription, error) {
	v, err := r.rdb.HGet(ctx, subsKey, id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, errs.New(errs.NotFound, "not_found", "no such webhook")
	}
	if err != nil {
		return nil, unavailable(err)
	}
	var s Subscription
	if json.Unmarshal([]byte(v), &s) != nil || !owns(sc, &s) {
		return nil, errs.New(errs.NotFound, "not_found", "no such webhook")
	}
	return &s, nil
}

// Signature headers of a delivery.
const (
	HeaderSignature = "X-Clearway-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
	HeaderEventID   = "X-Clearway-Event-Id"
)

// Sign is the signature header value for body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery's signature header against body, refusing one
// older (or newer) than tolerance, so a captured delivery cannot be
// replayed later. Receivers can copy this function.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("notify: malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("notify: signature timestamp is %v away", d.Round(time.Second))
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return errors.New("notify: signature does not match")
	}
	return nil
}
