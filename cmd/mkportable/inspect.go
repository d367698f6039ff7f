package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mkportable/mkportable/builder"
	"github.com/mkportable/mkportable/squashfs"
	"github.com/mkportable/mkportable/unit"
)

const inspectSynopsis = `inspect IMAGE.raw [--json]

Shows an image as systemd-portabled sees it (its name, os-release and unit
files) and lists every problem portabled would refuse it for, or that would
make its service fail to start. Exits 1 when there is one.`

// unitDirs are the directories portabled searches an image for units, in
// its order: systemd's system unit search path (lookup_paths_init with
// LOOKUP_PATHS_SPLIT_USR) rooted in the image. A unit name found twice is
// taken from the first.
var unitDirs = []string{
	"/etc/systemd/system.control", "/run/systemd/system.control", "/run/systemd/transient",
	"/run/systemd/generator.early", "/etc/systemd/system", "/etc/systemd/system.attached",
	"/run/systemd/system", "/run/systemd/system.attached", "/run/systemd/generator",
	"/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system",
	"/run/systemd/generator.late",
}

// bindTargets must exist in the image: systemd mounts the API file systems
// and binds the host's files over them, and a service whose read-only
// image lacks one fails with 226/NAMESPACE.
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

// inspection is what inspect prints; its JSON is the --json output.
type inspection struct {
	Name      string            `json:"name"`
	OSRelease map[string]string `json:"osRelease"`
	Units     []inspectUnit     `json:"units"`
	Problems  []string          `json:"problems"`
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("inspect", inspectSynopsis, stderr)
	asJSON := flags.Bool("json", false, "print the result as one JSON object")
	pos, err := parseArgs(flags, args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "mkportable inspect: want one IMAGE.raw, got %d arguments\n", len(pos))
		return 2
	}
	rc, err := squashfs.OpenReader(pos[0])
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			err = fmt.Errorf("not a readable squashfs image: %w", err)
		}
		fmt.Fprintf(stderr, "mkportable inspect: %s: %v\n", pos[0], err)
		return 1
	}
	defer rc.Close()
	res := inspect(rc, pos[0])
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "mkportable inspect: %v\n", err)
			return 1
		}
	} else {
		printInspection(stdout, res)
	}
	if len(res.Problems) > 0 {
		return 1
	}
	return 0
}

// imageName derives the name portablectl matches units with from an image
// file name, as its extract_prefix does: the base name up to the first
// '_' (the version follows it), or else without ".raw".
func imageName(file string) string {
	base := filepath.Base(file)
	if name, _, ok := strings.Cut(base, "_"); ok {
		return name
	}
	return strings.TrimSuffix(base, ".raw")
}

