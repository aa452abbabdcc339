package customs

import "strconv"

// Status is Clearway's word for where a declaration stands; Code (the
// customs returnStatus) says exactly which step.
type Status string

const (
	Accepted   Status = "accepted"   // Kafka holds it; not yet sent to customs
	Submitted  Status = "submitted"  // handed to the customs transport
	Declaring  Status = "declaring"  // 1/2/3: stored at, declaring through, sent on by the e-port
	InReview   Status = "in_review"  // 120 入库, 300 人工审核, 399 审结
	Inspection Status = "inspection" // 500 查验
	Released   Status = "released"   // 800 放行
	Cleared    Status = "cleared"    // 899 结关
	Rejected   Status = "rejected"   // 100 退单
	Detained   Status = "detained"   // 501/502/503/599 扣留
	Returned   Status = "returned"   // 700 退运
	Cancelled  Status = "cancelled"  // customs approved the agent's CEB605 cancel (撤销)
	Error      Status = "error"      // 4 sending failed, or a negative processing error
)

// Ranks order statuses so a late or duplicated receipt never moves a
// declaration backwards: a transition applies only to a strictly higher
// rank. Final outcomes outrank every progress step, and an error (which
// customs may follow with a resend's progress) sits just below 120.
const (
	RankAccepted  = 10
	RankSubmitted = 20
	RankError     = 34 // 4: sending to customs failed
)

var byCode = map[string]struct {
	status Status
	rank   int
}{
	"1": {Declaring, 31}, "2": {Declaring, 32}, "3": {Declaring, 33},
	"4":   {Error, RankError},
	"120": {InReview, 40}, "300": {InReview, 45}, "500": {Inspection, 50}, "399": {InReview, 60},
	"800": {Released, 80},
	"100": {Rejected, 90}, "501": {Detained, 90}, "502": {Detained, 90}, "503": {Detained, 90}, "599": {Detained, 90},
	"700": {Returned, 95},
	"899": {Cleared, 100},
}

// RankCancelled: a cancel customs approved outranks every outcome but 结关,
// which customs no longer lets anyone cancel.
const RankCancelled = 97

// rankNegative is the rank of a negative returnStatus (a processing error).
const rankNegative = 35

// FromReturnStatus maps a customs returnStatus to Clearway's status and its
// rank; ok is false for a code customs does not define.
func FromReturnStatus(code string) (s Status, rank int, ok bool) {
	if v, found := byCode[code]; found {
		return v.status, v.rank, true
	}
	if n, err := strconv.Atoi(code); err == nil && n < 0 {
		return Error, rankNegative, true
	}
	return "", 0, false
}

// Final reports whether no further receipt is expected in the inventory's
// clearance (release is where the foundation's flow ends; 899 comes after
// departure).
func (s Status) Final() bool {
	switch s {
	case Released, Cleared, Rejected, Detained, Returned, Cancelled:
		return true
	}
	return false
}

// Statuses lists every status in display order.
var Statuses = []Status{Accepted, Submitted, Declaring, InReview, Inspection, Released, Cleared, Rejected, Detained, Returned, Cancelled, Error}
