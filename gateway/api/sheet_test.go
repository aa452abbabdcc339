package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/clearway/clearway/gateway/api"
)

func TestCSVManifestIsAcceptedWithRowsInErrors(t *testing.T) {
	ts, _ := newServer(t, false, 64<<20)
	csv := "logisticsNo,orderNo,tradeMode,statisticsFlag,ebpCode,ebpName,ebcCode,ebcName,ownerCode,ownerName,agentCode,agentName,logisticsCode,logisticsName," +
		"country,pod,wrapType,packNo,grossWeight,netWeight,itemNo,gcode,gname,gmodel,itemCountry,currency,qty,unit,qty1,unit1,price,totalPrice\n" +
		"CSV001,SO1,9610,A,3502960ABC,平台,3502960ABC,卖家,3502960ABC,卖家,3502980XYZ,报关行,3502680EMS,物流,US,3100,2,1,1.2,1,S1,6404110000,鞋,42码,US,USD,1,025,1,025,10,10\n" +
		"CSV002,SO2,9610,A,3502960ABC,平台,3502960ABC,卖家,3502960ABC,卖家,3502980XYZ,报关行,3502680EMS,物流,US,3100,2,1,1.2,1,S1,64041100,鞋,42码,US,USD,1,025,1,025,10,10\n"
	req, _ := http.NewRequest("POST", ts.URL+"/v1/manifests?manifestNo=CSV-1&customsCode=3717&portCode=3717&voyageNo=CZ8471", strings.NewReader(csv))
	req.Header.Set("X-API-Key", courierKey)
	req.Header.Set("Content-Type", "text/csv; charset=utf-8")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rec api.ManifestReceipt
	json.NewDecoder(res.Body).Decode(&rec)
	if res.StatusCode != 202 || rec.Accepted != 1 || rec.Rejected != 1 || rec.ManifestNo != "CSV-1" {
		t.Fatalf("%d %+v", res.StatusCode, rec)
	}
	bad := rec.Parcels[1]
	if bad.Row != 3 || len(bad.Errors) != 1 || bad.Errors[0].Path != "row 3, column V (gcode)" {
		t.Fatalf("rejected parcel %+v", bad)
	}
}
