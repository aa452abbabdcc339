package customs

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clearway/clearway/customs/codes"
	"github.com/clearway/clearway/customs/errs"
)

// MaxParcels is the most parcels one manifest may carry.
const MaxParcels = 10000

// maxItems is the most InventoryList rows one inventory may carry (XSD).
const maxItems = 100

// Field error codes: stable, so couriers can act on them programmatically.
const (
	CodeRequired       = "required"
	CodeTooLong        = "too_long"
	CodeLength         = "wrong_length"
	CodeFormat         = "bad_format"
	CodeDecimal        = "bad_decimal"
	CodeUnknownCode    = "unknown_code"
	CodeTradeMode      = "unsupported_trade_mode"
	CodeTotalMismatch  = "total_price_mismatch"
	CodeDuplicate      = "duplicate_in_manifest"
	CodeDuplicateCopNo = "copno_taken"
	CodeWeight         = "net_over_gross"
	CodeTooMany        = "too_many"
)

// totalPriceTolerance: totalPrice must equal qty × price within one fen.
var totalPriceTolerance = big.NewRat(1, 100)

// checker gathers field errors under a JSON path prefix.
type checker struct {
	prefix string
	errs   []errs.FieldError
}

func (c *checker) fail(field, code, format string, args ...any) {
	c.errs = append(c.errs, errs.FieldError{Path: c.prefix + field, Code: code, Message: fmt.Sprintf(format, args...)})
}

// text checks a string field: required or not, and its length in characters
// (the XSD counts characters, and Chinese names are multi-byte).
func (c *checker) text(field, v string, required bool, max int) {
	n := utf8.RuneCountInString(v)
	switch {
	case n == 0 && required:
		c.fail(field, CodeRequired, "%s is required", field)
	case n > max:
		c.fail(field, CodeTooLong, "%s has %d characters; at most %d are allowed", field, n, max)
	}
}

// digits checks an exact-length numeric code such as customsCode (4).
func (c *checker) digits(field, v string, n int) {
	if v == "" {
		c.fail(field, CodeRequired, "%s is required", field)
		return
	}
	if len(v) != n || strings.Trim(v, "0123456789") != "" {
		c.fail(field, CodeLength, "%s must be exactly %d digits, got %q", field, n, v)
	}
}

// company checks a customs company code: a 10-character customs registration
// code or an 18-character unified social credit code.
func (c *checker) company(field, v string) {
	switch {
	case v == "":
		c.fail(field, CodeRequired, "%s is required", field)
	case (len(v) != 10 && len(v) != 18) || !alnum(v):
		c.fail(field, CodeFormat, "%s must be a 10-character customs code or an 18-character credit code, got %q", field, v)
	}
}

// decimal checks an exact decimal; positive requires a value above zero.
func (c *checker) decimal(field string, d Decimal, required, positive bool) {
	switch {
	case !d.Set():
		if required {
			c.fail(field, CodeRequired, "%s is required", field)
		}
	case !d.Valid():
		c.fail(field, CodeDecimal, "%s must be a non-negative decimal with at most 19 digits, 5 after the point, got %q", field, strings.TrimSpace(d.String()))
	case positive && d.Rat().Sign() == 0:
		c.fail(field, CodeDecimal, "%s must be greater than zero", field)
	}
}

// code normalises a customs parameter code given as a customs code or an ISO
// alias; any 3-digit numeric code is taken as is, since the embedded tables
// list the common codes, not all of them.
func (c *checker) code(field, v string, table *codes.Table) string {
	if v == "" {
		c.fail(field, CodeRequired, "%s is required", field)
		return ""
	}
	if code, ok := table.Normalize(v); ok {
		return code
	}
	if len(v) == 3 && strings.Trim(v, "0123456789") == "" {
		return v
	}
	c.fail(field, CodeUnknownCode, "%s %q is neither a 3-digit customs code nor a known ISO code", field, v)
	return v
}

// member checks a one-character parameter code (trafMode, wrapType) against
// its table. Unlike the 3-digit sets, these sets are short and the table lists
// every code Clearway lets through, so a code not in it is rejected.
func (c *checker) member(field, v string, table *codes.Table) {
	switch {
	case v == "":
		c.fail(field, CodeRequired, "%s is required", field)
	case utf8.RuneCountInString(v) != 1:
		c.fail(field, CodeLength, "%s must be one character, got %q", field, v)
	case !table.Known(v):
		c.fail(field, CodeUnknownCode, "%s %q is not a known code", field, v)
	}
}

