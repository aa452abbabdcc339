package ceb

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/clearway/clearway/customs"
)

const importXSD = xsdDir + "/ceb-import-202205.xsd" // CEB900 lives in the import schema

// exampleDocuments are the documents of the example manifest's two
// parcels, one of each kind, as the courier QZ Express would send them.
func exampleDocuments(t *testing.T) map[customs.DocKind][]customs.Document {
	t.Helper()
	ds := exampleDeclarations(t)
	doc := func(kind customs.DocKind, copNo string) customs.Document {
		return customs.Document{Kind: kind, ID: customs.DocumentID(kind, "qz-express", copNo), Tenant: "qz-express",
			CopNo: copNo, CustomsCode: "3717", MsgSeqNo: 1, MsgCount: 1}
	}
	// parcels lists both parcels with what a kind's list carries.
	parcels := func(bags, invtNos bool) []customs.DocParcel {
		ps := make([]customs.DocParcel, len(ds))
		for i, d := range ds {
			ps[i] = customs.DocParcel{DeclarationID: d.ID, LogisticsNo: d.Head.LogisticsNo}
			if bags && i == 0 { // the second parcel travels loose: no totalPackageNo
				ps[i].TotalPackageNo = "QZBAG20261128001"
			}
			if invtNos {
				ps[i].InvtNo = fmt.Sprintf("37172026E%09d", i+1)
			}
		}
		return ps
	}

	wb := doc(customs.DocConsolidation, "WB-20261128-CZ8471")
	wb.AgentCode, wb.AgentName = "3502980XYZ", "泉州顺达报关有限公司"
	wb.LogisticsCode, wb.LogisticsName = "3502680EMS", "泉州速递物流有限公司"
	wb.TrafMode, wb.TrafName, wb.VoyageNo, wb.BillNo = "5", "CZ8471", "CZ8471", "784-12345675"
	wb.DomesticTrafNo, wb.GrossWeight = "闽C·D2345", customs.MustDecimal("2.05")
	wb.Parcels = parcels(true, true)

	ar := doc(customs.DocArrival, "AR-20261128-0001")
	ar.OperatorCode, ar.OperatorName, ar.LoctNo = "3505960JJG", "晋江国际机场货运站有限公司", "37179001"
	ar.LogisticsCode, ar.LogisticsName = "3502680EMS", "泉州速递物流有限公司"
	ar.TrafMode, ar.BillNo, ar.DomesticTrafNo = "5", "784-12345675", "闽C·D2345"
	ar.Parcels = parcels(true, false)

	dp := doc(customs.DocDeparture, "DP-20261128-CZ8471")
	dp.LogisticsCode, dp.LogisticsName = "3502680EMS", "泉州速递物流有限公司"
	dp.TrafMode, dp.TrafName, dp.VoyageNo, dp.BillNo = "5", "CZ8471", "CZ8471", "784-12345675"
	dp.LeaveTime, dp.Note = "20261128233500", "航班实际起飞"
	dp.Parcels = parcels(true, false)

	var cancels []customs.Document
	for i, d := range ds {
		c := doc(customs.DocCancel, d.Head.CopNo)
		c.InvtNo, c.Reason = fmt.Sprintf("37172026E%09d", i+1), "买家取消订单，包裹未出境"
		c.AgentCode, c.AgentName = d.Head.AgentCode, d.Head.AgentName
		c.EbcCode, c.EbcName = d.Head.EbcCode, d.Head.EbcName
		cancels = append(cancels, c)
	}

	sa := doc(customs.DocSummary, "SA-202611-3502960ABC")
	sa.AgentCode, sa.AgentName = "3502980XYZ", "泉州顺达报关有限公司"
	sa.EbcCode, sa.EbcName = "3502960ABC", "晋江鞋服电子商务有限公司"
	sa.DeclAgentCode, sa.DeclAgentName = "3502980XYZ", "泉州顺达报关有限公司"
	sa.SummaryFlag, sa.ItemNameFlag = "1", "1"
	sa.Parcels = []customs.DocParcel{{DeclarationID: ds[1].ID, InvtNo: "37172026E000000002"}} // the B-flag inventory

	return map[customs.DocKind][]customs.Document{
		customs.DocConsolidation: {wb}, customs.DocArrival: {ar}, customs.DocDeparture: {dp},
		customs.DocCancel: cancels, customs.DocSummary: {sa},
	}
}

