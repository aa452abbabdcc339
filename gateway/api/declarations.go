package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/gateway/store"

	"github.com/clearway/clearway/customs/errs"
	"github.com/labstack/echo/v4"
)

func (s *Server) getDeclaration(c echo.Context) error {
	r, err := s.store.Get(c.Request().Context(), scopeOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// findDeclarations finds declarations by any number a broker or courier
// holds (one of logisticsNo, orderNo, copNo, invtNo, billNo, or voyageNo
// with date), or lists them newest first with filters and a cursor.
func (s *Server) findDeclarations(c echo.Context) error {
	q := c.QueryParams()
	if err := onlyParams(q, listParams); err != nil {
		return err
	}
	if q.Has("date") != q.Has("voyageNo") {
		return badQuery("date", "given with voyageNo, and only with it")
	}
	lq := store.ListQuery{Status: customs.Status(q.Get("status")), TradeMode: q.Get("tradeMode"), Cursor: q.Get("cursor"), Limit: 50}
	if lq.Status != "" && !slices.Contains(customs.Statuses, lq.Status) {
		return badQuery("status", "one of the documented statuses")
	}
	if lq.TradeMode != "" && !customs.KnownTradeMode(lq.TradeMode) {
		return badQuery("tradeMode", "9610, 1210, 9710 or 9810")
	}
	if len(lq.Cursor) > 200 {
		return badQuery("cursor", "the next value of a previous page")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return badQuery("limit", "a whole number from 1 to 500")
		}
		lq.Limit = n
	}
	for name, t := range map[string]*time.Time{"from": &lq.From, "to": &lq.To} {
		if v := q.Get(name); v != "" {
			parsed, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return badQuery(name, "an RFC 3339 time such as 2026-11-28T08:00:00+08:00")
			}
			*t = parsed
		}
	}
	field, value := "", ""
	for _, f := range []string{store.ByLogisticsNo, store.ByOrderNo, store.ByCopNo, store.ByInvtNo, store.ByBillNo, "voyageNo"} {
		if v := q.Get(f); v != "" {
			if field != "" {
				return badQuery(f, "alone: look up by one number at a time")
			}
			field, value = f, v
		}
	}
	if field == "" {
		page, err := s.store.List(c.Request().Context(), scopeOf(c), lq)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, page)
	}
	if len(q) > 1 && !(field == "voyageNo" && len(q) == 2) {
		return badQuery(field, "alone: a lookup takes no list filters")
	}
	if len(value) > 60 {
		return badQuery(field, "at most 60 characters")
	}
	if field == "voyageNo" {
		date := q.Get("date")
		if _, err := time.Parse("20060102", date); err != nil || len(value) > 32 {
			return badQuery("date", "a flight is voyageNo (≤32) with date as YYYYMMDD")
		}
		field, value = store.ByFlight, store.FlightKey(value, date)
	}
	rs, err := s.store.Find(c.Request().Context(), scopeOf(c), field, value)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, store.Page{Declarations: rs})
}

// listParams are the query parameters findDeclarations takes.
var listParams = []string{store.ByLogisticsNo, store.ByOrderNo, store.ByCopNo, store.ByInvtNo, store.ByBillNo, "voyageNo", "date",
	"status", "tradeMode", "from", "to", "limit", "cursor"}

// onlyParams refuses query parameters not in allowed, repeated or empty.
func onlyParams(q map[string][]string, allowed []string) error {
	for name, vs := range q {
		switch {
		case !slices.Contains(allowed, name):
			if len(allowed) == 0 {
				return badQuery(name, "absent: this endpoint takes no query parameters")
			}
			return badQuery(name, "one of "+strings.Join(allowed, ", "))
		case len(vs) != 1 || vs[0] == "":
			return badQuery(name, "given once, with a value")
		}
	}
	return nil
}

// badQuery refuses a query parameter; invalidField a field of the body.
func badQuery(param, want string) error     { return invalid("bad_query", param, want) }
func invalidField(field, want string) error { return invalid("invalid_field", field, want) }

func invalid(code, path, want string) error {
	return &errs.Error{Kind: errs.Invalid, Code: code, Detail: fmt.Sprintf("%s must be %s", path, want),
		Fields: []errs.FieldError{{Path: path, Code: "bad_format", Message: want}}}
}

func (s *Server) getMessages(c echo.Context) error {
	ms, err := s.store.Messages(c.Request().Context(), scopeOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"declarationId": c.Param("id"), "messages": ms})
}

func (s *Server) getManifest(c echo.Context) error {
	m, err := s.store.GetManifest(c.Request().Context(), scopeOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}
