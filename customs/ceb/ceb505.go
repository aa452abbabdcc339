package ceb

import (
	"errors"
	"reflect"
	"time"

	"github.com/clearway/clearway/customs"
)

// Logistics is one CEB505 logistics waybill (运单), as the courier declares
// it and the customs side reads it.
type Logistics struct {
	GUID          string `xml:"guid"`
	AppType       string `xml:"appType"`
	AppTime       string `xml:"appTime"`
	AppStatus     string `xml:"appStatus"`
	LogisticsCode string `xml:"logisticsCode"`
	LogisticsName string `xml:"logisticsName"`
	LogisticsNo   string `xml:"logisticsNo"`
	Freight       string `xml:"freight"`
	InsuredFee    string `xml:"insuredFee"`
	Currency      string `xml:"currency"`
	GrossWeight   string `xml:"grossWeight"`
	PackNo        string `xml:"packNo"`
	GoodsInfo     string `xml:"goodsInfo"` // 主要货物信息: what the courier can see of the goods, ≤200
	EbcCode       string `xml:"ebcCode"`
	EbcName       string `xml:"ebcName"`
	EbcTelephone  string `xml:"ebcTelephone"`
	Note          string `xml:"note"`
}

var (
	logisticsSeq  = sequence("guid appType appTime appStatus logisticsCode logisticsName logisticsNo freight insuredFee currency grossWeight packNo goodsInfo ebcCode? ebcName? ebcTelephone? note?")
	logisticsText = textFields(reflect.TypeFor[Logistics](), "xml")
)

// toLogistics is the waybill of a declared parcel, sent at appTime at.
func toLogistics(d *customs.Declaration, at string) Logistics {
	h := &d.Head
	return Logistics{
		GUID: d.WaybillGUID(), AppType: "1", AppTime: at, AppStatus: "2",
		LogisticsCode: h.LogisticsCode, LogisticsName: h.LogisticsName, LogisticsNo: h.LogisticsNo,
		Freight: h.Freight.String(), InsuredFee: h.InsuredFee.String(), Currency: h.FCurrency,
		GrossWeight: h.GrossWeight.String(), PackNo: h.PackNo, GoodsInfo: d.GoodsInfo(),
		EbcCode: h.EbcCode, EbcName: h.EbcName, Note: h.Note,
	}
}

// RenderCEB505 renders the logistics waybills of up to 100 declarations,
// new (appType 1) and declared (appStatus 2).
func RenderCEB505(guid string, decls []*customs.Declaration, sender Sender, now time.Time) []byte {
	at := appTime(now)
	w := &writer{}
	w.buf.Grow(700 * len(decls))
	w.begin("CEB505Message", guid)
	for _, d := range decls {
		l := toLogistics(d, at)
		w.group("Logistics", logisticsSeq, valueOf(&l, logisticsText))
	}
	writeBaseTransfer(w, sender)
	return w.end("CEB505Message")
}

// ParseCEB505 parses a logistics waybill message (the customs side's view).
func ParseCEB505(b []byte) (guid string, waybills []Logistics, err error) {
	_, guid, err = read(b, only("CEB505Message", "Logistics", MaxInventories), func(el *node, _ []byte) error {
		var l Logistics
		el.fill(&l, logisticsText, logisticsSeq)
		if l.LogisticsCode == "" || l.LogisticsNo == "" {
			return errors.New("lacks logisticsCode or logisticsNo")
		}
		waybills = append(waybills, l)
		return nil
	})
	if err != nil {
		return guid, nil, err
	}
	return guid, waybills, nil
}
