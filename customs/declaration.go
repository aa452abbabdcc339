package customs

import (
	"crypto/sha1"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Declaration is one parcel as Clearway declares it to customs: the CEB603
// export inventory with every default applied and every code normalised,
// plus who declared it. It is the payload of clearway.declarations.v1.
type Declaration struct {
	ID         string    `json:"declarationId"`
	Tenant     string    `json:"tenant"`
	ManifestID string    `json:"manifestId"`
	ManifestNo string    `json:"manifestNo"`
	AcceptedAt time.Time `json:"acceptedAt"`
	Head       Head      `json:"head"`
	Items      []Line    `json:"items"`
	Sender     *Sender   `json:"sender,omitempty"`
	// Waybill: the courier is the logistics company and declares its own
	// CEB505 waybill through Clearway (configured per courier).
	Waybill bool `json:"waybill,omitempty"`
}

// Sender is who hands the parcel in, as kept: masked. Customs' CEB603 does
// not carry it; real-name sending is the postal side's rule.
type Sender struct {
	Name          string `json:"name"`
	IDType        string `json:"idType"`
	IDNo          string `json:"idNo"` // masked: first 4 and last 4 characters
	ConsigneeName string `json:"consigneeName,omitempty"`
}

// Head is the CEB603 InventoryHead as sent (without guid, appType, appTime
// and appStatus, which belong to each sending).
type Head struct {
	CustomsCode    string  `json:"customsCode"`
	EbpCode        string  `json:"ebpCode"`
	EbpName        string  `json:"ebpName"`
	OrderNo        string  `json:"orderNo"`
	LogisticsCode  string  `json:"logisticsCode"`
	LogisticsName  string  `json:"logisticsName"`
	LogisticsNo    string  `json:"logisticsNo"`
	CopNo          string  `json:"copNo"`
	PortCode       string  `json:"portCode"`
	IeDate         string  `json:"ieDate"`
	StatisticsFlag string  `json:"statisticsFlag"`
	AgentCode      string  `json:"agentCode"`
	AgentName      string  `json:"agentName"`
	EbcCode        string  `json:"ebcCode"`
	EbcName        string  `json:"ebcName"`
	OwnerCode      string  `json:"ownerCode"`
	OwnerName      string  `json:"ownerName"`
	IacCode        string  `json:"iacCode,omitempty"`
	IacName        string  `json:"iacName,omitempty"`
	EmsNo          string  `json:"emsNo,omitempty"`
	TradeMode      string  `json:"tradeMode"`
	TrafMode       string  `json:"trafMode"`
	TrafName       string  `json:"trafName,omitempty"`
	VoyageNo       string  `json:"voyageNo,omitempty"`
	BillNo         string  `json:"billNo,omitempty"`
	Country        string  `json:"country"`
	Pod            string  `json:"pod"`
	Freight        Decimal `json:"freight"`
	FCurrency      string  `json:"fCurrency"`
	InsuredFee     Decimal `json:"insuredFee"`
	ICurrency      string  `json:"iCurrency"`
	WrapType       string  `json:"wrapType"`
	PackNo         string  `json:"packNo"`
	GrossWeight    Decimal `json:"grossWeight"`
	NetWeight      Decimal `json:"netWeight"`
	Note           string  `json:"note,omitempty"`
	LicenseNo      string  `json:"licenseNo,omitempty"`
}

// Line is one CEB603 InventoryList row.
type Line struct {
	Gnum int `json:"gnum"`
	Item
}

// namespace for declaration and manifest ids (UUIDv5); fixed forever, since
// ids derived from it are stored.
var namespace = uuid.MustParse("6f1d3c0e-8a53-4f3b-9a53-5c1e2b7d9a10")

// DeclarationID is the id of the inventory that agentCode declares as copNo.
// Customs identifies an inventory by its declarer and the declarer's own
// number, so the id is derived from exactly those: a receipt (which carries
// agentCode and copNo) maps back to its declaration without a lookup, and the
// same parcel posted twice gets the same id. Upper-case, it is also the
// inventory's 36-character guid.
func DeclarationID(agentCode, copNo string) string {
	return uuid.NewHash(sha1.New(), namespace, []byte("inventory\x00"+agentCode+"\x00"+copNo), 5).String()
}

// ManifestID is the id of a courier's manifest; manifestNo is unique per
// courier, so posting the same manifest again addresses the same manifest.
func ManifestID(tenant, manifestNo string) string {
	return uuid.NewHash(sha1.New(), namespace, []byte("manifest\x00"+tenant+"\x00"+manifestNo), 5).String()
}

// GUID is the CEB guid of the declaration's inventory.
func (d *Declaration) GUID() string { return strings.ToUpper(d.ID) }
