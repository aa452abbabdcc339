package adapter

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/dxpdir"
)

// DirTransport exchanges envelopes with customs through folders, as the
// China single-window DXP client (数据交换平台客户端) does: it picks up
// what Clearway puts in root/outbox, and drops customs' receipts in
// root/inbox. Under root Clearway also keeps archive/ (out/YYYYMMDD: a copy
// of each sent file; in/YYYYMMDD: each received file once delivered;
// rejected: files too large to read) and its private clearway/ (tmp, ready,
// sent), which must stay on root's filesystem so a rename into outbox is
// atomic.
//
// Sending is exactly-once across crashes at any point (see Send). Receiving
// is at-least-once: a received file is archived only after deliver
// returned nil, so a crash in between delivers it again after the restart;
// receipts are idempotent downstream, so that is safe.
//
// One root belongs to one DirTransport, in one process: Send's steps
// assume a single writer (two adapters sharing a root could both write a
// message to the outbox). Give each adapter process its own root.
type DirTransport struct {
	// Retention is how long the record that a message was sent is kept; a
	// message sent again within it is not written again. It must exceed
	// how long the adapter may send a message again (the journal keeps an
	// envelope for hours), so it is counted in days.
	Retention time.Duration
	// Poll is how long Run waits before it looks at an empty inbox again.
	Poll time.Duration

	outbox, inbox, archive string
	tmp, ready, sent       string // private: the client never looks there
	maxBytes               int64  // of one received file
	log                    *slog.Logger
	now                    func() time.Time

	mu sync.Mutex // one Send at a time: its steps assume a single writer
}

var _ Transport = (*DirTransport)(nil)

// Defaults of a DirTransport.
const (
	DefaultDirRetention = 30 * 24 * time.Hour
	DefaultDirPoll      = 200 * time.Millisecond
	maxInboxFileBytes   = 64 << 20 // a CEB604 envelope of 100 receipts is far smaller
	pruneEvery          = time.Hour
)

// NewDirTransport uses the exchange folders under root, creating any that
// are missing, and finishes every send a crash interrupted.
func NewDirTransport(root string, log *slog.Logger) (*DirTransport, error) {
	if root == "" {
		return nil, errors.New("adapter: dir transport: no folder given")
	}
	private := filepath.Join(root, "clearway")
	t := &DirTransport{
		Retention: DefaultDirRetention, Poll: DefaultDirPoll,
		outbox: filepath.Join(root, "outbox"), inbox: filepath.Join(root, "inbox"), archive: filepath.Join(root, "archive"),
		tmp: filepath.Join(private, "tmp"), ready: filepath.Join(private, "ready"), sent: filepath.Join(private, "sent"),
		maxBytes: maxInboxFileBytes, log: log, now: time.Now,
	}
	// The outbox and inbox are shared with the DXP client (the same user,
	// or a group): it deletes what it takes from the outbox and writes the
	// inbox. Files hold buyers' names and ids, so nothing is world-readable.
	for _, d := range []struct {
		path string
		mode fs.FileMode
	}{{t.outbox, 0o770}, {t.inbox, 0o770}, {t.archive, 0o750}, {t.tmp, 0o700}, {t.ready, 0o700}, {t.sent, 0o700}} {
		if err := dxpdir.EnsureDir(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("adapter: dir transport: %w", err)
		}
	}
	if err := t.recover(); err != nil {
		return nil, err
	}
	return t, nil
}

