package customs

import "testing"

func TestReturnStatusRanksNeverLetProgressUndoAnOutcome(t *testing.T) {
	rank := func(code string) int {
		_, r, ok := FromReturnStatus(code)
		if !ok {
			t.Fatalf("code %s unknown", code)
		}
		return r
	}
	// The normal flow climbs.
	flow := []string{"1", "2", "3", "120", "300", "500", "399", "800", "899"}
	for i := 1; i < len(flow); i++ {
		if rank(flow[i]) <= rank(flow[i-1]) {
			t.Errorf("%s must outrank %s", flow[i], flow[i-1])
		}
	}
	// Every outcome outranks every progress step.
	for _, final := range []string{"100", "501", "502", "503", "599", "700"} {
		for _, progress := range []string{"2", "120", "399", "800", "4", "-621004"} {
			if rank(final) <= rank(progress) {
				t.Errorf("outcome %s must outrank %s", final, progress)
			}
		}
	}
	// A late error after release or review does not move it back.
	if rank("-621004") >= rank("120") || rank("4") >= rank("120") {
		t.Error("an error must rank below customs' own progress")
	}
	if rank("2") <= RankSubmitted || RankSubmitted <= RankAccepted {
		t.Error("customs receipts must outrank our own accepted and submitted")
	}
	if s, _, _ := FromReturnStatus("-1"); s != Error {
		t.Errorf("negative returnStatus = %s, want error", s)
	}
	if _, _, ok := FromReturnStatus("42"); ok {
		t.Error("an undefined code must not map")
	}
}
