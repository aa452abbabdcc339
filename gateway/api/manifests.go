package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/errs"
	"github.com/clearway/clearway/customs/sheet"
	"github.com/clearway/clearway/gateway/store"
	"github.com/labstack/echo/v4"
	"github.com/segmentio/kafka-go"
)

// ParcelResult is what became of one posted parcel.
type ParcelResult struct {
	Index         int               `json:"index"`
	Row           int               `json:"row,omitempty"` // for a spreadsheet: the parcel's first row
	LogisticsNo   string            `json:"logisticsNo"`
	DeclarationID string            `json:"declarationId,omitempty"`
	Result        string            `json:"result"` // accepted, duplicate, rejected
	Errors        []errs.FieldError `json:"errors,omitempty"`
}

// ManifestReceipt is the 202 answer to a manifest.
type ManifestReceipt struct {
	ManifestID string         `json:"manifestId"`
	ManifestNo string         `json:"manifestNo"`
	Accepted   int            `json:"accepted"`
	Duplicates int            `json:"duplicates"`
	Rejected   int            `json:"rejected"`
	Parcels    []ParcelResult `json:"parcels"`
}

func (s *Server) postManifest(c echo.Context) error {
	tenant := scopeOf(c).Tenant
	if tenant == "*" {
		return errs.New(errs.Invalid, "tenant_required", "an all-tenant admin key cannot post manifests; use the courier's key")
	}
	m, sh, err := s.readManifest(c)
	if err != nil {
		return err
	}
	if fields := customs.CheckManifest(m); len(fields) > 0 {
		return &errs.Error{Kind: errs.Unprocessable, Code: "invalid_manifest", Detail: "the manifest's own fields are invalid; no parcel was accepted", Fields: fields}
	}

	results, fresh, freshIdx := s.declare(m, tenant, s.cfg.Screening.rulesFor(tenant))
	if len(fresh) > 0 {
		fresh, freshIdx, err = s.screenBlacklist(c.Request().Context(), m, results, fresh, freshIdx)
		if err != nil {
			return err
		}
	}
	if len(fresh) > 0 {
		if err := s.claimAndPublish(c.Request().Context(), results, fresh, freshIdx); err != nil {
			return err
		}
	}

	if sh != nil {
		for i := range results {
			results[i].Row = sh.Row(results[i].Index)
			for k, fe := range results[i].Errors {
				results[i].Errors[k] = sh.Locate(fe)
			}
		}
	}
	rec := ManifestReceipt{ManifestID: customs.ManifestID(tenant, m.ManifestNo), ManifestNo: m.ManifestNo, Parcels: results}
	for _, r := range results {
		switch r.Result {
		case "accepted":
			rec.Accepted++
		case "duplicate":
			rec.Duplicates++
		default:
			rec.Rejected++
		}
	}
	s.metrics.parcels.WithLabelValues("accepted").Add(float64(rec.Accepted))
	s.metrics.parcels.WithLabelValues("duplicate").Add(float64(rec.Duplicates))
	s.metrics.parcels.WithLabelValues("rejected").Add(float64(rec.Rejected))
	if rec.Accepted+rec.Duplicates == 0 {
		var fields []errs.FieldError
		for _, r := range results {
			fields = append(fields, r.Errors...)
		}
		return &errs.Error{Kind: errs.Unprocessable, Code: "no_valid_parcel", Detail: fmt.Sprintf("none of the %d parcels can be declared", len(results)),
			Fields: fields, Extra: map[string]any{"manifestNo": m.ManifestNo, "parcels": results}}
	}
	return c.JSON(http.StatusAccepted, rec)
}

// claimAndPublish reserves the valid parcels, publishes the new ones and
// marks each parcel's result: accepted, duplicate, or rejected for a copNo
// its agent already used.
func (s *Server) claimAndPublish(ctx context.Context, results []ParcelResult, fresh []*customs.Declaration, freshIdx []int) error {
	outcome, ids, err := s.store.Claim(ctx, fresh)
	if err != nil {
		return err
	}
	var claimed []*customs.Declaration
	var claimedIdx []int
	var inFlight []string
	for j, d := range fresh {
		if outcome[j] == store.ClaimInFlight {
			inFlight = append(inFlight, d.Head.LogisticsNo)
		}
	}
	if len(inFlight) > 0 {
		// Answer nothing for any parcel rather than "duplicate" for one
		// that may never have reached Kafka: give back what this request
		// reserved, and let the courier retry.
		var mine []*customs.Declaration
		for j, d := range fresh {
			if outcome[j] == store.ClaimNew {
				mine = append(mine, d)
			}
		}
		if err := s.store.Release(ctx, mine); err != nil {
			return err
		}
		return &errs.Error{Kind: errs.Unavailable, Code: "parcels_in_flight", RetryAfter: 5,
			Detail: fmt.Sprintf("%d parcels (first %s) are being declared by an earlier request that has not finished; retry the same manifest", len(inFlight), inFlight[0])}
	}
	for j, d := range fresh {
		r := &results[freshIdx[j]]
		switch outcome[j] {
		case store.ClaimNew:
			claimed, claimedIdx = append(claimed, d), append(claimedIdx, freshIdx[j])
		case store.ClaimExisting:
			r.Result, r.DeclarationID = "duplicate", ids[j]
		case store.ClaimConflict:
			r.Result, r.DeclarationID = "rejected", ""
			r.Errors = []errs.FieldError{{Path: fmt.Sprintf("parcels[%d].copNo", r.Index), Code: customs.CodeDuplicateCopNo,
				Message: fmt.Sprintf("agent %s has already declared copNo %s for another parcel", d.Head.AgentCode, d.Head.CopNo)}}
		}
	}
	if err := s.publish(ctx, claimed); err != nil {
		return err
	}
	for _, i := range claimedIdx {
		results[i].Result = "accepted"
	}
	return nil
}

