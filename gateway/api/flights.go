package api

import (
	"cmp"
	"net/http"
	"regexp"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/labstack/echo/v4"
	"github.com/segmentio/kafka-go"
)

// flights lists the day's flights with their readiness to load.
func (s *Server) flights(c echo.Context) error {
	q := c.QueryParams()
	if err := onlyParams(q, []string{"date"}); err != nil {
		return err
	}
	d, err := day("date", cmp.Or(q.Get("date"), time.Now().In(ceb.ChinaTime).Format(time.DateOnly)))
	if err != nil {
		return err
	}
	fs, err := s.store.Flights(c.Request().Context(), d.Format("20060102"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"date": d.Format(time.DateOnly), "flights": fs})
}

// voyageNoPattern is what a flight number may look like.
var voyageNoPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,32}$`)

// flight answers one flight's readiness with every held parcel.
func (s *Server) flight(c echo.Context) error {
	if err := onlyParams(c.QueryParams(), nil); err != nil {
		return err
	}
	if !voyageNoPattern.MatchString(c.Param("voyageNo")) {
		return badQuery("voyageNo", "a flight number of letters, digits and hyphens (at most 32)")
	}
	d, err := day("date", c.Param("date"))
	if err != nil {
		return err
	}
	f, err := s.store.Flight(c.Request().Context(), d.Format("20060102"), c.Param("voyageNo"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, f)
}

// flightDate checks a request's flight: its number and its date.
func flightDate(voyageNo, date string) (time.Time, error) {
	if !voyageNoPattern.MatchString(voyageNo) {
		return time.Time{}, invalidField("voyageNo", "a flight number of letters, digits and hyphens (at most 32)")
	}
	d, err := time.ParseInLocation(time.DateOnly, date, ceb.ChinaTime)
	if err != nil {
		return time.Time{}, invalidField("date", "the flight date as YYYY-MM-DD")
	}
	return d, nil
}

// arrivalRequest is the airport desk's record that a flight's parcels
// reached the supervised site, and what its CEB507 arrival needs: the
// site operator (the desk's company), the site, and the truck that brought
// them.
type arrivalRequest struct {
	VoyageNo       string     `json:"voyageNo"`
	Date           string     `json:"date"`
	ArrivedAt      *time.Time `json:"arrivedAt"`
	OperatorCode   string     `json:"operatorCode"`
	OperatorName   string     `json:"operatorName"`
	LoctNo         string     `json:"loctNo"`
	DomesticTrafNo string     `json:"domesticTrafNo"`
	Note           string     `json:"note"`
}

// postArrival records that every parcel bound to a flight arrived at the
// supervised site, one event per declaration on clearway.receipts.v1 in
// order with its receipts, and declares the arrival to customs, one CEB507
// per courier and master air waybill, in one Kafka write; 202 once Kafka
// has it. The first arrival recorded for a parcel counts; recording it
// again changes nothing.
func (s *Server) postArrival(c echo.Context) error {
	var req arrivalRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		return err
	}
	d, err := flightDate(req.VoyageNo, req.Date)
	if err != nil {
		return err
	}
	now := time.Now()
	at := now
	if req.ArrivedAt != nil {
		at = *req.ArrivedAt
	}
	if at.After(now.Add(5*time.Minute)) || at.Before(d.AddDate(0, 0, -7)) {
		return invalidField("arrivedAt", "a time not in the future and at most a week before the flight date")
	}
	ctx, sc := c.Request().Context(), scopeOf(c)
	parcels, err := s.flightParcels(ctx, sc, req.VoyageNo, d)
	if err != nil {
		return err
	}
	date := d.Format("20060102")
	docs := groupByWaybill(customs.DocArrival, "A", date, req.VoyageNo, sc.Tenant, parcels, func(doc *customs.Document) {
		doc.OperatorCode, doc.OperatorName, doc.LoctNo, doc.DomesticTrafNo = req.OperatorCode, req.OperatorName, req.LoctNo, req.DomesticTrafNo
		doc.TrafMode, doc.Note = "5", req.Note
	})
	arrived := make([]kafka.Message, len(parcels))
	for i, p := range parcels {
		if arrived[i], err = bus.ReceiptMessage(&bus.ReceiptEvent{Kind: bus.KindArrived, DeclarationID: p.ID, At: at.UTC()}); err != nil {
			return err
		}
	}
	return s.sendDocuments(c, docs, map[string]any{"voyageNo": req.VoyageNo, "date": req.Date, "arrivedAt": at.UTC(), "parcels": len(parcels)}, arrived...)
}
