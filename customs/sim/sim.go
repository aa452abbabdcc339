// Package sim is the customs simulator: it plays the customs side of the
// exchange for development and tests. It decodes each envelope, checks
// each inventory, and answers over time with real CEB604 receipt XML:
// 2 → 120 → 399 → 800, with configurable inspection (500) and rejection
// (100, with returnInfo) rates, delays and seed.
package sim

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/google/uuid"
)

// Config shapes how the simulated customs behaves.
type Config struct {
	Seed           uint64        // with the same seed, each copNo gets the same outcome
	InspectionRate float64       // share of inventories inspected (500) before release
	RejectionRate  float64       // share rejected (100)
	DetentionRate  float64       // share detained after inspection (501)
	StepDelay      time.Duration // time between one receipt of an inventory and the next
	CustomsNodeID  string        // the SenderId of envelopes customs sends back
	// What real exchanges do that a gateway must survive:
	DuplicateRate   float64 // share of receipts sent twice
	OutOfOrder      bool    // receipts of one document sent newest first
	FormatErrorRate float64 // share of messages answered with a CEB900 format error instead
}

// Outcome is what the simulator decided for one inventory.
type Outcome struct {
	Codes      []string // the returnStatus sequence sent
	ReturnInfo string   // for a rejection
}

// Final is the last status the simulator sends.
func (o Outcome) Final() string { return o.Codes[len(o.Codes)-1] }

// Reasons customs gives for a simulated rejection and detention.
const (
	RejectReason = "商品信息与订单不符，退单 (goods do not match the order)"
	DetainReason = "查验发现侵权嫌疑，扣留 (suspected infringement found on inspection; detained)"
	FormatError  = "-301001"
)

// Decide is the outcome for copNo under cfg: a pure function, so a test can
// compute what the simulator will answer.
func (c Config) Decide(agentCode, copNo string) Outcome {
	u := c.uniform(agentCode, copNo)
	switch {
	case u < c.RejectionRate:
		return Outcome{Codes: []string{"2", "100"}, ReturnInfo: RejectReason}
	case u < c.RejectionRate+c.DetentionRate:
		return Outcome{Codes: []string{"2", "120", "500", "501"}, ReturnInfo: DetainReason}
	case u < c.RejectionRate+c.DetentionRate+c.InspectionRate:
		return Outcome{Codes: []string{"2", "120", "500", "399", "800"}}
	default:
		return Outcome{Codes: []string{"2", "120", "399", "800"}}
	}
}

// Refuses reports whether the simulator answers the message CopMsgId with
// a CEB900 format error: a pure function, like Decide.
func (c Config) Refuses(copMsgID string) bool {
	return c.uniform("format", copMsgID) < c.FormatErrorRate
}