// exportMode is what a supervision mode (监管方式, tradeMode) changes in a
// CEB603 export inventory.
type exportMode struct {
	// zone: 特殊区域出口, goods leave a special customs zone under an account
	// book. The spec (表2-38) makes iacCode and iacName "特殊区域出口模式必填",
	// emsNo "特殊区域出口模式必须填写具体账号" and, per item, itemRecordNo
	// "保税出口模式必填".
	zone bool
	// b2b: the goods go to a company abroad (the buyer, or an overseas
	// warehouse), not to a consumer; statisticsFlag must be B.
	b2b bool
}

// exportModes are the modes the spec's tradeMode row (表2-38) names:
// "一般出口填9610，特殊区域出口填1210，B2B出口填9710，出口海关仓填9810".
//
// 9710 (B2B direct export) and 9810 (export to an overseas warehouse) use the
// same inventory as 9610. The spec says little else about them: ebpName may be
// the overseas warehouse's name and orderNo its booking number (订仓单), which
// changes no check; the order (CEB303, not this message) carries orderType B
// or W. The spec is silent on their statisticsFlag, so this is our decision,
// not the spec's: B (summary) only. A is the retail simplification (CEB604's
// statisticsFlag row: goods with no licence, no export duty and no export
// rebate, HS code by its first 4 digits); we treat B2B goods as declared in
// full and summarised into a 报关单, so their HS code is always 10 digits.
var exportModes = map[string]exportMode{
	"9610": {},
	"1210": {zone: true},
	"9710": {b2b: true},
	"9810": {b2b: true},
}

// KnownTradeMode reports whether Clearway declares under tradeMode.
func KnownTradeMode(tradeMode string) bool {
	_, ok := exportModes[tradeMode]
	return ok
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('0' <= b && b <= '9' || 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z') {
			return false
		}
	}
	return true
}

// CheckManifest checks the manifest's own fields (not its parcels).
func CheckManifest(m *Manifest) []errs.FieldError {
	c := &checker{}
	c.text("manifestNo", m.ManifestNo, true, 64)
	if m.CustomsCode != "" {
		c.digits("customsCode", m.CustomsCode, 4)
	}
	if m.PortCode != "" {
		c.digits("portCode", m.PortCode, 4)
	}
	if m.IeDate != "" {
		checkDate(c, "ieDate", m.IeDate)
	}
	if t := m.Transport; t != nil {
		c.prefix = "transport."
		if t.TrafMode != "" {
			c.member("trafMode", t.TrafMode, codes.TransportMode)
		}
		c.text("trafName", t.TrafName, false, 100)
		c.text("voyageNo", t.VoyageNo, false, 32)
		c.text("billNo", t.BillNo, false, 37)
	}
	if len(m.Parcels) == 0 {
		c.prefix = ""
		c.fail("parcels", CodeRequired, "a manifest needs at least one parcel")
	}
	return c.errs
}

func checkDate(c *checker, field, v string) {
	if _, err := time.Parse("20060102", v); err != nil || len(v) != 8 {
		c.fail(field, CodeFormat, "%s must be a date as YYYYMMDD, got %q", field, v)
	}
}

