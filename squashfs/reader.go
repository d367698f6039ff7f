package squashfs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mkportable/mkportable/internal/pathwalk"
)

// Reader reads a SquashFS 4.0 image, from this package or mksquashfs, as an
// fs.FS: Open, Stat, ReadFile and ReadDir follow symlinks inside the image
// as the kernel would with it mounted at / (absolute targets start at the
// image's root and ".." never leaves it), while ReadLink and Lstat do not
// follow a final one. FileInfo.Sys is an *InodeInfo. A Reader is safe for
// concurrent use.
//
// A Reader never trusts the image. Every size, count and offset is checked
// against the image before it sizes an allocation or a loop; names are
// checked as the kernel would store them and listings must be sorted;
// a directory listed twice (a loop) is refused; work is linear in what the
// image holds and in the path looked up, and memory stays bounded by
// caches of fixed size plus what the caller keeps. A broken image gives an
// error wrapping ErrFormat, never a panic.
//
// Lookups, listings and reads honour the context set with WithContext:
// once it is done they return its error.
//
// Names need not be UTF-8 in squashfs, as on Linux; ReadDir lists such a
// name, but no fs.FS path can hold it, so opening it fails with
// fs.ErrInvalid.
type Reader struct {
	img *image
	ctx context.Context
}

// NewReader reads the superblock and tables of the image in r, size bytes.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	img, err := openImage(r, size)
	if err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	return &Reader{img: img, ctx: context.Background()}, nil
}

// WithContext returns a Reader of the same image, sharing its caches,
// whose lookups, listings and reads stop with ctx's error once ctx is
// done. fs.FS methods take no context; this is how a caller bounds them.
func (rd *Reader) WithContext(ctx context.Context) *Reader {
	if ctx == nil {
		panic("squashfs: Reader.WithContext with a nil context")
	}
	return &Reader{img: rd.img, ctx: ctx}
}

// inodeWalker walks a Reader's inodes for pathwalk.Resolve.
// It notes where it found the last entry it looked up, which tells Open a
// file's place in its directory.
type inodeWalker struct {
	rd   *Reader
	last place
}

func (w *inodeWalker) Child(dir *rinode, name string) (*rinode, error) {
	if err := w.rd.ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := w.rd.img.listing(dir)
	if err != nil {
		return nil, err
	}
	i, found := slices.BinarySearchFunc(ents, name, func(e dirent, t string) int { return strings.Compare(e.name, t) })
	if !found {
		return nil, fs.ErrNotExist
	}
	w.last = place{dir: dir.ref, ents: ents, idx: i}
	return w.rd.img.child(ents[i])
}

func (*inodeWalker) IsDir(in *rinode) bool { return in.mode.IsDir() }

func (*inodeWalker) Link(in *rinode) (string, bool, error) {
	return in.target, in.mode.Type() == fs.ModeSymlink, nil
}

// lookup walks name from the root with pathwalk.Resolve; follow says
// whether a final symlink is followed. Intermediate symlinks always are.
func (rd *Reader) lookup(op, name string, follow bool) (*rinode, error) {
	in, _, err := rd.lookupPlace(op, name, follow)
	return in, err
}

