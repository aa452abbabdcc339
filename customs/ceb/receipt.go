package ceb

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// InventoryReturn is one CEB604 receipt about one inventory.
type InventoryReturn struct {
	GUID           string `xml:"guid"`
	AgentCode      string `xml:"agentCode"`
	CopNo          string `xml:"copNo"`
	PreNo          string `xml:"preNo"`
	InvtNo         string `xml:"invtNo"`
	EbcCode        string `xml:"ebcCode"`
	EbpCode        string `xml:"ebpCode"`
	OrderNo        string `xml:"orderNo"`
	StatisticsFlag string `xml:"statisticsFlag"`
	ReturnStatus   string `xml:"returnStatus"`
	ReturnTime     string `xml:"returnTime"`
	ReturnInfo     string `xml:"returnInfo"`
	// Raw is the receipt element exactly as received, for the broker's view.
	Raw []byte `xml:"-"`
}

// ReturnTimeLayout is CEB's receipt time: YYYYMMDDhhmmssfff.
const ReturnTimeLayout = "20060102150405.000"

// Time parses ReturnTime (China time); the zero time when malformed.
func (r *InventoryReturn) Time() time.Time {
	if len(r.ReturnTime) != 17 {
		return time.Time{}
	}
	t, err := time.ParseInLocation(ReturnTimeLayout, r.ReturnTime[:14]+"."+r.ReturnTime[14:], ChinaTime)
	if err != nil {
		return time.Time{}
	}
	return t
}

// RootName is the local name of a document's root element, e.g. CEB604Message.
func RootName(b []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.CharsetReader = refuseCharset
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("ceb: no root element: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local, nil
		}
	}
}

// ParseCEB604 parses an export inventory receipt message.
func ParseCEB604(b []byte) ([]InventoryReturn, error) {
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("ceb: CEB604 of %d bytes exceeds %d", len(b), MaxMessageBytes)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = refuseCharset
	var out []InventoryReturn
	root := true
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ceb: CEB604: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root {
			if se.Name.Local != "CEB604Message" {
				return nil, fmt.Errorf("ceb: expected CEB604Message, got %s", se.Name.Local)
			}
			root = false
			continue
		}
		if se.Name.Local != "InventoryReturn" {
			if err := d.Skip(); err != nil {
				return nil, fmt.Errorf("ceb: CEB604: %w", err)
			}
			continue
		}
		var r InventoryReturn
		if err := d.DecodeElement(&r, &se); err != nil {
			return nil, fmt.Errorf("ceb: CEB604 InventoryReturn: %w", err)
		}
		trim(&r.GUID, &r.AgentCode, &r.CopNo, &r.PreNo, &r.InvtNo, &r.ReturnStatus, &r.ReturnTime)
		if r.CopNo == "" || r.ReturnStatus == "" {
			return nil, fmt.Errorf("ceb: CEB604 InventoryReturn %d lacks copNo or returnStatus", len(out)+1)
		}
		r.Raw = bytes.TrimSpace(b[start:d.InputOffset()])
		out = append(out, r)
	}
	if root {
		return nil, fmt.Errorf("ceb: CEB604: empty document")
	}
	return out, nil
}

func trim(fields ...*string) {
	for _, f := range fields {
		*f = strings.TrimSpace(*f)
	}
}

// RenderCEB604 renders receipts as customs sends them (the simulator's side).
func RenderCEB604(guid string, returns []InventoryReturn) []byte {
	w := &writer{}
	w.buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.buf.WriteString(`<ceb:CEB604Message guid="` + guid + `" version="1.0" xmlns:ceb="` + NamespaceCEB + `">` + "\n")
	for i := range returns {
		r := &returns[i]
		w.open("ceb:InventoryReturn")
		w.el("ceb:guid", r.GUID)
		w.el("ceb:agentCode", r.AgentCode)
		w.el("ceb:copNo", r.CopNo)
		w.el("ceb:preNo", r.PreNo)
		w.el("ceb:invtNo", r.InvtNo)
		w.el("ceb:ebcCode", r.EbcCode)
		w.el("ceb:ebpCode", r.EbpCode)
		w.el("ceb:orderNo", r.OrderNo)
		w.el("ceb:statisticsFlag", r.StatisticsFlag)
		w.el("ceb:returnStatus", r.ReturnStatus)
		w.el("ceb:returnTime", r.ReturnTime)
		w.el("ceb:returnInfo", r.ReturnInfo)
		w.close("ceb:InventoryReturn")
	}
	w.buf.WriteString("</ceb:CEB604Message>\n")
	return w.buf.Bytes()
}

// Inventory is what the customs side reads of a CEB603 inventory.
type Inventory struct {
	Head struct {
		GUID           string `xml:"guid"`
		AppType        string `xml:"appType"`
		CustomsCode    string `xml:"customsCode"`
		EbpCode        string `xml:"ebpCode"`
		OrderNo        string `xml:"orderNo"`
		LogisticsNo    string `xml:"logisticsNo"`
		CopNo          string `xml:"copNo"`
		StatisticsFlag string `xml:"statisticsFlag"`
		AgentCode      string `xml:"agentCode"`
		EbcCode        string `xml:"ebcCode"`
		TradeMode      string `xml:"tradeMode"`
	} `xml:"InventoryHead"`
	Lists []struct {
		Gnum  string `xml:"gnum"`
		Gcode string `xml:"gcode"`
	} `xml:"InventoryList"`
}

// ParseCEB603 parses an export inventory message (the customs side's view).
func ParseCEB603(b []byte) (guid string, invs []Inventory, err error) {
	var m struct {
		XMLName     xml.Name    `xml:"CEB603Message"`
		GUID        string      `xml:"guid,attr"`
		Inventories []Inventory `xml:"Inventory"`
	}
	if err := decodeStrict(b, &m); err != nil {
		return "", nil, fmt.Errorf("ceb: CEB603: %w", err)
	}
	return m.GUID, m.Inventories, nil
}
