package customs

import (
	"crypto/sha1"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs/codes"
	"github.com/clearway/clearway/customs/errs"
	"github.com/google/uuid"
)

// DocKind names a customs document Clearway sends besides the inventory.
type DocKind string

const (
	DocConsolidation DocKind = "consolidation" // CEB607 清单总分单: parcels bound to a flight and master air waybill
	DocArrival       DocKind = "arrival"       // CEB507 运抵单: parcels reached the supervised site
	DocDeparture     DocKind = "departure"     // CEB509 离境单: the flight left, with leaveTime
	DocCancel        DocKind = "cancel"        // CEB605 撤销申请单: withdraw one inventory
	DocSummary       DocKind = "summary"       // CEB701 汇总申请单: one seller's released B-flag inventories
)

// MessageType is the CEB message a document of this kind travels in.
func (k DocKind) MessageType() string {
	switch k {
	case DocConsolidation:
		return "CEB607Message"
	case DocArrival:
		return "CEB507Message"
	case DocDeparture:
		return "CEB509Message"
	case DocCancel:
		return "CEB605Message"
	case DocSummary:
		return "CEB701Message"
	}
	return ""
}

// MaxDocParcels is the most parcels one message of a document lists; a
// larger document is split into parts numbered msgSeqNo 1..msgCount. The
// XSD leaves the list unbounded; 1,000 rows keep one message near 150 KB.
const MaxDocParcels = 1000

// Document is one customs document: the head fields of its message under
// their CEB names (each kind uses the ones its XSD has), and the parcels it
// lists. It is the payload of clearway.documents.v1, one part a message.
type Document struct {
	Kind   DocKind `json:"kind"`
	ID     string  `json:"documentId"` // the whole document: ids of its parts share it
	Tenant string  `json:"tenant"`
	// CopNo is the sender's own number for the document, unique per kind
	// and sender; for a cancel, the inventory's copNo.
	CopNo       string `json:"copNo"`
	CustomsCode string `json:"customsCode"`

	AgentCode     string `json:"agentCode,omitempty"` // consolidation, cancel, summary
	AgentName     string `json:"agentName,omitempty"`
	LogisticsCode string `json:"logisticsCode,omitempty"` // consolidation, arrival, departure
	LogisticsName string `json:"logisticsName,omitempty"`
	OperatorCode  string `json:"operatorCode,omitempty"` // arrival: the supervised site's operator
	OperatorName  string `json:"operatorName,omitempty"`
	LoctNo        string `json:"loctNo,omitempty"` // supervised site code

	TrafMode       string  `json:"trafMode,omitempty"`
	TrafName       string  `json:"trafName,omitempty"`
	VoyageNo       string  `json:"voyageNo,omitempty"`
	BillNo         string  `json:"billNo,omitempty"`
	DomesticTrafNo string  `json:"domesticTrafNo,omitempty"` // truck to the site (arrival, consolidation)
	GrossWeight    Decimal `json:"grossWeight,omitzero"`     // consolidation, kg
	LeaveTime      string  `json:"leaveTime,omitempty"`      // departure: YYYYMMDDhhmmss, China time

	InvtNo string `json:"invtNo,omitempty"` // cancel: the inventory's customs number
	Reason string `json:"reason,omitempty"` // cancel

	EbcCode       string `json:"ebcCode,omitempty"` // cancel, summary: the seller
	EbcName       string `json:"ebcName,omitempty"`
	DeclAgentCode string `json:"declAgentCode,omitempty"` // summary: who declares the resulting 报关单
	DeclAgentName string `json:"declAgentName,omitempty"`
	StartTime     string `json:"startTime,omitempty"`    // summary period, YYYYMMDDhhmmss
	EndTime       string `json:"endTime,omitempty"`      // summary period, YYYYMMDDhhmmss
	SummaryFlag   string `json:"summaryFlag,omitempty"`  // summary: 1 by seller
	ItemNameFlag  string `json:"itemNameFlag,omitempty"` // summary: 1 by the goods' own names

	Note string `json:"note,omitempty"`

	// MsgSeqNo and MsgCount number a split document's parts; an unsplit
	// document is part 1 of 1.
	MsgSeqNo int `json:"msgSeqNo"`
	MsgCount int `json:"msgCount"`

	// Of the whole document, carried by every part so the store can be
	// rebuilt from any: when it was accepted, how many parcels it lists,
	// and a digest of what it says (the same document posted again has the
	// same digest; a different one under its copNo does not).
	AcceptedAt  time.Time `json:"acceptedAt"`
	ParcelCount int       `json:"parcelCount"`
	Digest      string    `json:"digest,omitempty"`

	Parcels []DocParcel `json:"parcels,omitempty"`

	// HeadGUID is the head's guid of a document read from a message (the
	// customs side's view); Clearway's own documents derive it (GUID).
	HeadGUID string `json:"-"`
}

// DocParcel is one parcel a document lists.
type DocParcel struct {
	DeclarationID  string `json:"declarationId"`
	LogisticsNo    string `json:"logisticsNo"`
	TotalPackageNo string `json:"totalPackageNo,omitempty"` // the bag or pallet
	InvtNo         string `json:"invtNo,omitempty"`         // once customs numbered the inventory
}

// DocumentID is the id of the document tenant sends as copNo: the same
// document posted twice addresses the same document.
func DocumentID(kind DocKind, tenant, copNo string) string {
	return uuid.NewHash(sha1.New(), namespace, []byte("document\x00"+string(kind)+"\x00"+tenant+"\x00"+copNo), 5).String()
}

