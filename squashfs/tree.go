package squashfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mkportable/mkportable/internal/pathwalk"
)

// Attr is the metadata of one inode.
type Attr struct {
	// Mode holds the permission bits, fs.ModeSetuid, fs.ModeSetgid and
	// fs.ModeSticky. Type bits are ignored: the method that adds a node
	// decides its type.
	Mode fs.FileMode
	// UID and GID are stored only with Options.KeepOwners; otherwise every
	// inode belongs to root.
	UID, GID uint32
	// ModTime is stored only with Options.KeepTimes; otherwise every inode
	// gets Options.ModTime. SquashFS stores whole seconds from 1970 to 2106.
	ModTime time.Time
	// Xattrs maps full names ("user.x", "trusted.x", "security.capability")
	// to values. They are stored unless Options.NoXattrs.
	Xattrs map[string][]byte
}

// OpenFunc opens the contents of a regular file. It is called once when the
// image is written (twice for a file whose size equals another's, to find
// duplicates), so a tree of many files holds no open descriptors.
type OpenFunc func() (io.ReadCloser, error)

// A Node is one inode of a Tree: a directory, regular file, symlink, device,
// FIFO or socket. A node reached by several names is a hard link.
//
// A tree of a million files has a million nodes, so a node is kept small:
// no closure of its own to open a file (files loaded from one directory
// share its source and are opened by name), a device number in its
// on-disk form, and directory entries in a sorted slice.
type Node struct {
	mode   fs.FileMode // type bits and permissions
	uid    uint32
	gid    uint32
	rdev   uint32 // devices, as squashfs stores the number (encodeDevice)
	mtime  int64  // seconds since 1970, when hasTime
	mnsec  int32  // nanoseconds of mtime
	linked bool   // given another name by Link: it may be reached twice
	// hasTime says the caller gave a time; without one the node's time is
	// the zero time.
	hasTime bool
	size    int64 // regular files
	xattrs  map[string][]byte
	src     *source  // regular files: where the contents come from
	text    string   // a symlink's target; a regular file's name in src
	dir     *dirData // directories
}

// opener opens the contents of regular files: a directory's files by
// name, or a single file's whatever the name.
type opener interface {
	open(name string) (io.ReadCloser, error)
}

// source holds an opener, so that a node holds one word for it, not the
// two of an interface: the files of a loaded directory share one.
type source struct{ opener }

// funcOpener is a caller's OpenFunc for one file.
type funcOpener OpenFunc

func (f funcOpener) open(string) (io.ReadCloser, error) { return f() }

// bytesOpener is the contents of a file added with AddBytes.
type bytesOpener struct{ data []byte }

func (b *bytesOpener) open(string) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.data)), nil
}

// open opens the contents of a regular file.
func (n *Node) open() (io.ReadCloser, error) { return n.src.opener.open(n.text) }

// modTime returns the node's time, the zero time when none was given.
func (n *Node) modTime() time.Time {
	if !n.hasTime {
		return time.Time{}
	}
	return time.Unix(n.mtime, int64(n.mnsec))
}

// setAttr sets the node's permissions, owners, time and extended
// attributes; the attributes are cloned when clone is set.
func (n *Node) setAttr(a Attr, clone bool) {
	n.mode = n.mode.Type() | permBits(a.Mode)
	n.uid, n.gid = a.UID, a.GID
	n.hasTime = !a.ModTime.IsZero()
	n.mtime, n.mnsec = 0, 0
	if n.hasTime {
		n.mtime, n.mnsec = a.ModTime.Unix(), int32(a.ModTime.Nanosecond())
	}
	n.xattrs = a.Xattrs
	if clone {
		n.xattrs = cloneXattrs(a.Xattrs)
	} else if len(a.Xattrs) == 0 {
		n.xattrs = nil
	}
}

// Mode returns the node's type and permission bits.
func (n *Node) Mode() fs.FileMode { return n.mode }

// Size returns the length of a regular file, or of a symlink's target.
func (n *Node) Size() int64 {
	if n.mode.Type() == fs.ModeSymlink {
		return int64(len(n.text))
	}
	return n.size
}

// Target returns a symlink's target.
func (n *Node) Target() string {
	if n.mode.Type() != fs.ModeSymlink {
		return ""
	}
	return n.text
}

