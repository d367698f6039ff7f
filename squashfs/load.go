package squashfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// LoadOptions says what AddDir reads beyond names, contents and modes.
type LoadOptions struct {
	// NoXattrs leaves out the extended attributes. By default AddDir
	// reads the user.*, trusted.* and security.* attributes of every entry
	// (file capabilities are security.capability), as mksquashfs does;
	// other namespaces (system.* ACLs) have no squashfs encoding and are
	// skipped, as mksquashfs skips them. Reading trusted.* needs root.
	NoXattrs bool
}

// TreeFromDir loads the directory dir as the root of a new tree.
func TreeFromDir(dir string, opts LoadOptions) (*Tree, error) {
	t := NewTree()
	if err := t.AddDir("/", dir, opts); err != nil {
		return nil, err
	}
	return t, nil
}

// AddDir copies the directory tree at dir on the host into the tree at dest,
// creating dest's missing parents with mode 0755. dest itself takes dir's
// attributes. Owners, times, device numbers and hard links are read from
// the host; symlinks are stored as links, never followed, and every read
// goes through an os.Root so a link swapped in during the walk cannot lead
// outside dir.
func (t *Tree) AddDir(dest, dir string, opts LoadOptions) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("add %s: %w", dir, err)
	}
	defer root.Close()
	id, err := rootID(root)
	if err != nil {
		return fmt.Errorf("add %s: %w", dir, err)
	}
	if t.hostDirs == nil {
		t.hostDirs = &hostDirs{}
	}
	host := &hostTree{root: dir, id: id, dirs: t.hostDirs}
	l := loader{
		tree:   t,
		fsys:   root.FS(),
		links:  map[fileID]*Node{},
		source: func(rel string) *source { return &source{&hostDir{tree: host, dir: rel}} },
	}
	if !opts.NoXattrs {
		l.xattrs = func(rel string) (map[string][]byte, error) {
			return readXattrs(filepath.Join(dir, filepath.FromSlash(rel)))
		}
	}
	if err := l.load(dest); err != nil {
		return fmt.Errorf("add %s: %w", dir, err)
	}
	return nil
}

// AddFS copies fsys into the tree at dest. Symlinks are kept when fsys
// implements fs.ReadLinkFS (os.DirFS, os.Root's FS and Reader do) and are
// an error otherwise. Owners, device numbers and hard links are read when
// the FileInfo's Sys is a *syscall.Stat_t, as it is for the os file
// systems, or an *InodeInfo, as it is for a Reader (which also gives
// extended attributes) and a Tree's FS: a Reader's image written again
// with the same options gives the same bytes.
func (t *Tree) AddFS(dest string, fsys fs.FS) error {
	l := loader{
		tree:   t,
		fsys:   fsys,
		links:  map[fileID]*Node{},
		source: func(rel string) *source { return &source{&fsDir{fsys: fsys, dir: rel}} },
	}
	return l.load(dest)
}

// hostTree opens the files of a tree that AddDir loaded: a directory
// through an os.Root of the loaded one, so that a link swapped in cannot
// lead outside it, and a file by its name in that directory, without
// following a link. The root is opened again by its path for each
// directory and must be the directory that was loaded.
type hostTree struct {
	root string // the directory AddDir loaded
	id   fileID // its device and inode
	dirs *hostDirs
}

// hostDirs keeps open the two directories a tree's files were last read
// from, whichever AddDir loaded them: the writer reads a directory's files
// one after another, now and then comparing one with an earlier file
// elsewhere, so a file mostly costs one open, not one for each directory
// on its path. A tree holds no more descriptors than these two, however
// many directories were added to it; the runtime closes them once the
// tree is dropped.
type hostDirs struct {
	mu   sync.Mutex
	open [2]hostDirFile
}

// hostDirFile is an open directory under a hostTree's root.
type hostDirFile struct {
	host *hostTree
	dir  string // relative to the host's root
	f    *os.File
}

func (t *hostTree) open(dir, name string) (io.ReadCloser, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return nil, &fs.PathError{Op: "open", Path: path.Join(dir, name), Err: fs.ErrInvalid}
	}
	d := t.dirs
	d.mu.Lock()
	defer d.mu.Unlock()
	is := func(e hostDirFile) bool { return e.f != nil && e.host == t && e.dir == dir }
	if !is(d.open[0]) {
		if !is(d.open[1]) {
			f, err := t.openDir(dir)
			if err != nil {
				return nil, err
			}
			if d.open[1].f != nil {
				d.open[1].f.Close()
			}
			d.open[1] = hostDirFile{t, dir, f}
		}
		d.open[0], d.open[1] = d.open[1], d.open[0]
	}
	return openFileAt(d.open[0].f, name)
}