// Send puts one envelope in the outbox as <CopMsgId>.xml, once.
//
// Why this is safe against a crash (kill -9, or power loss: every step
// below is fsynced before the next) at any point: the client deletes what
// it takes from the outbox, so the outbox cannot tell whether a message
// went out; the private folders do. A message moves through
//
//	tmp/<id>.xml.*.part  written and fsynced, then renamed to
//	ready/<id>.xml       complete; then the marker sent/<id> is made, and
//	outbox/<id>.xml      by a rename out of ready.
//
// A rename moves the file, so ready/<id>.xml exists exactly until the
// outbox rename happened, and the marker exists before it can happen:
//
//	ready present              → not in the outbox yet: make sure of the
//	                             marker, rename (a crash before the marker,
//	                             or before the rename)
//	ready absent, marker there → in the outbox already (perhaps taken by
//	                             the client): nothing is written again
//	neither                    → never reached ready: write it (a crash
//	                             left at most a .part, deleted at start)
//
// NewDirTransport finishes every ready file left by a crash; a later Send
// of the same message then finds its marker. The marker is kept for
// Retention, longer than the adapter ever sends a message again.
//
// The marker is not the archive copy: the archive is the operators' to
// rotate or compress, is dated (finding a message in it would mean a
// search), and its copy is best effort; the marker is tiny, private and
// found by name.
func (t *DirTransport) Send(ctx context.Context, envelope []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, err := copMsgID(envelope)
	if err != nil {
		return fmt.Errorf("adapter: dir transport: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	staged, err := dxpdir.Exists(t.readyPath(id))
	if err != nil {
		return err
	}
	if !staged {
		sent, err := dxpdir.Exists(t.markerPath(id))
		if err != nil {
			return err
		}
		if sent {
			t.log.Info("message already put in the outbox; not written again", "copMsgId", id)
			return nil
		}
		if err := dxpdir.WriteAtomic(t.tmp, t.readyPath(id), envelope); err != nil {
			return fmt.Errorf("adapter: dir transport: stage %s: %w", id, err)
		}
	}
	return t.publish(id)
}

// publish moves ready/<id>.xml into the outbox, after its marker.
func (t *DirTransport) publish(id string) error {
	marker := t.markerPath(id)
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("adapter: dir transport: mark %s sent in %s: %w", id, t.sent, err)
	}
	f.Close()
	if err := dxpdir.SyncDir(t.sent); err != nil {
		return fmt.Errorf("adapter: dir transport: %w", err)
	}
	t.archiveSent(id)
	dst := filepath.Join(t.outbox, id+".xml")
	if err := os.Rename(t.readyPath(id), dst); err != nil {
		return fmt.Errorf("adapter: dir transport: put %s in the outbox %s: %w", id, t.outbox, err)
	}
	if err := errors.Join(dxpdir.SyncDir(t.outbox), dxpdir.SyncDir(t.ready)); err != nil {
		return fmt.Errorf("adapter: dir transport: %w", err)
	}
	t.log.Info("message put in the outbox", "copMsgId", id, "file", dst)
	return nil
}

// archiveSent keeps a copy of a message going out: a hard link, which
// outlives the client's delete from the outbox; a copy where the
// filesystem has no links. Best effort: a failure is logged, and the
// message goes out all the same.
func (t *DirTransport) archiveSent(id string) {
	dir := filepath.Join(t.archive, "out", t.day())
	dst := filepath.Join(dir, id+".xml")
	err := os.MkdirAll(dir, 0o750)
	if err == nil {
		err = os.Link(t.readyPath(id), dst)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) { // exists: an attempt before a crash made it
		var b []byte
		if b, err = os.ReadFile(t.readyPath(id)); err == nil {
			err = dxpdir.WriteAtomic(t.tmp, dst, b)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		t.log.Warn("could not archive a sent message; sending it anyway", "copMsgId", id, "folder", dir, "err", err)
	}
}

// recover deletes what a crash left half written and finishes every send
// a crash interrupted.
func (t *DirTransport) recover() error {
	parts, err := os.ReadDir(t.tmp)
	if err != nil {
		return fmt.Errorf("adapter: dir transport: %w", err)
	}
	for _, e := range parts {
		if err := os.RemoveAll(filepath.Join(t.tmp, e.Name())); err != nil {
			return fmt.Errorf("adapter: dir transport: delete a partial file: %w", err)
		}
	}
	staged, err := os.ReadDir(t.ready)
	if err != nil {
		return fmt.Errorf("adapter: dir transport: %w", err)
	}
	for _, e := range staged {
		id, ok := strings.CutSuffix(e.Name(), ".xml")
		if !ok || !validID.MatchString(id) {
			t.log.Warn("unknown file in the private ready folder; left alone", "file", filepath.Join(t.ready, e.Name()))
			continue
		}
		t.log.Info("finishing a send a crash interrupted", "copMsgId", id)
		if err := t.publish(id); err != nil {
			return err
		}
	}
	return nil
}

// Run delivers each file the client drops in the inbox, oldest first, and
// archives it once delivered; until ctx ends. It also prunes sent markers
// older than Retention, at start and hourly.
func (t *DirTransport) Run(ctx context.Context, deliver func(context.Context, []byte) error) error {
	var pruned time.Time
	failures := 0
	for ctx.Err() == nil {
		if t.now().Sub(pruned) >= pruneEvery {
			t.prune()
			pruned = t.now()
		}
		n, err := t.receiveWaiting(ctx, deliver)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			t.log.Warn("receiving from the inbox failed; retrying", "folder", t.inbox, "attempt", failures+1, "err", err)
			bus.Sleep(ctx, bus.Backoff(failures))
			failures++
		case n == 0:
			failures = 0
			bus.Sleep(ctx, t.Poll)
		default:
			failures = 0
		}
	}
	return nil
}

// receiveWaiting receives the files in the inbox now, in order, and says
// how many; it stops at the first that fails, so that one comes first
// again.
func (t *DirTransport) receiveWaiting(ctx context.Context, deliver func(context.Context, []byte) error) (int, error) {
	names, err := dxpdir.Waiting(t.inbox)
	if err != nil {
		return 0, err
	}
	for i, name := range names {
		if err := t.receive(ctx, name, deliver); err != nil {
			return i, err
		}
	}
	return len(names), nil
}

// receive delivers one inbox file, then archives it. A crash after deliver
// and before the archive delivers it again after the restart: receipts are
// idempotent downstream (the tracker applies a status once), so that is
// safe, and it is why the archive rename needs no fsync.
func (t *DirTransport) receive(ctx context.Context, name string, deliver func(context.Context, []byte) error) error {
	path := filepath.Join(t.inbox, name)
	body, err := dxpdir.ReadAtMost(path, t.maxBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // gone since it was listed
	case errors.Is(err, dxpdir.ErrTooLarge):
		return t.reject(name, err)
	case err != nil:
		return err
	}
	// Hold on to this file until it is delivered: the next one may carry a
	// later receipt of the same parcel.
	for attempt := 0; ; attempt++ {
		err := deliver(ctx, body)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return err // left in the inbox: delivered after the restart
		}
		t.log.Warn("delivering a received file failed; retrying it", "file", path, "attempt", attempt+1, "err", err)
		if !bus.Sleep(ctx, bus.Backoff(attempt)) {
			return ctx.Err()
		}
	}
	dst, err := t.moveToArchive(path, filepath.Join(t.archive, "in", t.day()))
	if err != nil {
		return err
	}
	t.log.Debug("received file delivered and archived", "file", dst)
	return nil
}

