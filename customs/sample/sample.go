// Package sample generates realistic courier manifests: valid CEB field
// values, Chinese names, one to five items a parcel. Tests and the
// benchmark use it; the same seed gives the same manifest.
package sample

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/ceb"
)

// The companies of the example green channel.
const (
	EbpCode       = "3502960ABC"
	AgentCode     = "3502980XYZ"
	LogisticsCode = "3502680EMS"
)

type goods struct {
	gcode, gname, gmodel, unit, price string
}

var catalogue = []goods{
	{"6404110000", "运动鞋", "42码 黑色 网面", "025", "39.90"},
	{"6109100021", "棉制针织T恤衫", "M码 白色 100%棉", "011", "59"},
	{"4202221000", "皮革手提包", "中号 棕色 牛皮", "007", "128.5"},
	{"8517130000", "智能手机保护壳", "硅胶 透明 6.1英寸", "007", "12.8"},
	{"9503008900", "塑料积木玩具", "500粒 彩色", "140", "88"},
	{"3304990099", "护肤面霜", "50ml 滋润型", "142", "45.6"},
	{"6110200090", "棉制针织毛衣", "L码 灰色", "011", "99"},
	{"8471300000", "平板电脑", "10英寸 64GB", "001", "699"},
}

var sellers = []string{"晋江鞋服电子商务有限公司", "泉州跨境好物贸易有限公司", "石狮服装电商有限公司", "德化陶瓷跨境商贸有限公司"}

var destinations = []struct{ country, pod, currency string }{
	{"US", "3100", "USD"}, {"JP", "1160", "JPY"}, {"GB", "3030", "GBP"}, {"DE", "3040", "EUR"}, {"SG", "1320", "SGD"}, {"AU", "6010", "AUD"},
}

// Options shape a manifest.
type Options struct {
	Seed     uint64
	Prefix   string  // makes logisticsNo unique across manifests
	Bonded   float64 // share of 1210 parcels
	Flight   string  // voyageNo; empty for none
	Customs  string  // customsCode and portCode
	IeDate   string  // YYYYMMDD; empty for the gateway's default (today)
	MaxItems int     // 1..5 when zero
}

// Manifest builds a manifest of n valid parcels.
func Manifest(manifestNo string, n int, o Options) customs.Manifest {
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	if o.Customs == "" {
		o.Customs = "3717"
	}
	if o.MaxItems == 0 {
		o.MaxItems = 5
	}
	m := customs.Manifest{ManifestNo: manifestNo, CustomsCode: o.Customs, PortCode: o.Customs, IeDate: o.IeDate, Parcels: make([]customs.Parcel, n)}
	if o.Flight != "" {
		m.Transport = &customs.Transport{TrafMode: "5", TrafName: o.Flight, VoyageNo: o.Flight, BillNo: "784-" + fmt.Sprintf("%08d", rng.IntN(1e8))}
	}
	for i := range m.Parcels {
		m.Parcels[i] = Parcel(rng, fmt.Sprintf("%s%08d", o.Prefix, i), rng.Float64() < o.Bonded, o.MaxItems)
	}
	return m
}

// Parcel builds one valid parcel with waybill number logisticsNo.
func Parcel(rng *rand.Rand, logisticsNo string, bonded bool, maxItems int) customs.Parcel {
	seller := sellers[rng.IntN(len(sellers))]
	dest := destinations[rng.IntN(len(destinations))]
	p := customs.Parcel{
		LogisticsNo: logisticsNo, OrderNo: "SO" + logisticsNo, TradeMode: "9610", StatisticsFlag: "A",
		EbpCode: EbpCode, EbpName: "泉州跨境优选平台", EbcCode: EbpCode, EbcName: seller, OwnerCode: EbpCode, OwnerName: seller,
		AgentCode: AgentCode, AgentName: "泉州顺达报关有限公司", LogisticsCode: LogisticsCode, LogisticsName: "泉州速递物流有限公司",
		Country: dest.country, Pod: dest.pod, Freight: customs.MustDecimal(fmt.Sprintf("%d.5", 10+rng.IntN(40))), FCurrency: "CNY",
		WrapType: "2", PackNo: customs.MustDecimal("1"),
	}
	if bonded {
		p.TradeMode, p.StatisticsFlag = "1210", "B"
		p.IacCode, p.IacName, p.EmsNo = "350296BOND", "泉州综合保税区仓储有限公司", "T3717W000123"
	}
	n := 1 + rng.IntN(maxItems)
	grams := 0
	for j := 0; j < n; j++ {
		g := catalogue[rng.IntN(len(catalogue))]
		qty := 1 + rng.IntN(3)
		price := customs.MustDecimal(g.price)
		total := customs.DecimalFromRat(new(big.Rat).Mul(price.Rat(), big.NewRat(int64(qty), 1)))
		it := customs.Item{
			ItemNo: fmt.Sprintf("SKU-%s-%d", g.gcode[:4], j), ItemName: g.gname, Gcode: g.gcode, Gname: g.gname, Gmodel: g.gmodel,
			BarCode: fmt.Sprintf("69%011d", rng.IntN(1e11)), Country: dest.country, Currency: "CNY",
			Qty: customs.MustDecimal(fmt.Sprint(qty)), Unit: g.unit, Qty1: customs.MustDecimal(fmt.Sprint(qty)), Unit1: g.unit,
			Price: price, TotalPrice: total,
		}
		if bonded {
			it.ItemRecordNo = fmt.Sprintf("T3717W000123-%04d", j+1)
		}
		p.Items = append(p.Items, it)
		grams += qty * (150 + rng.IntN(600))
	}
	p.NetWeight = customs.MustDecimal(fmt.Sprintf("%d.%03d", grams/1000, grams%1000))
	gross := grams + 80
	p.GrossWeight = customs.MustDecimal(fmt.Sprintf("%d.%03d", gross/1000, gross%1000))
	return p
}

// Declarations declares every parcel of m as tenant, as the gateway does.
func Declarations(m *customs.Manifest, tenant string) ([]*customs.Declaration, error) {
	decls := make([]*customs.Declaration, len(m.Parcels))
	for i := range m.Parcels {
		d, errs := customs.Declare(m, i, tenant, "20261128", customs.Rules{})
		if errs != nil {
			return nil, fmt.Errorf("sample: parcel %d: %v", i, errs)
		}
		decls[i] = &d
	}
	return decls, nil
}

// Envelope is decls in one CEB603 message with guid, in its DXP envelope,
// from the sample declaring agent.
func Envelope(guid string, decls []*customs.Declaration) []byte {
	sender := ceb.Sender{CopCode: AgentCode, CopName: "泉州顺达报关有限公司", DxpID: "DXPENT0000012345"}
	now := time.Now()
	env := ceb.Envelope{CopMsgID: guid, SenderID: sender.DxpID, ReceiverID: ceb.DefaultReceiverID, CreatTime: now, MsgType: "CEB603Message",
		Data: ceb.RenderCEB603(guid, decls, sender, now)}
	return env.Encode()
}
