package api

import (
	"github.com/clearway/clearway/customs/errs"
	"github.com/labstack/echo/v4"
)

// policy is the role × endpoint matrix, and the one place it is enforced.
// Which tenant's data a role sees is decided in the store's queries
// (store.Scope.Sees): a courier its own, a broker what it declares as
// agent, the airport and an all-tenant admin everything. A route missing
// here is refused for everyone, so a new endpoint fails closed.
var policy = map[string][]string{
	"POST /v1/manifests":                  {"courier", "admin"},
	"GET /v1/manifests/:id":               {"courier", "airport", "admin"},
	"GET /v1/declarations":                {"courier", "broker", "airport", "admin"},
	"GET /v1/declarations/:id":            {"courier", "broker", "airport", "admin"},
	"GET /v1/declarations/:id/messages":   {"courier", "broker", "admin"},
	"POST /v1/webhooks":                   {"courier", "broker", "airport", "admin"},
	"GET /v1/webhooks":                    {"courier", "broker", "airport", "admin"},
	"DELETE /v1/webhooks/:id":             {"courier", "broker", "airport", "admin"},
	"POST /v1/admin/webhooks/:id/unblock": {"admin"},
	"GET /v1/events":                      {"courier", "broker", "airport", "admin"},
	"GET /v1/admin/blacklist":             {"admin"},
	"POST /v1/admin/blacklist":            {"admin"},
	"DELETE /v1/admin/blacklist/:id":      {"admin"},
	"GET /v1/stats/green-channel":         {"airport", "admin"},
	"GET /v1/flights":                     {"airport", "admin"},
	"GET /v1/flights/:voyageNo/:date":     {"airport", "admin"},
	"POST /v1/arrivals":                   {"airport", "admin"},
	"POST /v1/consolidations":             {"courier", "admin"},
	"POST /v1/departures":                 {"courier", "admin"},
	"POST /v1/declarations/:id/cancel":    {"courier", "broker", "admin"},
	"POST /v1/summaries":                  {"broker"},
	"GET /v1/documents/:id":               {"courier", "broker", "airport", "admin"},
}

// Policy returns the matrix, for documentation and tests.
func Policy() map[string][]string { return policy }

// authorize enforces policy for the matched route.
func authorize(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sc := scopeOf(c)
		for _, role := range policy[c.Request().Method+" "+c.Path()] {
			if role == sc.Role {
				return next(c)
			}
		}
		return errs.New(errs.Forbidden, "role_not_allowed", "the %s role may not use %s %s", sc.Role, c.Request().Method, c.Path())
	}
}
