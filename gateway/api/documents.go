package api

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/errs"
	"github.com/clearway/clearway/gateway/store"
	"github.com/labstack/echo/v4"
	"github.com/segmentio/kafka-go"
)

// maxDocParcels bounds the parcels one document request may list.
const maxDocParcels = 50000

// DocumentReceipt answers a document accepted for sending.
type DocumentReceipt struct {
	DocumentID string `json:"documentId"`
	Kind       string `json:"kind"`
	CopNo      string `json:"copNo"`
	Parts      int    `json:"parts"`
	Parcels    int    `json:"parcels"`
	Status     string `json:"status"`
	Location   string `json:"location"`
}

// sendDocuments checks documents, records them, publishes every part of
// each to clearway.documents.v1, in the same write as events (the
// arrival's own), and answers 202 once Kafka has them all. Nothing is
// recorded or published unless every document passes. Posting the same
// document again sends nothing new: its parts carry the same guids, which
// customs takes once.
func (s *Server) sendDocuments(c echo.Context, docs []*customs.Document, extra map[string]any, events ...kafka.Message) error {
	for _, d := range docs {
		if fields := customs.CheckDocument(d); len(fields) > 0 {
			return &errs.Error{Kind: errs.Unprocessable, Code: "invalid_document", Detail: "the " + string(d.Kind) + " breaks the customs rules named in fields", Fields: fields}
		}
	}
	ctx := c.Request().Context()
	msgs := events
	receipts := make([]DocumentReceipt, len(docs))
	for i, d := range docs {
		sum := digest(d)
		d.Digest, d.AcceptedAt, d.ParcelCount = hex.EncodeToString(sum[:16]), time.Now().UTC(), len(d.Parcels)
		parts := d.Parts()
		d.MsgCount = len(parts)
		if err := s.store.CreateDocument(ctx, d); err != nil {
			return err
		}
		for j := range parts {
			m, err := bus.DocumentMessage(&parts[j])
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		receipts[i] = DocumentReceipt{DocumentID: d.ID, Kind: string(d.Kind), CopNo: d.CopNo, Parts: len(parts), Parcels: len(d.Parcels),
			Status: string(customs.Accepted), Location: "/v1/documents/" + d.ID}
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	if err := s.kafka.WriteMessages(pctx, msgs...); err != nil {
		return &errs.Error{Kind: errs.Unavailable, Code: "kafka_unavailable", RetryAfter: 5, Err: err,
			Detail: "nothing was recorded or queued for customs; retry the same request (sending it twice changes nothing)"}
	}
	if len(receipts) == 1 && extra == nil {
		c.Response().Header().Set(echo.HeaderLocation, receipts[0].Location)
		return c.JSON(http.StatusAccepted, receipts[0])
	}
	out := map[string]any{"documents": receipts}
	for k, v := range extra {
		out[k] = v
	}
	return c.JSON(http.StatusAccepted, out)
}

// digest is what a document says as its sender said it: its parcels'
// customs numbers (invtNo), which arrive meanwhile, left out, so posting it
// again digests the same.
func digest(d *customs.Document) [sha256.Size]byte {
	said := *d
	said.Parcels = slices.Clone(d.Parcels)
	for i := range said.Parcels {
		said.Parcels[i].InvtNo = ""
	}
	body, _ := json.Marshal(said)
	return sha256.Sum256(body)
}

// getDocument answers where a document stands with customs.
func (s *Server) getDocument(c echo.Context) error {
	if err := onlyParams(c.QueryParams(), nil); err != nil {
		return err
	}
	d, err := s.store.GetDocument(c.Request().Context(), scopeOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// consolidationRequest is a courier's 清单总分单 (CEB607): its parcels
// bound to a flight and a master air waybill, optionally in bags.
type consolidationRequest struct {
	CopNo          string          `json:"copNo"`
	CustomsCode    string          `json:"customsCode"`
	AgentCode      string          `json:"agentCode"`
	AgentName      string          `json:"agentName"`
	LoctNo         string          `json:"loctNo"`
	TrafMode       string          `json:"trafMode"`
	TrafName       string          `json:"trafName"`
	VoyageNo       string          `json:"voyageNo"`
	BillNo         string          `json:"billNo"`
	DomesticTrafNo string          `json:"domesticTrafNo"`
	GrossWeight    customs.Decimal `json:"grossWeight"`
	LogisticsCode  string          `json:"logisticsCode"`
	LogisticsName  string          `json:"logisticsName"`
	Note           string          `json:"note"`
	Parcels        []struct {
		LogisticsNo    string `json:"logisticsNo"`
		TotalPackageNo string `json:"totalPackageNo"`
	} `json:"parcels"`
}

// postConsolidation sends a CEB607 for parcels the courier declared; copNo
// defaults to the master air waybill's number.
func (s *Server) postConsolidation(c echo.Context) error {
	var req consolidationRequest
	if err := decodeJSON(c, docBodyBytes, &req); err != nil {
		return err
	}
	if len(req.Parcels) == 0 || len(req.Parcels) > maxDocParcels {
		return invalidField("parcels", "1 to 50,000 parcels")
	}
	sc := scopeOf(c)
	nos := make([]string, len(req.Parcels))
	for i, p := range req.Parcels {
		nos[i] = p.LogisticsNo
	}
	found, err := s.parcelsByLogisticsNo(c.Request().Context(), sc, nos)
	if err != nil {
		return err
	}
	d := &customs.Document{Kind: customs.DocConsolidation, Tenant: sc.Tenant, CopNo: cmp.Or(req.CopNo, req.BillNo),
		CustomsCode: cmp.Or(req.CustomsCode, found[0].CustomsCode), AgentCode: cmp.Or(req.AgentCode, found[0].AgentCode),
		AgentName: cmp.Or(req.AgentName, found[0].AgentName), LoctNo: req.LoctNo, TrafMode: cmp.Or(req.TrafMode, "5"), TrafName: req.TrafName,
		VoyageNo: req.VoyageNo, BillNo: req.BillNo, DomesticTrafNo: req.DomesticTrafNo, GrossWeight: req.GrossWeight,
		LogisticsCode: cmp.Or(req.LogisticsCode, found[0].LogisticsCode), LogisticsName: cmp.Or(req.LogisticsName, found[0].LogisticsName), Note: req.Note}
	d.ID = customs.DocumentID(d.Kind, d.Tenant, d.CopNo)
	for i, p := range found {
		d.Parcels = append(d.Parcels, customs.DocParcel{DeclarationID: p.ID, LogisticsNo: p.LogisticsNo, TotalPackageNo: req.Parcels[i].TotalPackageNo, InvtNo: p.InvtNo})
	}
	return s.sendDocuments(c, []*customs.Document{d}, nil)
}

// parcelsByLogisticsNo finds the courier's declarations of logisticsNos,
// in order, or names every logisticsNo it did not declare.
func (s *Server) parcelsByLogisticsNo(ctx context.Context, sc store.Scope, nos []string) ([]store.Parcel, error) {
	ids, err := s.store.ClaimedIDs(ctx, sc.Tenant, nos)
	if err != nil {
		return nil, err
	}
	parcels, err := s.store.Parcels(ctx, sc, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]store.Parcel, len(parcels))
	for _, p := range parcels {
		byID[p.ID] = p
	}
	out := make([]store.Parcel, len(nos))
	var fields []errs.FieldError
	for i, id := range ids {
		p, ok := byID[id]
		switch {
		case !ok:
			fields = append(fields, errs.FieldError{Path: "parcels[" + strconv.Itoa(i) + "].logisticsNo", Code: "unknown_parcel", Message: "no declaration of yours has logisticsNo " + nos[i]})
		case p.Status == customs.Rejected || p.Status == customs.Cancelled || p.Status == customs.Detained || p.Status == customs.Returned:
			fields = append(fields, errs.FieldError{Path: "parcels[" + strconv.Itoa(i) + "].logisticsNo", Code: "not_leaving", Message: "parcel " + nos[i] + " is " + string(p.Status) + " and cannot be bound to a flight"})
		}
		out[i] = p
	}
	if len(fields) > 0 {
		return nil, &errs.Error{Kind: errs.Unprocessable, Code: "unknown_parcels", Detail: "some parcels cannot be listed; see fields", Fields: fields}
	}
	return out, nil
}

// groupByWaybill splits a flight's parcels into one document per courier
// and master air waybill, as CEB507 and CEB509 heads carry one of each.
// Each one's copNo is its kind's letter, the date, and a digest of the
// flight, courier, waybill and parcels: the same request names the same
// document, and one made after more parcels joined the flight a new one.
func groupByWaybill(kind customs.DocKind, letter, date, voyageNo, tenant string, parcels []store.Parcel, head func(d *customs.Document)) []*customs.Document {
	byKey := map[string]*customs.Document{}
	var docs []*customs.Document
	for _, p := range parcels {
		key := p.LogisticsCode + "\x00" + p.BillNo
		d, ok := byKey[key]
		if !ok {
			d = &customs.Document{Kind: kind, Tenant: tenant, LogisticsCode: p.LogisticsCode, LogisticsName: p.LogisticsName, BillNo: p.BillNo,
				CustomsCode: p.CustomsCode, VoyageNo: voyageNo}
			head(d)
			byKey[key] = d
			docs = append(docs, d)
		}
		d.Parcels = append(d.Parcels, customs.DocParcel{DeclarationID: p.ID, LogisticsNo: p.LogisticsNo, InvtNo: p.InvtNo})
	}
	for _, d := range docs {
		named := []string{voyageNo, d.LogisticsCode, d.BillNo}
		for _, p := range d.Parcels {
			named = append(named, p.DeclarationID)
		}
		d.CopNo = digestCopNo(letter, date, named...)
		d.ID = customs.DocumentID(kind, tenant, d.CopNo)
	}
	return docs
}

// digestCopNo is a copNo Clearway makes: a letter, a date and a digest of
// what names the document. At most 30 characters.
func digestCopNo(letter, date string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return letter + date + strings.ToUpper(hex.EncodeToString(sum[:6]))
}

// departureRequest: the courier's flight has left (CEB509).
type departureRequest struct {
	VoyageNo  string    `json:"voyageNo"`
	Date      string    `json:"date"`
	LeaveTime time.Time `json:"leaveTime"`
	TrafMode  string    `json:"trafMode"`
	TrafName  string    `json:"trafName"`
	Note      string    `json:"note"`
}

// postDeparture sends a CEB509 for the courier's released parcels on the
// flight, one per master air waybill; customs then clears them (899).
func (s *Server) postDeparture(c echo.Context) error {
	var req departureRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		return err
	}
	d, err := flightDate(req.VoyageNo, req.Date)
	if err != nil {
		return err
	}
	if req.LeaveTime.IsZero() || req.LeaveTime.After(time.Now().Add(5*time.Minute)) {
		return invalidField("leaveTime", "when the flight left: an RFC 3339 time, not in the future")
	}
	ctx, sc := c.Request().Context(), scopeOf(c)
	parcels, err := s.flightParcels(ctx, sc, req.VoyageNo, d)
	if err != nil {
		return err
	}
	leaving := slices.DeleteFunc(slices.Clone(parcels), func(p store.Parcel) bool { return p.Status != customs.Released && p.Status != customs.Cleared })
	if len(leaving) == 0 {
		return errs.New(errs.Unprocessable, "nothing_released", "none of your %d parcels on flight %s of %s is released; customs clears only released parcels on departure", len(parcels), req.VoyageNo, req.Date)
	}
	date := d.Format("20060102")
	docs := groupByWaybill(customs.DocDeparture, "D", date, req.VoyageNo, sc.Tenant, leaving, func(doc *customs.Document) {
		doc.TrafMode, doc.TrafName, doc.Note = cmp.Or(req.TrafMode, "5"), req.TrafName, req.Note
		doc.LeaveTime = req.LeaveTime.In(ceb.ChinaTime).Format("20060102150405")
	})
	return s.sendDocuments(c, docs, map[string]any{"voyageNo": req.VoyageNo, "date": req.Date, "leaving": len(leaving), "notReleased": len(parcels) - len(leaving)})
}

// flightParcels are the parcels on a flight the scope may see.
func (s *Server) flightParcels(ctx context.Context, sc store.Scope, voyageNo string, date time.Time) ([]store.Parcel, error) {
	ids, err := s.store.FlightDeclarations(ctx, voyageNo, date.Format("20060102"))
	if err != nil {
		return nil, err
	}
	parcels, err := s.store.Parcels(ctx, sc, ids)
	if err != nil {
		return nil, err
	}
	if len(parcels) == 0 {
		return nil, errs.New(errs.NotFound, "not_found", "no parcels of yours are bound to flight %s on %s", voyageNo, date.Format(time.DateOnly))
	}
	return parcels, nil
}

// cancelRequest: why the agent withdraws an inventory (CEB605).
type cancelRequest struct {
	Reason string `json:"reason"`
	Note   string `json:"note"`
}

// cancellable: customs cancels an inventory it has numbered and not yet
// cleared (结关) or ended.
func cancellable(s customs.Status) bool {
	return s == customs.InReview || s == customs.Inspection || s == customs.Released
}

// postCancel sends a CEB605 for one declaration.
func (s *Server) postCancel(c echo.Context) error {
	var req cancelRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		return err
	}
	ctx, sc := c.Request().Context(), scopeOf(c)
	ps, err := s.store.Parcels(ctx, sc, []string{c.Param("id")})
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return errs.New(errs.NotFound, "not_found", "no such declaration")
	}
	p := ps[0]
	if !cancellable(p.Status) || p.InvtNo == "" {
		return errs.New(errs.Conflict, "not_cancellable", "the declaration is %s; customs cancels only an inventory it has numbered (invtNo) and not yet cleared: in_review, inspection or released", p.Status)
	}
	d := &customs.Document{Kind: customs.DocCancel, Tenant: p.Tenant, CopNo: p.CopNo, CustomsCode: p.CustomsCode, InvtNo: p.InvtNo,
		Reason: req.Reason, AgentCode: p.AgentCode, AgentName: p.AgentName, EbcCode: p.EbcCode, EbcName: p.EbcName, Note: req.Note,
		Parcels: []customs.DocParcel{{DeclarationID: p.ID, LogisticsNo: p.LogisticsNo, InvtNo: p.InvtNo}}}
	d.ID = customs.DocumentID(d.Kind, d.Tenant, d.CopNo)
	return s.sendDocuments(c, []*customs.Document{d}, nil)
}

