package ceb

import (
	"fmt"
	"reflect"
	"time"
)

// Return is one flat receipt element customs sends about one document:
// InventoryReturn (CEB604), LogisticsReturn (506), ArrivalReturn (508),
// DepartureReturn (510), InvtCancelReturn (606), WayBillReturn (608),
// SummaryReturn (702) or the format-check receipt MessageReturn (900).
// Each type has the subset of these fields its XSD lists; see returnKinds.
type Return struct {
	GUID           string `xml:"guid"`
	AgentCode      string `xml:"agentCode"`
	EbcCode        string `xml:"ebcCode"`
	EbpCode        string `xml:"ebpCode"`
	OrderNo        string `xml:"orderNo"`
	StatisticsFlag string `xml:"statisticsFlag"`
	OperatorCode   string `xml:"operatorCode"` // the supervised site's operator (508)
	LogisticsCode  string `xml:"logisticsCode"`
	LogisticsNo    string `xml:"logisticsNo"`
	CopNo          string `xml:"copNo"`
	PreNo          string `xml:"preNo"` // 预录入编号: the e-port's number for the document
	InvtNo         string `xml:"invtNo"`
	BillNo         string `xml:"billNo"`
	SumNo          string `xml:"sumNo"`    // 汇总申请编号 (702)
	MsgSeqNo       string `xml:"msgSeqNo"` // the part of a split document the receipt is about
	ReturnStatus   string `xml:"returnStatus"`
	ReturnTime     string `xml:"returnTime"`
	ReturnInfo     string `xml:"returnInfo"`
	// OriCopMsgID is the CopMsgId of the envelope a format-check receipt
	// (CEB900) refuses.
	OriCopMsgID string `xml:"oriCopMsgId"`
	// Raw is the receipt element exactly as received, for the broker's view.
	Raw []byte `xml:"-"`
}

// InventoryReturn is one CEB604 receipt about one inventory.
type InventoryReturn = Return

// ReturnTimeLayout is CEB's receipt time: YYYYMMDDhhmmssfff.
const ReturnTimeLayout = "20060102150405.000"

// Time parses ReturnTime (China time); the zero time when malformed.
func (r *Return) Time() time.Time {
	if len(r.ReturnTime) != 17 {
		return time.Time{}
	}
	t, err := time.ParseInLocation(ReturnTimeLayout, r.ReturnTime[:14]+"."+r.ReturnTime[14:], ChinaTime)
	if err != nil {
		return time.Time{}
	}
	return t
}

// returnKind is one receipt message: its root, its receipt element, the
// element's XSD sequence, and the field that says what the receipt is
// about.
type returnKind struct {
	root, elem string
	seq        []field
	id         string
	max        int // the XSD's maxOccurs of elem
}

// returnKinds holds the sequences of ceb-export-202205.xsd (and, for
// CEB900, ceb-import-202205.xsd). CEB900's oriMessageType and
// oriBizMessage have no Return field: they are written empty, as the XSD
// allows, and not kept when read.
var returnKinds = map[string]*returnKind{}

func init() {
	for _, k := range []returnKind{
		{"CEB604Message", "InventoryReturn", sequence("guid agentCode copNo preNo invtNo ebcCode ebpCode orderNo statisticsFlag returnStatus returnTime returnInfo"), "copNo", 100},
		{"CEB506Message", "LogisticsReturn", sequence("guid logisticsCode logisticsNo returnStatus returnTime returnInfo"), "logisticsNo", 100},
		{"CEB508Message", "ArrivalReturn", sequence("guid operatorCode logisticsCode preNo copNo billNo msgSeqNo returnStatus returnTime returnInfo"), "copNo", 100},
		{"CEB510Message", "DepartureReturn", sequence("guid logisticsCode copNo preNo msgSeqNo returnStatus returnTime returnInfo"), "copNo", 100},
		{"CEB606Message", "InvtCancelReturn", sequence("guid agentCode copNo preNo invtNo returnStatus returnTime returnInfo"), "copNo", 100},
		{"CEB608Message", "WayBillReturn", sequence("guid agentCode logisticsCode copNo preNo billNo msgSeqNo returnStatus returnTime returnInfo"), "copNo", 100},
		{"CEB702Message", "SummaryReturn", sequence("guid agentCode ebcCode copNo preNo sumNo? msgSeqNo returnStatus returnTime returnInfo"), "copNo", 100},
		{"CEB900Message", "MessageReturn", sequence("guid returnStatus returnInfo returnTime oriCopMsgId oriMessageType oriBizMessage"), "oriCopMsgId", 1},
	} {
		returnKinds[k.root] = &k
	}
}

var returnText = textFields(reflect.TypeFor[Return](), "xml")

// ParseReturns parses any receipt message Clearway reads: the root says
// which, and each receipt keeps its element as received in Raw. A receipt
// without returnStatus, or without what identifies its document (copNo;
// logisticsNo for CEB506; oriCopMsgId for CEB900), is an error.
func ParseReturns(b []byte) (root string, returns []Return, err error) {
	var k *returnKind
	root, _, err = read(b, func(root string) (string, int, error) {
		if k = returnKinds[root]; k == nil {
			return "", 0, fmt.Errorf("%s is not a receipt message", root)
		}
		return k.elem, k.max, nil
	}, func(el *node, raw []byte) error {
		var r Return
		el.fill(&r, returnText, k.seq)
		for _, required := range []string{k.id, "returnStatus"} {
			if *text(&r, returnText, required) == "" {
				return fmt.Errorf("lacks %s", required)
			}
		}
		r.Raw = raw
		returns = append(returns, r)
		return nil
	})
	if err != nil {
		return root, nil, err
	}
	return root, returns, nil
}

// RenderReturns renders receipts as customs sends them (the simulator's
// side): root names the message, e.g. CEB508Message.
func RenderReturns(root, guid string, returns []Return) ([]byte, error) {
	k := returnKinds[root]
	if k == nil {
		return nil, fmt.Errorf("ceb: %s is not a receipt message", root)
	}
	if len(returns) == 0 || len(returns) > k.max {
		return nil, fmt.Errorf("ceb: %s holds 1 to %d %s, not %d", root, k.max, k.elem, len(returns))
	}
	return k.render(guid, returns), nil
}

func (k *returnKind) render(guid string, returns []Return) []byte {
	w := &writer{}
	w.buf.Grow(512 * len(returns))
	w.begin(k.root, guid)
	for i := range returns {
		w.group(k.elem, k.seq, valueOf(&returns[i], returnText))
	}
	return w.end(k.root)
}

// ParseCEB604 parses an export inventory receipt message.
func ParseCEB604(b []byte) ([]InventoryReturn, error) {
	root, rs, err := ParseReturns(b)
	if err != nil {
		return nil, err
	}
	if root != "CEB604Message" {
		return nil, fmt.Errorf("ceb: expected CEB604Message, got %s", root)
	}
	return rs, nil
}

// RenderCEB604 renders inventory receipts as customs sends them.
func RenderCEB604(guid string, returns []InventoryReturn) []byte {
	return returnKinds["CEB604Message"].render(guid, returns)
}
