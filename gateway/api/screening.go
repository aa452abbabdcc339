package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/errs"
	"github.com/labstack/echo/v4"
)

// Screening is what the channel checks beyond the customs standard.
type Screening struct {
	// RealNameTenants are the couriers whose parcels must carry the
	// sender's identity (CLEARWAY_REALNAME_TENANTS; "*" for all).
	RealNameTenants []string
	HS              customs.HSRules // CLEARWAY_HS_PROHIBITED, CLEARWAY_HS_LICENSED
}

func (s Screening) rulesFor(tenant string) customs.Rules {
	return customs.Rules{RealName: slices.Contains(s.RealNameTenants, "*") || slices.Contains(s.RealNameTenants, tenant), HS: s.HS}
}

// screenBlacklist rejects the valid parcels that name a listed subject,
// and counts them in the day's statistics.
func (s *Server) screenBlacklist(ctx context.Context, m *customs.Manifest, results []ParcelResult, fresh []*customs.Declaration, idx []int) ([]*customs.Declaration, []int, error) {
	var probes []customs.BlacklistProbe
	var owner []int // position in fresh of each probe
	for j, i := range idx {
		for _, p := range customs.BlacklistProbes(&m.Parcels[i]) {
			probes, owner = append(probes, p), append(owner, j)
		}
	}
	reasons, err := s.store.MatchBlacklist(ctx, probes)
	if err != nil {
		return nil, nil, err
	}
	hit := map[int]bool{}
	counts := map[string]int{}
	for k, reason := range reasons {
		if reason == "" {
			continue
		}
		j := owner[k]
		r := &results[idx[j]]
		r.Result, r.DeclarationID = "rejected", ""
		r.Errors = append(r.Errors, errs.FieldError{Path: fmt.Sprintf("parcels[%d].%s", idx[j], probes[k].Field), Code: customs.CodeBlacklisted,
			Message: "listed as a dishonest subject (违法失信主体): " + reason})
		if !hit[j] {
			counts[probes[k].Kind]++
		}
		hit[j] = true
	}
	if len(hit) == 0 {
		return fresh, idx, nil
	}
	for kind, n := range counts {
		s.metrics.screened.WithLabelValues(kind).Add(float64(n))
	}
	day := time.Now().In(ceb.ChinaTime).Format("20060102")
	if err := s.store.CountScreened(ctx, day, counts); err != nil {
		return nil, nil, err
	}
	var keptDecls []*customs.Declaration
	var keptIdx []int
	for j := range fresh {
		if !hit[j] {
			keptDecls, keptIdx = append(keptDecls, fresh[j]), append(keptIdx, idx[j])
		}
	}
	return keptDecls, keptIdx, nil
}

type blacklistRequest struct {
	Kind   string `json:"kind"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

func (s *Server) listBlacklist(c echo.Context) error {
	entries, err := s.store.ListBlacklist(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries})
}

func (s *Server) addBlacklist(c echo.Context) error {
	var req blacklistRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		return err
	}
	e, err := s.store.AddBlacklist(c.Request().Context(), req.Kind, req.Value, req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, e)
}

func (s *Server) removeBlacklist(c echo.Context) error {
	if err := s.store.RemoveBlacklist(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
