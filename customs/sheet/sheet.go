// Package sheet reads courier manifests from spreadsheets (CSV in UTF-8 or
// GBK, or Excel .xlsx): one row per item, the parcel's columns repeated or
// left blank on its further rows (logisticsNo too), parcels told apart by
// logisticsNo. The
// same rules then apply as to JSON, and errors name the row and column.
package sheet

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/errs"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Column names are the CEB field names. Item columns that share a name
// with a parcel column are prefixed: itemCountry, itemNote.
var parcelColumns = map[string]func(p *customs.Parcel, v string){
	"logisticsNo": func(p *customs.Parcel, v string) { p.LogisticsNo = v }, "copNo": func(p *customs.Parcel, v string) { p.CopNo = v },
	"orderNo": func(p *customs.Parcel, v string) { p.OrderNo = v }, "tradeMode": func(p *customs.Parcel, v string) { p.TradeMode = v },
	"statisticsFlag": func(p *customs.Parcel, v string) { p.StatisticsFlag = v }, "customsCode": func(p *customs.Parcel, v string) { p.CustomsCode = v },
	"portCode": func(p *customs.Parcel, v string) { p.PortCode = v }, "ieDate": func(p *customs.Parcel, v string) { p.IeDate = v },
	"ebpCode": func(p *customs.Parcel, v string) { p.EbpCode = v }, "ebpName": func(p *customs.Parcel, v string) { p.EbpName = v },
	"ebcCode": func(p *customs.Parcel, v string) { p.EbcCode = v }, "ebcName": func(p *customs.Parcel, v string) { p.EbcName = v },
	"ownerCode": func(p *customs.Parcel, v string) { p.OwnerCode = v }, "ownerName": func(p *customs.Parcel, v string) { p.OwnerName = v },
	"agentCode": func(p *customs.Parcel, v string) { p.AgentCode = v }, "agentName": func(p *customs.Parcel, v string) { p.AgentName = v },
	"logisticsCode": func(p *customs.Parcel, v string) { p.LogisticsCode = v }, "logisticsName": func(p *customs.Parcel, v string) { p.LogisticsName = v },
	"iacCode": func(p *customs.Parcel, v string) { p.IacCode = v }, "iacName": func(p *customs.Parcel, v string) { p.IacName = v },
	"emsNo": func(p *customs.Parcel, v string) { p.EmsNo = v }, "country": func(p *customs.Parcel, v string) { p.Country = v },
	"pod": func(p *customs.Parcel, v string) { p.Pod = v }, "freight": func(p *customs.Parcel, v string) { p.Freight = customs.DecimalText(v) },
	"fCurrency": func(p *customs.Parcel, v string) { p.FCurrency = v }, "insuredFee": func(p *customs.Parcel, v string) { p.InsuredFee = customs.DecimalText(v) },
	"iCurrency": func(p *customs.Parcel, v string) { p.ICurrency = v }, "wrapType": func(p *customs.Parcel, v string) { p.WrapType = v },
	"packNo": func(p *customs.Parcel, v string) { p.PackNo = customs.DecimalText(v) }, "grossWeight": func(p *customs.Parcel, v string) { p.GrossWeight = customs.DecimalText(v) },
	"netWeight": func(p *customs.Parcel, v string) { p.NetWeight = customs.DecimalText(v) }, "note": func(p *customs.Parcel, v string) { p.Note = v },
	"licenseNo": func(p *customs.Parcel, v string) { p.LicenseNo = v }, "senderName": func(p *customs.Parcel, v string) { p.SenderName = v },
	"senderIdType": func(p *customs.Parcel, v string) { p.SenderIDType = v }, "senderIdNo": func(p *customs.Parcel, v string) { p.SenderIDNo = v },
	"consigneeName": func(p *customs.Parcel, v string) { p.ConsigneeName = v },
}

