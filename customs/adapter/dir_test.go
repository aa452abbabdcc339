package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
)

func testLog(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

func newDirTransport(t *testing.T, root string) *DirTransport {
	t.Helper()
	tr, err := NewDirTransport(root, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	tr.Poll = 10 * time.Millisecond
	return tr
}

// exampleEnvelope declares the parcels of schemas/examples/manifest.json in
// one CEB603 envelope with CopMsgId guid.
func exampleEnvelope(t *testing.T, guid string) ([]*customs.Declaration, []byte) {
	t.Helper()
	b, err := os.ReadFile("../../schemas/examples/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m customs.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	decls, err := sample.Declarations(&m, sample.LogisticsCode)
	if err != nil {
		t.Fatal(err)
	}
	return decls, sample.Envelope(guid, decls)
}

// runUntil runs tr until done reports true (or 10 s pass), then stops it.
func runUntil(t *testing.T, tr *DirTransport, deliver func(context.Context, []byte) error, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- tr.Run(ctx, deliver) }()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			cancel()
			<-stopped
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestDirTransportCarriesADeclarationToTheSimulatorAndItsReceiptsBack(t *testing.T) {
	root := t.TempDir()
	tr := newDirTransport(t, root)
	const guid = "8F3B1C2E-0A1B-4C5D-8E9F-0123456789AB"
	decls, envelope := exampleEnvelope(t, guid)

	cfg := sim.Config{StepDelay: time.Millisecond}
	c := sim.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.ServeDir(ctx, c, root, testLog(t)) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("ServeDir: %v", err)
		}
	}()

	if err := tr.Send(context.Background(), envelope); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string][]string{} // copNo → returnStatus in order received
	envelopes := 0
	deliver := func(_ context.Context, b []byte) error {
		env, err := ceb.DecodeEnvelope(b)
		if err != nil || env.MsgType != "CEB604Message" {
			t.Errorf("received %v, %v; want a CEB604 envelope", env, err)
			return nil
		}
		rs, err := ceb.ParseCEB604(env.Data)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		defer mu.Unlock()
		envelopes++
		for _, r := range rs {
			got[r.CopNo] = append(got[r.CopNo], r.ReturnStatus)
		}
		return nil
	}
	finished := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range decls {
			if s := got[d.Head.CopNo]; len(s) == 0 || s[len(s)-1] != "800" {
				return false
			}
		}
		return true
	}
	runUntil(t, tr, deliver, finished)

	for _, d := range decls {
		want := cfg.Decide(d.Head.AgentCode, d.Head.CopNo).Codes
		if !slices.Equal(got[d.Head.CopNo], want) {
			t.Errorf("%s: receipts %v, want %v", d.Head.CopNo, got[d.Head.CopNo], want)
		}
	}
	if n := c.NewDeclarations(); len(n) != len(decls) {
		t.Errorf("customs took %d declarations, want %d", len(n), len(decls))
	}
	if left := names(t, filepath.Join(root, "inbox")); len(left) != 0 {
		t.Errorf("inbox still holds %v after delivery", left)
	}
	if archived := names(t, filepath.Join(root, "archive", "in", tr.day())); len(archived) != envelopes {
		t.Errorf("archived %d received files, delivered %d", len(archived), envelopes)
	}
	if left := names(t, filepath.Join(root, "outbox")); len(left) != 0 {
		t.Errorf("outbox still holds %v: the client did not take it", left)
	}
	if b, err := os.ReadFile(filepath.Join(root, "archive", "out", tr.day(), guid+".xml")); err != nil || !bytes.Equal(b, envelope) {
		t.Errorf("the sent message is not archived as sent: %v", err)
	}
}

