package ceb

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

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