// openDir opens directory dir of the loaded tree.
func (t *hostTree) openDir(dir string) (*os.File, error) {
	root, err := os.OpenRoot(t.root)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if id, err := rootID(root); err != nil {
		return nil, err
	} else if id != t.id {
		return nil, fmt.Errorf("%s: %w", t.root, errDirReplaced)
	}
	return root.Open(dir)
}

// errDirReplaced says a directory that was loaded is not the one its path
// names any more.
var errDirReplaced = errors.New("directory replaced since it was loaded")

// rootID returns the device and inode of root's directory.
func rootID(root *os.Root) (fileID, error) {
	info, err := root.Stat(".")
	if err != nil {
		return fileID{}, err
	}
	sys := sysOf(info)
	if !sys.known {
		return fileID{}, fmt.Errorf("%s: no device and inode", root.Name())
	}
	return sys.id, nil
}

// hostDir opens the files of one directory of a hostTree, by name.
type hostDir struct {
	tree *hostTree
	dir  string // this directory, relative to the tree's root
}

func (h *hostDir) open(name string) (io.ReadCloser, error) { return h.tree.open(h.dir, name) }

// fsDir opens the files of one directory that AddFS loaded, by name.
type fsDir struct {
	fsys fs.FS
	dir  string
}

func (d *fsDir) open(name string) (io.ReadCloser, error) {
	return d.fsys.Open(path.Join(d.dir, name))
}

type fileID struct{ dev, ino uint64 }

// loader adds a directory tree to a Tree, a directory at a time: each
// entry goes straight into its parent's node, and the regular files of a
// directory share one opener that opens them by name.
type loader struct {
	tree   *Tree
	fsys   fs.FS
	source func(rel string) *source // the opener of the directory at rel
	xattrs func(rel string) (map[string][]byte, error)
	links  map[fileID]*Node // the node of each multiply linked inode met
}

func (l *loader) load(dest string) error {
	dest, err := cleanPath(dest)
	if err != nil {
		return &PathError{Op: "add", Path: dest, Err: err}
	}
	parentPath := path.Dir(dest)
	if err := l.tree.MkdirAll(parentPath, Attr{Mode: 0o755}); err != nil {
		return err
	}
	info, err := fs.Stat(l.fsys, ".")
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return &PathError{Op: "add", Path: ".", Err: ErrNotDir}
	}
	if dest == "/" {
		a, _, err := l.attr(".", info)
		if err != nil {
			return err
		}
		if err := checkAttr(dest, a); err != nil {
			return err
		}
		l.tree.root.setAttr(a, l.xattrs == nil)
		return l.walk(".", dest, l.tree.root)
	}
	parent, err := l.tree.Lookup(parentPath)
	if err != nil {
		return err
	}
	return l.addIn(parent, parentPath, path.Base(dest), ".", info, nil)
}

// walk adds the entries of the directory at rel in the source to dir, the
// node at full.
func (l *loader) walk(rel, full string, dir *Node) error {
	ents, err := fs.ReadDir(l.fsys, rel)
	if err != nil {
		return err
	}
	// Entries come sorted, so they are appended: room for all at once.
	dir.dir.sorted = slices.Grow(dir.dir.sorted, len(ents))
	// The names share one string: a name of a few bytes on its own would
	// cost a rounded-up allocation each.
	var all strings.Builder
	for _, e := range ents {
		all.WriteString(e.Name())
	}
	names, off := all.String(), 0
	var src *source // made for the directory's first regular file
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			return err
		}
		name := names[off : off+len(e.Name())]
		off += len(name)
		childRel := path.Join(rel, name)
		if info.Mode().IsRegular() && src == nil {
			src = l.source(rel)
		}
		if err := l.addIn(dir, full, name, childRel, info, src); err != nil {
			return err
		}
	}
	return nil
}

// attr returns the attributes of the entry at rel and what its Sys says.
func (l *loader) attr(rel string, info fs.FileInfo) (Attr, sysInfo, error) {
	a := Attr{Mode: info.Mode(), ModTime: info.ModTime()}
	sys := sysOf(info)
	a.UID, a.GID, a.Xattrs = sys.uid, sys.gid, sys.xattrs
	if l.xattrs != nil {
		x, err := l.xattrs(rel)
		if err != nil {
			return a, sys, fmt.Errorf("%s: %w", rel, err)
		}
		a.Xattrs = x
	}
	return a, sys, nil
}

