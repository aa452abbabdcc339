// Package customs is the customs domain of Clearway: the courier's manifest,
// the declaration (the CEB603 export inventory) built from each parcel, the
// 202205 rules, and the ranking of customs receipt statuses.
package customs

// Manifest is what a courier firm posts: its own manifest number, defaults
// for the inventory head, and the parcels. Field names keep their CEB
// spelling so one name can be followed from JSON to XML.
type Manifest struct {
	ManifestNo  string     `json:"manifestNo"`
	CustomsCode string     `json:"customsCode,omitempty"`
	PortCode    string     `json:"portCode,omitempty"`
	IeDate      string     `json:"ieDate,omitempty"`
	Transport   *Transport `json:"transport,omitempty"`
	Parcels     []Parcel   `json:"parcels"`
}

// Transport is how the parcels leave: for the air green channel trafMode 5,
// the flight as voyageNo and the master air waybill as billNo.
type Transport struct {
	TrafMode string `json:"trafMode,omitempty"`
	TrafName string `json:"trafName,omitempty"`
	VoyageNo string `json:"voyageNo,omitempty"`
	BillNo   string `json:"billNo,omitempty"`
}

// Parcel is one export parcel: the CEB603 head fields under their CEB names.
// customsCode, portCode and ieDate override the manifest's defaults.
type Parcel struct {
	LogisticsNo    string  `json:"logisticsNo"`
	CopNo          string  `json:"copNo,omitempty"`
	OrderNo        string  `json:"orderNo"`
	TradeMode      string  `json:"tradeMode"`
	StatisticsFlag string  `json:"statisticsFlag"`
	CustomsCode    string  `json:"customsCode,omitempty"`
	PortCode       string  `json:"portCode,omitempty"`
	IeDate         string  `json:"ieDate,omitempty"`
	EbpCode        string  `json:"ebpCode"`
	EbpName        string  `json:"ebpName"`
	EbcCode        string  `json:"ebcCode"`
	EbcName        string  `json:"ebcName"`
	OwnerCode      string  `json:"ownerCode"`
	OwnerName      string  `json:"ownerName"`
	AgentCode      string  `json:"agentCode"`
	AgentName      string  `json:"agentName"`
	LogisticsCode  string  `json:"logisticsCode"`
	LogisticsName  string  `json:"logisticsName"`
	IacCode        string  `json:"iacCode,omitempty"`
	IacName        string  `json:"iacName,omitempty"`
	EmsNo          string  `json:"emsNo,omitempty"`
	Country        string  `json:"country"`
	Pod            string  `json:"pod"`
	Freight        Decimal `json:"freight"`
	FCurrency      string  `json:"fCurrency,omitempty"`
	InsuredFee     Decimal `json:"insuredFee"`
	ICurrency      string  `json:"iCurrency,omitempty"`
	WrapType       string  `json:"wrapType"`
	PackNo         Decimal `json:"packNo"`
	GrossWeight    Decimal `json:"grossWeight"`
	NetWeight      Decimal `json:"netWeight"`
	Note           string  `json:"note,omitempty"`
	LicenseNo      string  `json:"licenseNo,omitempty"`
	// Real-name sending (实名收寄): required where the courier is configured
	// for it. The ID number is masked in everything Clearway keeps or shows.
	SenderName    string `json:"senderName,omitempty"`
	SenderIDType  string `json:"senderIdType,omitempty"`
	SenderIDNo    string `json:"senderIdNo,omitempty"`
	ConsigneeName string `json:"consigneeName,omitempty"`
	Items         []Item `json:"items"`
}

// Item is one goods line of a parcel (CEB603 InventoryList without gnum,
// which Clearway assigns 1..n).
type Item struct {
	ItemNo       string  `json:"itemNo"`
	ItemRecordNo string  `json:"itemRecordNo,omitempty"`
	ItemName     string  `json:"itemName,omitempty"`
	Gcode        string  `json:"gcode"`
	Gname        string  `json:"gname"`
	Gmodel       string  `json:"gmodel"`
	BarCode      string  `json:"barCode,omitempty"`
	Country      string  `json:"country"`
	Currency     string  `json:"currency"`
	Qty          Decimal `json:"qty"`
	Unit         string  `json:"unit"`
	Qty1         Decimal `json:"qty1"`
	Unit1        string  `json:"unit1"`
	Qty2         Decimal `json:"qty2,omitzero"`
	Unit2        string  `json:"unit2,omitempty"`
	Price        Decimal `json:"price"`
	TotalPrice   Decimal `json:"totalPrice"`
	Note         string  `json:"note,omitempty"`
}
