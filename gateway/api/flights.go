package api

import (
	"cmp"
	"context"
	"net/http"
	"regexp"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/errs"
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

// arrivalRequest is the airport desk's record that a flight's parcels
// reached the supervised site.
type arrivalRequest struct {
	VoyageNo  string     `json:"voyageNo"`
	Date      string     `json:"date"`
	ArrivedAt *time.Time `json:"arrivedAt"`
}

// postArrival records that every parcel bound to a flight arrived at the
// supervised site: one event per declaration on clearway.receipts.v1, in
// order with its receipts, answered 202 once Kafka has them. The first
// arrival recorded for a parcel counts; recording it again changes nothing.
func (s *Server) postArrival(c echo.Context) error {
	var req arrivalRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		return err
	}
	if !voyageNoPattern.MatchString(req.VoyageNo) {
		return invalidField("voyageNo", "a flight number of letters, digits and hyphens (at most 32)")
	}
	d, err := time.ParseInLocation(time.DateOnly, req.Date, ceb.ChinaTime)
	if err != nil {
		return invalidField("date", "the flight date as YYYY-MM-DD")
	}
	now := time.Now()
	at := now
	if req.ArrivedAt != nil {
		at = *req.ArrivedAt
	}
	if at.After(now.Add(5*time.Minute)) || at.Before(d.AddDate(0, 0, -7)) {
		return invalidField("arrivedAt", "a time not in the future and at most a week before the flight date")
	}
	ctx := c.Request().Context()
	ids, err := s.store.FlightDeclarations(ctx, req.VoyageNo, d.Format("20060102"))
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errs.New(errs.NotFound, "not_found", "no parcels are bound to flight %s on %s", req.VoyageNo, req.Date)
	}
	msgs := make([]kafka.Message, len(ids))
	for i, id := range ids {
		if msgs[i], err = bus.ReceiptMessage(&bus.ReceiptEvent{Kind: bus.KindArrived, DeclarationID: id, At: at.UTC()}); err != nil {
			return err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	if err := s.kafka.WriteMessages(pctx, msgs...); err != nil {
		return &errs.Error{Kind: errs.Unavailable, Code: "kafka_unavailable", RetryAfter: 5, Err: err,
			Detail: "the arrival was not recorded; retry it (recording it twice changes nothing)"}
	}
	return c.JSON(http.StatusAccepted, map[string]any{"voyageNo": req.VoyageNo, "date": req.Date, "arrivedAt": at.UTC(), "parcels": len(ids)})
}
