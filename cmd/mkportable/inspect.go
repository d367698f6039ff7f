package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	diskfs "github.com/diskfs/go-diskfs/filesystem/squashfs"

	"github.com/mkportable/mkportable/squashfs"
	"github.com/mkportable/mkportable/unit"
)

const inspectSynopsis = `inspect IMAGE.raw [--json]

Shows an image as systemd-portabled sees it (its name, os-release and unit
files) and lists every problem portabled would refuse it for, or that would
make its service fail to start. Exits 1 when there is one.`

// unitDirs are where portabled looks for an image's units.
var unitDirs = []string{"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// bindTargets must exist in the image: portabled binds the host's over
// them, and a service whose image lacks one fails with 226/NAMESPACE.
var bindTargets = []struct {
	path string
	dir  bool
}{
	{"/proc", true}, {"/sys", true}, {"/dev", true}, {"/run", true}, {"/tmp", true}, {"/var/tmp", true},
	{"/etc/resolv.conf", false}, {"/etc/machine-id", false},
}

type inspectUnit struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

type inspection struct {
	Name      string            `json:"name"`
	OSRelease map[string]string `json:"osRelease"`
	Units     []inspectUnit     `json:"units"`
	Problems  []string          `json:"problems"`
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("inspect", inspectSynopsis, stderr)
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "mkportable inspect: want one IMAGE.raw, got %d arguments\n", len(pos))
		return 2
	}
	img, err := openImage(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "mkportable inspect: %s: %v\n", pos[0], err)
		return 1
	}
	defer img.close()
	res := inspect(img, pos[0])
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		printInspection(stdout, res)
	}
	if len(res.Problems) > 0 {
		return 1
	}
	return 0
}

// imageName derives the name portabled uses from an image file name: the
// file name without .raw, up to the first '_' (the version follows it).
func imageName(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), ".raw")
	name, _, _ := strings.Cut(base, "_")
	return name
}

func inspect(img *image, file string) inspection {
	res := inspection{Name: imageName(file), OSRelease: map[string]string{}, Units: []inspectUnit{}, Problems: []string{}}
	problem := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }

	osrel := ""
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if data, err := img.readFile(p); err == nil {
			osrel = p
			res.OSRelease = parseOSRelease(string(data))
			break
		}
	}
	if osrel == "" {
		problem("no os-release: neither /etc/os-release nor /usr/lib/os-release exists; portabled refuses an image without os-release data")
	}
	prefixes := []string{res.Name}
	if p := strings.Fields(res.OSRelease["PORTABLE_PREFIXES"]); len(p) > 0 {
		prefixes = p
	}

	matched := 0
	seen := map[string]bool{}
	for _, dir := range unitDirs {
		names, err := img.readDir(dir)
		if err != nil {
			continue
		}
		for _, name := range names {
			p := path.Join(dir, name)
			if seen[name] || !unit.HasPortableType(name) {
				continue
			}
			seen[name] = true
			res.Units = append(res.Units, inspectUnit{Name: name, Path: p})
			if unit.CheckName(name, prefixes...) != nil {
				continue // portabled leaves units of other names alone
			}
			matched++
			data, err := img.readFile(p)
			if err != nil {
				problem("%s: cannot be read: %v", p, err)
				continue
			}
			u, err := unit.Parse(p, data)
			if err != nil {
				problem("%v", err)
				continue
			}
			for _, c := range u.ExecCommands() {
				if !path.IsAbs(c.Path) || strings.ContainsRune(c.Path, '%') {
					continue
				}
				info, err := img.stat(c.Path)
				switch {
				case err != nil:
					problem("%s:%d: %s= program %s is not in the image", p, c.Line, c.Key, c.Path)
				case !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0:
					problem("%s:%d: %s= program %s is not an executable file", p, c.Line, c.Key, c.Path)
				}
			}
		}
	}
	if matched == 0 {
		problem("no unit file named %s followed by '-', '.' or '@' in %s; portabled refuses an image with no matching units",
			strings.Join(prefixes, " or "), strings.Join(unitDirs, ", "))
	}
	for _, b := range bindTargets {
		info, err := img.stat(b.path)
		switch {
		case err != nil:
			problem("%s is missing: portabled binds the host's over it, so the service would fail with 226/NAMESPACE", b.path)
		case b.dir && !info.IsDir():
			problem("%s is not a directory: portabled binds a directory over it", b.path)
		}
	}
	return res
}

// parseOSRelease reads os-release(5): KEY=VALUE lines, values optionally
// quoted with backslash escapes.
func parseOSRelease(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			if u, err := strconv.Unquote(`"` + strings.ReplaceAll(v[1:len(v)-1], `\$`, `$`) + `"`); err == nil {
				v = u
			} else {
				v = v[1 : len(v)-1]
			}
		}
		m[k] = v
	}
	return m
}