// Declare turns parcel i of m into the declaration that tenant sends, with
// the 202205 rules applied. It returns the field errors instead when the
// parcel cannot be declared. today is the default ieDate (YYYYMMDD).
func Declare(m *Manifest, i int, tenant, today string, rules Rules) (Declaration, []errs.FieldError) {
	p := &m.Parcels[i]
	c := &checker{prefix: "parcels[" + strconv.Itoa(i) + "]."}

	h := Head{
		CustomsCode: first(p.CustomsCode, m.CustomsCode), PortCode: first(p.PortCode, m.PortCode),
		IeDate: first(p.IeDate, m.IeDate, today), CopNo: first(p.CopNo, p.LogisticsNo),
		LogisticsNo: p.LogisticsNo, OrderNo: p.OrderNo, TradeMode: p.TradeMode, StatisticsFlag: p.StatisticsFlag,
		EbpCode: p.EbpCode, EbpName: p.EbpName, EbcCode: p.EbcCode, EbcName: p.EbcName,
		OwnerCode: p.OwnerCode, OwnerName: p.OwnerName, AgentCode: p.AgentCode, AgentName: p.AgentName,
		LogisticsCode: p.LogisticsCode, LogisticsName: p.LogisticsName,
		IacCode: p.IacCode, IacName: p.IacName, EmsNo: p.EmsNo,
		Pod: p.Pod, Freight: p.Freight, InsuredFee: p.InsuredFee, WrapType: p.WrapType,
		PackNo: p.PackNo.String(), GrossWeight: p.GrossWeight, NetWeight: p.NetWeight, Note: p.Note, LicenseNo: p.LicenseNo,
		TrafMode: "5", // the green channel is an airport: air unless the manifest says otherwise
	}
	if t := m.Transport; t != nil {
		h.TrafMode = first(t.TrafMode, h.TrafMode)
		h.TrafName, h.VoyageNo, h.BillNo = t.TrafName, t.VoyageNo, t.BillNo
	}

	c.text("logisticsNo", h.LogisticsNo, true, 32)
	if p.CopNo == "" && utf8.RuneCountInString(h.LogisticsNo) > 30 {
		c.fail("copNo", CodeRequired, "copNo defaults to logisticsNo, which is longer than 30 characters; give a copNo")
	} else {
		c.text("copNo", h.CopNo, true, 30)
	}
	c.text("orderNo", h.OrderNo, true, 60)
	mode, modeOK := exportModes[h.TradeMode]
	switch {
	case h.TradeMode == "":
		c.fail("tradeMode", CodeRequired, "tradeMode is required (9610, 1210, 9710 or 9810)")
	case !modeOK:
		c.fail("tradeMode", CodeTradeMode, "tradeMode must be 9610, 1210, 9710 or 9810, got %q", h.TradeMode)
	}
	switch h.StatisticsFlag {
	case "A":
		if mode.b2b {
			c.fail("statisticsFlag", CodeFormat, "statisticsFlag must be B (summary) for B2B tradeMode %s; A (simplified) is for retail parcels", h.TradeMode)
		}
	case "B":
	case "":
		c.fail("statisticsFlag", CodeRequired, "statisticsFlag is required (A simplified, B summary)")
	default:
		c.fail("statisticsFlag", CodeFormat, "statisticsFlag must be A or B, got %q", h.StatisticsFlag)
	}
	c.digits("customsCode", h.CustomsCode, 4)
	c.digits("portCode", h.PortCode, 4)
	checkDate(c, "ieDate", h.IeDate)
	for _, f := range []struct{ name, code, nm string }{
		{"ebpCode", h.EbpCode, h.EbpName}, {"ebcCode", h.EbcCode, h.EbcName},
		{"ownerCode", h.OwnerCode, h.OwnerName}, {"agentCode", h.AgentCode, h.AgentName},
		{"logisticsCode", h.LogisticsCode, h.LogisticsName},
	} {
		c.company(f.name, f.code)
		c.text(strings.TrimSuffix(f.name, "Code")+"Name", f.nm, true, 100)
	}
	if mode.zone {
		c.company("iacCode", h.IacCode)
		c.text("iacName", h.IacName, true, 100)
		c.text("emsNo", h.EmsNo, true, 30)
	} else {
		if h.IacCode != "" {
			c.company("iacCode", h.IacCode)
		}
		c.text("iacName", h.IacName, false, 100)
		c.text("emsNo", h.EmsNo, false, 30)
	}
	if h.TrafMode != "" {
		c.member("transport.trafMode", h.TrafMode, codes.TransportMode)
	}
	h.Country = c.code("country", p.Country, codes.Country)
	if n := len(h.Pod); n < 3 || n > 4 || !alnum(h.Pod) {
		if h.Pod == "" {
			c.fail("pod", CodeRequired, "pod (port of destination) is required")
		} else {
			c.fail("pod", CodeFormat, "pod must be a 3- or 4-character port code, got %q", h.Pod)
		}
	}
	// Freight and insurance are often not charged separately on a parcel:
	// absent means zero, in CNY.
	if !h.Freight.Set() {
		h.Freight = Decimal{text: "0"}
	}
	if !h.InsuredFee.Set() {
		h.InsuredFee = Decimal{text: "0"}
	}
	c.decimal("freight", h.Freight, true, false)
	c.decimal("insuredFee", h.InsuredFee, true, false)
	h.FCurrency = c.code("fCurrency", first(p.FCurrency, "142"), codes.Currency)
	h.ICurrency = c.code("iCurrency", first(p.ICurrency, "142"), codes.Currency)
	c.member("wrapType", h.WrapType, codes.WrapType)
	c.decimal("packNo", p.PackNo, true, true)
	if p.PackNo.Valid() && (!p.PackNo.IsInteger() || len(p.PackNo.String()) > 9) {
		c.fail("packNo", CodeFormat, "packNo must be a whole number of at most 9 digits")
	}
	c.decimal("grossWeight", h.GrossWeight, true, true)
	c.decimal("netWeight", h.NetWeight, true, true)
	if h.GrossWeight.Valid() && h.NetWeight.Valid() && h.NetWeight.Rat().Cmp(h.GrossWeight.Rat()) > 0 {
		c.fail("netWeight", CodeWeight, "netWeight %s is more than grossWeight %s", h.NetWeight, h.GrossWeight)
	}
	c.text("note", h.Note, false, 1000)
	c.text("licenseNo", h.LicenseNo, false, 19)
	checkSender(c, p, rules.RealName)
	c.text("consigneeName", p.ConsigneeName, false, 100)

	switch {
	case len(p.Items) == 0:
		c.fail("items", CodeRequired, "a parcel needs at least one item")
	case len(p.Items) > maxItems:
		c.fail("items", CodeTooMany, "a parcel has at most %d items, got %d", maxItems, len(p.Items))
	}
	lines := make([]Line, 0, len(p.Items))
	parcelPrefix := c.prefix
	for j := range p.Items {
		c.prefix = parcelPrefix + "items[" + strconv.Itoa(j) + "]."
		lines = append(lines, checkItem(c, p.Items[j], j+1, &h, mode, rules.HS))
	}
	c.prefix = parcelPrefix
	if len(c.errs) > 0 {
		return Declaration{}, c.errs
	}
	d := Declaration{ID: DeclarationID(h.AgentCode, h.CopNo), Tenant: tenant, ManifestID: ManifestID(tenant, m.ManifestNo), ManifestNo: m.ManifestNo, Head: h, Items: lines}
	if p.SenderIDNo != "" || p.ConsigneeName != "" {
		d.Sender = &Sender{Name: MaskName(p.SenderName), IDType: p.SenderIDType, IDNo: MaskID(p.SenderIDNo), ConsigneeName: MaskName(p.ConsigneeName)}
	}
	return d, nil
}