func (c Config) uniform(parts ...string) float64 {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%s", c.Seed, strings.Join(parts, "\x00"))))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// Customs is the simulator. It implements the adapter's Transport.
type Customs struct {
	cfg Config

	mu          sync.Mutex
	queue       receiptQueue
	wake        chan struct{}
	seq         uint64
	newDecl     map[string]int       // appType=1 declarations received per agentCode/copNo
	taken       map[string]bool      // CopMsgIds of the messages taken
	inventories map[string]inventory // by logisticsNo: what departure and cancel act on
}

// inventory is what the simulated customs remembers of one it took.
type inventory struct {
	receipt   ceb.Return // its CEB604 identity
	released  time.Time  // when its 800 is due; zero if it is not released
	cancelled bool
}

func New(cfg Config) *Customs {
	if cfg.CustomsNodeID == "" {
		cfg.CustomsNodeID = ceb.DefaultReceiverID
	}
	return &Customs{cfg: cfg, wake: make(chan struct{}, 1), newDecl: map[string]int{}, taken: map[string]bool{}, inventories: map[string]inventory{}}
}

// receiptRoots: the receipt message of each message the simulator takes.
var receiptRoots = map[string]string{
	"CEB505Message": "CEB506Message", "CEB507Message": "CEB508Message", "CEB509Message": "CEB510Message",
	"CEB603Message": "CEB604Message", "CEB605Message": "CEB606Message", "CEB607Message": "CEB608Message", "CEB701Message": "CEB702Message",
}

// Send receives one envelope, as customs would. The exchange takes each
// message once: one whose CopMsgId it has taken before is acknowledged
// again and not processed again.
func (s *Customs) Send(_ context.Context, envelope []byte) error {
	env, err := ceb.DecodeEnvelope(envelope)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if receiptRoots[env.MsgType] == "" {
		return fmt.Errorf("sim: cannot handle %s", env.MsgType)
	}
	data := ceb.WithoutSignature(env.Data)
	now := time.Now()
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}()
	if s.taken[env.CopMsgID] {
		return nil
	}
	s.taken[env.CopMsgID] = true
	if s.cfg.Refuses(env.CopMsgID) {
		s.queueReceipts(now, "CEB900Message", ceb.Return{GUID: strings.ToUpper(uuid.NewString()), OriCopMsgID: env.CopMsgID,
			ReturnStatus: FormatError, ReturnInfo: "报文格式校验失败 (format check failed: simulated)"})
		return nil
	}
	switch env.MsgType {
	case "CEB603Message":
		return s.takeInventories(now, data)
	case "CEB505Message":
		_, waybills, err := ceb.ParseCEB505(data)
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		for _, w := range waybills {
			r := ceb.Return{GUID: w.GUID, LogisticsCode: w.LogisticsCode, LogisticsNo: w.LogisticsNo}
			s.queueReceipts(now, "CEB506Message", steps(r, "2", "399")...)
		}
		return nil
	}
	_, _, docs, err := ceb.ParseDocuments(data)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	for _, d := range docs {
		s.takeDocument(now, env.MsgType, &d)
	}
	return nil
}

// takeInventories checks each inventory and queues its receipts.
func (s *Customs) takeInventories(now time.Time, data []byte) error {
	_, invs, err := ceb.ParseCEB603(data)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	for _, inv := range invs {
		h := inv.Head
		out := s.cfg.Decide(h.AgentCode, h.CopNo)
		if problem := check(&inv); problem != "" {
			out = Outcome{Codes: []string{"100"}, ReturnInfo: problem}
		}
		if h.AppType == "1" {
			s.newDecl[h.AgentCode+"/"+h.CopNo]++
		}
		s.seq++
		base := ceb.Return{
			GUID: h.GUID, AgentCode: h.AgentCode, CopNo: h.CopNo, EbcCode: h.EbcCode, EbpCode: h.EbpCode,
			OrderNo: h.OrderNo, StatisticsFlag: h.StatisticsFlag,
			PreNo:  fmt.Sprintf("P%s%09d", now.In(ceb.ChinaTime).Format("20060102"), s.seq%1e9),
			InvtNo: fmt.Sprintf("%s%sE%09d", h.CustomsCode, now.In(ceb.ChinaTime).Format("2006"), s.seq%1e9),
		}
		rs := make([]ceb.Return, len(out.Codes))
		for i, code := range out.Codes {
			rs[i] = base
			rs[i].ReturnStatus, rs[i].ReturnInfo = code, info(code, out.ReturnInfo)
		}
		s.queueReceipts(now, "CEB604Message", rs...)
		inv := inventory{receipt: base}
		if out.Final() == "800" {
			inv.released = now.Add(time.Duration(len(out.Codes)) * s.cfg.StepDelay)
		}
		s.inventories[h.LogisticsNo] = inv
	}
	return nil
}

