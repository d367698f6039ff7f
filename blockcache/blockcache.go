// Package blockcache keeps compressed squashfs blocks in a directory, for
// squashfs.Options.Cache: a rebuild of a tree that changed a little
// compresses only what changed, and writes the same image as a cold build.
//
// Each block is one file, named by its key, under DIR/v1/XX/ where XX is
// the key's first byte in hex. Files are written to a temporary name and
// renamed into place, so a reader sees a whole value or none, and several
// builds can share one directory at once without locks. A hit refreshes
// the file's modification time (at most once an hour), which is what
// Prune evicts by: least recently used first. A damaged file is harmless:
// the writer checks every value it gets and ignores the ones that fail.
package blockcache

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mkportable/mkportable/squashfs"
)

// DefaultMaxSize is the size bound a cache gets unless told otherwise.
const DefaultMaxSize = 4 << 30

// maxValue bounds what Get reads: a value is at most a 1 MiB block and a
// few bytes of framing, so anything larger is not one.
const maxValue = squashfs.MaxBlockSize + 4096

// layout names the directory the values live in; a new layout gets a new
// name and leaves the old one to prune.
const layout = "v1"

// touchEvery is how stale a file's time may get before a hit refreshes it.
const touchEvery = time.Hour

// DefaultDir returns where a cache lives unless told otherwise:
// $XDG_CACHE_HOME/mkportable, or ~/.cache/mkportable.
func DefaultDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w", err)
	}
	return filepath.Join(base, "mkportable"), nil
}

// Dir is a squashfs.Cache in a directory.
type Dir struct {
	root string // DIR/v1
	now  func() time.Time
}

var _ squashfs.Cache = (*Dir)(nil)

// Open returns the cache in dir, creating the directory if needed.
func Open(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("cache: no directory given")
	}
	root := filepath.Join(dir, layout)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Dir{root: root, now: time.Now}, nil
}

func (d *Dir) path(key squashfs.CacheKey) string {
	name := key.String()
	return filepath.Join(d.root, name[:2], name)
}

// Get implements squashfs.Cache.
func (d *Dir) Get(dst []byte, key squashfs.CacheKey) ([]byte, bool) {
	p := d.path(key)
	f, err := os.Open(p)
	if err != nil {
		return dst, false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() || info.Size() > maxValue {
		return dst, false
	}
	n := int(info.Size())
	dst = slices.Grow(dst[:0], n)[:n]
	if _, err := io.ReadFull(f, dst); err != nil {
		return dst[:0], false
	}
	if now := d.now(); now.Sub(info.ModTime()) > touchEvery {
		os.Chtimes(p, now, now) // for Prune; a failure only ages the entry
	}
	return dst, true
}

// Put implements squashfs.Cache. A value already there is only
// refreshed; errors are dropped, since a cache that cannot store only
// misses.
func (d *Dir) Put(key squashfs.CacheKey, value []byte) {
	p := d.path(key)
	if _, err := os.Stat(p); err == nil {
		return
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(value)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}

// Stats describe what a cache holds.
type Stats struct {
	Entries int
	Bytes   int64
	Oldest  time.Time // the least recently used entry's time
}

type entry struct {
	path string
	size int64
	time time.Time
}

// entries lists the values, and removes temporary files that a build which
// died left behind.
func (d *Dir) entries() ([]entry, error) {
	var out []entry
	err := filepath.WalkDir(d.root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // pruned by someone else meanwhile
			}
			return err
		}
		if de.IsDir() {
			return nil
		}
		info, err := de.Info()
		if err != nil {
			return nil
		}
		if strings.HasPrefix(de.Name(), ".tmp-") {
			if d.now().Sub(info.ModTime()) > touchEvery {
				os.Remove(p)
			}
			return nil
		}
		out = append(out, entry{p, info.Size(), info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return out, nil
}

// Stats returns what the cache holds.
func (d *Dir) Stats() (Stats, error) {
	es, err := d.entries()
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	for _, e := range es {
		s.Entries++
		s.Bytes += e.size
		if s.Oldest.IsZero() || e.time.Before(s.Oldest) {
			s.Oldest = e.time
		}
	}
	return s, nil
}

// Prune removes the least recently used values until the cache holds at
// most maxBytes, and returns what it removed. Builds may go on meanwhile:
// one that misses a value it was about to read compresses the block again.
func (d *Dir) Prune(maxBytes int64) (removed Stats, err error) {
	es, err := d.entries()
	if err != nil {
		return removed, err
	}
	total := int64(0)
	for _, e := range es {
		total += e.size
	}
	slices.SortFunc(es, func(a, b entry) int {
		return cmp.Or(a.time.Compare(b.time), strings.Compare(a.path, b.path))
	})
	for _, e := range es {
		if total <= maxBytes {
			break
		}
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("cache: %w", err)
		}
		total -= e.size
		removed.Entries++
		removed.Bytes += e.size
	}
	return removed, nil
}