var itemColumns = map[string]func(it *customs.Item, v string){
	"itemNo": func(it *customs.Item, v string) { it.ItemNo = v }, "itemRecordNo": func(it *customs.Item, v string) { it.ItemRecordNo = v },
	"itemName": func(it *customs.Item, v string) { it.ItemName = v }, "gcode": func(it *customs.Item, v string) { it.Gcode = v },
	"gname": func(it *customs.Item, v string) { it.Gname = v }, "gmodel": func(it *customs.Item, v string) { it.Gmodel = v },
	"barCode": func(it *customs.Item, v string) { it.BarCode = v }, "itemCountry": func(it *customs.Item, v string) { it.Country = v },
	"currency": func(it *customs.Item, v string) { it.Currency = v }, "qty": func(it *customs.Item, v string) { it.Qty = customs.DecimalText(v) },
	"unit": func(it *customs.Item, v string) { it.Unit = v }, "qty1": func(it *customs.Item, v string) { it.Qty1 = customs.DecimalText(v) },
	"unit1": func(it *customs.Item, v string) { it.Unit1 = v }, "qty2": func(it *customs.Item, v string) { it.Qty2 = customs.DecimalText(v) },
	"unit2": func(it *customs.Item, v string) { it.Unit2 = v }, "price": func(it *customs.Item, v string) { it.Price = customs.DecimalText(v) },
	"totalPrice": func(it *customs.Item, v string) { it.TotalPrice = customs.DecimalText(v) }, "itemNote": func(it *customs.Item, v string) { it.Note = v },
}

// itemColumnOf names the column of an item field whose name a parcel
// field shares.
var itemColumnOf = map[string]string{"country": "itemCountry", "note": "itemNote"}

// Sheet is a manifest read from a spreadsheet, with where each parcel and
// item stood, so errors can name rows and columns.
type Sheet struct {
	Manifest customs.Manifest
	columns  map[string]int // header → 0-based column
	rows     [][]int        // rows[i][j]: the 1-based row of parcel i's item j
}

// ParseCSV reads a CSV manifest. charset is the Content-Type's charset
// parameter; without one, text that is not valid UTF-8 is read as GBK
// (GB 18030), which Chinese spreadsheet software exports by default.
func ParseCSV(body []byte, charset string) (*Sheet, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	switch strings.ToLower(charset) {
	case "gbk", "gb2312", "gb18030":
		var err error
		if body, err = simplifiedchinese.GB18030.NewDecoder().Bytes(body); err != nil {
			return nil, errs.New(errs.Invalid, "bad_encoding", "the CSV is not valid %s", charset)
		}
	case "", "utf-8", "utf8":
		if !utf8.Valid(body) {
			decoded, err := simplifiedchinese.GB18030.NewDecoder().Bytes(body)
			if err != nil || !utf8.Valid(decoded) {
				return nil, errs.New(errs.Invalid, "bad_encoding", "the CSV is neither UTF-8 nor GBK")
			}
			body = decoded
		}
	default:
		return nil, errs.New(errs.Unsupported, "unsupported_charset", "CSV charset %q is not supported: send UTF-8 or GBK", charset)
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	var rows [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errs.New(errs.Invalid, "malformed_csv", "the CSV cannot be read: %v", err)
		}
		rows = append(rows, rec)
	}
	return fromRows(rows)
}

