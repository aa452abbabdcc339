package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
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
	for _, field := range []string{store.ByLogisticsNo, store.ByOrderNo, store.ByCopNo, store.ByInvtNo, store.ByBillNo} {
		if v := q.Get(field); v != "" {
			if len(v) > 60 {
				return badQuery(field, "at most 60 characters")
			}
			rs, err := s.store.Find(c.Request().Context(), scopeOf(c), field, v)
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, store.Page{Declarations: rs})
		}
	}
	if v := q.Get("voyageNo"); v != "" {
		date := q.Get("date")
		if _, err := time.Parse("20060102", date); err != nil || len(v) > 32 {
			return badQuery("date", "a flight is voyageNo (≤32) with date as YYYYMMDD")
		}
		rs, err := s.store.Find(c.Request().Context(), scopeOf(c), store.ByFlight, store.FlightKey(v, date))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, store.Page{Declarations: rs})
	}
	lq := store.ListQuery{Status: customs.Status(q.Get("status")), TradeMode: q.Get("tradeMode"), Cursor: q.Get("cursor"), Limit: 50}
	if lq.Status != "" && !slices.Contains(customs.Statuses, lq.Status) {
		return badQuery("status", "one of the documented statuses")
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
	page, err := s.store.List(c.Request().Context(), scopeOf(c), lq)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

func badQuery(param, want string) error {
	return &errs.Error{Kind: errs.Invalid, Code: "bad_query", Detail: fmt.Sprintf("%s must be %s", param, want),
		Fields: []errs.FieldError{{Path: param, Code: "bad_format", Message: want}}}
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
