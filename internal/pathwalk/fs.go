package pathwalk

import (
	"io/fs"
	"path"
	"strings"
)

// AsMounted is implemented by file systems whose Open, Stat, ReadFile and
// ReadDir already resolve names with Resolve, following symlinks as the
// kernel would with the file system mounted at /: squashfs.Reader and the
// FS of a squashfs.Tree. Rooted returns them as they are.
type AsMounted interface {
	fs.FS
	ResolvesAsMounted()
}

// Rooted returns a view of fsys whose Open, Stat, ReadFile and ReadDir
// follow symlinks as the kernel would with fsys mounted at /, and whose
// Lstat and ReadLink do not follow a final symlink. Names are fs.FS names
// (fs.ValidPath, relative to the root). fsys must implement fs.ReadLinkFS
// for symlinks to be seen; without it (and for an AsMounted fsys) fsys is
// returned unchanged.
func Rooted(fsys fs.FS) fs.FS {
	if _, ok := fsys.(AsMounted); ok {
		return fsys
	}
	rl, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return fsys
	}
	return rootedFS{rl}
}

// rootedFS resolves each name by Lstat-ing its elements in turn.
type rootedFS struct{ fsys fs.ReadLinkFS }

// entry is a walked path and what Lstat said of it.
type entry struct {
	name string // fs.FS name; "." for the root
	info fs.FileInfo
}

type lstatWalker struct{ fsys fs.ReadLinkFS }

func (w lstatWalker) Child(dir entry, name string) (entry, error) {
	p := name
	if dir.name != "." {
		p = dir.name + "/" + name
	}
	info, err := w.fsys.Lstat(p)
	if err != nil {
		return entry{}, underlying(err)
	}
	return entry{p, info}, nil
}

func (lstatWalker) IsDir(e entry) bool { return e.info.IsDir() }

func (w lstatWalker) Link(e entry) (string, bool, error) {
	if e.info.Mode()&fs.ModeSymlink == 0 {
		return "", false, nil
	}
	t, err := w.fsys.ReadLink(e.name)
	if err != nil {
		return "", true, underlying(err)
	}
	return t, true, nil
}

// underlying strips a PathError, whose path would repeat what Resolve's
// message already says.
func underlying(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

func (r rootedFS) resolve(op, name string, follow bool) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	root, err := r.fsys.Lstat(".")
	if err != nil {
		return "", err
	}
	_, p, err := Resolve[entry](lstatWalker{r.fsys}, entry{".", root}, op, name, follow)
	if err != nil {
		return "", err
	}
	if p = strings.TrimPrefix(p, "/"); p == "" {
		p = "."
	}
	return p, nil
}

func (r rootedFS) Open(name string) (fs.File, error) {
	p, err := r.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	return r.fsys.Open(p)
}

func (r rootedFS) Stat(name string) (fs.FileInfo, error) {
	p, err := r.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	info, err := fs.Stat(r.fsys, p)
	return withName(info, err, name)
}

func (r rootedFS) Lstat(name string) (fs.FileInfo, error) {
	p, err := r.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	info, err := r.fsys.Lstat(p)
	return withName(info, err, name)
}

func (r rootedFS) ReadLink(name string) (string, error) {
	p, err := r.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	return r.fsys.ReadLink(p)
}

func (r rootedFS) ReadFile(name string) ([]byte, error) {
	p, err := r.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(r.fsys, p)
}

func (r rootedFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := r.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	return fs.ReadDir(r.fsys, p)
}

// withName makes a FileInfo carry the name it was asked by, as Stat of a
// symlink does, rather than its target's.
func withName(info fs.FileInfo, err error, name string) (fs.FileInfo, error) {
	if err != nil {
		return nil, err
	}
	return namedInfo{info, path.Base(name)}, nil
}

type namedInfo struct {
	fs.FileInfo
	name string
}

func (n namedInfo) Name() string { return n.name }
