package customs

import (
	"strings"
	"unicode/utf8"
)

// Rules are the per-request checks beyond the 202205 standard that the
// city's plan asks of the channel.
type Rules struct {
	// RealName: the parcel must carry its sender's name and identity
	// document (实名收寄), configured per courier.
	RealName bool
	HS       HSRules
}

// HSRules hold HS code prefixes: goods that may not be sent at all, and
// goods that need a licence (licenseNo on the parcel).
type HSRules struct {
	Prohibited []string
	Licensed   []string
}

// Identity document types for real-name sending.
const (
	IDResident = "1" // 居民身份证: 18 characters with an ISO 7064 MOD 11-2 check digit
	IDPassport = "2" // 护照
	IDHKMacao  = "3" // 港澳居民来往内地通行证: H or M and 8 or 10 digits
	IDTaiwan   = "4" // 台湾居民来往大陆通行证: 8 digits
	IDCompany  = "5" // 统一社会信用代码, for a company sender: 18 characters
)

// Codes of screening failures.
const (
	CodeIDInvalid     = "id_invalid"
	CodeBlacklisted   = "blacklisted"
	CodeHSProhibited  = "hs_prohibited"
	CodeHSLicenceNeed = "hs_licence_required"
)

// checkSender applies real-name sending. Messages never echo the ID number.
func checkSender(c *checker, p *Parcel, required bool) {
	if !required && p.SenderName == "" && p.SenderIDNo == "" {
		return
	}
	c.text("senderName", p.SenderName, true, 100)
	if p.SenderIDNo == "" {
		c.fail("senderIdNo", CodeRequired, "senderIdNo is required for real-name sending")
		return
	}
	if !ValidID(p.SenderIDType, p.SenderIDNo) {
		c.fail("senderIdNo", CodeIDInvalid, "senderIdNo is not a valid document of type %q (1 resident ID, 2 passport, 3 HK/Macao permit, 4 Taiwan permit, 5 credit code)", p.SenderIDType)
	}
}

// ValidID checks an identity document number of the given type.
func ValidID(idType, no string) bool {
	switch idType {
	case IDResident:
		return validResidentID(no)
	case IDPassport:
		return len(no) >= 5 && len(no) <= 20 && alnum(no)
	case IDHKMacao:
		return (len(no) == 9 || len(no) == 11) && (no[0] == 'H' || no[0] == 'M') && digits(no[1:])
	case IDTaiwan:
		return len(no) == 8 && digits(no)
	case IDCompany:
		return len(no) == 18 && alnum(no)
	}
	return false
}

// residentWeights are the GB 11643 weights of the first 17 digits.
var residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// validResidentID checks a PRC resident ID: 17 digits, then the
// ISO 7064 MOD 11-2 check character (0-9 or X).
func validResidentID(no string) bool {
	if len(no) != 18 || !digits(no[:17]) {
		return false
	}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(no[i]-'0') * residentWeights[i]
	}
	return no[17] == "10X98765432"[sum%11]
}

func digits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// MaskID keeps the first 4 and last 4 characters of an identity number.
func MaskID(no string) string {
	if len(no) <= 8 {
		return strings.Repeat("*", len(no))
	}
	return no[:4] + strings.Repeat("*", len(no)-8) + no[len(no)-4:]
}

// MaskName keeps a name's first character.
func MaskName(name string) string {
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return ""
	}
	r, _ := utf8.DecodeRuneInString(name)
	return string(r) + strings.Repeat("*", max(n-1, 1))
}

// checkHS holds back goods whose HS code is prohibited, or needs a licence
// the parcel does not carry.
func checkHS(c *checker, gcode, licenseNo string, rules HSRules) {
	for _, prefix := range rules.Prohibited {
		if strings.HasPrefix(gcode, prefix) {
			c.fail("gcode", CodeHSProhibited, "goods under HS %s… may not be exported through the channel", prefix)
			return
		}
	}
	if licenseNo != "" {
		return
	}
	for _, prefix := range rules.Licensed {
		if strings.HasPrefix(gcode, prefix) {
			c.fail("gcode", CodeHSLicenceNeed, "goods under HS %s… need an export licence: give licenseNo", prefix)
			return
		}
	}
}

// Blacklist kinds (违法失信主体黑名单).
const (
	BlacklistCompany   = "company"   // matched against ebcCode, ownerCode and agentCode
	BlacklistSenderID  = "senderId"  // matched against the sender's identity number
	BlacklistConsignee = "consignee" // matched against the consignee's name
)

// BlacklistKinds lists the kinds.
var BlacklistKinds = []string{BlacklistCompany, BlacklistSenderID, BlacklistConsignee}

// BlacklistProbe is one value of a parcel to look up in the blacklist,
// and the field it came from.
type BlacklistProbe struct {
	Kind  string
	Value string
	Field string
}

// BlacklistProbes lists what of parcel i is looked up in the blacklist.
func BlacklistProbes(p *Parcel) []BlacklistProbe {
	out := []BlacklistProbe{
		{BlacklistCompany, p.EbcCode, "ebcCode"}, {BlacklistCompany, p.OwnerCode, "ownerCode"}, {BlacklistCompany, p.AgentCode, "agentCode"},
	}
	if p.SenderIDNo != "" {
		out = append(out, BlacklistProbe{BlacklistSenderID, p.SenderIDNo, "senderIdNo"})
	}
	if p.ConsigneeName != "" {
		out = append(out, BlacklistProbe{BlacklistConsignee, NormalizeName(p.ConsigneeName), "consigneeName"})
	}
	return out
}

// NormalizeName folds a person's name for matching: trimmed, single
// spaces, upper case (for Latin names).
func NormalizeName(name string) string {
	return strings.ToUpper(strings.Join(strings.Fields(name), " "))
}