// ParseXLSX reads the first worksheet of an Excel workbook. Cells are read
// raw, so a long waybill number typed as a number is not turned into
// 1.23E+11.
func ParseXLSX(body []byte) (*Sheet, error) {
	f, err := excelize.OpenReader(bytes.NewReader(body), excelize.Options{UnzipSizeLimit: 256 << 20, UnzipXMLSizeLimit: 64 << 20})
	if err != nil {
		return nil, errs.New(errs.Invalid, "malformed_xlsx", "the workbook cannot be read: %v", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, errs.New(errs.Invalid, "malformed_xlsx", "the workbook has no worksheet")
	}
	rows, err := f.GetRows(sheets[0], excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, errs.New(errs.Invalid, "malformed_xlsx", "worksheet %q cannot be read: %v", sheets[0], err)
	}
	return fromRows(rows)
}

func fromRows(rows [][]string) (*Sheet, error) {
	for len(rows) > 0 && blank(rows[len(rows)-1]) {
		rows = rows[:len(rows)-1]
	}
	if len(rows) < 2 {
		return nil, errs.New(errs.Unprocessable, "invalid_manifest", "a manifest sheet needs a header row and at least one item row")
	}
	s := &Sheet{columns: map[string]int{}}
	var fields []errs.FieldError
	for c, name := range rows[0] {
		name = strings.TrimSpace(name)
		_, isParcel := parcelColumns[name]
		_, isItem := itemColumns[name]
		switch {
		case name == "":
		case !isParcel && !isItem:
			fields = append(fields, errs.FieldError{Path: fmt.Sprintf("row 1, column %s", colName(c)), Code: "unknown_field", Message: fmt.Sprintf("unknown column %q; column names are the CEB field names", name)})
		default:
			if _, dup := s.columns[name]; dup {
				fields = append(fields, errs.FieldError{Path: fmt.Sprintf("row 1, column %s", colName(c)), Code: "duplicate_column", Message: fmt.Sprintf("column %q appears twice", name)})
			}
			s.columns[name] = c
		}
	}
	if _, ok := s.columns["logisticsNo"]; !ok {
		fields = append(fields, errs.FieldError{Path: "row 1", Code: "required", Message: "the header has no logisticsNo column"})
	}
	if len(fields) > 0 {
		return nil, &errs.Error{Kind: errs.Invalid, Code: "bad_header", Detail: "the header row is not a manifest header", Fields: fields}
	}
	cell := func(row []string, name string) string {
		if c, ok := s.columns[name]; ok && c < len(row) {
			return strings.TrimSpace(row[c])
		}
		return ""
	}
	var first []string // the first row of the current parcel
	for r := 1; r < len(rows); r++ {
		row := rows[r]
		if blank(row) {
			continue
		}
		// A row continues the parcel above when its logisticsNo is blank or
		// the same.
		ln := cell(row, "logisticsNo")
		if len(s.Manifest.Parcels) == 0 || (ln != "" && ln != cell(first, "logisticsNo")) {
			var p customs.Parcel
			for name, set := range parcelColumns {
				set(&p, cell(row, name))
			}
			s.Manifest.Parcels = append(s.Manifest.Parcels, p)
			s.rows = append(s.rows, nil)
			first = row
		} else {
			for name := range parcelColumns {
				if v := cell(row, name); v != "" && v != cell(first, name) {
					fields = append(fields, errs.FieldError{Path: fmt.Sprintf("row %d, column %s (%s)", r+1, colName(s.columns[name]), name), Code: "inconsistent_parcel",
						Message: fmt.Sprintf("%s differs from the parcel's first row; leave it blank or repeat it", name)})
				}
			}
		}
		var it customs.Item
		for name, set := range itemColumns {
			set(&it, cell(row, name))
		}
		i := len(s.Manifest.Parcels) - 1
		s.Manifest.Parcels[i].Items = append(s.Manifest.Parcels[i].Items, it)
		s.rows[i] = append(s.rows[i], r+1)
		if len(s.Manifest.Parcels) > customs.MaxParcels {
			return nil, errs.New(errs.TooLarge, "too_many_parcels", "a manifest carries at most %d parcels; split the sheet", customs.MaxParcels)
		}
	}
	if len(fields) > 0 {
		return nil, &errs.Error{Kind: errs.Invalid, Code: "inconsistent_parcel", Detail: "rows of one parcel disagree", Fields: fields}
	}
	return s, nil
}

func blank(row []string) bool {
	for _, v := range row {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// colName is the spreadsheet name of a 0-based column: A, B, … Z, AA.
func colName(c int) string {
	name := ""
	for c++; c > 0; c = (c - 1) / 26 {
		name = string(rune('A'+(c-1)%26)) + name
	}
	return name
}

var parcelPath = regexp.MustCompile(`^parcels\[(\d+)\](?:\.items\[(\d+)\])?\.(\w+)$`)

// Locate rewrites a field error's JSON path as the row and column of the
// sheet it came from: parcels[3].items[1].gcode → row 6, column L (gcode).
func (s *Sheet) Locate(fe errs.FieldError) errs.FieldError {
	m := parcelPath.FindStringSubmatch(fe.Path)
	if m == nil {
		return fe
	}
	i, _ := strconv.Atoi(m[1])
	if i >= len(s.rows) {
		return fe
	}
	row, field := s.rows[i][0], m[3]
	if m[2] != "" {
		j, _ := strconv.Atoi(m[2])
		if j < len(s.rows[i]) {
			row = s.rows[i][j]
		}
		if col, ok := itemColumnOf[field]; ok {
			field = col
		}
	}
	col := "(missing)"
	if c, ok := s.columns[field]; ok {
		col = colName(c)
	}
	fe.Path = fmt.Sprintf("row %d, column %s (%s)", row, col, field)
	return fe
}

// Row is the first row of parcel i.
func (s *Sheet) Row(i int) int { return s.rows[i][0] }
