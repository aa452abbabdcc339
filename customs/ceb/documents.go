package ceb

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
)

// MaxDocuments is the most documents one message carries: the XSD's
// maxOccurs of WayBill, Arrival, Departure, InvtCancel and SummaryApply.
const MaxDocuments = 100

// docSpec is how one kind of document is written: the message's root, the
// element a document is (its head, and the list rows of its parcels), and
// their XSD sequences (ceb-export-202205.xsd).
type docSpec struct {
	kind    customs.DocKind
	root    string
	elem    string
	head    string // "" when the head's fields sit in elem itself (InvtCancel)
	list    string // "" when the document lists no parcels
	minList int    // the XSD's minOccurs of list
	headSeq []field
	listSeq []field
}

// The head elements take their values from the Document field of the same
// JSON name (Document keeps the CEB names), except those headValue
// computes. preNo and sumNo are customs' numbers: Clearway never sends them.
var docSpecs = []docSpec{
	{kind: customs.DocConsolidation, root: "CEB607Message", elem: "WayBill", head: "WayBillHead", list: "WayBillList", minList: 1,
		headSeq: sequence("guid appType appTime appStatus customsCode copNo preNo? agentCode agentName loctNo? trafMode trafName voyageNo billNo domesticTrafNo? grossWeight logisticsCode logisticsName msgCount msgSeqNo note?"),
		listSeq: sequence("gnum totalPackageNo? logisticsNo invtNo? note?")},
	{kind: customs.DocArrival, root: "CEB507Message", elem: "Arrival", head: "ArrivalHead", list: "ArrivalList",
		headSeq: sequence("guid appType appTime appStatus customsCode copNo preNo? operatorCode operatorName loctNo? ieFlag trafMode billNo? domesticTrafNo logisticsCode logisticsName msgCount msgSeqNo note?"),
		listSeq: sequence("gnum logisticsNo totalPackageNo? note?")},
	{kind: customs.DocDeparture, root: "CEB509Message", elem: "Departure", head: "DepartureHead", list: "DepartureList", minList: 1,
		headSeq: sequence("guid appType appTime appStatus customsCode copNo preNo? logisticsCode logisticsName trafMode trafName? voyageNo? billNo? leaveTime msgCount msgSeqNo note?"),
		listSeq: sequence("gnum totalPackageNo? logisticsNo note?")},
	{kind: customs.DocCancel, root: "CEB605Message", elem: "InvtCancel",
		headSeq: sequence("guid appType appTime appStatus customsCode copNo preNo? invtNo reason agentCode agentName ebcCode ebcName note?")},
	{kind: customs.DocSummary, root: "CEB701Message", elem: "SummaryApply", head: "SummaryApplyHead", list: "SummaryApplyList",
		headSeq: sequence("guid appType appTime appStatus customsCode copNo preNo? sumNo? agentCode agentName ebcCode ebcName declAgentCode declAgentName startTime? endTime? loctNo? summaryFlag itemNameFlag msgCount msgSeqNo note?"),
		listSeq: sequence("invtNo")},
}

var (
	documentText = textFields(reflect.TypeFor[customs.Document](), "json")
	parcelText   = textFields(reflect.TypeFor[customs.DocParcel](), "json")
)

func specOf(match func(*docSpec) bool) *docSpec {
	for i := range docSpecs {
		if match(&docSpecs[i]) {
			return &docSpecs[i]
		}
	}
	return nil
}