// takeDocument answers a document part: 2 (declaring), then 399 (审结);
// a departure then clears (899) each released inventory it lists, a cancel
// withdraws its inventory, and a summary is given a 报关单 (CEB792).
func (s *Customs) takeDocument(now time.Time, msgType string, d *customs.Document) {
	s.seq++
	r := ceb.Return{GUID: d.HeadGUID, AgentCode: d.AgentCode, LogisticsCode: d.LogisticsCode, OperatorCode: d.OperatorCode, CopNo: d.CopNo,
		BillNo: d.BillNo, InvtNo: d.InvtNo, EbcCode: d.EbcCode, MsgSeqNo: strconv.Itoa(d.MsgSeqNo),
		PreNo: fmt.Sprintf("D%s%09d", now.In(ceb.ChinaTime).Format("20060102"), s.seq%1e9)}
	if d.Kind == customs.DocSummary {
		r.SumNo = fmt.Sprintf("%s%s7%09d", d.CustomsCode, now.In(ceb.ChinaTime).Format("2006"), s.seq%1e9)
	}
	decided := now.Add(2 * s.cfg.StepDelay)
	s.queueReceipts(now, receiptRoots[msgType], steps(r, "2", "399")...)
	switch d.Kind {
	case customs.DocDeparture:
		for _, p := range d.Parcels {
			inv, ok := s.inventories[p.LogisticsNo]
			if !ok || inv.released.IsZero() || inv.cancelled {
				continue
			}
			cleared := inv.receipt
			cleared.ReturnStatus, cleared.ReturnInfo = "899", "结关 (cleared on departure)"
			s.push(latest(decided, inv.released).Add(s.cfg.StepDelay), "CEB604Message", cleared)
		}
	case customs.DocCancel:
		for _, p := range d.Parcels {
			if inv, ok := s.inventories[p.LogisticsNo]; ok {
				inv.cancelled = true
				s.inventories[p.LogisticsNo] = inv
			}
		}
	case customs.DocSummary:
		result := ceb.SummaryResult{Head: ceb.SummaryResultHead{GUID: strings.ToUpper(uuid.NewString()), CustomsCode: d.CustomsCode, SumNo: r.SumNo,
			OpDate: returnTime(decided), DeclSeqNo: fmt.Sprintf("%018d", s.seq), EntryID: fmt.Sprintf("%s%s1%09d", d.CustomsCode, now.In(ceb.ChinaTime).Format("2006"), s.seq%1e9),
			DecState: "10", AgentCode: d.AgentCode, AgentName: d.AgentName, EbcCode: d.EbcCode, EbcName: d.EbcName,
			DeclAgentCode: d.DeclAgentCode, DeclAgentName: d.DeclAgentName, GrossWeight: "0", NetWeight: "0", MsgCount: "1", MsgSeqNo: "1"}}
		for i, p := range d.Parcels {
			result.Lists = append(result.Lists, ceb.SummaryResultList{InvtNo: p.InvtNo, LogisticsNo: p.LogisticsNo, Gseqno: strconv.Itoa(i%99999 + 1), Gnum: "1", Gcode: "0000000000"})
		}
		heap.Push(&s.queue, pending{due: decided.Add(s.cfg.StepDelay), root: "CEB792Message", result: &result})
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// steps are r's receipts with each of codes in turn.
func steps(r ceb.Return, codes ...string) []ceb.Return {
	out := make([]ceb.Return, len(codes))
	for i, code := range codes {
		out[i] = r
		out[i].ReturnStatus, out[i].ReturnInfo = code, info(code, "")
	}
	return out
}

// queueReceipts queues one document's receipts a step apart, in order, or
// newest first when told to send them out of order; some twice when told
// to send duplicates.
func (s *Customs) queueReceipts(now time.Time, root string, rs ...ceb.Return) {
	for i, r := range rs {
		step := i + 1
		if s.cfg.OutOfOrder {
			step = len(rs) - i
		}
		due := now.Add(time.Duration(step) * s.cfg.StepDelay)
		s.push(due, root, r)
		if s.cfg.uniform("duplicate", root, r.GUID, r.CopNo, r.ReturnStatus) < s.cfg.DuplicateRate {
			s.push(due.Add(s.cfg.StepDelay/2), root, r)
		}
	}
}

func (s *Customs) push(due time.Time, root string, r ceb.Return) {
	heap.Push(&s.queue, pending{due: due, root: root, ret: r})
}

func returnTime(t time.Time) string {
	return t.In(ceb.ChinaTime).Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/1e6)
}

// check is the customs side's own look at an inventory.
func check(inv *ceb.Inventory) string {
	if len(inv.Lists) == 0 {
		return "清单表体为空 (no InventoryList)"
	}
	for _, l := range inv.Lists {
		if len(l.Gcode) != 10 {
			return fmt.Sprintf("商品编码错误 (gcode %q of item %s is not 10 digits)", l.Gcode, l.Gnum)
		}
	}
	return ""
}

func info(code, reason string) string {
	switch code {
	case "2":
		return "新增申报成功"
	case "120":
		return "海关入库成功"
	case "500":
		return "查验 (inspection)"
	case "399":
		return "海关审结"
	case "800":
		return "放行"
	case "100", "501":
		return reason
	case "899":
		return "结关"
	}
	return ""
}

// Run delivers due receipts, each message type in envelopes of its own
// of up to 100 receipts. A receipt whose delivery fails is kept and
// offered again.
func (s *Customs) Run(ctx context.Context, deliver func(context.Context, []byte) error) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, next := s.takeDue(time.Now(), ceb.MaxInventories)
		if len(due) > 0 {
			if err := s.deliverDue(ctx, due, deliver); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.requeue(due)
				next = 200 * time.Millisecond
			} else {
				continue
			}
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// deliverDue renders due receipts into one envelope per message type.
func (s *Customs) deliverDue(ctx context.Context, due []pending, deliver func(context.Context, []byte) error) error {
	now := time.Now()
	byRoot := map[string][]ceb.Return{}
	var roots []string
	var results []ceb.SummaryResult
	for _, p := range due {
		if p.result != nil {
			results = append(results, *p.result)
			continue
		}
		if _, ok := byRoot[p.root]; !ok {
			roots = append(roots, p.root)
		}
		r := p.ret
		r.ReturnTime = returnTime(now)
		byRoot[p.root] = append(byRoot[p.root], r)
	}
	envelope := func(root string, data []byte) []byte {
		guid := strings.ToUpper(uuid.NewString())
		env := ceb.Envelope{CopMsgID: guid, SenderID: s.cfg.CustomsNodeID, ReceiverID: "CLEARWAY", CreatTime: now, MsgType: root, Data: data}
		return env.Encode()
	}
	for _, root := range roots {
		data, err := ceb.RenderReturns(root, strings.ToUpper(uuid.NewString()), byRoot[root])
		if err != nil {
			return err
		}
		if err := deliver(ctx, envelope(root, data)); err != nil {
			return err
		}
	}
	if len(results) > 0 {
		return deliver(ctx, envelope("CEB792Message", ceb.RenderCEB792(strings.ToUpper(uuid.NewString()), results)))
	}
	return nil
}

func (s *Customs) takeDue(now time.Time, max int) ([]pending, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []pending
	for len(s.queue) > 0 && len(out) < max && !s.queue[0].due.After(now) {
		out = append(out, heap.Pop(&s.queue).(pending))
	}
	if len(s.queue) == 0 {
		return out, time.Hour
	}
	return out, max0(s.queue[0].due.Sub(now))
}

func (s *Customs) requeue(ps []pending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		p.due = time.Now()
		heap.Push(&s.queue, p)
	}
}

// NewDeclarations is how many times each agentCode/copNo was declared new
// (appType 1); more than one is a duplicate declaration.
func (s *Customs) NewDeclarations() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.newDecl))
	for k, v := range s.newDecl {
		out[k] = v
	}
	return out
}

// Pending is how many receipts are still to be sent.
func (s *Customs) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func max0(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return time.Millisecond
	}
	return d
}

// pending is one receipt due: a flat receipt of message root, or a
// summary's result.
type pending struct {
	due    time.Time
	root   string
	ret    ceb.Return
	result *ceb.SummaryResult
}

// receiptQueue is a min-heap by due time.
type receiptQueue []pending

func (q receiptQueue) Len() int           { return len(q) }
func (q receiptQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q receiptQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *receiptQueue) Push(x any)        { *q = append(*q, x.(pending)) }
func (q *receiptQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}
