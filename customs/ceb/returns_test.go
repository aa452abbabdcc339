package ceb

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
)

// exampleReturns are the receipts customs (the simulator) sends about the
// example documents, by message.
func exampleReturns(t *testing.T) map[string][]Return {
	t.Helper()
	ds := exampleDeclarations(t)
	docs := exampleDocuments(t)
	wb, ar, dp := docs[customs.DocConsolidation][0], docs[customs.DocArrival][0], docs[customs.DocDeparture][0]
	cancel, sa := docs[customs.DocCancel][0], docs[customs.DocSummary][0]
	const at = "20261128103001123"
	return map[string][]Return{
		"CEB506Message": {
			{GUID: ds[0].WaybillGUID(), LogisticsCode: "3502680EMS", LogisticsNo: "QZX100000000001", ReturnStatus: "2", ReturnTime: at, ReturnInfo: "新增申报成功[" + ds[0].WaybillGUID() + "]"},
			{GUID: ds[1].WaybillGUID(), LogisticsCode: "3502680EMS", LogisticsNo: "QZX100000000002", ReturnStatus: "120", ReturnTime: at, ReturnInfo: "海关入库成功"},
		},
		"CEB508Message": {{GUID: ar.GUID(), OperatorCode: ar.OperatorCode, LogisticsCode: ar.LogisticsCode, PreNo: "P20261128000000101", CopNo: ar.CopNo,
			BillNo: ar.BillNo, MsgSeqNo: "1", ReturnStatus: "120", ReturnTime: at, ReturnInfo: "运抵入库成功"}},
		"CEB510Message": {{GUID: dp.GUID(), LogisticsCode: dp.LogisticsCode, CopNo: dp.CopNo, PreNo: "P20261128000000102", MsgSeqNo: "1",
			ReturnStatus: "399", ReturnTime: at, ReturnInfo: "离境审结"}},
		"CEB606Message": {{GUID: cancel.GUID(), AgentCode: cancel.AgentCode, CopNo: cancel.CopNo, PreNo: "P20261128000000103", InvtNo: cancel.InvtNo,
			ReturnStatus: "100", ReturnTime: at, ReturnInfo: "退单：清单已放行，不能撤销 <原因> & 说明"}},
		"CEB608Message": {{GUID: wb.GUID(), AgentCode: wb.AgentCode, LogisticsCode: wb.LogisticsCode, CopNo: wb.CopNo, PreNo: "P20261128000000104",
			BillNo: wb.BillNo, MsgSeqNo: "1", ReturnStatus: "120", ReturnTime: at, ReturnInfo: "总分单入库成功"}},
		"CEB702Message": {{GUID: sa.GUID(), AgentCode: sa.AgentCode, EbcCode: sa.EbcCode, CopNo: sa.CopNo, PreNo: "P20261201000000001",
			SumNo: "S20261201000000001", MsgSeqNo: "1", ReturnStatus: "120", ReturnTime: "20261201090000456", ReturnInfo: "汇总申请入库成功"}},
		"CEB900Message": {{GUID: "6A0F3E52-7C1D-4B8E-9F20-31D5C7A4B913", ReturnStatus: "-1", ReturnTime: at,
			ReturnInfo: "报文格式校验失败：元素 ceb:POD 的值不符合长度要求", OriCopMsgID: goldenGUID}},
	}
}

func exampleSummaryResults(t *testing.T) []SummaryResult {
	sa := exampleDocuments(t)[customs.DocSummary][0]
	return []SummaryResult{{
		Head: SummaryResultHead{GUID: sa.GUID(), CustomsCode: "3717", SumNo: "S20261201000000001", OpDate: "20261202093000456",
			DeclSeqNo: "371720261000012345", EntryID: "371720262000012345", DecState: "10",
			AgentCode: sa.AgentCode, AgentName: sa.AgentName, EbcCode: sa.EbcCode, EbcName: sa.EbcName,
			DeclAgentCode: sa.DeclAgentCode, DeclAgentName: sa.DeclAgentName, GrossWeight: "0.8", NetWeight: "0.7", MsgCount: "1", MsgSeqNo: "1"},
		Lists: []SummaryResultList{{InvtNo: "37172026E000000002", LogisticsNo: "QZX100000000002", Gseqno: "1", Gnum: "1", Gcode: "6109100021"}},
	}}
}

func TestRenderedReturnsParseBackTheSame(t *testing.T) {
	for root, in := range exampleReturns(t) {
		b, err := RenderReturns(root, goldenGUID, in)
		if err != nil {
			t.Fatal(err)
		}
		gotRoot, out, err := ParseReturns(b)
		if err != nil {
			t.Fatalf("%s: %v", root, err)
		}
		for i := range out {
			if !bytes.Contains(b, out[i].Raw) || !bytes.HasPrefix(out[i].Raw, []byte("<ceb:"+returnKinds[root].elem+">")) {
				t.Errorf("%s: raw receipt %d is not the element as sent: %q", root, i+1, out[i].Raw)
			}
			out[i].Raw = nil
		}
		if gotRoot != root || !reflect.DeepEqual(out, in) {
			t.Errorf("%s round trip:\n got %s %+v\nwant %+v", root, gotRoot, out, in)
		}
	}
}