// lookupPlace is lookup that also says where in its directory's listing
// the inode was found; the place is zero for the root.
func (rd *Reader) lookupPlace(op, name string, follow bool) (*rinode, place, error) {
	if !fs.ValidPath(name) {
		return nil, place{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	root, err := rd.img.inode(rd.img.sb.rootRef)
	if err != nil {
		return nil, place{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	w := &inodeWalker{rd: rd}
	in, _, err := pathwalk.Resolve[*rinode](w, root, op, name, follow)
	if err != nil {
		return nil, place{}, err
	}
	at := w.last
	if at.ents == nil || at.ents[at.idx].ref != in.ref {
		at = place{}
	}
	return in, at, nil
}

// ResolvesAsMounted marks a Reader as resolving names as the kernel does
// with the image mounted at / (see pathwalk.AsMounted).
func (rd *Reader) ResolvesAsMounted() {}

var (
	_ fs.ReadLinkFS = (*Reader)(nil)
	_ fs.ReadDirFS  = (*Reader)(nil)
	_ fs.ReadFileFS = (*Reader)(nil)
	_ fs.StatFS     = (*Reader)(nil)
)

// Open opens the named file, following symlinks. A regular file's block
// list is read and checked here, once.
func (rd *Reader) Open(name string) (fs.File, error) {
	in, at, err := rd.lookupPlace("open", name, true)
	if err != nil {
		return nil, err
	}
	f := &rfile{rd: rd, in: in, name: path.Base(name), cur: -1}
	if in.mode.IsRegular() {
		if f.layout, err = rd.img.layout(in); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		if rd.img.walking(at) {
			f.walk = at
		}
	}
	return f, nil
}

// Stat returns the FileInfo of name, following symlinks.
func (rd *Reader) Stat(name string) (fs.FileInfo, error) {
	in, err := rd.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return rinfo{in, path.Base(name)}, nil
}

// Lstat returns the FileInfo of name without following a final symlink.
func (rd *Reader) Lstat(name string) (fs.FileInfo, error) {
	in, err := rd.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return rinfo{in, path.Base(name)}, nil
}

// ReadLink returns a symlink's target.
func (rd *Reader) ReadLink(name string) (string, error) {
	in, err := rd.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if in.mode.Type() != fs.ModeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return in.target, nil
}

// ReadDir lists a directory, following symlinks to it.
func (rd *Reader) ReadDir(name string) ([]fs.DirEntry, error) {
	in, err := rd.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !in.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: ErrNotDir}
	}
	out, err := rd.dirEntries(in)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return out, nil
}

// dirEntries lists a directory inode, each entry with its inode.
func (rd *Reader) dirEntries(dir *rinode) ([]fs.DirEntry, error) {
	ents, err := rd.img.listing(dir)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(ents))
	for i, e := range ents {
		if i%64 == 0 {
			if err := rd.ctx.Err(); err != nil {
				return nil, err
			}
		}
		child, err := rd.img.child(e)
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(rinfo{child, e.name}))
	}
	return out, nil
}

// ReadFile returns the contents of a regular file, following symlinks.
func (rd *Reader) ReadFile(name string) ([]byte, error) {
	f, err := rd.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rf := f.(*rfile)
	if !rf.in.mode.IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	// The size is checked against the image, not trusted: a sparse file
	// may be far larger than it, so the buffer grows as data arrives.
	var buf writeBuffer
	buf.b = make([]byte, 0, min(rf.in.size, 1<<20))
	if _, err := rf.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.b, nil
}

type writeBuffer struct{ b []byte }

func (w *writeBuffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// rinfo is the fs.FileInfo of an inode.
type rinfo struct {
	in   *rinode
	name string
}

func (i rinfo) Name() string       { return i.name }
func (i rinfo) Size() int64        { return int64(i.in.size) }
func (i rinfo) Mode() fs.FileMode  { return i.in.mode }
func (i rinfo) ModTime() time.Time { return time.Unix(int64(i.in.mtime), 0) }
func (i rinfo) IsDir() bool        { return i.in.mode.IsDir() }

// Sys returns the inode's owner, number, links, device numbers and
// extended attributes, as an *InodeInfo of its own.
func (i rinfo) Sys() any {
	return &InodeInfo{UID: i.in.uid, GID: i.in.gid, Inode: i.in.number, Nlink: i.in.nlink,
		Major: i.in.major, Minor: i.in.minor, Xattrs: cloneXattrs(i.in.xattrs)}
}

// InodeInfo is what FileInfo.Sys returns for a Reader's and a Tree's FS.
type InodeInfo struct {
	UID, GID uint32
	// Inode is the inode number and Nlink the number of names it has (a
	// Reader's only): names with the same Inode and Nlink > 1 are hard
	// links to one file.
	Inode        uint32
	Nlink        uint32
	Major, Minor uint32 // devices only
	// Xattrs are the inode's extended attributes by full name.
	Xattrs map[string][]byte
}

// OpenReader opens the image file name; Close the result when done.
func OpenReader(name string) (*ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	rd, err := NewReader(f, info.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	return &ReadCloser{Reader: rd, f: f}, nil
}

// ReadCloser is a Reader of a file it closes.
type ReadCloser struct {
	*Reader
	f *os.File
}

// Close stops reading ahead, waits for the blocks being read ahead, and
// closes the image file: nothing reads it after Close returns.
func (rc *ReadCloser) Close() error {
	rc.img.stopReadAhead()
	return rc.f.Close()
}