// IsDir reports whether the node is a directory.
func (n *Node) IsDir() bool { return n.mode.IsDir() }

// Names returns a directory's entry names in the byte order squashfs stores.
func (n *Node) Names() []string {
	if n.dir == nil {
		return nil
	}
	ents := n.dir.list()
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.name
	}
	return names
}

// lookup returns the directory's entry called name.
func (n *Node) lookup(name string) (*Node, bool) {
	if n.dir == nil {
		return nil, false
	}
	return n.dir.get(name)
}

// Tree is the file system an image is written from, held in memory as
// metadata plus a way to open each file. Callers build it with the Add
// methods or load it from a directory or fs.FS; Write then lays it out in
// byte order of names, whatever order it was built in.
type Tree struct {
	root *Node
	slab []Node // nodes are carved from here, a chunk at a time
	// hostDirs are the host directories kept open to read the files
	// AddDir loaded; nil before the first AddDir.
	hostDirs *hostDirs
}

// slabNodes is how many nodes are allocated at once: a whole number of
// 8 KiB pages, so that no size class rounds the slab up.
const slabNodes = 1024

// NewTree returns a tree holding only a root directory with mode 0755.
func NewTree() *Tree {
	t := &Tree{}
	t.root = t.newNode(fs.ModeDir | 0o755)
	return t
}

// newNode returns a new node of type and permissions mode; a directory
// comes with its empty list of entries.
func (t *Tree) newNode(mode fs.FileMode) *Node {
	if len(t.slab) == cap(t.slab) {
		t.slab = make([]Node, 0, slabNodes)
	}
	t.slab = t.slab[:len(t.slab)+1]
	n := &t.slab[len(t.slab)-1]
	n.mode = mode
	if mode.IsDir() {
		n.dir = &dirData{}
	}
	return n
}

// Root returns the root directory.
func (t *Tree) Root() *Node { return t.root }

// SetAttr replaces the metadata of the node at name.
func (t *Tree) SetAttr(name string, a Attr) error {
	n, err := t.Lookup(name)
	if err != nil {
		return err
	}
	if err := checkAttr(name, a); err != nil {
		return err
	}
	n.setAttr(a, true)
	return nil
}

// PathError records a tree operation that failed and the path it failed on.
type PathError = fs.PathError

// Errors a tree returns, wrapped in a *PathError naming the path.
var (
	ErrExist    = fs.ErrExist
	ErrNotExist = fs.ErrNotExist
	// ErrNotDir means a path passes through something that is not a directory.
	ErrNotDir = pathwalk.ErrNotDir
	// ErrInvalidName means a name squashfs cannot store.
	ErrInvalidName = errors.New("invalid name")
)

// Mkdir adds a directory. Its parent must exist.
func (t *Tree) Mkdir(name string, a Attr) error {
	_, err := t.add("mkdir", name, a, fs.ModeDir)
	return err
}

// MkdirAll adds a directory and any missing parents, all with attributes a.
// Directories that already exist are left as they are.
func (t *Tree) MkdirAll(name string, a Attr) error {
	clean, err := cleanPath(name)
	if err != nil {
		return &PathError{Op: "mkdir", Path: name, Err: err}
	}
	dir := t.root
	for _, elem := range splitPath(clean) {
		next, ok := dir.lookup(elem)
		if !ok {
			if err := checkAttr(name, a); err != nil {
				return err
			}
			next = t.newNode(fs.ModeDir)
			next.setAttr(a, true)
			dir.dir.set(elem, next)
		} else if !next.IsDir() {
			return &PathError{Op: "mkdir", Path: name, Err: ErrNotDir}
		}
		dir = next
	}
	return nil
}

// AddFile adds a regular file of the given size whose contents open returns.
// Writing the image fails if open then yields a different number of bytes.
func (t *Tree) AddFile(name string, a Attr, size int64, open OpenFunc) error {
	if open == nil {
		return &PathError{Op: "add", Path: name, Err: errors.New("no contents")}
	}
	return t.addFile(name, a, size, &source{funcOpener(open)})
}

// AddBytes adds a regular file holding data. The tree keeps data, so the
// caller must not change it afterwards.
func (t *Tree) AddBytes(name string, a Attr, data []byte) error {
	return t.addFile(name, a, int64(len(data)), &source{&bytesOpener{data}})
}