// RenderDocuments renders documents of one kind as their message (CEB607,
// CEB507, CEB509, CEB605 or CEB701), new (appType 1) and declared
// (appStatus 2). Each document is one part, numbered by Document.Parts.
func RenderDocuments(guid string, docs []customs.Document, sender Sender, now time.Time) ([]byte, error) {
	if len(docs) == 0 || len(docs) > MaxDocuments {
		return nil, fmt.Errorf("ceb: a message holds 1 to %d documents, not %d", MaxDocuments, len(docs))
	}
	kind := docs[0].Kind
	s := specOf(func(s *docSpec) bool { return s.kind == kind })
	if s == nil {
		return nil, fmt.Errorf("ceb: no message for documents of kind %q", kind)
	}
	for i := range docs {
		d := &docs[i]
		switch {
		case d.Kind != kind:
			return nil, fmt.Errorf("ceb: document %d is a %s, not a %s: a message holds one kind", i+1, d.Kind, kind)
		case d.MsgSeqNo < 1 || d.MsgSeqNo > d.MsgCount:
			return nil, fmt.Errorf("ceb: %s document %d is part %d of %d: number its parts with Document.Parts", kind, i+1, d.MsgSeqNo, d.MsgCount)
		case s.list != "" && len(d.Parcels) < s.minList:
			return nil, fmt.Errorf("ceb: %s document %d lists no parcel; %s requires one", kind, i+1, s.root)
		case len(d.Parcels) > customs.MaxDocParcels:
			return nil, fmt.Errorf("ceb: %s document %d lists %d parcels, more than %d: split it with Document.Parts", kind, i+1, len(d.Parcels), customs.MaxDocParcels)
		}
	}
	at := appTime(now)
	w := &writer{}
	w.buf.Grow(1024 * len(docs))
	w.begin(s.root, guid)
	for i := range docs {
		d := &docs[i]
		head := func(name string) string { return headValue(d, name, at) }
		if s.head == "" {
			w.group(s.elem, s.headSeq, head)
			continue
		}
		w.open("ceb:" + s.elem)
		w.group(s.head, s.headSeq, head)
		if s.list != "" {
			for j := range d.Parcels {
				p, gnum := &d.Parcels[j], strconv.Itoa(j+1)
				w.group(s.list, s.listSeq, func(name string) string {
					if name == "gnum" {
						return gnum // 1..n within the part
					}
					return get(p, parcelText, name)
				})
			}
		}
		w.close("ceb:" + s.elem)
	}
	writeBaseTransfer(w, sender)
	return w.end(s.root), nil
}

// headValue is the head element name of d, as sent at appTime at.
func headValue(d *customs.Document, name, at string) string {
	switch name {
	case "guid":
		return d.GUID()
	case "appType":
		return "1" // new
	case "appTime":
		return at
	case "appStatus":
		return "2" // declared, not only stored at the e-port
	case "ieFlag":
		return "E"
	case "grossWeight":
		return d.GrossWeight.String()
	case "msgCount":
		return strconv.Itoa(d.MsgCount)
	case "msgSeqNo":
		return strconv.Itoa(d.MsgSeqNo)
	}
	return get(d, documentText, name)
}

// ParseDocuments parses a message RenderDocuments writes (the customs
// side's view): each document's Kind, head fields and parcels. What
// belongs to one sending (guid, appTime...) and Clearway's own ids
// (documentId, declarationId) are not in the message and stay empty.
func ParseDocuments(b []byte) (root, guid string, docs []customs.Document, err error) {
	var s *docSpec
	root, guid, err = read(b, func(root string) (string, int, error) {
		if s = specOf(func(s *docSpec) bool { return s.root == root }); s == nil {
			return "", 0, fmt.Errorf("%s is not a document message", root)
		}
		return s.elem, MaxDocuments, nil
	}, func(el *node, _ []byte) error {
		doc, err := s.document(el)
		docs = append(docs, doc)
		return err
	})
	if err != nil {
		return root, guid, nil, err
	}
	return root, guid, docs, nil
}

func (s *docSpec) document(el *node) (customs.Document, error) {
	// A kind the XSD does not number (a cancel) is one part of one.
	doc := customs.Document{Kind: s.kind, MsgSeqNo: 1, MsgCount: 1}
	head := el
	if s.head != "" {
		if head = el.child(s.head); head == nil {
			return doc, fmt.Errorf("lacks %s", s.head)
		}
	}
	head.fill(&doc, documentText, s.headSeq)
	for i := range head.Kids {
		if k := &head.Kids[i]; has(s.headSeq, k.XMLName.Local) {
			if err := setComputed(&doc, k.XMLName.Local, k.Text); err != nil {
				return doc, err
			}
		}
	}
	if doc.CopNo == "" {
		return doc, errors.New("lacks copNo")
	}
	if s.list == "" {
		return doc, nil
	}
	for i := range el.Kids {
		if k := &el.Kids[i]; k.XMLName.Local == s.list {
			var p customs.DocParcel
			k.fill(&p, parcelText, s.listSeq)
			doc.Parcels = append(doc.Parcels, p)
		}
	}
	if len(doc.Parcels) < s.minList {
		return doc, fmt.Errorf("lists no %s", s.list)
	}
	return doc, nil
}

// setComputed reads back the head elements that are not Document strings.
func setComputed(d *customs.Document, name, value string) error {
	switch name {
	case "guid":
		d.HeadGUID = strings.TrimSpace(value)
	case "grossWeight":
		d.GrossWeight = customs.DecimalText(value)
	case "msgCount", "msgSeqNo":
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil {
			return fmt.Errorf("%s %q is not a number", name, value)
		}
		if name == "msgCount" {
			d.MsgCount = n
		} else {
			d.MsgSeqNo = n
		}
	}
	return nil
}
