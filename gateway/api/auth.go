package api

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/clearway/clearway/customs/errs"
	"github.com/clearway/clearway/gateway/store"
	"github.com/labstack/echo/v4"
)

// Roles.
var roles = map[string]bool{"courier": true, "broker": true, "airport": true, "admin": true}

// Keys maps the SHA-256 of each API key to who holds it. Looking a key up
// by its hash compares no secret bytes directly, so timing reveals nothing
// about the keys held.
type Keys map[[32]byte]store.Scope

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
		if !roles[parts[0]] {
			return nil, fmt.Errorf("CLEARWAY_API_KEYS: unknown role %q (courier, broker, airport, admin)", parts[0])
		}
		if parts[1] == "*" && parts[0] != "admin" {
			return nil, fmt.Errorf("CLEARWAY_API_KEYS: only an admin's tenant may be *")
		}
		keys[sha256.Sum256([]byte(parts[2]))] = store.Scope{Role: parts[0], Tenant: parts[1]}
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

const scopeKey = "clearway.scope"

// authenticate resolves X-API-Key to the caller's scope.
func (k Keys) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Request().Header.Get("X-API-Key")
		if key == "" {
			return errs.New(errs.Unauthorized, "missing_api_key", "send your API key in the X-API-Key header")
		}
		sc, ok := k[sha256.Sum256([]byte(key))]
		if !ok {
			return errs.New(errs.Unauthorized, "unknown_api_key", "the API key is not valid")
		}
		c.Set(scopeKey, sc)
		return next(c)
	}
}

// allow restricts a route to roles.
func allow(rs ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			sc := scopeOf(c)
			for _, r := range rs {
				if sc.Role == r {
					return next(c)
				}
			}
			return errs.New(errs.Forbidden, "role_not_allowed", "the %s role may not use this endpoint", sc.Role)
		}
	}
}

func scopeOf(c echo.Context) store.Scope {
	sc, _ := c.Get(scopeKey).(store.Scope)
	return sc
}