func (t *Tree) addFile(name string, a Attr, size int64, src *source) error {
	if err := checkSize(size); err != nil {
		return &PathError{Op: "add", Path: name, Err: err}
	}
	n, err := t.add("add", name, a, 0)
	if err != nil {
		return err
	}
	n.size, n.src = size, src
	return nil
}

// Symlink adds a symbolic link to target. The target is stored as given.
func (t *Tree) Symlink(name, target string, a Attr) error {
	if err := checkTarget(target); err != nil {
		return &PathError{Op: "symlink", Path: name, Err: err}
	}
	n, err := t.add("symlink", name, a, fs.ModeSymlink)
	if err != nil {
		return err
	}
	n.text = target
	return nil
}

// Mknod adds a device, FIFO or socket; typ is one of fs.ModeDevice (block
// device), fs.ModeDevice|fs.ModeCharDevice, fs.ModeNamedPipe or
// fs.ModeSocket. major and minor matter only for devices.
func (t *Tree) Mknod(name string, typ fs.FileMode, major, minor uint32, a Attr) error {
	rdev, err := deviceNumber(typ, major, minor)
	if err != nil {
		return &PathError{Op: "mknod", Path: name, Err: err}
	}
	n, err := t.add("mknod", name, a, typ)
	if err != nil {
		return err
	}
	n.rdev = rdev
	return nil
}

// deviceNumber checks a node type Mknod takes and returns its device
// number as squashfs stores it: 0 for FIFOs and sockets.
func deviceNumber(typ fs.FileMode, major, minor uint32) (uint32, error) {
	switch typ {
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		if major > 0xfff || minor > 0xfffff {
			return 0, fmt.Errorf("device %d:%d does not fit 12-bit major, 20-bit minor", major, minor)
		}
		return encodeDevice(major, minor), nil
	case fs.ModeNamedPipe, fs.ModeSocket:
		return 0, nil
	}
	return 0, fmt.Errorf("type %v is not a device, FIFO or socket", typ)
}

// Link adds name as a hard link to the node at existing, which must not be a
// directory. Both names then share one inode, as in the source file system.
func (t *Tree) Link(name, existing string) error {
	n, err := t.Lookup(existing)
	if err != nil {
		return &PathError{Op: "link", Path: name, Err: fmt.Errorf("target %s: %w", existing, err)}
	}
	if n.IsDir() {
		return &PathError{Op: "link", Path: name, Err: fmt.Errorf("target %s is a directory", existing)}
	}
	parent, base, err := t.parent("link", name)
	if err != nil {
		return err
	}
	if _, ok := parent.lookup(base); ok {
		return &PathError{Op: "link", Path: name, Err: ErrExist}
	}
	n.linked = true
	parent.dir.set(base, n)
	return nil
}

// Remove deletes the entry at name; a directory goes with everything below
// it. Other hard links to the same node stay.
func (t *Tree) Remove(name string) error {
	parent, base, err := t.parent("remove", name)
	if err != nil {
		return err
	}
	if !parent.dir.remove(base) {
		return &PathError{Op: "remove", Path: name, Err: ErrNotExist}
	}
	return nil
}

// Lookup returns the node at name without following symlinks.
func (t *Tree) Lookup(name string) (*Node, error) {
	clean, err := cleanPath(name)
	if err != nil {
		return nil, &PathError{Op: "lookup", Path: name, Err: err}
	}
	n := t.root
	for _, elem := range splitPath(clean) {
		if !n.IsDir() {
			return nil, &PathError{Op: "lookup", Path: name, Err: ErrNotDir}
		}
		next, ok := n.lookup(elem)
		if !ok {
			return nil, &PathError{Op: "lookup", Path: name, Err: ErrNotExist}
		}
		n = next
	}
	return n, nil
}

// Resolve returns the node at name, following symlinks inside the tree the
// way the kernel would once the image is mounted at / (pathwalk.Resolve):
// absolute targets start again at the root, relative ones at the link's
// directory, and ".." never climbs above the root. It returns the resolved
// path too.
func (t *Tree) Resolve(name string) (*Node, string, error) {
	return pathwalk.Resolve[*Node](nodeWalker{}, t.root, "resolve", name, true)
}

// nodeWalker walks a Tree's nodes for pathwalk.Resolve.
type nodeWalker struct{}

