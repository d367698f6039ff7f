package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mkportable/mkportable/squashfs"
)

// A layout describes the files of a corpus image by absolute path. Parents
// that are not listed are made as 0755 directories.
type layout map[string]entry

// entry is one file of a layout: a directory, a regular file holding data
// or the bytes of a host program, or a symlink.
type entry struct {
	kind   entryKind
	perm   fs.FileMode
	data   string // regular file contents
	prog   string // or the name of a host program (a key of programs) whose bytes it holds
	target string // symlink target
}

type entryKind int

const (
	dirEntry entryKind = iota
	fileEntry
	linkEntry
)

// programs maps the names a layout uses for host programs ("busybox",
// "go-httpbin") to their files on the host.
type programs map[string]string

func (l layout) dir(paths ...string) {
	for _, p := range paths {
		perm := fs.FileMode(0o755)
		if p == "/tmp" || p == "/var/tmp" {
			perm = fs.ModeSticky | 0o777
		}
		l[p] = entry{kind: dirEntry, perm: perm}
	}
}

func (l layout) file(p, data string) { l[p] = entry{kind: fileEntry, perm: 0o644, data: data} }

// program adds an executable copy of the host program name.
func (l layout) program(p, name string) { l[p] = entry{kind: fileEntry, perm: 0o755, prog: name} }

func (l layout) link(p, target string) { l[p] = entry{kind: linkEntry, perm: 0o777, target: target} }

// unit adds a unit file to /etc/systemd/system.
func (l layout) unit(name, text string) { l.file("/etc/systemd/system/"+name, text) }

// remove deletes each path and everything under it.
func (l layout) remove(paths ...string) {
	for _, p := range paths {
		for q := range l {
			if q == p || strings.HasPrefix(q, p+"/") {
				delete(l, q)
			}
		}
	}
}

// removeUnits deletes every unit file the layout has.
func (l layout) removeUnits() {
	for q := range l {
		if strings.HasPrefix(q, "/etc/systemd/system/") || strings.HasPrefix(q, "/usr/lib/systemd/system/") {
			delete(l, q)
		}
	}
}

// paths returns the layout's paths, parents before children.
func (l layout) paths() []string {
	ps := make([]string, 0, len(l))
	for p := range l {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// check reports a path that is not absolute and clean, or a program the
// host does not provide.
func (l layout) check(progs programs) error {
	for p, e := range l {
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			return fmt.Errorf("layout path %q is not an absolute clean path below /", p)
		}
		if e.prog != "" {
			if _, ok := progs[e.prog]; !ok {
				return fmt.Errorf("layout path %s: no host program %q", p, e.prog)
			}
		}
	}
	return nil
}

// hash is a key for the image of the layout written by writer: it covers
// every entry and the contents of the host programs it holds.
func (l layout) hash(progs programs, writer string) (string, error) {
	if err := l.check(progs); err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%q\n", writer)
	sums := map[string]string{}
	for _, p := range l.paths() {
		e := l[p]
		sum := ""
		if e.prog != "" {
			if sum = sums[e.prog]; sum == "" {
				b, err := os.ReadFile(progs[e.prog])
				if err != nil {
					return "", err
				}
				s := sha256.Sum256(b)
				sum = hex.EncodeToString(s[:])
				sums[e.prog] = sum
			}
		}
		fmt.Fprintf(h, "%q %d %o %q %q %q\n", p, e.kind, uint32(e.perm), e.data, sum, e.target)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// tree builds the layout as a squashfs.Tree.
func (l layout) tree(progs programs) (*squashfs.Tree, error) {
	if err := l.check(progs); err != nil {
		return nil, err
	}
	t := squashfs.NewTree()
	dirAttr := squashfs.Attr{Mode: 0o755}
	for _, p := range l.paths() {
		e := l[p]
		if err := t.MkdirAll(path.Dir(p), dirAttr); err != nil {
			return nil, err
		}
		a := squashfs.Attr{Mode: e.perm}
		var err error
		switch e.kind {
		case dirEntry:
			err = t.MkdirAll(p, a)
			if err == nil {
				err = t.SetAttr(p, a)
			}
		case linkEntry:
			err = t.Symlink(p, e.target, a)
		case fileEntry:
			if e.prog == "" {
				err = t.AddBytes(p, a, []byte(e.data))
				break
			}
			host := progs[e.prog]
			var fi os.FileInfo
			if fi, err = os.Stat(host); err == nil {
				err = t.AddFile(p, a, fi.Size(), func() (io.ReadCloser, error) { return os.Open(host) })
			}
		}
		if err != nil {
			return nil, fmt.Errorf("layout path %s: %w", p, err)
		}
	}
	return t, nil
}

// materialize writes the layout as files below dir, for mksquashfs.
func (l layout) materialize(dir string, progs programs) error {
	if err := l.check(progs); err != nil {
		return err
	}
	for _, p := range l.paths() {
		e := l[p]
		host := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			return err
		}
		var err error
		switch e.kind {
		case dirEntry:
			if err = os.MkdirAll(host, 0o755); err == nil {
				err = os.Chmod(host, e.perm)
			}
		case linkEntry:
			err = os.Symlink(e.target, host)
		case fileEntry:
			data := []byte(e.data)
			if e.prog != "" {
				data, err = os.ReadFile(progs[e.prog])
			}
			if err == nil {
				err = os.WriteFile(host, data, 0o600)
			}
			if err == nil {
				err = os.Chmod(host, e.perm)
			}
		}
		if err != nil {
			return fmt.Errorf("layout path %s: %w", p, err)
		}
	}
	return nil
}

// writeImage writes the layout as a squashfs image at img, with package
// squashfs (zlib) or, when withMksquashfs, with mksquashfs from
// squashfs-tools (all files owned by root, xz, as mkportable writes them).
func writeImage(ctx context.Context, l layout, progs programs, img string, withMksquashfs bool) error {
	if !withMksquashfs {
		t, err := l.tree(progs)
		if err != nil {
			return err
		}
		// zlib rather than the default xz: portabled's verdicts do not depend
		// on the compressor, a hundred images of busybox compress five times
		// faster, and the example image and the mksquashfs rows are xz.
		_, err = squashfs.WriteFile(ctx, img, t, squashfs.Options{Compressor: squashfs.GzipCompressor{Level: 6}})
		return err
	}
	src, err := os.MkdirTemp("", "e2e-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := l.materialize(src, progs); err != nil {
		return err
	}
	if err := os.Chmod(src, 0o755); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "mksquashfs", src, img,
		"-noappend", "-all-root", "-comp", "xz", "-quiet", "-no-progress").CombinedOutput()
	if err != nil {
		return fmt.Errorf("mksquashfs %s: %w: %s", img, err, out)
	}
	return nil
}
