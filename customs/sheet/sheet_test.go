package sheet

import (
	"bytes"
	"strings"
	"testing"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/errs"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

const header = "logisticsNo,orderNo,tradeMode,statisticsFlag,customsCode,portCode,ebpCode,ebpName,ebcCode,ebcName,ownerCode,ownerName,agentCode,agentName," +
	"logisticsCode,logisticsName,country,pod,wrapType,packNo,grossWeight,netWeight,itemNo,gcode,gname,gmodel,itemCountry,currency,qty,unit,qty1,unit1,price,totalPrice\n"

const parcel = "SH0001,SO1,9610,A,3717,3717,3502960ABC,泉州跨境优选平台,3502960ABC,晋江鞋服,3502960ABC,晋江鞋服,3502980XYZ,顺达报关,3502680EMS,速递物流,US,3100,2,1,1.25,1.1,"

// Two parcels: SH0001 with two items (its second row leaves the parcel
// columns blank), SH0002 with one whose totalPrice is wrong.
var csvManifest = header +
	parcel + "SKU-1,6404110000,运动鞋,42码,USA,USD,2,025,2,025,39.90,79.80\n" +
	",,,,,,,,,,,,,,,,,,,,,,SKU-2,6109100021,T恤,M码,US,USD,1,011,1,011,59,59\n" +
	strings.Replace(parcel, "SH0001", "SH0002", 1) + "SKU-3,6404110000,运动鞋,43码,US,USD,3,025,3,025,10,31\n"

func declare(t *testing.T, s *Sheet) ([]customs.Declaration, map[int][]errs.FieldError) {
	t.Helper()
	s.Manifest.ManifestNo = "SHEET-1"
	var ds []customs.Declaration
	bad := map[int][]errs.FieldError{}
	for i := range s.Manifest.Parcels {
		d, fe := customs.Declare(&s.Manifest, i, "T", "20261128", customs.Rules{})
		if fe != nil {
			for _, e := range fe {
				bad[i] = append(bad[i], s.Locate(e))
			}
			continue
		}
		ds = append(ds, d)
	}
	return ds, bad
}

func TestCSVManifestGroupsItemsAndNamesRowAndColumn(t *testing.T) {
	s, err := ParseCSV([]byte(csvManifest), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Manifest.Parcels) != 2 || len(s.Manifest.Parcels[0].Items) != 2 {
		t.Fatalf("parcels %d, items of the first %d", len(s.Manifest.Parcels), len(s.Manifest.Parcels[0].Items))
	}
	ds, bad := declare(t, s)
	if len(ds) != 1 || ds[0].Items[1].Gnum != 2 || ds[0].Items[1].Country != "502" || ds[0].Head.EbcName != "晋江鞋服" {
		t.Fatalf("declared %+v", ds)
	}
	if len(bad[1]) != 1 || bad[1][0].Path != "row 4, column AH (totalPrice)" || bad[1][0].Code != customs.CodeTotalMismatch {
		t.Fatalf("errors %+v", bad)
	}
	if s.Row(1) != 4 {
		t.Errorf("parcel 2 starts at row %d, want 4", s.Row(1))
	}
}

func TestGBKCSVIsRead(t *testing.T) {
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(csvManifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, charset := range []string{"", "GBK"} {
		s, err := ParseCSV([]byte(gbk), charset)
		if err != nil {
			t.Fatalf("charset %q: %v", charset, err)
		}
		if got := s.Manifest.Parcels[0].Items[0].Gname; got != "运动鞋" {
			t.Fatalf("charset %q: gname %q", charset, got)
		}
	}
	if _, err := ParseCSV([]byte(csvManifest), "latin1"); !errs.IsKind(err, errs.Unsupported) {
		t.Fatalf("latin1: %v", err)
	}
}

func TestXLSXManifestKeepsLongNumbersAsTyped(t *testing.T) {
	f := excelize.NewFile()
	for r, line := range strings.Split(strings.TrimSpace(csvManifest), "\n") {
		for c, v := range strings.Split(line, ",") {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			f.SetCellValue("Sheet1", cell, v)
		}
	}
	f.SetCellValue("Sheet1", "A2", 123456789012345) // a waybill number typed as a number
	f.SetCellValue("Sheet1", "A3", 123456789012345)
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	s, err := ParseXLSX(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Manifest.Parcels[0].LogisticsNo; got != "123456789012345" {
		t.Fatalf("logisticsNo %q", got)
	}
	if ds, bad := declare(t, s); len(ds) != 1 || len(bad[1]) != 1 {
		t.Fatalf("declared %d, errors %v", len(ds), bad)
	}
}

func TestBadSheets(t *testing.T) {
	cases := map[string]struct {
		csv, code, path string
	}{
		"unknown column":    {"logisticsNo,colour\nA,red\n", "bad_header", "row 1, column B"},
		"no logisticsNo":    {"orderNo\nX\n", "bad_header", "row 1"},
		"header only":       {header, "invalid_manifest", ""},
		"rows disagree":     {header + parcel + "S,6404110000,x,y,US,USD,1,025,1,025,1,1\n" + strings.Replace(parcel, "SO1", "SO9", 1) + "S,6404110000,x,y,US,USD,1,025,1,025,1,1\n", "inconsistent_parcel", "row 3, column B (orderNo)"},
		"unbalanced quotes": {"logisticsNo\n\"A\n", "malformed_csv", ""},
	}
	for name, c := range cases {
		_, err := ParseCSV([]byte(c.csv), "")
		e := errs.As(err)
		if e == nil || e.Code != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
			continue
		}
		if c.path != "" && (len(e.Fields) == 0 || e.Fields[0].Path != c.path) {
			t.Errorf("%s: fields %+v, want %s", name, e.Fields, c.path)
		}
	}
}

func FuzzParseSheet(f *testing.F) {
	f.Add([]byte(csvManifest))
	f.Add([]byte("logisticsNo,gcode\nA,1\nA,2\nB,\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := ParseCSV(body, "")
		if err != nil {
			return
		}
		s.Manifest.ManifestNo = "F"
		for i := range min(len(s.Manifest.Parcels), 20) {
			_, fe := customs.Declare(&s.Manifest, i, "T", "20261128", customs.Rules{})
			for _, e := range fe {
				if got := s.Locate(e); !strings.HasPrefix(got.Path, "row ") {
					t.Fatalf("%s was not located: %s", e.Path, got.Path)
				}
			}
		}
	})
}
