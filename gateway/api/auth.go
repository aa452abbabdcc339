package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/clearway/clearway/customs/errs"
	"github.com/clearway/clearway/gateway/store"
	"github.com/labstack/echo/v4"
)

// Keys are the API keys configured in CLEARWAY_API_KEYS (for development
// and bootstrap), by the hex SHA-256 of the key. Keys created with
// `clearway keys create` live in Redis, also only as hashes.
type Keys map[string]store.Scope

// ParseKeys reads CLEARWAY_API_KEYS: comma-separated role:tenant:key.
func ParseKeys(s string) (Keys, error) {
	keys := Keys{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.SplitN(entry, ":", 3)
		if len(parts) != 3 || parts[1] == "" || len(parts[2]) < 8 {
			return nil, fmt.Errorf("CLEARWAY_API_KEYS: %q is not role:tenant:key (key of 8 or more characters)", redact(entry))
		}
		if !store.ValidRole(parts[0]) {
			return nil, fmt.Errorf("CLEARWAY_API_KEYS: unknown role %q (%s)", parts[0], strings.Join(store.Roles, ", "))
		}
		if parts[1] == "*" && parts[0] != "admin" {
			return nil, fmt.Errorf("CLEARWAY_API_KEYS: only an admin's tenant may be *")
		}
		hash := store.KeyHash(parts[2])
		keys[hash] = store.Scope{Role: parts[0], Tenant: parts[1], KeyID: "env-" + store.KeyID(hash)}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("CLEARWAY_API_KEYS: no keys")
	}
	return keys, nil
}

func redact(entry string) string {
	if i := strings.LastIndex(entry, ":"); i >= 0 {
		return entry[:i+1] + "…"
	}
	return "…"
}

// authenticator resolves keys: configured ones first, then Redis. Answers
// from Redis are cached for at most keyCacheTTL, so a revoked key stops
// working within that time on every gateway.
type authenticator struct {
	env   Keys
	store *store.Store
	mu    sync.Mutex
	cache map[string]cachedKey
}

const keyCacheTTL = time.Second

type cachedKey struct {
	scope   store.Scope
	found   bool
	expires time.Time
}

func (a *authenticator) resolve(ctx context.Context, secret string) (store.Scope, bool, error) {
	hash := store.KeyHash(secret)
	// Keys are only ever compared as SHA-256 hashes: whatever a lookup's
	// timing reveals is about the hash, which says nothing of the key.
	if sc, ok := a.env[hash]; ok {
		return sc, true, nil
	}
	now := time.Now()
	a.mu.Lock()
	c, ok := a.cache[hash]
	a.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.scope, c.found, nil
	}
	k, err := a.store.LookupKey(ctx, hash)
	if err != nil {
		return store.Scope{}, false, err
	}
	c = cachedKey{expires: now.Add(keyCacheTTL)}
	if k != nil {
		c.scope, c.found = store.Scope{Role: k.Role, Tenant: k.Tenant, KeyID: k.ID}, true
	}
	a.mu.Lock()
	if len(a.cache) > 100000 { // bounded: guessing keys must not grow memory
		clear(a.cache)
	}
	a.cache[hash] = c
	a.mu.Unlock()
	return c.scope, c.found, nil
}

const scopeKey = "clearway.scope"

// authenticate resolves X-API-Key to the caller's scope.
func (a *authenticator) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret := c.Request().Header.Get("X-API-Key")
		if secret == "" {
			return errs.New(errs.Unauthorized, "missing_api_key", "send your API key in the X-API-Key header")
		}
		sc, ok, err := a.resolve(c.Request().Context(), secret)
		if err != nil {
			return err
		}
		if !ok {
			return errs.New(errs.Unauthorized, "unknown_api_key", "the API key is not valid or was revoked")
		}
		c.Set(scopeKey, sc)
		return next(c)
	}
}

func scopeOf(c echo.Context) store.Scope {
	sc, _ := c.Get(scopeKey).(store.Scope)
	return sc
}
