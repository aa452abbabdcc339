package sim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clearway/clearway/customs/dxpdir"
	"github.com/google/uuid"
)

const (
	dirPoll    = 100 * time.Millisecond // how often ServeDir looks at an empty outbox
	claimLease = 10 * time.Second       // how long a claim is its reader's alone
)

// ServeDir plays the DXP client on customs' side of the file exchange (the
// adapter's dir transport), until ctx ends:
//
//	root/outbox  it takes each <CopMsgId>.xml the adapter puts there and
//	             hands it to c; it skips hidden, .part and .tmp files
//	root/inbox   it writes c's receipt envelopes there, each complete (a
//	             temporary file, fsynced, renamed), named so that name
//	             order is the order customs sent them
//
// Its own folders are root/sim/claimed, tmp and failed. A file is taken by
// renaming it into claimed under a name that carries the time of the
// claim, so two readers never take one file, and it is deleted only after
// c took it. A claim older than claimLease belongs to a reader that
// stopped (a live one holds a claim for milliseconds): any reader claims
// it again, by the same atomic rename, and hands it to c, so a crash loses
// nothing (c takes a CopMsgId once). A file c refuses goes to failed,
// logged.
func ServeDir(ctx context.Context, c *Customs, root string, log *slog.Logger) error {
	x := &dirExchange{
		outbox: filepath.Join(root, "outbox"), inbox: filepath.Join(root, "inbox"),
		claimed: filepath.Join(root, "sim", "claimed"), tmp: filepath.Join(root, "sim", "tmp"), failed: filepath.Join(root, "sim", "failed"),
		log: log,
	}
	for _, dir := range []string{x.outbox, x.inbox, x.claimed, x.tmp, x.failed} {
		if err := dxpdir.EnsureDir(dir, 0o770); err != nil {
			return fmt.Errorf("sim: dir exchange: %w", err)
		}
	}
	if parts, err := os.ReadDir(x.tmp); err == nil { // receipts a crash left half written
		for _, e := range parts {
			os.Remove(filepath.Join(x.tmp, e.Name()))
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, x.writeInbox) }()
	x.take(ctx, c)
	return <-errc
}

type dirExchange struct {
	outbox, inbox, claimed, tmp, failed string
	log                                 *slog.Logger
	seq                                 atomic.Uint64
}

// take hands every file put in the outbox to c, and every claim a stopped
// reader left.
func (x *dirExchange) take(ctx context.Context, c *Customs) {
	for ctx.Err() == nil {
		took := x.takeStale(ctx, c)
		names, err := dxpdir.Waiting(x.outbox)
		if err != nil {
			x.log.Warn("cannot read the outbox", "err", err)
		}
		for _, name := range names {
			if !strings.HasSuffix(name, ".xml") || ctx.Err() != nil {
				continue // not a message the client knows
			}
			if claimed, ok := x.claim(filepath.Join(x.outbox, name), name); ok {
				took++
				x.process(ctx, c, claimed, name)
			}
		}
		if took == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(dirPoll):
			}
		}
	}
}

// takeStale claims again, and hands to c, the claims older than
// claimLease; it says how many.
func (x *dirExchange) takeStale(ctx context.Context, c *Customs) int {
	claims, err := dxpdir.Waiting(x.claimed)
	if err != nil {
		x.log.Warn("cannot read the claimed folder", "err", err)
		return 0
	}
	n := 0
	for _, claimed := range claims {
		at, name := parseClaim(claimed)
		if time.Since(at) < claimLease || ctx.Err() != nil {
			continue
		}
		if again, ok := x.claim(filepath.Join(x.claimed, claimed), name); ok {
			x.log.Info("taking a file a stopped reader had claimed", "file", name, "claimedAt", at)
			n++
			x.process(ctx, c, again, name)
		}
	}
	return n
}

// claim renames path to claimed/<now>-<name>; false when another reader
// took it first.
func (x *dirExchange) claim(path, name string) (string, bool) {
	claimed := filepath.Join(x.claimed, claimName(time.Now(), name))
	err := os.Rename(path, claimed)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // not there: another reader took it
		x.log.Warn("cannot claim a file", "err", err)
	}
	return claimed, err == nil
}

// claimName is a claimed file's name: the time of the claim, then the
// outbox name.
func claimName(at time.Time, name string) string { return fmt.Sprintf("%019d-%s", at.UnixNano(), name) }

// parseClaim reads a claimed file's name; one not made by claimName counts
// as claimed long ago.
func parseClaim(claimed string) (time.Time, string) {
	ns, name, ok := strings.Cut(claimed, "-")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil {
		return time.Time{}, claimed
	}
	return time.Unix(0, n), name
}

// process hands one claimed file to c, and deletes it once c took it.
func (x *dirExchange) process(ctx context.Context, c *Customs, path, name string) {
	envelope, err := dxpdir.ReadAtMost(path, maxEnvelopeBytes)
	if err == nil {
		err = c.Send(ctx, envelope)
	}
	switch {
	case err == nil:
		if err := os.Remove(path); err != nil {
			x.log.Warn("cannot delete a file taken", "file", path, "err", err)
		}
	case ctx.Err() != nil:
		// left claimed: taken again once its lease ends
	default:
		x.log.Error("customs refused a file; moved to failed", "file", name, "err", err)
		if err := os.Rename(path, filepath.Join(x.failed, name)); err != nil {
			x.log.Error("cannot move a refused file to failed", "file", path, "err", err)
		}
	}
}

// writeInbox drops one receipt envelope in the inbox, complete: the name
// starts with the time and a sequence, so name order is sending order, and
// ends with a random part, so two simulators on one inbox never collide.
func (x *dirExchange) writeInbox(_ context.Context, envelope []byte) error {
	name := fmt.Sprintf("%s-%09d-%s.xml", time.Now().UTC().Format("20060102T150405.000000000"), x.seq.Add(1), uuid.NewString()[:8])
	if err := dxpdir.WriteAtomic(x.tmp, filepath.Join(x.inbox, name), envelope); err != nil {
		return fmt.Errorf("sim: dir exchange: write %s to the inbox: %w", name, err)
	}
	return nil
}