// declare validates every parcel and returns the results so far and the
// valid declarations (with their indexes).
func (s *Server) declare(m *customs.Manifest, tenant string, rules customs.Rules) ([]ParcelResult, []*customs.Declaration, []int) {
	today := time.Now().In(ceb.ChinaTime).Format("20060102")
	acceptedAt := time.Now().UTC()
	results := make([]ParcelResult, len(m.Parcels))
	var fresh []*customs.Declaration
	var idx []int
	seenLogistics := make(map[string]int, len(m.Parcels))
	seenID := make(map[string]int, len(m.Parcels))
	for i := range m.Parcels {
		p := &m.Parcels[i]
		r := &results[i]
		r.Index, r.LogisticsNo, r.Result = i, p.LogisticsNo, "rejected"
		d, fields := customs.Declare(m, i, tenant, today, rules)
		if len(fields) == 0 {
			if j, dup := seenLogistics[p.LogisticsNo]; dup {
				fields = append(fields, errs.FieldError{Path: fmt.Sprintf("parcels[%d].logisticsNo", i), Code: customs.CodeDuplicate, Message: fmt.Sprintf("logisticsNo repeats parcels[%d]", j)})
			} else if j, dup := seenID[d.ID]; dup {
				fields = append(fields, errs.FieldError{Path: fmt.Sprintf("parcels[%d].copNo", i), Code: customs.CodeDuplicate, Message: fmt.Sprintf("agentCode and copNo repeat parcels[%d]", j)})
			}
		}
		if len(fields) > 0 {
			r.Errors = fields
			continue
		}
		seenLogistics[p.LogisticsNo], seenID[d.ID] = i, i
		d.AcceptedAt = acceptedAt
		d.Waybill = slices.Contains(s.cfg.WaybillTenants, "*") || slices.Contains(s.cfg.WaybillTenants, tenant)
		r.DeclarationID = d.ID
		fresh, idx = append(fresh, &d), append(idx, i)
	}
	return results, fresh, idx
}

// publish writes the declarations to Kafka in one call and records them
// once Kafka acknowledged. If Kafka cannot take them the claims are given
// up and the caller gets 503: nothing was accepted.
func (s *Server) publish(ctx context.Context, decls []*customs.Declaration) error {
	if len(decls) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(decls))
	for i, d := range decls {
		m, err := bus.DeclarationMessage(d)
		if err != nil {
			return err
		}
		msgs[i] = m
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	err := s.kafka.WriteMessages(pctx, msgs...)
	cancel()
	if err != nil {
		// Messages Kafka did take will be declared: record them so the
		// courier's retry finds them as duplicates, and release the rest.
		var werrs kafka.WriteErrors
		var written, failed []*customs.Declaration
		if errors.As(err, &werrs) && len(werrs) == len(decls) {
			for i, werr := range werrs {
				if werr == nil {
					written = append(written, decls[i])
				} else {
					failed = append(failed, decls[i])
				}
			}
		} else {
			failed = decls
		}
		cleanup := context.WithoutCancel(ctx)
		if len(written) > 0 {
			_ = s.store.Create(cleanup, written)
		}
		_ = s.store.Release(cleanup, failed)
		return &errs.Error{Kind: errs.Unavailable, Code: "kafka_unavailable", RetryAfter: 5, Err: err,
			Detail: "the declaration queue did not acknowledge the parcels; none of this request's new parcels were accepted, retry the same manifest"}
	}
	if err := s.store.Create(context.WithoutCancel(ctx), decls); err != nil {
		// Kafka has them, so they are accepted; the tracker records them
		// from Kafka shortly.
		s.log.Warn("recording accepted declarations failed; the tracker will record them from Kafka", "count", len(decls), "err", err)
	}
	return nil
}

