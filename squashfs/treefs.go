package squashfs

import (
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/mkportable/mkportable/internal/pathwalk"
)

// FS returns the tree as an fs.FS, the image it will be once written: the
// same view a Reader gives of the written image, so one check can examine
// a tree before it is written and an image after. Open, Stat, ReadFile and
// ReadDir follow symlinks as the kernel would with the image mounted at /;
// Lstat and ReadLink do not follow a final one. Times are the nodes' own
// (a zero time unless the caller set one), and FileInfo.Sys is an
// *InodeInfo. Regular files are read through their OpenFunc.
func (t *Tree) FS() fs.FS { return treeFS{t} }

type treeFS struct{ t *Tree }

// ResolvesAsMounted marks the FS for pathwalk.Rooted.
func (treeFS) ResolvesAsMounted() {}

var (
	_ fs.ReadLinkFS = treeFS{}
	_ fs.ReadDirFS  = treeFS{}
	_ fs.StatFS     = treeFS{}
)

func (f treeFS) lookup(op, name string, follow bool) (*Node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n, _, err := pathwalk.Resolve[*Node](nodeWalker{}, f.t.root, op, name, follow)
	return n, err
}

func (f treeFS) Open(name string) (fs.File, error) {
	n, err := f.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	file := &treeFile{info: nodeInfo{n, path.Base(name)}}
	if n.mode.IsRegular() {
		rc, err := n.open()
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		file.rc = rc
	}
	return file, nil
}

func (f treeFS) Stat(name string) (fs.FileInfo, error) {
	n, err := f.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return nodeInfo{n, path.Base(name)}, nil
}

func (f treeFS) Lstat(name string) (fs.FileInfo, error) {
	n, err := f.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return nodeInfo{n, path.Base(name)}, nil
}

func (f treeFS) ReadLink(name string) (string, error) {
	n, err := f.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode.Type() != fs.ModeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.text, nil
}

func (f treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: ErrNotDir}
	}
	return dirEntries(n), nil
}

// dirEntries lists a directory node in name order, as fs.ReadDir does.
func dirEntries(n *Node) []fs.DirEntry {
	ents := n.dir.list()
	out := make([]fs.DirEntry, len(ents))
	for i, e := range ents {
		out[i] = fs.FileInfoToDirEntry(nodeInfo{e.node, e.name})
	}
	return out
}

// treeFile is an open node of a treeFS.
type treeFile struct {
	info nodeInfo
	rc   io.ReadCloser // regular files
	dir  []fs.DirEntry // directories, once listed
	read bool          // whether dir has been listed
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *treeFile) Read(p []byte) (int, error) {
	if f.rc == nil {
		return 0, &fs.PathError{Op: "read", Path: f.info.name, Err: fs.ErrInvalid}
	}
	return f.rc.Read(p)
}

func (f *treeFile) Close() error {
	if f.rc == nil {
		return nil
	}
	return f.rc.Close()
}

// ReadDir implements fs.ReadDirFile.
func (f *treeFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.info.n.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.info.name, Err: ErrNotDir}
	}
	if !f.read {
		f.dir, f.read = dirEntries(f.info.n), true
	}
	return nextDirEntries(&f.dir, n)
}

// nodeInfo is the fs.FileInfo of a tree node.
type nodeInfo struct {
	n    *Node
	name string
}

func (i nodeInfo) Name() string       { return i.name }
func (i nodeInfo) Size() int64        { return i.n.Size() }
func (i nodeInfo) Mode() fs.FileMode  { return i.n.mode }
func (i nodeInfo) ModTime() time.Time { return i.n.modTime() }
func (i nodeInfo) IsDir() bool        { return i.n.IsDir() }

// Sys returns the node's owner, device numbers and extended attributes.
func (i nodeInfo) Sys() any {
	major, minor := decodeDevice(i.n.rdev)
	return &InodeInfo{UID: i.n.uid, GID: i.n.gid, Major: major, Minor: minor, Xattrs: cloneXattrs(i.n.xattrs)}
}