// Each state a crash (kill -9) in Send can leave: a restart and a Send of
// the same message again put it in the outbox exactly once in all, and a
// message the client already took is never written again.
func TestDirTransportPutsEachMessageInTheOutboxOnceWhereverSendCrashed(t *testing.T) {
	const id = "1B4E28BA-2FA1-11D2-883F-0016D3CCA427"
	_, envelope := exampleEnvelope(t, id)
	for _, tc := range []struct {
		name         string
		leave        func(t *testing.T, tr *DirTransport) // the state the crash left
		afterRestart int                                  // files in the outbox once restarted
		wantTaken    int                                  // files the client takes from the restart on
	}{
		{"while writing the temporary file", func(t *testing.T, tr *DirTransport) {
			write(t, filepath.Join(tr.tmp, id+".xml.123.part"), envelope[:len(envelope)/2])
		}, 0, 1},
		{"after the file was ready, before the marker", func(t *testing.T, tr *DirTransport) {
			write(t, tr.readyPath(id), envelope)
		}, 1, 1},
		{"after the marker, before the outbox rename", func(t *testing.T, tr *DirTransport) {
			write(t, tr.readyPath(id), envelope)
			write(t, tr.markerPath(id), nil)
		}, 1, 1},
		{"after the outbox rename, before the client took it", func(t *testing.T, tr *DirTransport) {
			write(t, tr.markerPath(id), nil)
			write(t, filepath.Join(tr.outbox, id+".xml"), envelope)
		}, 1, 1},
		{"after the client took it", func(t *testing.T, tr *DirTransport) {
			write(t, tr.markerPath(id), nil)
		}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.leave(t, newDirTransport(t, root))

			tr := newDirTransport(t, root) // the restart
			if left := names(t, tr.tmp); len(left) != 0 {
				t.Errorf("partial files %v survive a restart", left)
			}
			taken := clientTakes(t, tr, envelope)
			if taken != tc.afterRestart {
				t.Errorf("after the restart the outbox held %d files, want %d", taken, tc.afterRestart)
			}
			for range 2 { // the adapter sends it again after the restart, perhaps more than once
				if err := tr.Send(context.Background(), envelope); err != nil {
					t.Fatal(err)
				}
				taken += clientTakes(t, tr, envelope)
			}
			if taken != tc.wantTaken {
				t.Errorf("the client took the message %d times, want %d", taken, tc.wantTaken)
			}
			if left := names(t, tr.ready); len(left) != 0 {
				t.Errorf("ready still holds %v", left)
			}
		})
	}
}

