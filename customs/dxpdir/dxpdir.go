// Package dxpdir holds the folder steps of the file exchange a DXP
// single-window client shares with the companies it serves: a file appears
// in a folder complete or not at all, files still being written are never
// taken, and folders are checked before anything is put in them. The
// adapter's dir transport and the simulator (the client's side) both use
// them.
package dxpdir

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Waiting lists the files in dir to take, oldest first (modification time,
// then name). Hidden files and those still being written (.tmp, .part)
// are not for taking.
func Waiting(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("folder %s: %w", dir, err)
	}
	type file struct {
		name string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone since it was listed
		}
		files = append(files, file{name, info.ModTime()})
	}
	slices.SortFunc(files, func(a, b file) int {
		return cmp.Or(a.mod.Compare(b.mod), strings.Compare(a.name, b.name))
	})
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	return names, nil
}

// ErrTooLarge: a file over the size a reader takes.
var ErrTooLarge = errors.New("file too large")

// ReadAtMost reads a file of at most max bytes.
func ReadAtMost(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
	}
	return b, nil
}

// EnsureDir makes dir if missing and checks it is a folder this process
// can write, naming it when not.
func EnsureDir(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("folder %s: %w", dir, pathErr(err))
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("folder %s: %w", dir, pathErr(err))
	}
	if !info.IsDir() {
		return fmt.Errorf("folder %s is not a directory", dir)
	}
	probe, err := os.CreateTemp(dir, ".clearway-probe-*") // hidden: no client takes it
	if err != nil {
		return fmt.Errorf("folder %s is not writable: %w", dir, pathErr(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// pathErr drops the path from an *fs.PathError, which the message names
// already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Exists reports whether path exists (a link counts, and is not followed).
func Exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// WriteAtomic makes dst appear complete or not at all: the data goes
// to a temporary file in tmpDir (on dst's filesystem), is fsynced, and is
// renamed to dst, whose folder is then fsynced.
func WriteAtomic(tmpDir, dst string, data []byte) error {
	f, err := os.CreateTemp(tmpDir, filepath.Base(dst)+".*.part")
	if err != nil {
		return err
	}
	err = f.Chmod(0o640) // the client may read as another user of the group
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return SyncDir(filepath.Dir(dst))
}

// SyncDir makes the renames into and out of dir durable.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // a folder cannot be opened for fsync there; NTFS journals renames
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}
