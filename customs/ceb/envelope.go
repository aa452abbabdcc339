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
	Data string `xml:"Data"`
}

// MaxMessageBytes bounds any XML Clearway parses from outside, so a hostile
// file cannot exhaust memory.
const MaxMessageBytes = 16 << 20

// DecodeEnvelope parses a DXP envelope and decodes its Base64 payload.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	var m dxpMsg
	if err := decodeStrict(b, &m); err != nil {
		return nil, fmt.Errorf("ceb: envelope: %w", err)
	}
	data, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields([]byte(m.Data)), nil)))
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