// GUID is the CEB guid of this part's head: one per part, stable, upper-case.
func (d *Document) GUID() string {
	return strings.ToUpper(uuid.NewHash(sha1.New(), namespace, []byte("part\x00"+d.ID+"\x00"+strconv.Itoa(d.MsgSeqNo)), 5).String())
}

// Parts splits the document into the messages it is sent in, at most
// MaxDocParcels parcels each, numbered 1..n. A document that lists no
// parcels (a cancel, a summary by period) is one part.
func (d *Document) Parts() []Document {
	n := max(1, (len(d.Parcels)+MaxDocParcels-1)/MaxDocParcels)
	parts := make([]Document, n)
	for i := range parts {
		p := *d
		p.MsgSeqNo, p.MsgCount = i+1, n
		if len(d.Parcels) > 0 {
			p.Parcels = d.Parcels[i*MaxDocParcels : min(len(d.Parcels), (i+1)*MaxDocParcels)]
		}
		parts[i] = p
	}
	return parts
}

// WaybillGUID is the CEB guid of a declaration's logistics waybill
// (CEB505): the inventory's own guid. A parcel has one waybill, guids are
// unique per message type, and a CEB506 receipt, which echoes it, then
// names its declaration without a lookup.
func (d *Declaration) WaybillGUID() string { return d.GUID() }

// GoodsInfo is the waybill's 主要货物信息: the goods' names, as far as 200
// characters go.
func (d *Declaration) GoodsInfo() string {
	var b strings.Builder
	n := 0
	for i, l := range d.Items {
		name := l.Gname
		if i > 0 {
			name = "," + name
		}
		r := []rune(name)
		if n+len(r) > 200 {
			break
		}
		b.WriteString(name)
		n += len(r)
	}
	return b.String()
}

// CheckDocument checks a document against the 202205 rules of its message
// (lengths, codes, what each kind requires), with paths as the request
// named the fields.
func CheckDocument(d *Document) []errs.FieldError {
	c := &checker{}
	c.text("copNo", d.CopNo, true, 30)
	c.digits("customsCode", d.CustomsCode, 4)
	c.text("note", d.Note, false, 1000)
	c.text("loctNo", d.LoctNo, false, 10)
	transport := func(nameRequired, voyageRequired, billRequired bool) {
		c.company("logisticsCode", d.LogisticsCode)
		c.text("logisticsName", d.LogisticsName, true, 100)
		if !codes.TransportMode.Known(d.TrafMode) {
			c.fail("trafMode", CodeUnknownCode, "trafMode %q is not a customs transport mode (5 is air)", d.TrafMode)
		}
		c.text("trafName", d.TrafName, nameRequired, 100)
		c.text("voyageNo", d.VoyageNo, voyageRequired, 32)
		c.text("billNo", d.BillNo, billRequired, 37)
	}
	switch d.Kind {
	case DocConsolidation:
		c.company("agentCode", d.AgentCode)
		c.text("agentName", d.AgentName, true, 100)
		transport(true, true, true)
		c.text("domesticTrafNo", d.DomesticTrafNo, false, 100)
		c.decimal("grossWeight", d.GrossWeight, true, true)
	case DocArrival:
		c.company("operatorCode", d.OperatorCode)
		c.text("operatorName", d.OperatorName, true, 100)
		transport(false, false, false)
		c.text("domesticTrafNo", d.DomesticTrafNo, true, 100)
	case DocDeparture:
		transport(false, false, false)
		if _, err := time.ParseInLocation("20060102150405", d.LeaveTime, time.UTC); err != nil || len(d.LeaveTime) != 14 {
			c.fail("leaveTime", CodeFormat, "leaveTime must be a time, got %q", d.LeaveTime)
		}
	case DocCancel:
		if n := len(d.InvtNo); n < 18 || n > 20 {
			c.fail("invtNo", CodeLength, "the inventory has no customs number (invtNo) yet; customs can cancel only an inventory it numbered")
		}
		c.text("reason", d.Reason, true, 1000)
		c.company("agentCode", d.AgentCode)
		c.text("agentName", d.AgentName, true, 100)
		c.company("ebcCode", d.EbcCode)
		c.text("ebcName", d.EbcName, true, 100)
	case DocSummary:
		c.company("agentCode", d.AgentCode)
		c.text("agentName", d.AgentName, true, 100)
		c.company("ebcCode", d.EbcCode)
		c.text("ebcName", d.EbcName, true, 100)
		c.company("declAgentCode", d.DeclAgentCode)
		c.text("declAgentName", d.DeclAgentName, true, 100)
		if d.ItemNameFlag != "0" && d.ItemNameFlag != "1" {
			c.fail("itemNameFlag", CodeFormat, "itemNameFlag must be 1 (by the goods' own names) or 0 (by customs' classification), got %q", d.ItemNameFlag)
		}
	default:
		c.fail("kind", CodeFormat, "unknown document kind %q", d.Kind)
	}
	if d.Kind != DocCancel && len(d.Parcels) == 0 {
		c.fail("parcels", CodeRequired, "the %s lists no parcel", d.Kind)
	}
	bagLength := 37 // totalPackageNo: 60 in CEB607's WayBillList, 37 elsewhere
	if d.Kind == DocConsolidation {
		bagLength = 60
	}
	for i, p := range d.Parcels {
		c.prefix = "parcels[" + strconv.Itoa(i) + "]."
		c.text("totalPackageNo", p.TotalPackageNo, false, bagLength)
		if d.Kind == DocSummary && p.InvtNo == "" {
			c.fail("invtNo", CodeRequired, "a summarised inventory needs its customs number")
		}
	}
	return c.errs
}
