package ceb

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"time"
)

// Envelope is the DXP terminal envelope (dxp:DxpMsg) a business message
// travels in: who sends it to whom, its type, and the message in Base64.
type Envelope struct {
	CopMsgID   string // the transmitter's id for this file; Clearway uses the business message's guid
	SenderID   string
	ReceiverID string
	CreatTime  time.Time
	MsgType    string // e.g. CEB603Message
	Data       []byte // the business XML
}

// DefaultReceiverID is the data-exchange node of the customs CEB system.
// Verify with the platform before production; it is configuration.
const DefaultReceiverID = "DXPEDCCEB0000002"

// Encode renders the envelope, valid against dxp-terminal-202205.xsd.
func (e *Envelope) Encode() []byte {
	w := &writer{}
	w.buf.Grow(len(e.Data)*4/3 + 512)
	w.buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.buf.WriteString(`<dxp:DxpMsg ver="1.0" xmlns:dxp="` + NamespaceDXP + `">` + "\n")
	w.open("dxp:TransInfo")
	w.el("dxp:CopMsgId", e.CopMsgID)
	w.el("dxp:SenderId", e.SenderID)
	w.open("dxp:ReceiverIds")
	w.el("dxp:ReceiverId", e.ReceiverID)
	w.close("dxp:ReceiverIds")
	w.el("dxp:CreatTime", e.CreatTime.In(ChinaTime).Format("2006-01-02T15:04:05"))
	w.el("dxp:MsgType", e.MsgType)
	w.close("dxp:TransInfo")
	w.buf.WriteString("<dxp:Data>")
	enc := base64.NewEncoder(base64.StdEncoding, &w.buf)
	enc.Write(e.Data)
	enc.Close()
	w.close("dxp:Data")
	w.buf.WriteString("</dxp:DxpMsg>\n")
	return w.buf.Bytes()
}

type dxpMsg struct {
	XMLName   xml.Name `xml:"DxpMsg"`
	TransInfo struct {
		CopMsgID    string `xml:"CopMsgId"`
		SenderID    string `xml:"SenderId"`
		ReceiverIDs struct {
			ReceiverID []string `xml:"ReceiverId"`
		} `xml:"ReceiverIds"`
		CreatTime string `xml:"CreatTime"`
		MsgType   string `xml:"MsgType"`
	} `xml:"TransInfo"`
	Data []string `xml:"Data"` // one; more are refused rather than the last taken
}

// MaxMessageBytes bounds any XML Clearway parses from outside, so a hostile
// file cannot exhaust memory.
const MaxMessageBytes = 16 << 20

// DecodeEnvelope parses a DXP envelope and decodes its Base64 payload.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	var m dxpMsg
	rest, text := cutData(b)
	if err := decodeStrict(rest, &m); err != nil {
		return nil, fmt.Errorf("ceb: envelope: %w", err)
	}
	if len(m.Data) > 1 {
		return nil, fmt.Errorf("ceb: envelope %s: %d Data elements, where one carries the message", m.TransInfo.CopMsgID, len(m.Data))
	}
	for _, more := range m.Data {
		text = append(text, more...)
	}
	data, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(text), nil)))
	if err != nil {
		return nil, fmt.Errorf("ceb: envelope %s: Data is not Base64: %w", m.TransInfo.CopMsgID, err)
	}
	e := &Envelope{CopMsgID: m.TransInfo.CopMsgID, SenderID: m.TransInfo.SenderID, MsgType: m.TransInfo.MsgType, Data: data}
	if len(m.TransInfo.ReceiverIDs.ReceiverID) > 0 {
		e.ReceiverID = m.TransInfo.ReceiverIDs.ReceiverID[0]
	}
	e.CreatTime, _ = time.ParseInLocation("2006-01-02T15:04:05", m.TransInfo.CreatTime, ChinaTime)
	return e, nil
}

// cutData cuts the text that opens the envelope's Data out of it, up to
// the next markup, when that text is plain (no entity): the strict decoder
// then reads the envelope's few hundred other bytes, not the whole Base64
// message a character at a time, which was an eighth of the adapter's
// CPU. The strict decoder itself finds where Data starts, so comments and
// CDATA before it are read as XML; what follows the cut, markup or more
// text, is decoded as before. Any failure leaves the envelope whole, for
// decodeStrict to report.
func cutData(b []byte) (rest, text []byte) {
	if len(b) > MaxMessageBytes {
		return b, nil
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = refuseCharset
	for depth := 0; ; {
		tok, err := d.Token()
		if err != nil {
			return b, nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth == 2 && t.Name.Local == "Data" {
				start := int(d.InputOffset())
				n := bytes.IndexByte(b[start:], '<')
				if n < 0 || bytes.IndexByte(b[start:start+n], '&') >= 0 {
					return b, nil
				}
				return append(b[:start:start], b[start+n:]...), b[start : start+n : start+n]
			}
		case xml.EndElement:
			depth--
		}
	}
}

// decodeStrict unmarshals XML from outside. encoding/xml expands no
// external entities and no DTD-defined ones (an unknown entity is an
// error), so XXE and entity-expansion bombs fail instead of resolving.
func decodeStrict(b []byte, v any) error {
	if len(b) > MaxMessageBytes {
		return fmt.Errorf("message of %d bytes exceeds %d", len(b), MaxMessageBytes)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = refuseCharset
	return d.Decode(v)
}

// refuseCharset: CEB messages are UTF-8; anything else is refused rather
// than guessed.
func refuseCharset(charset string, _ io.Reader) (io.Reader, error) {
	return nil, fmt.Errorf("unsupported charset %q (CEB messages are UTF-8)", charset)
}

// WithoutSignature is a business message without its enveloped
// ds:Signature: what a strict reading of the message's own elements
// expects. A message without one comes back as it is.
func WithoutSignature(xml []byte) []byte {
	i := bytes.Index(xml, []byte("<ds:Signature"))
	j := bytes.LastIndex(xml, []byte("</ds:Signature>"))
	if i < 0 || j < i {
		return xml
	}
	return append(append([]byte(nil), xml[:i]...), xml[j+len("</ds:Signature>"):]...)
}
