package squashfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
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
	l := loader{
		tree:  t,
		fsys:  root.FS(),
		links: map[fileID]string{},
		open: func(rel string) OpenFunc {
			return func() (io.ReadCloser, error) {
				r, err := os.OpenRoot(dir)
				if err != nil {
					return nil, err
				}
				defer r.Close()
				return r.Open(rel)
			}
		},
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
		tree:  t,
		fsys:  fsys,
		links: map[fileID]string{},
		open: func(rel string) OpenFunc {
			return func() (io.ReadCloser, error) { return fsys.Open(rel) }
		},
	}
	return l.load(dest)
}

type fileID struct{ dev, ino uint64 }

type loader struct {
	tree   *Tree
	fsys   fs.FS
	open   func(rel string) OpenFunc
	xattrs func(rel string) (map[string][]byte, error)
	links  map[fileID]string // first tree path of each multiply linked inode
}

func (l *loader) load(dest string) error {
	dest, err := cleanPath(dest)
	if err != nil {
		return &PathError{Op: "add", Path: dest, Err: err}
	}
	if err := l.tree.MkdirAll(path.Dir(dest), Attr{Mode: 0o755}); err != nil {
		return err
	}
	return fs.WalkDir(l.fsys, ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return l.addEntry(rel, path.Join(dest, rel), info)
	})
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

func (l *loader) addEntry(rel, name string, info fs.FileInfo) error {
	a := Attr{Mode: info.Mode(), ModTime: info.ModTime()}
	sys := sysOf(info)
	a.UID, a.GID, a.Xattrs = sys.uid, sys.gid, sys.xattrs
	if l.xattrs != nil {
		x, err := l.xattrs(rel)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		a.Xattrs = x
	}
	typ := info.Mode().Type()
	if sys.nlink > 1 && typ != fs.ModeDir {
		if first, ok := l.links[sys.id]; ok {
			return l.tree.Link(name, first)
		}
		l.links[sys.id] = name
	}
	switch typ {
	case fs.ModeDir:
		if n, err := l.tree.Lookup(name); err == nil && n.IsDir() {
			return l.tree.SetAttr(name, a)
		}
		return l.tree.Mkdir(name, a)
	case 0:
		return l.tree.AddFile(name, a, info.Size(), l.open(rel))
	case fs.ModeSymlink:
		target, err := fs.ReadLink(l.fsys, rel)
		if err != nil {
			return err
		}
		return l.tree.Symlink(name, target, a)
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		if !sys.known {
			return fmt.Errorf("%s: device without a device number", rel)
		}
		return l.tree.Mknod(name, typ, sys.major, sys.minor, a)
	case fs.ModeNamedPipe, fs.ModeSocket:
		return l.tree.Mknod(name, typ, 0, 0, a)
	}
	return fmt.Errorf("%s: unsupported file type %v", rel, typ)
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