func TestRenderReturnsRefusesAnUnknownMessageOrCount(t *testing.T) {
	one := []Return{{CopNo: "C", ReturnStatus: "2"}}
	for name, err := range map[string]error{
		"a sending message":       second(RenderReturns("CEB603Message", goldenGUID, one)),
		"no receipt":              second(RenderReturns("CEB508Message", goldenGUID, nil)),
		"101 receipts":            second(RenderReturns("CEB508Message", goldenGUID, make([]Return, 101))),
		"two format-check errors": second(RenderReturns("CEB900Message", goldenGUID, append(one, one...))),
	} {
		if err == nil {
			t.Errorf("%s: rendered, want an error", name)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestOfficialReceiptSamplesParse(t *testing.T) {
	for _, tc := range []struct {
		root  string
		check func(r Return) bool
	}{
		{"CEB604Message", func(r Return) bool { return r.CopNo == "Cop20180507001" && r.InvtNo == "Invt20180507000001" }},
		{"CEB506Message", func(r Return) bool {
			return r.LogisticsNo == "L2018050700001" && r.LogisticsCode == "1105910159" && r.GUID == "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"
		}},
		{"CEB508Message", func(r Return) bool {
			return r.CopNo == "Cop20180507001" && r.OperatorCode == "1105910159" && r.PreNo == "P20180507000000001" && r.BillNo == "B00024204001" && r.MsgSeqNo == "1"
		}},
		{"CEB510Message", func(r Return) bool { return r.CopNo == "CoP20180507000000001" && r.PreNo == "P20180507000000001" }},
		{"CEB606Message", func(r Return) bool {
			return r.CopNo == "Cop20180507001" && r.InvtNo == "Invt20180507000001" && r.AgentCode == "1105910159"
		}},
		{"CEB608Message", func(r Return) bool { return r.CopNo == "Cop20180507001" && r.BillNo == "B20180508001" }},
		{"CEB702Message", func(r Return) bool {
			return r.CopNo == "C201805080001" && r.SumNo == "S20180507000000001" && r.EbcCode == "1105910159" &&
				r.Time().Equal(time.Date(2018, 5, 8, 10, 11, 12, 12e6, ChinaTime))
		}},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "samples", tc.root+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, utf8BOM) {
			t.Fatalf("%s: the official samples start with a byte-order mark; this copy does not", tc.root)
		}
		root, rs, err := ParseReturns(b)
		if err != nil {
			t.Errorf("%s: %v", tc.root, err)
			continue
		}
		if root != tc.root || len(rs) != 10 {
			t.Errorf("%s: read %s with %d receipts, want the sample's 10", tc.root, root, len(rs))
			continue
		}
		r := rs[0]
		if r.ReturnStatus != "2" || !strings.HasPrefix(r.ReturnInfo, "新增申报成功") || !tc.check(r) {
			t.Errorf("%s: first receipt %+v", tc.root, r)
		}
	}
}

func TestFormatCheckReceiptNamesTheRefusedMessage(t *testing.T) {
	// The import XSD's CEB900: one MessageReturn (the spec's table 3-65
	// lists the same fields without naming the element).
	doc := "\ufeff" + `<?xml version="1.0" encoding="UTF-8"?>
<ceb:CEB900Message guid="6A0F3E52-7C1D-4B8E-9F20-31D5C7A4B913" version="1.0" xmlns:ceb="http://www.chinaport.gov.cn/ceb">
<ceb:MessageReturn>
<ceb:guid>6A0F3E52-7C1D-4B8E-9F20-31D5C7A4B913</ceb:guid>
<ceb:returnStatus>-621004</ceb:returnStatus>
<ceb:returnInfo>重复申报</ceb:returnInfo>
<ceb:returnTime>20261128103001123</ceb:returnTime>
<ceb:oriCopMsgId>8F3B1C2E-0A1B-4C5D-8E9F-0123456789AB</ceb:oriCopMsgId>
<ceb:oriMessageType>CEB603Message</ceb:oriMessageType>
<ceb:oriBizMessage></ceb:oriBizMessage>
</ceb:MessageReturn>
</ceb:CEB900Message>`
	root, rs, err := ParseReturns([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if root != "CEB900Message" || len(rs) != 1 || rs[0].OriCopMsgID != goldenGUID || rs[0].ReturnStatus != "-621004" || rs[0].ReturnInfo != "重复申报" {
		t.Fatalf("read %s %+v", root, rs)
	}
}

func TestReceiptsThatAreNotWhatTheXSDSaysAreRefused(t *testing.T) {
	const open = `<ceb:CEB508Message guid="G" version="1.0" xmlns:ceb="http://www.chinaport.gov.cn/ceb">`
	const ok = `<ceb:ArrivalReturn><ceb:copNo>C1</ceb:copNo><ceb:returnStatus>120</ceb:returnStatus></ceb:ArrivalReturn>`
	for name, tc := range map[string]struct{ doc, says string }{
		"no returnStatus":              {open + ok + `<ceb:ArrivalReturn><ceb:copNo>C2</ceb:copNo></ceb:ArrivalReturn></ceb:CEB508Message>`, "ArrivalReturn 2: lacks returnStatus"},
		"no copNo":                     {open + `<ceb:ArrivalReturn><ceb:returnStatus>120</ceb:returnStatus></ceb:ArrivalReturn></ceb:CEB508Message>`, "ArrivalReturn 1: lacks copNo"},
		"a waybill without its number": {`<CEB506Message><LogisticsReturn><copNo>C</copNo><returnStatus>2</returnStatus></LogisticsReturn></CEB506Message>`, "LogisticsReturn 1: lacks logisticsNo"},
		"no oriCopMsgId":               {`<CEB900Message><MessageReturn><returnStatus>-1</returnStatus></MessageReturn></CEB900Message>`, "MessageReturn 1: lacks oriCopMsgId"},
		"two MessageReturn":            {`<CEB900Message>` + strings.Repeat(`<MessageReturn><returnStatus>-1</returnStatus><oriCopMsgId>G</oriCopMsgId></MessageReturn>`, 2) + `</CEB900Message>`, "more than 1"},
		"no receipt at all":            {open + `</ceb:CEB508Message>`, "no ArrivalReturn"},
		"a sending message":            {`<ceb:CEB507Message xmlns:ceb="http://www.chinaport.gov.cn/ceb"/>`, "not a receipt message"},
		"a DTD":                        {`<!DOCTYPE r [<!ENTITY x "C">]>` + open + ok + `</ceb:CEB508Message>`, "DTD"},
		"GBK":                          {`<?xml version="1.0" encoding="GBK"?>` + open + ok + `</ceb:CEB508Message>`, "charset"},
		"a second root":                {open + ok + `</ceb:CEB508Message>` + open + ok + `</ceb:CEB508Message>`, "second root"},
		"text outside the root":        {`junk` + open + ok + `</ceb:CEB508Message>`, "stray text"},
		"truncated":                    {open + `<ceb:ArrivalReturn><ceb:copNo>C1`, "ArrivalReturn 1"},
		"empty":                        {``, "no root"},
		"too large":                    {open + strings.Repeat(" ", MaxMessageBytes) + `</ceb:CEB508Message>`, "exceed"},
	} {
		rs, err := returnsOf(tc.doc)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: got %+v, %v; want an error saying %q", name, rs, err, tc.says)
		}
	}
	if _, err := returnsOf("\ufeff" + open + ok + `</ceb:CEB508Message>`); err != nil {
		t.Errorf("a leading byte-order mark is refused: %v", err)
	}
}

func returnsOf(doc string) ([]Return, error) {
	_, rs, err := ParseReturns([]byte(doc))
	return rs, err
}

func TestSummaryResultsParseBackAndFromTheOfficialSample(t *testing.T) {
	in := exampleSummaryResults(t)
	guid, out, err := ParseCEB792(RenderCEB792(goldenGUID, in))
	if err != nil || guid != goldenGUID || !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip: %s %+v %v, want %+v", guid, out, err, in)
	}

	b, err := os.ReadFile("testdata/samples/CEB792Message.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, rs, err := ParseCEB792(b)
	if err != nil {
		t.Fatal(err)
	}
	h := rs[0].Head
	if len(rs) != 10 || h.SumNo != "S20180507000000001" || h.DeclSeqNo != "S20180508000000001" || h.DecState != "A" ||
		h.GrossWeight != "12345678912345.12345" || h.EntryID != "" || len(rs[0].Lists) != 2 {
		t.Fatalf("%d results, first %+v", len(rs), rs[0])
	}
	// The sample leaves out gseqno, which the XSD requires: read as empty.
	if l := rs[0].Lists[1]; l.Gnum != "2" || l.Gcode != "8541401001" || l.InvtNo != "Invt20180507000001" || l.Gseqno != "" {
		t.Errorf("second line %+v", l)
	}
	if _, _, err := ParseCEB792([]byte(`<CEB792Message><SummaryResult><SummaryResultHead><entryId>1</entryId></SummaryResultHead></SummaryResult></CEB792Message>`)); err == nil ||
		!strings.Contains(err.Error(), "SummaryResult 1: lacks sumNo") {
		t.Errorf("a result without sumNo: %v", err)
	}
}
