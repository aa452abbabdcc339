package store

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/errs"
)

// Readiness counts a flight's (or one master air waybill's) parcels:
// Parcels = Released + Pending + Held; Inspected are pending under
// inspection. Held parcels (rejected, detained, returned, in error) stay
// off the flight until someone acts. ReadyToLoad when every parcel bound
// to it is released.
type Readiness struct {
	Parcels     int64 `json:"parcels"`
	Released    int64 `json:"released"`
	Pending     int64 `json:"pending"`
	Inspected   int64 `json:"inspected"`
	Held        int64 `json:"held"`
	ReadyToLoad bool  `json:"readyToLoad"`
}

func (r *Readiness) add(s customs.Status, n int64) {
	r.Parcels += n
	switch {
	case s == customs.Released || s == customs.Cleared:
		r.Released += n
	case heldOffFlight(s):
		r.Held += n
	default:
		r.Pending += n
		if s == customs.Inspection {
			r.Inspected += n
		}
	}
	r.ReadyToLoad = r.Parcels > 0 && r.Released == r.Parcels
}

// WaybillReadiness is one master air waybill's readiness.
type WaybillReadiness struct {
	BillNo string `json:"billNo"`
	Readiness
}

// HeldParcel is a parcel kept off its flight, without personal data.
type HeldParcel struct {
	DeclarationID string         `json:"declarationId"`
	LogisticsNo   string         `json:"logisticsNo"`
	BillNo        string         `json:"billNo,omitempty"`
	Status        customs.Status `json:"status"`
	Code          string         `json:"code,omitempty"`
	ReturnInfo    string         `json:"returnInfo,omitempty"`
}

// Flight is one flight's readiness to load.
type Flight struct {
	VoyageNo string `json:"voyageNo"`
	Date     string `json:"date"` // YYYY-MM-DD
	Readiness
	Waybills             []WaybillReadiness `json:"waybills"`
	HeldParcels          []HeldParcel       `json:"heldParcels"`
	HeldParcelsTruncated bool               `json:"heldParcelsTruncated,omitempty"`
}

// heldListedPerFlight bounds the held parcels listed per flight in a
// day's list; one flight's view lists them all.
const heldListedPerFlight = 20

// A flight's keys in one group of declarations (statslua.go); name is
// "<ieDate>:<voyageNo>".
func flightKey(tag, name string) string     { return "fl:" + tag + ":" + name }
func flightHeldKey(tag, name string) string { return "flh:" + tag + ":" + name }
func flightsOfDayKey(tag, ieDate string) string {
	return "fls:" + tag + ":" + ieDate
}

// Flights lists the flights of ieDate (YYYYMMDD) with their readiness.
func (s *Store) Flights(ctx context.Context, ieDate string) ([]Flight, error) {
	voyages, err := s.joinShards(ctx, []string{ieDate}, flightsOfDayKey)
	if err != nil {
		return nil, err
	}
	return s.flights(ctx, ieDate, voyages[0], heldListedPerFlight)
}

// Flight reads one flight's readiness with all its held parcels.
func (s *Store) Flight(ctx context.Context, ieDate, voyageNo string) (*Flight, error) {
	fs, err := s.flights(ctx, ieDate, []string{voyageNo}, -1)
	if err != nil {
		return nil, err
	}
	if fs[0].Parcels == 0 {
		return nil, errs.New(errs.NotFound, "not_found", "no parcels are bound to flight %s on %s", voyageNo, fs[0].Date)
	}
	return &fs[0], nil
}

// flights reads the readiness of voyages, listing up to maxHeld held
// parcels of each (all when negative).
func (s *Store) flights(ctx context.Context, ieDate string, voyages []string, maxHeld int) ([]Flight, error) {
	names := make([]string, len(voyages))
	for i, v := range voyages {
		names[i] = ieDate + ":" + v
	}
	counts, err := s.addUpShards(ctx, names, flightKey)
	if err != nil {
		return nil, err
	}
	held, err := s.joinShards(ctx, names, flightHeldKey)
	if err != nil {
		return nil, err
	}
	date := ieDate[0:4] + "-" + ieDate[4:6] + "-" + ieDate[6:8]
	out := make([]Flight, len(voyages))
	var heldIDs []string
	var heldOf []int // how many of heldIDs are each flight's
	for i, v := range voyages {
		f := Flight{VoyageNo: v, Date: date, Waybills: []WaybillReadiness{}, HeldParcels: []HeldParcel{}}
		bills := map[string]*WaybillReadiness{}
		for field, raw := range counts[i] {
			bill, status, _ := strings.Cut(field, "|")
			n, _ := strconv.ParseInt(raw, 10, 64)
			if n == 0 {
				continue
			}
			if bills[bill] == nil {
				bills[bill] = &WaybillReadiness{BillNo: bill}
			}
			bills[bill].add(customs.Status(status), n)
			f.add(customs.Status(status), n)
		}
		for _, b := range bills {
			f.Waybills = append(f.Waybills, *b)
		}
		sort.Slice(f.Waybills, func(a, b int) bool { return f.Waybills[a].BillNo < f.Waybills[b].BillNo })
		ids := held[i]
		if maxHeld >= 0 && len(ids) > maxHeld {
			ids, f.HeldParcelsTruncated = ids[:maxHeld], true
		}
		heldIDs = append(heldIDs, ids...)
		heldOf = append(heldOf, len(ids))
		out[i] = f
	}
	parcels, err := s.heldParcels(ctx, heldIDs) // every flight's in one round trip
	if err != nil {
		return nil, err
	}
	for i, n := range heldOf {
		for _, p := range parcels[:n] {
			if p.Status != "" { // expired with its retention
				out[i].HeldParcels = append(out[i].HeldParcels, p)
			}
		}
		parcels = parcels[n:]
	}
	return out, nil
}

func (s *Store) heldParcels(ctx context.Context, ids []string) ([]HeldParcel, error) {
	rows, err := s.declarationFields(ctx, ids, "logisticsNo", "billNo", "status", "code", "returnInfo")
	if err != nil {
		return nil, err
	}
	out := make([]HeldParcel, len(ids)) // one per id; an expired one without a status
	for i, v := range rows {
		out[i] = HeldParcel{DeclarationID: ids[i], LogisticsNo: v[0], BillNo: v[1], Status: customs.Status(v[2]), Code: v[3], ReturnInfo: v[4]}
	}
	return out, nil
}

// FlightDeclarations lists the ids of the declarations bound to a flight.
func (s *Store) FlightDeclarations(ctx context.Context, voyageNo, ieDate string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, indexKey(ByFlight, FlightKey(voyageNo, ieDate))).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	sort.Strings(ids)
	return ids, nil
}
