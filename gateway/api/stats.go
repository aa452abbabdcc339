package api

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/gateway/store"
	"github.com/labstack/echo/v4"
)

// Longest periods one statistics request may cover.
const (
	maxStatsDays     = 400 // by day: a year and its comparison
	maxStatsHourDays = 31  // by hour
)

var statsParams = []string{"from", "to", "groupBy"}

// greenChannel answers the green channel's statistics for whole days in
// China time (from and to inclusive; today by default), as JSON or, for
// Accept: text/csv, as CSV.
func (s *Server) greenChannel(c echo.Context) error {
	q := c.QueryParams()
	if err := onlyParams(q, statsParams); err != nil {
		return err
	}
	today := time.Now().In(ceb.ChinaTime).Format(time.DateOnly)
	from, err := day("from", cmp.Or(q.Get("from"), today))
	if err != nil {
		return err
	}
	to, err := day("to", cmp.Or(q.Get("to"), q.Get("from"), today))
	if err != nil {
		return err
	}
	to = to.AddDate(0, 0, 1)
	groupBy := cmp.Or(q.Get("groupBy"), "day")
	if _, ok := store.StatsGroupings[groupBy]; !ok {
		return badQuery("groupBy", "one of hour, day, courier, country, flight, tradeMode, customsOffice")
	}
	days := int(to.Sub(from).Hours() / 24)
	switch {
	case days < 1:
		return badQuery("to", "on or after from")
	case days > maxStatsDays:
		return badQuery("to", "at most "+strconv.Itoa(maxStatsDays)+" days after from")
	case groupBy == "hour" && days > maxStatsHourDays:
		return badQuery("to", "at most "+strconv.Itoa(maxStatsHourDays)+" days after from when grouping by hour")
	}
	g, err := s.store.GreenChannel(c.Request().Context(), store.StatsQuery{From: from, To: to, GroupBy: groupBy})
	if err != nil {
		return err
	}
	if strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/csv") {
		return c.Blob(http.StatusOK, "text/csv; charset=utf-8", statsCSV(g))
	}
	return c.JSON(http.StatusOK, g)
}

// statsCSV renders one row per group, then the totals.
func statsCSV(g *store.GreenChannel) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{g.GroupBy, "declared", "released", "inspected", "rejected", "detained", "returned", "departed",
		"declaredValueCNY", "inspectionRate", "releaseRate", "declaredToReleasedP50Seconds", "declaredToReleasedP90Seconds", "declaredToReleasedP99Seconds"})
	row := func(key string, f store.Figures) {
		n := func(v int64) string { return strconv.FormatInt(v, 10) }
		r := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
		rec := []string{key, n(f.Declared), n(f.Released), n(f.Inspected), n(f.Rejected), n(f.Detained), n(f.Returned), n(f.Departed),
			f.DeclaredValueCNY, r(f.InspectionRate), r(f.ReleaseRate), "", "", ""}
		if d := f.DeclaredToReleased; d != nil && d.Count > 0 {
			rec[11], rec[12], rec[13] = r(d.P50Seconds), r(d.P90Seconds), r(d.P99Seconds)
		}
		w.Write(rec)
	}
	for _, r := range g.Rows {
		row(r.Key, r.Figures)
	}
	row("total", g.Totals)
	w.Flush()
	return b.Bytes()
}

// day parses a day in China time: YYYY-MM-DD, or YYYYMMDD as customs
// writes an ieDate.
func day(param, v string) (time.Time, error) {
	layout := time.DateOnly
	if len(v) == 8 {
		layout = "20060102"
	}
	t, err := time.ParseInLocation(layout, v, ceb.ChinaTime)
	if err != nil || t.Year() < 2000 || t.Year() > 2999 {
		return time.Time{}, badQuery(param, "a day as YYYY-MM-DD")
	}
	return t, nil
}
