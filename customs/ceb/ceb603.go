package ceb

import (
	"strconv"
	"time"

	"github.com/clearway/clearway/customs"
)

// MaxInventories is the most inventories one CEB603 message may carry.
const MaxInventories = 100

// Sender is the company that transmits messages to the data-exchange
// platform (BaseTransfer, and the envelope's SenderId).
type Sender struct {
	CopCode string // 报文传输的企业代码: must match the client's enterprise identity
	CopName string
	DxpID   string // the transmitter's user id on the data-exchange platform (≤16 in the envelope)
}

// appTime is how CEB writes times: YYYYMMDDhhmmss, China time.
func appTime(t time.Time) string { return t.In(ChinaTime).Format("20060102150405") }

// ChinaTime is the zone customs times are written in.
var ChinaTime = time.FixedZone("CST", 8*3600)

// RenderCEB603 renders the export inventory message for up to 100
// declarations, as new declarations (appType 1) to be declared (appStatus 2).
func RenderCEB603(guid string, decls []*customs.Declaration, sender Sender, now time.Time) []byte {
	w := &writer{}
	w.buf.Grow(1200 * len(decls))
	w.begin("CEB603Message", guid)
	at := appTime(now)
	for _, d := range decls {
		h := &d.Head
		w.open("ceb:Inventory")
		w.open("ceb:InventoryHead")
		w.el("ceb:guid", d.GUID())
		w.el("ceb:appType", "1")
		w.el("ceb:appTime", at)
		w.el("ceb:appStatus", "2")
		w.el("ceb:customsCode", h.CustomsCode)
		w.el("ceb:ebpCode", h.EbpCode)
		w.el("ceb:ebpName", h.EbpName)
		w.el("ceb:orderNo", h.OrderNo)
		w.el("ceb:logisticsCode", h.LogisticsCode)
		w.el("ceb:logisticsName", h.LogisticsName)
		w.el("ceb:logisticsNo", h.LogisticsNo)
		w.el("ceb:copNo", h.CopNo)
		w.el("ceb:ieFlag", "E")
		w.el("ceb:portCode", h.PortCode)
		w.el("ceb:ieDate", h.IeDate)
		w.el("ceb:statisticsFlag", h.StatisticsFlag)
		w.el("ceb:agentCode", h.AgentCode)
		w.el("ceb:agentName", h.AgentName)
		w.el("ceb:ebcCode", h.EbcCode)
		w.el("ceb:ebcName", h.EbcName)
		w.el("ceb:ownerCode", h.OwnerCode)
		w.el("ceb:ownerName", h.OwnerName)
		w.opt("ceb:iacCode", h.IacCode)
		w.opt("ceb:iacName", h.IacName)
		w.opt("ceb:emsNo", h.EmsNo)
		w.el("ceb:tradeMode", h.TradeMode)
		w.el("ceb:trafMode", h.TrafMode)
		w.opt("ceb:trafName", h.TrafName)
		w.opt("ceb:voyageNo", h.VoyageNo)
		w.opt("ceb:billNo", h.BillNo)
		w.opt("ceb:licenseNo", h.LicenseNo)
		w.el("ceb:country", h.Country)
		w.el("ceb:POD", h.Pod)
		w.el("ceb:freight", h.Freight.String())
		w.el("ceb:fCurrency", h.FCurrency)
		w.el("ceb:fFlag", "3") // 3: the freight given is the total
		w.el("ceb:insuredFee", h.InsuredFee.String())
		w.el("ceb:iCurrency", h.ICurrency)
		w.el("ceb:iFlag", "3")
		w.el("ceb:wrapType", h.WrapType)
		w.el("ceb:packNo", h.PackNo)
		w.el("ceb:grossWeight", h.GrossWeight.String())
		w.el("ceb:netWeight", h.NetWeight.String())
		w.opt("ceb:note", h.Note)
		w.close("ceb:InventoryHead")
		for i := range d.Items {
			l := &d.Items[i]
			w.open("ceb:InventoryList")
			w.el("ceb:gnum", strconv.Itoa(l.Gnum))
			w.el("ceb:itemNo", l.ItemNo)
			w.opt("ceb:itemRecordNo", l.ItemRecordNo)
			w.opt("ceb:itemName", l.ItemName)
			w.el("ceb:gcode", l.Gcode)
			w.el("ceb:gname", l.Gname)
			w.el("ceb:gmodel", l.Gmodel)
			w.el("ceb:barCode", l.BarCode)
			w.el("ceb:country", l.Country)
			w.el("ceb:currency", l.Currency)
			w.el("ceb:qty", l.Qty.String())
			w.el("ceb:qty1", l.Qty1.String())
			w.opt("ceb:qty2", l.Qty2.String())
			w.el("ceb:unit", l.Unit)
			w.el("ceb:unit1", l.Unit1)
			w.opt("ceb:unit2", l.Unit2)
			w.el("ceb:price", l.Price.String())
			w.el("ceb:totalPrice", l.TotalPrice.String())
			w.opt("ceb:note", l.Note)
			w.close("ceb:InventoryList")
		}
		w.close("ceb:Inventory")
	}
	writeBaseTransfer(w, sender)
	return w.end("CEB603Message")
}

func writeBaseTransfer(w *writer, s Sender) {
	w.open("ceb:BaseTransfer")
	w.el("ceb:copCode", s.CopCode)
	w.el("ceb:copName", s.CopName)
	w.el("ceb:dxpMode", "DXP")
	w.el("ceb:dxpId", s.DxpID)
	w.close("ceb:BaseTransfer")
}
