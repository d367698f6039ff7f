// Package pathwalk resolves paths inside a file system image the way the
// Linux kernel does once the image is mounted at /: absolute symlink
// targets start again at the image's root, relative ones at the link's
// directory, ".." goes to the parent of the directory actually reached
// (never above the root), and a lookup follows at most MaxHops symlinks.
//
// It is the one resolver of the project: squashfs.Reader, squashfs.Tree
// and the portable rules all resolve through Resolve. The work is linear
// in the length of the path plus the targets of the links it follows, so a
// hostile image cannot make one lookup quadratic.
package pathwalk

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

const (
	// MaxHops is the kernel's limit on symlinks followed in one lookup
	// (MAXSYMLINKS); one more is ELOOP.
	MaxHops = 40
	// MaxTarget is the longest symlink target the kernel follows: a target
	// must fit PATH_MAX (4096) with its terminating NUL.
	MaxTarget = 4095
	// MaxName is the longest path Resolve accepts (PATH_MAX less the NUL).
	MaxName = 4095
)

var (
	// ErrLoop means a lookup followed more than MaxHops symlinks (ELOOP).
	ErrLoop = errors.New("too many levels of symbolic links")
	// ErrNotDir means a path continues below something that is not a
	// directory (ENOTDIR).
	ErrNotDir = errors.New("not a directory")
	// ErrNameTooLong means a path or a symlink target is longer than the
	// kernel follows (ENAMETOOLONG).
	ErrNameTooLong = errors.New("file name too long")
)

// A Walker gives Resolve the nodes of one file system. N is its node type:
// an inode, a tree node, or a path the walker can stat.
type Walker[N any] interface {
	// Child returns the entry called name in directory dir, or an error
	// wrapping fs.ErrNotExist when there is none. name is never "", "."
	// or "..", and holds no slash.
	Child(dir N, name string) (N, error)
	// IsDir reports whether n is a directory.
	IsDir(n N) bool
	// Link returns the target of n when n is a symlink.
	Link(n N) (target string, isLink bool, err error)
}

// Resolve looks up name, a slash-separated path taken from root whether or
// not it starts with "/", and returns the node it reaches and the path of
// that node with every symlink resolved ("/" for the root). follow says
// whether a symlink in the last element is followed; symlinks in earlier
// elements always are. Errors are *fs.PathError with op and name, wrapping
// fs.ErrNotExist, ErrNotDir, ErrLoop, ErrNameTooLong or the walker's error;
// the message names the element that failed.
func Resolve[N any](w Walker[N], root N, op, name string, follow bool) (N, string, error) {
	var zero N
	fail := func(at []string, elem string, err error) (N, string, error) {
		where := "/" + strings.Join(append(at, elem), "/")
		return zero, "", &fs.PathError{Op: op, Path: shorten(name), Err: fmt.Errorf("%s: %w", shorten(where), err)}
	}
	if len(name) > MaxName {
		return zero, "", &fs.PathError{Op: op, Path: shorten(name), Err: ErrNameTooLong}
	}
	// dirs[i] is the node of names[:i]; dirs[0] is the root. ".." pops
	// both, so it costs nothing however deep the path.
	dirs := []N{root}
	var names []string
	// pending holds the unread rest of the name and of each link being
	// followed, innermost last; elements are cut from its top.
	pending := []string{name}
	hops := 0
	for len(pending) > 0 {
		top := &pending[len(pending)-1]
		elem, rest, _ := strings.Cut(*top, "/")
		*top = rest
		if rest == "" {
			pending = pending[:len(pending)-1]
		}
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(names) > 0 {
				names = names[:len(names)-1]
				dirs = dirs[:len(dirs)-1]
			}
			continue
		}
		dir := dirs[len(dirs)-1]
		if !w.IsDir(dir) {
			if len(names) == 0 {
				return fail(nil, "", ErrNotDir)
			}
			return fail(names[:len(names)-1], names[len(names)-1], ErrNotDir)
		}
		next, err := w.Child(dir, elem)
		if err != nil {
			return fail(names, elem, err)
		}
		last := len(pending) == 0
		target, isLink, err := w.Link(next)
		if err != nil {
			return fail(names, elem, err)
		}
		if !isLink || (last && !follow) {
			dirs = append(dirs, next)
			names = append(names, elem)
			continue
		}
		if hops++; hops > MaxHops {
			return fail(names, elem, ErrLoop)
		}
		switch {
		case target == "":
			// The kernel refuses to follow an empty link.
			return fail(names, elem, fs.ErrNotExist)
		case len(target) > MaxTarget:
			return fail(names, elem, ErrNameTooLong)
		}
		if strings.HasPrefix(target, "/") {
			dirs, names = dirs[:1], names[:0]
		}
		pending = append(pending, target)
	}
	return dirs[len(dirs)-1], "/" + strings.Join(names, "/"), nil
}

// shorten keeps a path in an error message readable: a hostile image can
// make it thousands of elements long.
func shorten(p string) string {
	const keep = 120
	if len(p) <= 2*keep {
		return p
	}
	return p[:keep] + fmt.Sprintf("...(%d bytes)...", len(p)-2*keep) + p[len(p)-keep:]
}