// addIn adds the entry at rel, info, to dir (the node at dirPath) as
// name; a regular file is opened through src. A directory that exists
// already takes the entry's attributes and keeps its entries.
func (l *loader) addIn(dir *Node, dirPath, name, rel string, info fs.FileInfo, src *source) error {
	typ := info.Mode().Type()
	fullPath := func() string { return path.Join(dirPath, name) }
	a, sys, err := l.attr(rel, info)
	if err != nil {
		return err
	}
	existing, exists := dir.lookup(name)
	if sys.nlink > 1 && typ != fs.ModeDir {
		if first, ok := l.links[sys.id]; ok {
			if exists {
				return &PathError{Op: "link", Path: fullPath(), Err: ErrExist}
			}
			first.linked = true
			dir.dir.set(name, first)
			return nil
		}
	}
	op := addOp(typ)
	if err := checkName(name); err != nil {
		return &PathError{Op: op, Path: fullPath(), Err: err}
	}
	if err := checkAttr(fullPath(), a); err != nil {
		return err
	}
	if typ == fs.ModeDir && exists && existing.IsDir() {
		existing.setAttr(a, l.xattrs == nil)
		return l.walk(rel, fullPath(), existing)
	}
	var rdev uint32
	var target string
	switch typ {
	case fs.ModeDir, 0:
	case fs.ModeSymlink:
		if target, err = fs.ReadLink(l.fsys, rel); err != nil {
			return err
		}
		if err := checkTarget(target); err != nil {
			return &PathError{Op: op, Path: fullPath(), Err: err}
		}
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice, fs.ModeNamedPipe, fs.ModeSocket:
		if typ&fs.ModeDevice != 0 && !sys.known {
			return fmt.Errorf("%s: device without a device number", rel)
		}
		if rdev, err = deviceNumber(typ, sys.major, sys.minor); err != nil {
			return &PathError{Op: op, Path: fullPath(), Err: err}
		}
	default:
		return fmt.Errorf("%s: unsupported file type %v", rel, typ)
	}
	if typ == 0 {
		if err := checkSize(info.Size()); err != nil {
			return &PathError{Op: op, Path: fullPath(), Err: err}
		}
	}
	n, err := l.tree.attach(dir, name, op, fullPath(), a, typ, l.xattrs == nil)
	if err != nil {
		return err
	}
	n.rdev, n.text = rdev, target
	if typ == 0 {
		n.size, n.src, n.text = info.Size(), src, name
	}
	if sys.nlink > 1 && typ != fs.ModeDir {
		l.links[sys.id] = n
	}
	if typ == fs.ModeDir {
		return l.walk(rel, fullPath(), n)
	}
	return nil
}

// addOp names what adding a node of type typ does, for errors.
func addOp(typ fs.FileMode) string {
	switch typ {
	case fs.ModeDir:
		return "mkdir"
	case 0:
		return "add"
	case fs.ModeSymlink:
		return "symlink"
	}
	return "mknod"
}

// sysInfo is what a FileInfo's Sys says beyond the FileInfo itself.
type sysInfo struct {
	known        bool // Sys was one of the types below
	uid, gid     uint32
	major, minor uint32
	id           fileID // meaningful when nlink > 1
	nlink        uint64
	xattrs       map[string][]byte
}

func sysOf(info fs.FileInfo) sysInfo {
	switch s := info.Sys().(type) {
	case *syscall.Stat_t:
		return sysInfo{known: true, uid: s.Uid, gid: s.Gid, major: unix.Major(s.Rdev), minor: unix.Minor(s.Rdev),
			id: fileID{uint64(s.Dev), s.Ino}, nlink: uint64(s.Nlink)}
	case *InodeInfo:
		return sysInfo{known: true, uid: s.UID, gid: s.GID, major: s.Major, minor: s.Minor,
			id: fileID{ino: uint64(s.Inode)}, nlink: uint64(s.Nlink), xattrs: s.Xattrs}
	}
	return sysInfo{}
}

// readXattrs returns the attributes squashfs can store of the file at p,
// without following a final symlink.
func readXattrs(p string) (map[string][]byte, error) {
	size, err := unix.Llistxattr(p, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs: %w", err)
	}
	if size == 0 {
		return nil, nil
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, fmt.Errorf("list xattrs: %w", err)
	}
	var out map[string][]byte
	for _, key := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if _, _, ok := splitXattr(key); !ok {
			continue
		}
		n, err := unix.Lgetxattr(p, key, nil)
		if err != nil {
			return nil, fmt.Errorf("xattr %s: %w", key, err)
		}
		val := make([]byte, n)
		if n, err = unix.Lgetxattr(p, key, val); err != nil {
			return nil, fmt.Errorf("xattr %s: %w", key, err)
		}
		if out == nil {
			out = map[string][]byte{}
		}
		out[key] = val[:n]
	}
	return out, nil
}