func renderDocs(t *testing.T, docs []customs.Document) []byte {
	t.Helper()
	b, err := RenderDocuments(goldenGUID, docs, sender, fixedTime)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// renderedMessages is every message Clearway renders, by golden file name.
func renderedMessages(t *testing.T) map[string][]byte {
	docs := exampleDocuments(t)
	msgs := map[string][]byte{"CEB505Message.xml": RenderCEB505(goldenGUID, exampleDeclarations(t), sender, fixedTime)}
	for _, kind := range []customs.DocKind{customs.DocConsolidation, customs.DocArrival, customs.DocDeparture, customs.DocCancel, customs.DocSummary} {
		msgs[kind.MessageType()+".xml"] = renderDocs(t, docs[kind])
	}
	for root, rs := range exampleReturns(t) {
		b, err := RenderReturns(root, goldenGUID, rs)
		if err != nil {
			t.Fatal(err)
		}
		msgs[root+".xml"] = b
	}
	msgs["CEB792Message.xml"] = RenderCEB792(goldenGUID, exampleSummaryResults(t))
	return msgs
}

func TestEveryMessageMatchesGoldenAndTheOfficialXSD(t *testing.T) {
	var export []string
	for name, b := range renderedMessages(t) {
		if name == "CEB900Message.xml" { // an import-schema message: kept apart from the export goldens
			name = "import/" + name
		} else {
			export = append(export, filepath.Join("testdata", "golden", name))
		}
		golden(t, name, b)
	}
	if len(export) != 13 {
		t.Fatalf("%d export goldens, want 13", len(export))
	}
	xsdValid(t, exportXSD, export...)
	xsdValid(t, importXSD, filepath.Join("testdata", "golden", "import", "CEB900Message.xml"))
}

func TestDocumentsCarryTheirPartsAndParcels(t *testing.T) {
	msgs := renderedMessages(t)
	wb := exampleDocuments(t)[customs.DocConsolidation][0]
	for name, want := range map[string][]string{
		"CEB607Message.xml": {
			"<ceb:guid>" + wb.GUID() + "</ceb:guid>",
			"<ceb:msgCount>1</ceb:msgCount>\n<ceb:msgSeqNo>1</ceb:msgSeqNo>",
			"<ceb:gnum>1</ceb:gnum>\n<ceb:totalPackageNo>QZBAG20261128001</ceb:totalPackageNo>\n<ceb:logisticsNo>QZX100000000001</ceb:logisticsNo>\n<ceb:invtNo>37172026E000000001</ceb:invtNo>",
			"<ceb:gnum>2</ceb:gnum>\n<ceb:logisticsNo>QZX100000000002</ceb:logisticsNo>", // no bag: totalPackageNo left out
			"<ceb:grossWeight>2.05</ceb:grossWeight>",
		},
		"CEB507Message.xml": {"<ceb:ieFlag>E</ceb:ieFlag>", "<ceb:domesticTrafNo>闽C·D2345</ceb:domesticTrafNo>"},
		"CEB509Message.xml": {"<ceb:leaveTime>20261128233500</ceb:leaveTime>"},
		"CEB605Message.xml": {"<ceb:invtNo>37172026E000000002</ceb:invtNo>\n<ceb:reason>买家取消订单，包裹未出境</ceb:reason>"},
		"CEB701Message.xml": {"<ceb:SummaryApplyList>\n<ceb:invtNo>37172026E000000002</ceb:invtNo>\n</ceb:SummaryApplyList>"},
		"CEB505Message.xml": {"<ceb:goodsInfo>运动鞋</ceb:goodsInfo>", "<ceb:currency>142</ceb:currency>"},
	} {
		b := msgs[name]
		for _, w := range want {
			if !bytes.Contains(b, []byte(w)) {
				t.Errorf("%s lacks %s", name, w)
			}
		}
		if !bytes.HasSuffix(b, []byte("</ceb:BaseTransfer>\n</ceb:"+strings.TrimSuffix(name, ".xml")+">\n")) {
			t.Errorf("%s does not end with BaseTransfer", name)
		}
		if bytes.Contains(b, []byte("<ceb:preNo>")) || bytes.Contains(b, []byte("<ceb:note></ceb:note>")) {
			t.Errorf("%s writes an empty optional element", name)
		}
	}
	if n := bytes.Count(msgs["CEB605Message.xml"], []byte("<ceb:InvtCancel>")); n != 2 {
		t.Errorf("CEB605 has %d InvtCancel for 2 cancels", n)
	}
}

// sent strips what a document message does not carry: Clearway's own ids.
func sent(docs []customs.Document) []customs.Document {
	out := make([]customs.Document, len(docs))
	for i, d := range docs {
		d.HeadGUID = d.GUID() // the head's guid as rendered
		d.ID, d.Tenant = "", ""
		d.Parcels = append([]customs.DocParcel(nil), d.Parcels...)
		for j := range d.Parcels {
			d.Parcels[j].DeclarationID = ""
		}
		out[i] = d
	}
	return out
}

func TestRenderedDocumentsParseBackTheSame(t *testing.T) {
	for kind, docs := range exampleDocuments(t) {
		root, guid, back, err := ParseDocuments(renderDocs(t, docs))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if root != kind.MessageType() || guid != goldenGUID {
			t.Errorf("%s: read as %s guid %s", kind, root, guid)
		}
		if want := sent(docs); !reflect.DeepEqual(back, want) {
			t.Errorf("%s round trip:\n got %+v\nwant %+v", kind, back, want)
		}
	}
}

func TestRenderDocumentsRefusesWhatTheXSDDoesNot(t *testing.T) {
	docs := exampleDocuments(t)
	wb, dp := docs[customs.DocConsolidation][0], docs[customs.DocDeparture][0]
	unnumbered := wb
	unnumbered.MsgSeqNo, unnumbered.MsgCount = 0, 0
	bare := dp
	bare.Parcels = nil
	huge := wb
	huge.Parcels = make([]customs.DocParcel, customs.MaxDocParcels+1)
	odd := wb
	odd.Kind = "manifest"
	for name, in := range map[string][]customs.Document{
		"no document":                 nil,
		"101 documents":               make([]customs.Document, MaxDocuments+1),
		"two kinds in one message":    {wb, dp},
		"a part without its number":   {unnumbered},
		"a departure without parcels": {bare},
		"more parcels than a part":    {huge},
		"a kind without a message":    {odd},
	} {
		if b, err := RenderDocuments(goldenGUID, in, sender, fixedTime); err == nil {
			t.Errorf("%s: rendered %d bytes, want an error", name, len(b))
		}
	}
}

func TestDocumentOf2500ParcelsGoesInThreeNumberedParts(t *testing.T) {
	d := exampleDocuments(t)[customs.DocConsolidation][0]
	d.Parcels = make([]customs.DocParcel, 2500)
	for i := range d.Parcels {
		d.Parcels[i] = customs.DocParcel{LogisticsNo: fmt.Sprintf("QZX1%011d", i+1)}
	}
	parts := d.Parts()
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	guids := map[string]bool{}
	for i, p := range parts {
		_, _, back, err := ParseDocuments(renderDocs(t, []customs.Document{p}))
		if err != nil {
			t.Fatal(err)
		}
		got := back[0]
		want := []int{1000, 1000, 500}[i]
		if got.MsgCount != 3 || got.MsgSeqNo != i+1 || len(got.Parcels) != want {
			t.Errorf("part %d: msgSeqNo %d of %d with %d parcels, want %d of 3 with %d", i+1, got.MsgSeqNo, got.MsgCount, len(got.Parcels), i+1, want)
		}
		if first := fmt.Sprintf("QZX1%011d", i*1000+1); got.Parcels[0].LogisticsNo != first {
			t.Errorf("part %d starts at %s, want %s", i+1, got.Parcels[0].LogisticsNo, first)
		}
		guids[p.GUID()] = true
	}
	if len(guids) != 3 {
		t.Errorf("the parts share a head guid: %v", guids)
	}
}

func TestOfficialDocumentSamplesParse(t *testing.T) {
	for _, tc := range []struct {
		file  string
		kind  customs.DocKind
		check func(d customs.Document) bool
	}{
		{"CEB607Message.xml", customs.DocConsolidation, func(d customs.Document) bool {
			return d.CopNo == "Cop20180507001" && d.VoyageNo == "H000250" && d.BillNo == "B20180508001" && d.GrossWeight.String() == "100.3" &&
				d.MsgCount == 9 && d.MsgSeqNo == 9 && len(d.Parcels) == 1 && d.Parcels[0].LogisticsNo == "L2018050700001"
		}},
		{"CEB507Message.xml", customs.DocArrival, func(d customs.Document) bool {
			return d.OperatorCode == "1105910159" && d.DomesticTrafNo == "test" && d.BillNo == "B00024204001" &&
				len(d.Parcels) == 3 && d.Parcels[2].LogisticsNo == "L2018050700003"
		}},
		{"CEB509Message.xml", customs.DocDeparture, func(d customs.Document) bool {
			return d.LeaveTime == "20180508092201" && d.VoyageNo == "航空" && d.Parcels[0].TotalPackageNo == "1001"
		}},
		{"CEB605Message.xml", customs.DocCancel, func(d customs.Document) bool {
			return d.InvtNo == "Invt20180507000001" && d.Reason == "撤单原因" && d.EbcCode == "1105910159" && d.Parcels == nil
		}},
		{"CEB701Message.xml", customs.DocSummary, func(d customs.Document) bool {
			return d.CopNo == "C201805080001" && d.SummaryFlag == "1" && d.DeclAgentCode == "1105910159" &&
				len(d.Parcels) == 2 && d.Parcels[1].InvtNo == "Invt20180507000002"
		}},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "samples", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		root, guid, docs, err := ParseDocuments(b)
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if root+".xml" != tc.file || guid != "311af125-6fed-4603-8c5d-49b1fa4b4b9b" || len(docs) != 10 || docs[0].Kind != tc.kind {
			t.Errorf("%s: root %s guid %s, %d documents of kind %s", tc.file, root, guid, len(docs), docs[0].Kind)
		}
		if !tc.check(docs[0]) {
			t.Errorf("%s: first document %+v", tc.file, docs[0])
		}
	}
}

func TestWaybillsParseBackAndFromTheOfficialSample(t *testing.T) {
	ds := exampleDeclarations(t)
	guid, ls, err := ParseCEB505(RenderCEB505(goldenGUID, ds, sender, fixedTime))
	if err != nil {
		t.Fatal(err)
	}
	want := toLogistics(ds[1], "20261128103000")
	if guid != goldenGUID || len(ls) != 2 || ls[1] != want || ls[1].GUID != ds[1].WaybillGUID() {
		t.Fatalf("got %s %+v, want the second %+v", guid, ls, want)
	}

	b, err := os.ReadFile("testdata/samples/CEB505Message.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, ls, err = ParseCEB505(b)
	if err != nil {
		t.Fatal(err)
	}
	l := ls[0]
	if len(ls) != 10 || l.LogisticsNo != "L2018050700001" || l.LogisticsCode != "1105910159" || l.Freight != "20.50" ||
		l.PackNo != "9" || l.EbcTelephone != "15088795220" || l.GoodsInfo != "包裹" {
		t.Fatalf("%d waybills, first %+v", len(ls), l)
	}
}

// Every element a sequence names must be read and written through a field
// (or be computed): a renamed JSON or XML tag must not silently send an
// empty element.
func TestEveryElementHasAField(t *testing.T) {
	computed := map[string]bool{"guid": true, "appType": true, "appTime": true, "appStatus": true, "ieFlag": true,
		"grossWeight": true, "msgCount": true, "msgSeqNo": true, "gnum": true,
		"preNo": true, "sumNo": true, // customs' numbers: never sent
		"note": true, // of a list row: Clearway has none
	}
	check := func(what string, seq []field, idx map[string]int, skip map[string]bool) {
		for _, f := range seq {
			if _, ok := idx[f.name]; !ok && !skip[f.name] {
				t.Errorf("%s: no field for %s", what, f.name)
			}
		}
	}
	for _, s := range docSpecs {
		check(s.root+" head", s.headSeq, documentText, computed)
		check(s.root+" list", s.listSeq, parcelText, computed)
	}
	for root, k := range returnKinds {
		check(root, k.seq, returnText, map[string]bool{"oriMessageType": true, "oriBizMessage": true})
	}
	check("Logistics", logisticsSeq, logisticsText, nil)
	check("SummaryResultHead", summaryHeadSeq, summaryHeadText, nil)
	check("SummaryResultList", summaryListSeq, summaryListText, nil)
}