// The same message sent twice is written once, and not again once the
// client took it; Send also finishes a ready file without a restart.
func TestDirTransportSendTwiceWritesTheMessageOnce(t *testing.T) {
	const id = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"
	_, envelope := exampleEnvelope(t, id)
	tr := newDirTransport(t, t.TempDir())
	for range 2 {
		if err := tr.Send(context.Background(), envelope); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, tr.outbox); !slices.Equal(got, []string{id + ".xml"}) {
		t.Fatalf("outbox %v, want only %s.xml", got, id)
	}
	taken := clientTakes(t, tr, envelope)
	if err := tr.Send(context.Background(), envelope); err != nil {
		t.Fatal(err)
	}
	if taken += clientTakes(t, tr, envelope); taken != 1 {
		t.Errorf("the client took the message %d times, want 1", taken)
	}

	const other = "6BA7B811-9DAD-11D1-80B4-00C04FD430C8"
	_, second := exampleEnvelope(t, other)
	write(t, tr.readyPath(other), second) // a crash left it ready; no restart
	if err := tr.Send(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	if got := clientTakes(t, tr, second); got != 1 {
		t.Errorf("the client took a ready message %d times, want 1", got)
	}
}

func TestDirTransportRefusesAnEnvelopeWhoseCopMsgIdCannotNameAFile(t *testing.T) {
	tr := newDirTransport(t, t.TempDir())
	for _, env := range [][]byte{
		(&ceb.Envelope{CopMsgID: "../../etc/passwd", MsgType: "CEB603Message"}).Encode(),
		(&ceb.Envelope{CopMsgID: "", MsgType: "CEB603Message"}).Encode(),
		[]byte("not xml"),
	} {
		if err := tr.Send(context.Background(), env); err == nil {
			t.Errorf("Send(%.60q) = nil, want an error", env)
		}
	}
	if got := names(t, tr.outbox); len(got) != 0 {
		t.Errorf("outbox %v, want empty", got)
	}
}

// A file whose delivery fails stays in the inbox and is delivered again
// before the next is taken; files go in order of time, then name.
func TestDirTransportRetriesAFailedDeliveryBeforeTakingTheNextFile(t *testing.T) {
	tr := newDirTransport(t, t.TempDir())
	base := time.Now().Add(-time.Minute)
	for i, name := range []string{"b.xml", "a.xml", "c.xml", "d.xml"} { // c and d: the same time, so by name
		path := filepath.Join(tr.inbox, name)
		write(t, path, []byte(name))
		at := base.Add(time.Duration(min(i, 2)) * time.Second)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	var order recorder
	failures := 0 // only Run's goroutine touches it
	deliver := func(_ context.Context, b []byte) error {
		order.add(string(b))
		if string(b) == "b.xml" && failures < 2 {
			failures++
			if _, err := os.Stat(filepath.Join(tr.inbox, "b.xml")); err != nil {
				t.Errorf("a file not yet delivered left the inbox: %v", err)
			}
			return errors.New("kafka unavailable")
		}
		return nil
	}
	runUntil(t, tr, deliver, func() bool { return len(names(t, tr.inbox)) == 0 })
	if want := []string{"b.xml", "b.xml", "b.xml", "a.xml", "c.xml", "d.xml"}; !slices.Equal(order.list(), want) {
		t.Errorf("delivered %v, want %v", order.list(), want)
	}
	if got := names(t, filepath.Join(tr.archive, "in", tr.day())); len(got) != 4 {
		t.Errorf("archived %v, want the 4 files", got)
	}
}

func TestDirTransportDoesNotReadPartialOrHiddenFiles(t *testing.T) {
	tr := newDirTransport(t, t.TempDir())
	skipped := []string{".hidden.xml", "half.xml.part", "half.xml.tmp"}
	for _, name := range append(skipped, "whole.xml") {
		write(t, filepath.Join(tr.inbox, name), []byte(name))
	}
	var delivered recorder
	polls := 0
	runUntil(t, tr, delivered.deliver, func() bool { polls++; return len(delivered.list()) > 0 && polls > 20 })
	if !slices.Equal(delivered.list(), []string{"whole.xml"}) {
		t.Errorf("delivered %v, want only whole.xml", delivered.list())
	}
	if got := names(t, tr.inbox); !slices.Equal(got, skipped) {
		t.Errorf("inbox %v, want %v left alone", got, skipped)
	}
}

func TestDirTransportRejectsAnOversizeFileAndGoesOn(t *testing.T) {
	tr := newDirTransport(t, t.TempDir())
	tr.maxBytes = 10
	write(t, filepath.Join(tr.inbox, "a-big.xml"), []byte("eleven byte"))
	write(t, filepath.Join(tr.inbox, "b-small.xml"), []byte("ten bytes!"))
	var delivered recorder
	runUntil(t, tr, delivered.deliver, func() bool { return len(names(t, tr.inbox)) == 0 })
	if !slices.Equal(delivered.list(), []string{"ten bytes!"}) {
		t.Errorf("delivered %q, want only the small file", delivered.list())
	}
	if got := names(t, filepath.Join(tr.archive, "rejected")); !slices.Equal(got, []string{"a-big.xml"}) {
		t.Errorf("rejected %v, want a-big.xml", got)
	}
}

func TestDirTransportPrunesSentMarkersOlderThanRetention(t *testing.T) {
	tr := newDirTransport(t, t.TempDir())
	old := time.Now().Add(-DefaultDirRetention - time.Hour)
	write(t, tr.markerPath("OLD"), nil)
	if err := os.Chtimes(tr.markerPath("OLD"), old, old); err != nil {
		t.Fatal(err)
	}
	write(t, tr.markerPath("RECENT"), nil)
	runUntil(t, tr, func(context.Context, []byte) error { return nil }, func() bool { return len(names(t, tr.sent)) < 2 })
	if got := names(t, tr.sent); !slices.Equal(got, []string{"RECENT"}) {
		t.Errorf("markers %v, want only RECENT", got)
	}
}

func TestNewDirTransportNamesAFolderThatIsAFile(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "outbox"), []byte("a file where a folder belongs"))
	_, err := NewDirTransport(root, testLog(t))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "outbox")) || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("err = %v, want one naming %s as not a directory", err, filepath.Join(root, "outbox"))
	}
}

func TestNewDirTransportNamesAFolderItCannotWrite(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write anywhere: no permission error to see")
	}
	locked := t.TempDir()
	if err := os.MkdirAll(filepath.Join(locked, "outbox"), 0o500); err != nil {
		t.Fatal(err)
	}
	_, err := NewDirTransport(locked, testLog(t))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(locked, "outbox")) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("err = %v, want one naming %s as not writable", err, filepath.Join(locked, "outbox"))
	}
}

// clientTakes plays the DXP client: it takes (deletes) every message in the
// outbox, checking each is complete, and says how many it took.
func clientTakes(t *testing.T, tr *DirTransport, want []byte) int {
	t.Helper()
	n := 0
	for _, name := range names(t, tr.outbox) {
		path := filepath.Join(tr.outbox, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want) {
			t.Errorf("outbox file %s is not the whole envelope (%d bytes, want %d)", name, len(b), len(want))
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// recorder keeps what Run delivered, for the test's goroutine to read.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s)
}

func (r *recorder) deliver(_ context.Context, b []byte) error {
	r.add(string(b))
	return nil
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}