func (nodeWalker) Child(dir *Node, name string) (*Node, error) {
	n, ok := dir.lookup(name)
	if !ok {
		return nil, ErrNotExist
	}
	return n, nil
}

func (nodeWalker) IsDir(n *Node) bool { return n.IsDir() }

func (nodeWalker) Link(n *Node) (string, bool, error) {
	return n.Target(), n.mode.Type() == fs.ModeSymlink, nil
}

// add places a new node of type typ at name with attributes a; the parent
// must exist.
func (t *Tree) add(op, name string, a Attr, typ fs.FileMode) (*Node, error) {
	if err := checkAttr(name, a); err != nil {
		return nil, err
	}
	parent, base, err := t.parent(op, name)
	if err != nil {
		return nil, err
	}
	return t.attach(parent, base, op, name, a, typ, true)
}

// attach makes a node of type typ with attributes a (cloning their
// xattrs when clone is set) the entry base of directory dir, unless dir
// has one; fullName and op are for the error.
func (t *Tree) attach(dir *Node, base, op, fullName string, a Attr, typ fs.FileMode, clone bool) (*Node, error) {
	if _, ok := dir.lookup(base); ok {
		return nil, &PathError{Op: op, Path: fullName, Err: ErrExist}
	}
	node := t.newNode(typ)
	node.setAttr(a, clone)
	dir.dir.set(base, node)
	return node, nil
}

// checkSize checks a regular file's size.
func checkSize(size int64) error {
	if size < 0 {
		return fmt.Errorf("negative size %d", size)
	}
	return nil
}

// checkTarget checks a symlink's target: squashfs cannot store an empty one.
func checkTarget(target string) error {
	if target == "" {
		return errors.New("empty target")
	}
	return nil
}

// parent returns the existing directory that holds name, and name's last
// element.
func (t *Tree) parent(op, name string) (*Node, string, error) {
	clean, err := cleanPath(name)
	if err != nil {
		return nil, "", &PathError{Op: op, Path: name, Err: err}
	}
	if clean == "/" {
		return nil, "", &PathError{Op: op, Path: name, Err: ErrExist}
	}
	dirName, base := path.Split(clean)
	dir, err := t.Lookup(dirName)
	if err != nil {
		return nil, "", &PathError{Op: op, Path: name, Err: fmt.Errorf("parent directory: %w", errors.Unwrap(err))}
	}
	if !dir.IsDir() {
		return nil, "", &PathError{Op: op, Path: name, Err: fmt.Errorf("parent: %w", ErrNotDir)}
	}
	return dir, base, nil
}

// cleanPath turns a slash-separated path, absolute or relative to the root,
// into a clean absolute one, and checks each element is a storable name.
func cleanPath(name string) (string, error) {
	clean := path.Clean("/" + name)
	for _, elem := range splitPath(clean) {
		if err := checkName(elem); err != nil {
			return "", err
		}
	}
	return clean, nil
}

func splitPath(clean string) []string {
	if clean == "/" {
		return nil
	}
	return strings.Split(clean[1:], "/")
}

// checkName enforces what a squashfs directory entry can hold.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: name of %d bytes is longer than the %d squashfs allows", ErrInvalidName, len(name), maxNameLen)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: %q holds a slash or NUL", ErrInvalidName, name)
	}
	return nil
}

// checkAttr enforces what an inode can hold.
func checkAttr(name string, a Attr) error {
	for key := range a.Xattrs {
		if _, _, ok := splitXattr(key); !ok {
			return &PathError{Op: "add", Path: name, Err: fmt.Errorf("xattr %q: squashfs stores only user.*, trusted.* and security.* attributes", key)}
		}
	}
	return nil
}

// splitXattr splits a full xattr name into its on-disk prefix id and the
// rest of the key.
func splitXattr(key string) (prefix uint16, rest string, ok bool) {
	for id, p := range xattrPrefixes {
		if strings.HasPrefix(key, p) && len(key) > len(p) {
			return uint16(id), key[len(p):], true
		}
	}
	return 0, "", false
}

func permBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

func cloneXattrs(x map[string][]byte) map[string][]byte {
	if len(x) == 0 {
		return nil
	}
	c := make(map[string][]byte, len(x))
	for k, v := range x {
		c[k] = slices.Clone(v)
	}
	return c
}