// Spreadsheet media types a manifest may come in besides JSON.
const (
	mediaCSV  = "text/csv"
	mediaXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// readManifest reads a manifest as JSON, CSV or Excel. A spreadsheet's
// manifest fields come as query parameters (manifestNo, customsCode,
// portCode, ieDate, trafMode, trafName, voyageNo, billNo); the returned
// sheet locates errors by row and column.
func (s *Server) readManifest(c echo.Context) (*customs.Manifest, *sheet.Sheet, error) {
	mt, params, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	var sh *sheet.Sheet
	switch mt {
	case mediaCSV, mediaXLSX:
		body, err := readBody(c, s.cfg.MaxBodyBytes)
		if err != nil {
			return nil, nil, err
		}
		if mt == mediaCSV {
			sh, err = sheet.ParseCSV(body, params["charset"])
		} else {
			sh, err = sheet.ParseXLSX(body)
		}
		if err != nil {
			return nil, nil, err
		}
	default:
		var m customs.Manifest
		if err := decodeJSON(c, s.cfg.MaxBodyBytes, &m); err != nil {
			return nil, nil, err
		}
		if len(m.Parcels) > customs.MaxParcels {
			return nil, nil, errs.New(errs.TooLarge, "too_many_parcels", "a manifest carries at most %d parcels, this one has %d; split it", customs.MaxParcels, len(m.Parcels))
		}
		return &m, nil, nil
	}
	q := c.QueryParams()
	m := &sh.Manifest
	m.ManifestNo, m.CustomsCode, m.PortCode, m.IeDate = q.Get("manifestNo"), q.Get("customsCode"), q.Get("portCode"), q.Get("ieDate")
	if t := (customs.Transport{TrafMode: q.Get("trafMode"), TrafName: q.Get("trafName"), VoyageNo: q.Get("voyageNo"), BillNo: q.Get("billNo")}); t != (customs.Transport{}) {
		m.Transport = &t
	}
	return m, sh, nil
}

// readBody reads a request body of at most limit bytes.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	req := c.Request()
	if req.ContentLength > limit {
		return nil, errs.New(errs.TooLarge, "body_too_large", "the body of %d bytes is over the limit of %d bytes", req.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, limit))
	if err != nil {
		return nil, decodeError(err, limit, nil)
	}
	return body, nil
}

// decodeJSON reads one JSON value into v: application/json only, at most
// limit bytes, no unknown fields, nothing after it.
func decodeJSON(c echo.Context, limit int64, v any) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return errs.New(errs.Unsupported, "unsupported_media_type", "send application/json (manifests also take text/csv and .xlsx); got %q", ct)
	}
	body, err := readBody(c, limit)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit, body)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errs.New(errs.Invalid, "malformed_json", "the body holds more than one JSON value")
	}
	return nil
}

// decodeError explains why a manifest body could not be decoded.
func decodeError(err error, limit int64, body []byte) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errs.New(errs.TooLarge, "body_too_large", "the body is over the limit of %d bytes", limit)
	case errors.As(err, &syntax):
		return errs.New(errs.Invalid, "malformed_json", "the body is not valid JSON: %v (at byte %d)", syntax, syntax.Offset)
	case errors.As(err, &typ):
		path := typ.Field
		if path == "" {
			path = "(root)"
		}
		return &errs.Error{Kind: errs.Invalid, Code: "wrong_type", Detail: fmt.Sprintf("%s must be a %s, not a JSON %s", path, typ.Type, typ.Value),
			Fields: []errs.FieldError{{Path: path, Code: "wrong_type", Message: fmt.Sprintf("expected %s, got %s", typ.Type, typ.Value)}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		path := unknownFieldPath(body, field)
		return &errs.Error{Kind: errs.Invalid, Code: "unknown_field", Detail: fmt.Sprintf("unknown field %s; field names keep their CEB spelling", path),
			Fields: []errs.FieldError{{Path: path, Code: "unknown_field", Message: "not a known field"}}}
	case errors.Is(err, io.EOF):
		return errs.New(errs.Invalid, "malformed_json", "the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.New(errs.Invalid, "malformed_json", "the body ends in the middle of a JSON value")
	}
	return &errs.Error{Kind: errs.Invalid, Code: "malformed_json", Detail: "the body could not be decoded as a manifest", Err: err}
}

// unknownFieldPath finds where in body the unknown field stands, as a JSON
// path (parcels[3].items[0].colour), so a courier with 10,000 parcels
// knows which one to fix. The decoder only names the field.
func unknownFieldPath(body []byte, field string) string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return field
	}
	var walk func(v any, path string) string
	walk = func(v any, path string) string {
		switch t := v.(type) {
		case map[string]any:
			if _, ok := t[field]; ok {
				return strings.TrimPrefix(path+"."+field, ".")
			}
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if p := walk(t[k], path+"."+k); p != "" {
					return p
				}
			}
		case []any:
			for i, e := range t {
				if p := walk(e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
					return p
				}
			}
		}
		return ""
	}
	if p := walk(doc, ""); p != "" {
		return p
	}
	return field
}