func printInspection(w io.Writer, r inspection) {
	fmt.Fprintf(w, "image name  %s\n", r.Name)
	fmt.Fprintln(w, "os-release")
	keys := make([]string, 0, len(r.OSRelease))
	for k := range r.OSRelease {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s=%s\n", k, r.OSRelease[k])
	}
	fmt.Fprintln(w, "units")
	for _, u := range r.Units {
		fmt.Fprintf(w, "  %-30s %s\n", u.Name, u.Path)
	}
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "problems    none")
		return
	}
	fmt.Fprintln(w, "problems")
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// image reads a squashfs image through go-diskfs, resolving symlinks inside
// the image the way the kernel would once it is mounted at /.
type image struct {
	f    *os.File
	sfs  *diskfs.FileSystem
	dirs map[string][]fs.DirEntry
}

func openImage(name string) (*image, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	// The superblock's compressor id is at byte 20. go-diskfs decodes lz4
	// as LZ4 frames, not the raw blocks squashfs stores, so say so rather
	// than pass on its "bad magic number".
	var id [2]byte
	if _, err := f.ReadAt(id[:], 20); err == nil && squashfs.CompressorID(binary.LittleEndian.Uint16(id[:])) == squashfs.LZ4 {
		f.Close()
		return nil, errors.New("inspect cannot read lz4-compressed images yet (its reader, go-diskfs, does not decode squashfs's raw LZ4 blocks); build with xz, gzip or zstd")
	}
	sfs, err := diskfs.Read(file.New(f, true), info.Size(), 0, 0)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("not a readable squashfs image: %w", err)
	}
	return &image{f: f, sfs: sfs, dirs: map[string][]fs.DirEntry{}}, nil
}

func (im *image) close() { im.f.Close() }

// entries lists a directory given by its resolved, clean path.
func (im *image) entries(dir string) ([]fs.DirEntry, error) {
	if e, ok := im.dirs[dir]; ok {
		return e, nil
	}
	rel := strings.TrimPrefix(dir, "/")
	if rel == "" {
		rel = "."
	}
	e, err := im.sfs.ReadDir(rel)
	if err != nil {
		return nil, err
	}
	im.dirs[dir] = e
	return e, nil
}

// resolve follows p through symlinks and returns the final entry (nil for
// the root) and its resolved path.
func (im *image) resolve(p string) (fs.DirEntry, string, error) {
	pending := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	var done []string
	var cur fs.DirEntry
	for hops := 0; len(pending) > 0; {
		elem := pending[0]
		pending = pending[1:]
		if elem == "" || elem == "." {
			continue
		}
		if elem == ".." {
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			cur = nil
			if len(done) > 0 {
				e, _, err := im.resolve("/" + strings.Join(done, "/"))
				if err != nil {
					return nil, "", err
				}
				cur = e
			}
			continue
		}
		dir := "/" + strings.Join(done, "/")
		entries, err := im.entries(dir)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", dir, err)
		}
		i := slices.IndexFunc(entries, func(e fs.DirEntry) bool { return e.Name() == elem })
		if i < 0 {
			return nil, "", fmt.Errorf("%s: %w", path.Join(dir, elem), fs.ErrNotExist)
		}
		e := entries[i]
		if e.Type()&fs.ModeSymlink == 0 {
			cur, done = e, append(done, elem)
			continue
		}
		if hops++; hops > 40 {
			return nil, "", errors.New("too many levels of symbolic links")
		}
		l, ok := e.(interface{ Readlink() (string, error) })
		if !ok {
			return nil, "", fmt.Errorf("%s: cannot read symlink", path.Join(dir, elem))
		}
		target, err := l.Readlink()
		if err != nil {
			return nil, "", err
		}
		if strings.HasPrefix(target, "/") {
			done, cur = nil, nil
		}
		pending = append(strings.Split(strings.Trim(target, "/"), "/"), pending...)
	}
	return cur, "/" + strings.Join(done, "/"), nil
}

func (im *image) stat(p string) (fs.FileInfo, error) {
	e, _, err := im.resolve(p)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return rootInfo{}, nil
	}
	return e.Info()
}

func (im *image) readDir(p string) ([]string, error) {
	e, resolved, err := im.resolve(p)
	if err != nil {
		return nil, err
	}
	if e != nil && !e.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", p)
	}
	entries, err := im.entries(resolved)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names, nil
}

func (im *image) readFile(p string) ([]byte, error) {
	e, _, err := im.resolve(p)
	if err != nil {
		return nil, err
	}
	if e == nil || !e.Type().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	o, ok := e.(interface {
		Open() (filesystem.File, error)
	})
	if !ok {
		return nil, fmt.Errorf("%s: cannot open", p)
	}
	f, err := o.Open()
	if err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// rootInfo describes the image's root directory.
type rootInfo struct{}

func (rootInfo) Name() string       { return "/" }
func (rootInfo) Size() int64        { return 0 }
func (rootInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o755 }
func (rootInfo) ModTime() time.Time { return time.Time{} }
func (rootInfo) IsDir() bool        { return true }
func (rootInfo) Sys() any           { return nil }
