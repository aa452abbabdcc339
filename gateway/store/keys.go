package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/clearway/clearway/customs/errs"
	"github.com/redis/go-redis/v9"
)

// Roles a key can have.
var Roles = []string{"courier", "broker", "airport", "admin"}

// ValidRole reports whether role is one of Roles.
func ValidRole(role string) bool { return slices.Contains(Roles, role) }

// APIKey describes a stored key; the secret itself is never stored, only
// its SHA-256.
type APIKey struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Tenant    string    `json:"tenant"`
	CreatedAt time.Time `json:"createdAt"`
}

// API keys share the hash tag {ak}: creating and revoking one changes a
// key and the index together, in one MULTI, which Redis Cluster allows
// only within one slot.
func keyHashKey(hash string) string { return "ak:{ak}:" + hash }

// keyIndexKey maps key ids to their hashes, for listing and revoking.
const keyIndexKey = "ak:{ak}:index"

// KeyHash is how a key is stored and looked up: hex SHA-256.
func KeyHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// KeyID is a key's public name: a prefix of its hash, which says nothing
// usable about a 256-bit random secret.
func KeyID(hash string) string { return hash[:12] }

// CreateKey makes a random 32-byte key for role and tenant, stores its
// hash, and returns the secret: the only time it is ever shown.
func (s *Store) CreateKey(ctx context.Context, role, tenant string) (string, APIKey, error) {
	if !ValidRole(role) {
		return "", APIKey{}, errs.New(errs.Invalid, "bad_role", "role must be one of %v", Roles)
	}
	if tenant == "" || (tenant == "*" && role != "admin") {
		return "", APIKey{}, errs.New(errs.Invalid, "bad_tenant", "a tenant is required; only an admin's may be *")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", APIKey{}, err
	}
	secret := "cw_" + base64.RawURLEncoding.EncodeToString(raw)
	hash := KeyHash(secret)
	k := APIKey{ID: KeyID(hash), Role: role, Tenant: tenant, CreatedAt: time.Now().UTC()}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, keyHashKey(hash), "id", k.ID, "role", role, "tenant", tenant, "createdAt", stamp(k.CreatedAt))
		p.HSet(ctx, keyIndexKey, k.ID, hash)
		return nil
	})
	if err != nil {
		return "", APIKey{}, unavailable(err)
	}
	return secret, k, nil
}

// LookupKey finds a stored key by its hash; nil when there is none.
func (s *Store) LookupKey(ctx context.Context, hash string) (*APIKey, error) {
	h, err := s.rdb.HGetAll(ctx, keyHashKey(hash)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if h["role"] == "" {
		return nil, nil
	}
	return &APIKey{ID: h["id"], Role: h["role"], Tenant: h["tenant"], CreatedAt: parseStamp(h["createdAt"])}, nil
}

// ListKeys lists the stored keys, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]APIKey, error) {
	index, err := s.rdb.HGetAll(ctx, keyIndexKey).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := []APIKey{}
	for _, hash := range index {
		k, err := s.LookupKey(ctx, hash)
		if err != nil {
			return nil, err
		}
		if k != nil {
			out = append(out, *k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// RevokeKey deletes a key; gateways stop accepting it once their cache of
// it expires (one second).
func (s *Store) RevokeKey(ctx context.Context, id string) error {
	hash, err := s.rdb.HGet(ctx, keyIndexKey, id).Result()
	if errors.Is(err, redis.Nil) {
		return errs.New(errs.NotFound, "not_found", "no key with id %s", id)
	}
	if err != nil {
		return unavailable(err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keyHashKey(hash))
		p.HDel(ctx, keyIndexKey, id)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}
