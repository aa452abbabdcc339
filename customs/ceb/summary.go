package ceb

import (
	"errors"
	"reflect"
)

// SummaryResult is one CEB792 汇总结果单: customs' answer to a summary
// application, which names the customs declaration (报关单) the B-flag
// inventories were summarised into.
type SummaryResult struct {
	Head  SummaryResultHead
	Lists []SummaryResultList
}

// SummaryResultHead is the result's head.
type SummaryResultHead struct {
	GUID          string `xml:"guid"`
	CustomsCode   string `xml:"customsCode"`
	SumNo         string `xml:"sumNo"`     // 汇总申请编号, as the CEB702 gave it
	OpDate        string `xml:"opDate"`    // YYYYMMDDhhmmssfff
	DeclSeqNo     string `xml:"declSeqNo"` // 汇总统一编号: one per 报关单
	DecTmpNo      string `xml:"decTmpNo"`
	DecPreNo      string `xml:"decPreNo"`
	EntryID       string `xml:"entryId"`  // 报关单编号, once customs numbered it
	DecState      string `xml:"decState"` // customs' own code for the 报关单's state
	AgentCode     string `xml:"agentCode"`
	AgentName     string `xml:"agentName"`
	EbcCode       string `xml:"ebcCode"`
	EbcName       string `xml:"ebcName"`
	DeclAgentCode string `xml:"declAgentCode"`
	DeclAgentName string `xml:"declAgentName"`
	GrossWeight   string `xml:"grossWeight"`
	NetWeight     string `xml:"netWeight"`
	MsgCount      string `xml:"msgCount"`
	MsgSeqNo      string `xml:"msgSeqNo"`
	Note          string `xml:"note"`
}

// SummaryResultList is one goods line of the result: which inventory line
// went into which line (gseqno) of the 报关单.
type SummaryResultList struct {
	InvtNo      string `xml:"invtNo"`
	LogisticsNo string `xml:"logisticsNo"`
	Gseqno      string `xml:"gseqno"`
	Gnum        string `xml:"gnum"`
	Gcode       string `xml:"gcode"`
}

var (
	summaryHeadSeq  = sequence("guid customsCode sumNo opDate declSeqNo decTmpNo? decPreNo? entryId? decState agentCode agentName ebcCode ebcName declAgentCode declAgentName grossWeight netWeight msgCount msgSeqNo note?")
	summaryListSeq  = sequence("invtNo logisticsNo gseqno gnum gcode")
	summaryHeadText = textFields(reflect.TypeFor[SummaryResultHead](), "xml")
	summaryListText = textFields(reflect.TypeFor[SummaryResultList](), "xml")
)

// maxSummaryResults is the XSD's maxOccurs of SummaryResult.
const maxSummaryResults = 100

// ParseCEB792 parses a summary result message. A result without sumNo,
// which ties it to its application, is an error.
func ParseCEB792(b []byte) (guid string, results []SummaryResult, err error) {
	_, guid, err = read(b, only("CEB792Message", "SummaryResult", maxSummaryResults), func(el *node, _ []byte) error {
		var r SummaryResult
		if head := el.child("SummaryResultHead"); head != nil {
			head.fill(&r.Head, summaryHeadText, summaryHeadSeq)
		}
		if r.Head.SumNo == "" {
			return errors.New("lacks sumNo")
		}
		for i := range el.Kids {
			if k := &el.Kids[i]; k.XMLName.Local == "SummaryResultList" {
				var l SummaryResultList
				k.fill(&l, summaryListText, summaryListSeq)
				r.Lists = append(r.Lists, l)
			}
		}
		results = append(results, r)
		return nil
	})
	if err != nil {
		return guid, nil, err
	}
	return guid, results, nil
}

// RenderCEB792 renders summary results as customs sends them (the
// simulator's side).
func RenderCEB792(guid string, results []SummaryResult) []byte {
	w := &writer{}
	w.begin("CEB792Message", guid)
	for i := range results {
		r := &results[i]
		w.open("ceb:SummaryResult")
		w.group("SummaryResultHead", summaryHeadSeq, valueOf(&r.Head, summaryHeadText))
		for j := range r.Lists {
			w.group("SummaryResultList", summaryListSeq, valueOf(&r.Lists[j], summaryListText))
		}
		w.close("ceb:SummaryResult")
	}
	return w.end("CEB792Message")
}