// summaryRequest: one seller's released B-flag inventories of a period,
// summarised into a customs declaration (CEB701).
type summaryRequest struct {
	EbcCode       string `json:"ebcCode"`
	From          string `json:"from"`
	To            string `json:"to"`
	CustomsCode   string `json:"customsCode"`
	DeclAgentCode string `json:"declAgentCode"`
	DeclAgentName string `json:"declAgentName"`
	LoctNo        string `json:"loctNo"`
	ItemNameFlag  string `json:"itemNameFlag"`
	CopNo         string `json:"copNo"`
	Note          string `json:"note"`
}

// postSummary sends a CEB701 for the broker's released or cleared B-flag
// inventories of one seller accepted between from and to (dates, China
// time, inclusive).
func (s *Server) postSummary(c echo.Context) error {
	var req summaryRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		return err
	}
	from, err := time.ParseInLocation(time.DateOnly, req.From, ceb.ChinaTime)
	if err != nil {
		return invalidField("from", "the period's first day as YYYY-MM-DD")
	}
	to, err := time.ParseInLocation(time.DateOnly, req.To, ceb.ChinaTime)
	if err != nil || to.Before(from) || to.Sub(from) > 62*24*time.Hour {
		return invalidField("to", "the period's last day as YYYY-MM-DD, on or after from, at most two months later")
	}
	ctx, sc := c.Request().Context(), scopeOf(c)
	declared, err := s.store.Declared(ctx, sc.Tenant, from, to.AddDate(0, 0, 1))
	if err != nil {
		return err
	}
	var chosen []store.Parcel
	offices := map[string]bool{}
	for _, p := range declared {
		if p.EbcCode == req.EbcCode && p.StatisticsFlag == "B" && p.InvtNo != "" && (p.Status == customs.Released || p.Status == customs.Cleared) &&
			(req.CustomsCode == "" || p.CustomsCode == req.CustomsCode) {
			chosen = append(chosen, p)
			offices[p.CustomsCode] = true
		}
	}
	if len(chosen) == 0 {
		return errs.New(errs.Unprocessable, "nothing_to_summarise", "no released B-flag inventory of seller %s was declared by you between %s and %s", req.EbcCode, req.From, req.To)
	}
	if len(offices) > 1 {
		return invalidField("customsCode", "the customs office to summarise for: this seller's inventories of the period were declared at several")
	}
	first := chosen[0]
	named := []string{req.EbcCode, req.To, first.CustomsCode}
	for _, p := range chosen {
		named = append(named, p.ID)
	}
	d := &customs.Document{Kind: customs.DocSummary, Tenant: sc.Tenant,
		CopNo:       cmp.Or(req.CopNo, digestCopNo("S", from.Format("20060102"), named...)),
		CustomsCode: first.CustomsCode, AgentCode: sc.Tenant, AgentName: first.AgentName, EbcCode: req.EbcCode, EbcName: first.EbcName,
		DeclAgentCode: req.DeclAgentCode, DeclAgentName: req.DeclAgentName, LoctNo: req.LoctNo, SummaryFlag: "1",
		ItemNameFlag: cmp.Or(req.ItemNameFlag, "1"), Note: req.Note}
	d.ID = customs.DocumentID(d.Kind, d.Tenant, d.CopNo)
	for _, p := range chosen {
		d.Parcels = append(d.Parcels, customs.DocParcel{DeclarationID: p.ID, LogisticsNo: p.LogisticsNo, InvtNo: p.InvtNo})
	}
	return s.sendDocuments(c, []*customs.Document{d}, nil)
}