func checkItem(c *checker, it Item, gnum int, h *Head, mode exportMode, hs HSRules) Line {
	c.text("itemNo", it.ItemNo, true, 20)
	c.text("itemRecordNo", it.ItemRecordNo, mode.zone, 30)
	c.text("itemName", it.ItemName, false, 250)
	// Flag A (simplified) lets the HS code be given by its first 4 digits;
	// the XSD still wants 10 characters, so it is padded with zeros. Never for
	// B2B modes, which take no flag A (see exportModes).
	if h.StatisticsFlag == "A" && !mode.b2b && len(it.Gcode) == 4 && strings.Trim(it.Gcode, "0123456789") == "" {
		it.Gcode += "000000"
	}
	c.digits("gcode", it.Gcode, 10)
	checkHS(c, it.Gcode, h.LicenseNo, hs)
	c.text("gname", it.Gname, true, 250)
	it.Gmodel = strings.Join(strings.Fields(it.Gmodel), " ")
	c.text("gmodel", it.Gmodel, true, 250)
	it.BarCode = first(strings.TrimSpace(it.BarCode), "无") // customs wants 无 when there is no bar code
	c.text("barCode", it.BarCode, true, 50)
	it.Country = c.code("country", it.Country, codes.Country)
	it.Currency = c.code("currency", it.Currency, codes.Currency)
	it.Unit = c.code("unit", it.Unit, codes.Unit)
	it.Unit1 = c.code("unit1", it.Unit1, codes.Unit)
	c.decimal("qty", it.Qty, true, true)
	c.decimal("qty1", it.Qty1, true, true)
	c.decimal("qty2", it.Qty2, false, true)
	if it.Qty2.Set() || it.Unit2 != "" {
		it.Unit2 = c.code("unit2", it.Unit2, codes.Unit)
	}
	c.decimal("price", it.Price, true, false)
	c.decimal("totalPrice", it.TotalPrice, true, false)
	if it.Qty.Valid() && it.Price.Valid() && it.TotalPrice.Valid() {
		want := new(big.Rat).Mul(it.Qty.Rat(), it.Price.Rat())
		diff := new(big.Rat).Sub(want, it.TotalPrice.Rat())
		if diff.Abs(diff).Cmp(totalPriceTolerance) > 0 {
			c.fail("totalPrice", CodeTotalMismatch, "totalPrice %s is not qty × price = %s", it.TotalPrice, DecimalFromRat(want))
		}
	}
	c.text("note", it.Note, false, 1000)
	return Line{Gnum: gnum, Item: it}
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
