package customs

import "testing"

func TestResidentIDCheckDigit(t *testing.T) {
	for id, valid := range map[string]bool{
		"11010519491231002X": true,  // GB 11643 example, check character X
		"440524188001010014": true,  // check digit 4
		"110105194912310021": false, // wrong check digit
		"11010519491231002":  false, // 17 characters
		"1101051949123100AX": false,
	} {
		if got := ValidID(IDResident, id); got != valid {
			t.Errorf("%s: valid %v, want %v", id, got, valid)
		}
	}
	if !ValidID(IDHKMacao, "H12345678") || ValidID(IDHKMacao, "X12345678") || !ValidID(IDTaiwan, "12345678") || ValidID("9", "whatever") {
		t.Error("other document types")
	}
}

func TestMasksHideTheMiddle(t *testing.T) {
	if got := MaskID("11010519491231002X"); got != "1101**********002X" {
		t.Errorf("MaskID = %s", got)
	}
	if got := MaskName("张三丰"); got != "张**" {
		t.Errorf("MaskName = %s", got)
	}
	if got := MaskID("1234"); got != "****" {
		t.Errorf("short ids are masked whole: %s", got)
	}
}

func TestRealNameAndHSRules(t *testing.T) {
	rules := Rules{RealName: true, HS: HSRules{Prohibited: []string{"9302"}, Licensed: []string{"6404"}}}
	m := loadExample(t)
	_, errs := Declare(&m, 0, "t", "20261128", rules)
	want := map[string]string{"parcels[0].senderName": CodeRequired, "parcels[0].senderIdNo": CodeRequired, "parcels[0].items[0].gcode": CodeHSLicenceNeed}
	for _, e := range errs {
		if want[e.Path] == e.Code {
			delete(want, e.Path)
		}
	}
	if len(want) != 0 {
		t.Fatalf("missing %v in %v", want, errs)
	}
	p := &m.Parcels[0]
	p.SenderName, p.SenderIDType, p.SenderIDNo, p.LicenseNo = "张三", IDResident, "11010519491231002X", "LIC-2026-001"
	d, errs := Declare(&m, 0, "t", "20261128", rules)
	if errs != nil {
		t.Fatalf("with sender and licence: %v", errs)
	}
	if d.Sender == nil || d.Sender.IDNo != "1101**********002X" || d.Sender.Name != "张*" || d.Head.LicenseNo != "LIC-2026-001" {
		t.Fatalf("declaration keeps %+v", d.Sender)
	}
	p.Items[0].Gcode = "9302000000"
	if _, errs := Declare(&m, 0, "t", "20261128", rules); len(errs) != 1 || errs[0].Code != CodeHSProhibited {
		t.Fatalf("prohibited goods: %v", errs)
	}
	p.Items[0].Gcode, p.SenderIDNo = "6404110000", "110105194912310021"
	if _, errs := Declare(&m, 0, "t", "20261128", rules); len(errs) != 1 || errs[0].Code != CodeIDInvalid {
		t.Fatalf("bad check digit: %v", errs)
	}
}