// reject moves a file that cannot be received out of the way, so it does
// not stop the ones after it.
func (t *DirTransport) reject(name string, why error) error {
	dst, err := t.moveToArchive(filepath.Join(t.inbox, name), filepath.Join(t.archive, "rejected"))
	if err != nil {
		return err
	}
	t.log.Error("received file rejected, not delivered", "file", dst, "reason", why)
	return nil
}

// moveToArchive renames path into dir, under a new name when one of its
// name is there already (a client may use a name again).
func (t *DirTransport) moveToArchive(path, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("archive folder %s: %w", dir, err)
	}
	dst := filepath.Join(dir, filepath.Base(path))
	if taken, err := dxpdir.Exists(dst); err != nil {
		return "", err
	} else if taken {
		dst = filepath.Join(dir, fmt.Sprintf("%d-%s", t.now().UnixNano(), filepath.Base(path)))
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("archive %s: %w", path, err)
	}
	return dst, nil
}

// prune deletes sent markers older than Retention.
func (t *DirTransport) prune() {
	entries, err := os.ReadDir(t.sent)
	if err != nil {
		t.log.Warn("could not prune sent markers", "folder", t.sent, "err", err)
		return
	}
	keep := t.Retention
	if keep <= 0 { // unset: never prune everything
		keep = DefaultDirRetention
	}
	cutoff, n := t.now().Add(-keep), 0
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			if os.Remove(filepath.Join(t.sent, e.Name())) == nil {
				n++
			}
		}
	}
	if n > 0 {
		t.log.Info("pruned sent markers", "count", n, "olderThan", keep.String())
	}
}

func (t *DirTransport) readyPath(id string) string  { return filepath.Join(t.ready, id+".xml") }
func (t *DirTransport) markerPath(id string) string { return filepath.Join(t.sent, id) }

// day names an archive folder: the day as customs counts it.
func (t *DirTransport) day() string { return t.now().In(ceb.ChinaTime).Format("20060102") }

// validID is a CopMsgId that is safe as a file name (Clearway's are
// upper-case GUIDs).
var validID = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_.-]{0,99}$`)

// copMsgID reads the CopMsgId from an envelope's TransInfo, without
// decoding the Base64 message after it.
func copMsgID(envelope []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(envelope))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("envelope without a CopMsgId: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch start.Name.Local {
		case "CopMsgId":
			var id string
			if err := d.DecodeElement(&id, &start); err != nil {
				return "", fmt.Errorf("envelope CopMsgId: %w", err)
			}
			if id = strings.TrimSpace(id); !validID.MatchString(id) {
				return "", fmt.Errorf("envelope CopMsgId %q cannot name a file", id)
			}
			return id, nil
		case "Data":
			return "", errors.New("envelope without a CopMsgId")
		}
	}
}
