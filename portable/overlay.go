package portable

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// overlay is the root a portable service sees when attached with
// extensions: the portable image, with the hierarchies of each extension
// (/usr and /opt, SYSTEMD_SYSEXT_HIERARCHIES) stacked over it by overlayfs,
// the last extension on top (systemd's ExtensionImages=). Outside the
// hierarchies it is the portable image alone. Names are fs.FS names with
// no symlink in them but perhaps the last element, as pathwalk.Rooted
// passes them.
type overlay struct {
	layers []fs.ReadLinkFS // the top first, the portable image last
	dirs   []string        // the overlaid hierarchies, as fs.FS names
}

// maxLayers bounds the extensions a check stacks.
const maxLayers = 64

func newOverlay(base fs.ReadLinkFS, exts []fs.ReadLinkFS, hierarchies []string) *overlay {
	o := &overlay{}
	for i := len(exts) - 1; i >= 0; i-- {
		o.layers = append(o.layers, exts[i])
	}
	o.layers = append(o.layers, base)
	for _, h := range hierarchies {
		o.dirs = append(o.dirs, strings.TrimPrefix(h, "/"))
	}
	return o
}

// overlaid reports whether name lies in an overlaid hierarchy.
func (o *overlay) overlaid(name string) bool {
	first, _, _ := strings.Cut(name, "/")
	return slices.Contains(o.dirs, first)
}

// visible returns, for each layer in turn from the top, whether it shows
// name: every ancestor of name in the layer is a directory. A layer where
// an ancestor is missing shows nothing there; one where an ancestor is not
// a directory hides that name in the layers below (ok is false from it).
func (o *overlay) visible(name string, yield func(l fs.ReadLinkFS) bool) error {
	if !o.overlaid(name) {
		yield(o.layers[len(o.layers)-1])
		return nil
	}
	elems := strings.Split(name, "/")
layers:
	for _, l := range o.layers {
		for i := 1; i < len(elems); i++ {
			info, err := l.Lstat(strings.Join(elems[:i], "/"))
			if errors.Is(err, fs.ErrNotExist) {
				continue layers
			}
			if err != nil {
				return err
			}
			if !info.IsDir() {
				return fs.ErrNotExist // an upper non-directory hides the rest
			}
		}
		if !yield(l) {
			return nil
		}
	}
	return nil
}

// find returns the layer name comes from: the topmost that has it.
func (o *overlay) find(op, name string) (fs.ReadLinkFS, fs.FileInfo, error) {
	var found fs.ReadLinkFS
	var info fs.FileInfo
	var lerr error
	err := o.visible(name, func(l fs.ReadLinkFS) bool {
		i, err := l.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			return true
		}
		found, info, lerr = l, i, err
		return false
	})
	switch {
	case err != nil:
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: err}
	case lerr != nil:
		return nil, nil, lerr
	case found == nil:
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return found, info, nil
}

func (o *overlay) Lstat(name string) (fs.FileInfo, error) {
	_, info, err := o.find("lstat", name)
	return info, err
}

// Stat is Lstat: names come resolved.
func (o *overlay) Stat(name string) (fs.FileInfo, error) { return o.Lstat(name) }

func (o *overlay) ReadLink(name string) (string, error) {
	l, _, err := o.find("readlink", name)
	if err != nil {
		return "", err
	}
	return l.ReadLink(name)
}

func (o *overlay) Open(name string) (fs.File, error) {
	l, info, err := o.find("open", name)
	if err != nil {
		return nil, err
	}
	if info.IsDir() && o.overlaid(name) {
		return &overlayDir{o: o, name: name, info: info}, nil
	}
	return l.Open(name)
}

// ReadDir merges the directory's entries from every layer that shows it as
// a directory, down to the first that has something else there; an upper
// entry hides a lower one of the same name.
func (o *overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	if !o.overlaid(name) {
		return fs.ReadDir(o.layers[len(o.layers)-1], name)
	}
	var out []fs.DirEntry
	seen := map[string]bool{}
	var rerr error
	err := o.visible(name, func(l fs.ReadLinkFS) bool {
		info, err := l.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			return true
		}
		if err != nil {
			rerr = err
			return false
		}
		if !info.IsDir() {
			return false
		}
		entries, err := fs.ReadDir(l, name)
		if err != nil {
			rerr = err
			return false
		}
		for _, e := range entries {
			if !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, e)
			}
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// overlayDir is a merged directory opened from an overlay.
type overlayDir struct {
	o       *overlay
	name    string
	info    fs.FileInfo
	entries []fs.DirEntry
	read    bool
}

func (d *overlayDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *overlayDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *overlayDir) Close() error { return nil }

func (d *overlayDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		var err error
		if d.entries, err = d.o.ReadDir(d.name); err != nil {
			return nil, err
		}
		d.read = true
	}
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(d.entries))
	out := d.entries[:k]
	d.entries = d.entries[k:]
	return out, nil
}