// validImageName is portablectl's rule for that name: letters, digits, '-'
// and '.', and a valid file name.
func validImageName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// inspect examines fsys, the root of an image, as portabled attaches the
// image file named file with portablectl's default match (the image name),
// and lists what portabled would refuse and what would make the service
// fail to start.
func inspect(fsys fs.FS, file string) inspection {
	img := imageFS{fsys}
	res := inspection{Name: imageName(file), OSRelease: map[string]string{}, Units: []inspectUnit{}, Problems: []string{}}
	problem := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }

	if !validImageName(res.Name) {
		problem("image name %q, derived from the file name %s, is not one portablectl accepts: letters, digits, '-' and '.' before the first '_'",
			res.Name, filepath.Base(file))
	}

	// os-release: portabled reads /etc/os-release, else /usr/lib/os-release.
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
	} else {
		if res.OSRelease["ID"] == "" {
			problem("%s has no ID=: portabled refuses an image whose os-release lacks the ID field", osrel)
		}
		if v, ok := res.OSRelease["PORTABLE_PREFIXES"]; ok {
			// portabled refuses a match that PORTABLE_PREFIXES does not
			// list ("Selected matches ... are not compatible").
			if !slices.Contains(strings.Fields(v), res.Name) {
				problem("%s: PORTABLE_PREFIXES=%q does not list the image name %q, so portablectl attach refuses the match it derives from the file name",
					osrel, v, res.Name)
			}
		}
	}

	matched := 0
	seen := map[string]bool{}
	for _, dir := range unitDirs {
		entries, err := img.readDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			p := path.Join(dir, name)
			// portabled considers regular files and symlinks whose names
			// end in a type it attaches; anything else is not a unit.
			if seen[name] || !unit.HasPortableType(name) || !(e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0) {
				continue
			}
			// A name systemd cannot load is not a unit to portabled either.
			if unit.CheckSyntax(name) != nil {
				continue
			}
			seen[name] = true
			res.Units = append(res.Units, inspectUnit{Name: name, Path: p})
			// portabled attaches the units whose names start with the
			// match and leaves the others alone, so an image may carry
			// units for other matches (an OS image carries dozens); only
			// an image with none for the default match is refused.
			if unit.CheckName(name, res.Name) != nil {
				continue
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
			for _, err := range builder.CheckPrograms(p, u, img.mode) {
				problem("%v", err)
			}
		}
	}
	if matched == 0 {
		problem("no unit file named %s followed by '-', '.' or '@' in /etc/systemd/system, /usr/lib/systemd/system or another unit directory; portabled refuses an image with no matching unit files",
			res.Name)
	}
	for _, b := range bindTargets {
		info, err := img.stat(b.path)
		switch {
		case err != nil:
			problem("%s is missing: portabled binds the host's over it, so the service would fail with 226/NAMESPACE", b.path)
		case b.dir && !info.IsDir():
			problem("%s is not a directory: systemd mounts a directory over it", b.path)
		case !b.dir && info.IsDir():
			problem("%s is a directory: systemd binds the host's file over it", b.path)
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
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			if v[0] == '\'' {
				v = v[1 : len(v)-1]
			} else if u, err := strconv.Unquote(`"` + strings.NewReplacer(`\$`, `$`, "\\`", "`").Replace(v[1:len(v)-1]) + `"`); err == nil {
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

// imageFS reads an image's root through an fs.FS, with absolute paths,
// following symlinks inside the image the way the kernel does once the
// image is mounted at /: absolute targets start again at the image's root
// and ".." never climbs above it. It needs fs.ReadLinkFS to see symlinks
// (squashfs.Reader and fstest.MapFS have it); without it, it relies on the
// file system's own Open.
type imageFS struct{ fsys fs.FS }

// maxSymlinkHops is the kernel's limit on symlinks followed in one lookup.
const maxSymlinkHops = 40

// rel turns a clean absolute image path into an fs.FS name.
func rel(p string) string {
	if p = strings.TrimPrefix(p, "/"); p == "" {
		return "."
	}
	return p
}

// resolve returns the path of p with every symlink followed: a path
// without symlinks, which any fs.FS opens as the kernel would open p.
func (im imageFS) resolve(p string) (string, error) {
	if _, ok := im.fsys.(fs.ReadLinkFS); !ok {
		return path.Clean("/" + p), nil
	}
	pending := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	var done []string
	for hops := 0; len(pending) > 0; {
		elem := pending[0]
		pending = pending[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := path.Join(append(done, elem)...)
		info, err := fs.Lstat(im.fsys, cur)
		if err != nil {
			return "", &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("/%s: %w", cur, underlying(err))}
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			if len(pending) > 0 && !info.IsDir() {
				return "", &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("/%s: %w", cur, squashfs.ErrNotDir)}
			}
			done = append(done, elem)
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return "", &fs.PathError{Op: "open", Path: p, Err: errors.New("too many levels of symbolic links")}
		}
		target, err := fs.ReadLink(im.fsys, cur)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: p, Err: underlying(err)}
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		pending = append(strings.Split(target, "/"), pending...)
	}
	return "/" + strings.Join(done, "/"), nil
}

// underlying strips a PathError, whose path is relative to the image root
// and would read as a host path.
func underlying(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (im imageFS) stat(p string) (fs.FileInfo, error) {
	r, err := im.resolve(p)
	if err != nil {
		return nil, err
	}
	return fs.Stat(im.fsys, rel(r))
}

// mode is stat as a builder.StatFunc.
func (im imageFS) mode(p string) (fs.FileMode, error) {
	info, err := im.stat(p)
	if err != nil {
		return 0, err
	}
	return info.Mode(), nil
}

func (im imageFS) readFile(p string) ([]byte, error) {
	r, err := im.resolve(p)
	if err != nil {
		return nil, err
	}
	info, err := fs.Stat(im.fsys, rel(r))
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: p, Err: errors.New("not a regular file")}
	}
	return fs.ReadFile(im.fsys, rel(r))
}

// readDir lists a directory, sorted by name; symlinked entries are listed
// as symlinks.
func (im imageFS) readDir(p string) ([]fs.DirEntry, error) {
	r, err := im.resolve(p)
	if err != nil {
		return nil, err
	}
	return fs.ReadDir(im.fsys, rel(r))
}
