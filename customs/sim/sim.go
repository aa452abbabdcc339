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
	"strings"
	"sync"
	"time"

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
)

// Decide is the outcome for copNo under cfg: a pure function, so a test can
// compute what the simulator will answer.
func (c Config) Decide(agentCode, copNo string) Outcome {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%s\x00%s", c.Seed, agentCode, copNo)))
	u := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
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

// Customs is the simulator. It implements the adapter's Transport.
type Customs struct {
	cfg Config

	mu      sync.Mutex
	queue   receiptQueue
	wake    chan struct{}
	seq     uint64
	newDecl map[string]int  // appType=1 declarations received per agentCode/copNo
	taken   map[string]bool // CopMsgIds of the messages taken
}

func New(cfg Config) *Customs {
	if cfg.CustomsNodeID == "" {
		cfg.CustomsNodeID = ceb.DefaultReceiverID
	}
	return &Customs{cfg: cfg, wake: make(chan struct{}, 1), newDecl: map[string]int{}, taken: map[string]bool{}}
}

// Send receives one envelope, as customs would. The exchange takes each
// message once: one whose CopMsgId it has taken before is acknowledged
// again and not processed again.
func (s *Customs) Send(_ context.Context, envelope []byte) error {
	env, err := ceb.DecodeEnvelope(envelope)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if env.MsgType != "CEB603Message" {
		return fmt.Errorf("sim: cannot handle %s", env.MsgType)
	}
	_, invs, err := ceb.ParseCEB603(env.Data)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taken[env.CopMsgID] {
		return nil
	}
	s.taken[env.CopMsgID] = true
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
		base := ceb.InventoryReturn{
			GUID: h.GUID, AgentCode: h.AgentCode, CopNo: h.CopNo, EbcCode: h.EbcCode, EbpCode: h.EbpCode,
			OrderNo: h.OrderNo, StatisticsFlag: h.StatisticsFlag,
			PreNo:  fmt.Sprintf("P%s%09d", now.In(ceb.ChinaTime).Format("20060102"), s.seq%1e9),
			InvtNo: fmt.Sprintf("%s%sE%09d", h.CustomsCode, now.In(ceb.ChinaTime).Format("2006"), s.seq%1e9),
		}
		for i, code := range out.Codes {
			r := base
			r.ReturnStatus = code
			r.ReturnInfo = info(code, out.ReturnInfo)
			heap.Push(&s.queue, pending{due: now.Add(time.Duration(i+1) * s.cfg.StepDelay), ret: r})
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
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
	}
	return ""
}

// Run delivers due receipts as CEB604 envelopes of up to 100 receipts.
// A receipt whose delivery fails is kept and offered again.
func (s *Customs) Run(ctx context.Context, deliver func(context.Context, []byte) error) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, next := s.takeDue(time.Now(), ceb.MaxInventories)
		if len(due) > 0 {
			now := time.Now()
			for i := range due {
				due[i].ReturnTime = now.In(ceb.ChinaTime).Format("20060102150405") + fmt.Sprintf("%03d", now.Nanosecond()/1e6)
			}
			guid := strings.ToUpper(uuid.NewString())
			env := ceb.Envelope{CopMsgID: guid, SenderID: s.cfg.CustomsNodeID, ReceiverID: "CLEARWAY", CreatTime: now, MsgType: "CEB604Message", Data: ceb.RenderCEB604(guid, due)}
			if err := deliver(ctx, env.Encode()); err != nil {
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

func (s *Customs) takeDue(now time.Time, max int) ([]ceb.InventoryReturn, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ceb.InventoryReturn
	for len(s.queue) > 0 && len(out) < max && !s.queue[0].due.After(now) {
		out = append(out, heap.Pop(&s.queue).(pending).ret)
	}
	if len(s.queue) == 0 {
		return out, time.Hour
	}
	return out, max0(s.queue[0].due.Sub(now))
}

func (s *Customs) requeue(rs []ceb.InventoryReturn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rs {
		heap.Push(&s.queue, pending{due: time.Now(), ret: r})
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

type pending struct {
	due time.Time
	ret ceb.InventoryReturn
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
