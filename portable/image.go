package portable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/mkportable/mkportable/internal/pathwalk"
	"github.com/mkportable/mkportable/squashfs"
)

// MaxFile is the most Check reads of any file in an image (os-release, a
// unit file). A larger file gets a problem of its own, never an allocation
// of its size.
const MaxFile = 1 << 20

// image is the root of an image as Check reads it: every path absolute,
// symlinks resolved by pathwalk as the kernel resolves them with the image
// mounted at /.
type image struct {
	fsys fs.ReadLinkFS
	ctx  context.Context
	// resolved remembers resolve's answers: Check asks for the same paths
	// for every version, and a hostile image can make one resolution walk
	// tens of thousands of elements.
	resolved map[resolveKey]resolution
	// lstats remembers Lstat's answers for the walker: a path that
	// goes down and back up a deep tree (a/a/.../../..) again and again
	// Lstats the same prefixes, each a walk from the root.
	lstats     map[string]lstatResult
	lstatBytes int
}

type lstatResult struct {
	info fs.FileInfo
	err  error
}

// The bounds of lstats: entries and bytes of path names.
const (
	maxLstats     = 1 << 16
	maxLstatBytes = 16 << 20
)

// lstat is fsys.Lstat, remembered.
func (im *image) lstat(p string) (fs.FileInfo, error) {
	if r, ok := im.lstats[p]; ok {
		return r.info, r.err
	}
	info, err := im.fsys.Lstat(p)
	if im.lstats != nil && len(im.lstats) < maxLstats && im.lstatBytes+len(p) <= maxLstatBytes {
		im.lstats[p] = lstatResult{info, err}
		im.lstatBytes += len(p)
	}
	return info, err
}

type resolveKey struct {
	p      string
	follow bool
}

type resolution struct {
	n    node
	real string
	err  error
}

// maxResolved bounds the answers an image remembers.
const maxResolved = 4096

func newImage(ctx context.Context, fsys fs.FS) (*image, error) {
	rl, ok := pathwalk.Rooted(fsys).(fs.ReadLinkFS)
	if !ok {
		return nil, errors.New("portable: the file system cannot report symlinks (it implements no fs.ReadLinkFS)")
	}
	return &image{fsys: rl, ctx: ctx, resolved: map[resolveKey]resolution{}, lstats: map[string]lstatResult{}}, nil
}

// node is a path with no symlink in it and what Lstat says of it.
type node struct {
	name string // fs.FS name; "." for the root
	info fs.FileInfo
}

// walker lets pathwalk.Resolve walk the image.
type walker struct{ im *image }

func (w walker) Child(dir node, name string) (node, error) {
	if err := w.im.ctx.Err(); err != nil {
		return node{}, context.Cause(w.im.ctx)
	}
	p := name
	if dir.name != "." {
		p = dir.name + "/" + name
	}
	info, err := w.im.lstat(p)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return node{}, err
	}
	return node{p, info}, nil
}

func (walker) IsDir(n node) bool { return n.info.IsDir() }

func (w walker) Link(n node) (string, bool, error) {
	if n.info.Mode()&fs.ModeSymlink == 0 {
		return "", false, nil
	}
	t, err := w.im.fsys.ReadLink(n.name)
	return t, true, err
}

// resolve looks p up, following symlinks (the last one too when follow),
// and returns its node and its path with every symlink resolved.
func (im *image) resolve(p string, follow bool) (node, string, error) {
	key := resolveKey{p, follow}
	if r, ok := im.resolved[key]; ok {
		return r.n, r.real, r.err
	}
	if im.resolved == nil {
		im.resolved, im.lstats = map[resolveKey]resolution{}, map[string]lstatResult{}
	}
	root, err := im.fsys.Lstat(".")
	if err != nil {
		return node{}, "", err
	}
	n, real, err := pathwalk.Resolve[node](walker{im}, node{".", root}, "lookup", p, follow)
	if im.ctx.Err() == nil && len(im.resolved) < maxResolved {
		im.resolved[key] = resolution{n, real, err}
	}
	return n, real, err
}

// stat is resolve with the last symlink followed.
func (im *image) stat(p string) (fs.FileInfo, string, error) {
	n, real, err := im.resolve(p, true)
	return n.info, real, err
}

// maxChaseElems bounds the elements of a path chase resolves one by one:
// each step walks from the root, so a hostile unit naming a path of
// thousands of elements must not cost their square.
const maxChaseElems = 64

// errTooDeep is a path with more than maxChaseElems elements.
var errTooDeep = fmt.Errorf("more than %d path elements: not checked", maxChaseElems)

// chase resolves p as systemd's chase_symlinks with CHASE_NONEXISTENT
// does: symlinks are followed as far as the path exists, and the rest is
// appended as it is. It returns the resolved path and whether it exists.
// An error is a loop, a name too long, or a non-directory in the middle.
func (im *image) chase(p string) (string, bool, error) {
	elems := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	if len(elems) > maxChaseElems {
		return "", false, errTooDeep
	}
	real := "/"
	for i, e := range elems {
		if e == "" {
			continue
		}
		_, r, err := im.resolve(path.Join(real, e), true)
		if errors.Is(err, fs.ErrNotExist) {
			return path.Join(append([]string{real}, elems[i:]...)...), false, nil
		}
		if err != nil {
			return "", false, err
		}
		real = r
	}
	return real, true, nil
}

// errTooLarge is a file larger than MaxFile.
type errTooLarge struct{ size int64 }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("%d bytes, more than the %d mkportable reads", e.size, MaxFile)
}

// readFile reads the regular file at p (symlinks followed), at most
// MaxFile bytes: a larger file is an errTooLarge with its size.
func (im *image) readFile(p string) ([]byte, error) {
	info, real, err := im.stat(p)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file but %s", DescribeMode(info.Mode()))
	}
	if info.Size() > MaxFile {
		return nil, errTooLarge{info.Size()}
	}
	// The resolved path, which holds no symlink: opening it walks no
	// link chain again.
	f, err := im.fsys.Open(strings.TrimPrefix(path.Clean("/"+real), "/"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFile {
		return nil, errTooLarge{int64(len(data))}
	}
	return data, nil
}

// readDir lists the directory at p, symlinks followed.
func (im *image) readDir(p string) ([]fs.DirEntry, error) {
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	if name == "" {
		name = "."
	}
	return fs.ReadDir(im.fsys, name)
}

// owner returns the uid of a file, 0 when the file system does not say.
func owner(info fs.FileInfo) uint32 {
	if ii, ok := info.Sys().(*squashfs.InodeInfo); ok {
		return ii.UID
	}
	return 0
}

// DescribeMode names the kind of file m is of, as errors say it: "a
// directory", "a FIFO"...
func DescribeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a regular file"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}
