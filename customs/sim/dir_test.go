package sim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
)

// namedEnvelope declares n sample parcels, their waybills starting with
// prefix, in one CEB603 envelope with CopMsgId guid.
func namedEnvelope(t *testing.T, guid, prefix string, n int) ([]*customs.Declaration, []byte) {
	t.Helper()
	m := sample.Manifest("S"+prefix, n, sample.Options{Seed: 2, Prefix: prefix})
	decls, err := sample.Declarations(&m, "T")
	if err != nil {
		t.Fatal(err)
	}
	return decls, sample.Envelope(guid, decls)
}

// serveDir runs ServeDir on root until the test ends.
func serveDir(t *testing.T, c *Customs, root string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeDir(ctx, c, root, slog.New(slog.NewTextHandler(t.Output(), nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeDir: %v", err)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // ServeDir may not have made it yet
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// putInOutbox puts a file in the outbox the way the adapter does: whole,
// by a rename.
func putInOutbox(t *testing.T, root, name string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "outbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, name+".part")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, "outbox", name)); err != nil {
		t.Fatal(err)
	}
}

// A file claimed before a crash (taken from the outbox, not yet handed to
// customs) is handed to customs once its claim's lease ended; its receipts
// come back in the inbox, whole, in name order.
func TestServeDirTakesAClaimedFileLeftByACrashOnRestart(t *testing.T) {
	root := t.TempDir()
	decls, envelope := namedEnvelope(t, "G1", "C", 3)
	claimed := filepath.Join(root, "sim", "claimed")
	if err := os.MkdirAll(claimed, 0o755); err != nil {
		t.Fatal(err)
	}
	crashed := time.Now().Add(-claimLease) // a claim its reader did not finish: no reader holds it longer
	if err := os.WriteFile(filepath.Join(claimed, claimName(crashed, "G1.xml")), envelope, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Seed: 1, StepDelay: time.Millisecond}
	c := New(cfg)
	serveDir(t, c, root)

	total := 0
	for _, d := range decls {
		total += len(cfg.Decide(d.Head.AgentCode, d.Head.CopNo).Codes)
	}
	got := map[string][]string{}
	waitFor(t, "every receipt in the inbox", func() bool {
		clear(got)
		n := 0
		for _, name := range dirNames(t, filepath.Join(root, "inbox")) { // sorted by name
			if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".xml") {
				t.Fatalf("inbox holds %s, which is not a whole receipt file", name)
			}
			b, err := os.ReadFile(filepath.Join(root, "inbox", name))
			if err != nil {
				t.Fatal(err)
			}
			env, err := ceb.DecodeEnvelope(b)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			rs, err := ceb.ParseCEB604(env.Data)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, r := range rs {
				got[r.CopNo] = append(got[r.CopNo], r.ReturnStatus)
				n++
			}
		}
		return n == total
	})
	for _, d := range decls {
		if want := cfg.Decide(d.Head.AgentCode, d.Head.CopNo).Codes; !slices.Equal(got[d.Head.CopNo], want) {
			t.Errorf("%s: receipts in name order %v, want %v", d.Head.CopNo, got[d.Head.CopNo], want)
		}
	}
	if left := dirNames(t, claimed); len(left) != 0 {
		t.Errorf("claimed still holds %v after customs took it", left)
	}
	if n := len(c.NewDeclarations()); n != len(decls) {
		t.Errorf("customs took %d declarations, want %d", n, len(decls))
	}
}

// Two readers on one outbox never take one file twice, and leave files
// still being written and hidden ones alone.
func TestServeDirTakesEachFileOnceWithTwoReaders(t *testing.T) {
	root := t.TempDir()
	c1, c2 := New(Config{StepDelay: time.Millisecond}), New(Config{StepDelay: time.Millisecond})
	serveDir(t, c1, root)
	serveDir(t, c2, root)
	const messages, parcels = 20, 2
	for i := range messages {
		_, envelope := namedEnvelope(t, fmt.Sprintf("G%02d", i), fmt.Sprintf("M%02d-", i), parcels)
		putInOutbox(t, root, fmt.Sprintf("G%02d.xml", i), envelope)
	}
	ignored := []string{".hidden.xml", "half.xml.part", "half.xml.tmp"}
	for _, name := range ignored {
		if err := os.WriteFile(filepath.Join(root, "outbox", name), []byte("<"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the outbox to be taken", func() bool {
		return slices.Equal(dirNames(t, filepath.Join(root, "outbox")), ignored) && len(dirNames(t, filepath.Join(root, "sim", "claimed"))) == 0
	})
	taken := map[string]int{}
	for _, c := range []*Customs{c1, c2} {
		for k, n := range c.NewDeclarations() {
			taken[k] += n
		}
	}
	if len(taken) != messages*parcels {
		t.Errorf("customs took %d declarations, want %d", len(taken), messages*parcels)
	}
	for k, n := range taken {
		if n != 1 {
			t.Errorf("%s taken %d times", k, n)
		}
	}
}

// A file customs refuses goes to failed, and the files after it are taken.
func TestServeDirMovesARefusedFileToFailedAndGoesOn(t *testing.T) {
	root := t.TempDir()
	c := New(Config{StepDelay: time.Millisecond})
	putInOutbox(t, root, "A-BROKEN.xml", []byte("<not an envelope"))
	_, envelope := namedEnvelope(t, "B-GOOD", "B", 1)
	putInOutbox(t, root, "B-GOOD.xml", envelope)
	serveDir(t, c, root)
	waitFor(t, "the good file to be taken", func() bool { return len(c.NewDeclarations()) == 1 })
	waitFor(t, "the broken file in failed", func() bool {
		return slices.Equal(dirNames(t, filepath.Join(root, "sim", "failed")), []string{"A-BROKEN.xml"})
	})
}

// A claim younger than the lease belongs to a reader at work: another
// reader leaves it alone.
func TestServeDirLeavesAFreshClaimToItsReader(t *testing.T) {
	root := t.TempDir()
	_, envelope := namedEnvelope(t, "G2", "F", 1)
	claimed := filepath.Join(root, "sim", "claimed", claimName(time.Now(), "G2.xml"))
	if err := os.MkdirAll(filepath.Dir(claimed), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(claimed, envelope, 0o644); err != nil {
		t.Fatal(err)
	}
	c := New(Config{StepDelay: time.Millisecond})
	serveDir(t, c, root)
	time.Sleep(5 * dirPoll)
	if n := len(c.NewDeclarations()); n != 0 {
		t.Errorf("took %d declarations from another reader's claim", n)
	}
	if _, err := os.Stat(claimed); err != nil {
		t.Errorf("another reader's claim is gone: %v", err)
	}
}
