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

// image is the view inspect needs of a squashfs image: paths are absolute
// in the image and symlinks are followed inside it.
type image struct{ rc *squashfs.ReadCloser }

func openImage(name string) (*image, error) {
	rc, err := squashfs.OpenReader(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, err
		}
		return nil, fmt.Errorf("not a readable squashfs image: %w", err)
	}
	return &image{rc: rc}, nil
}

func (im *image) close() { im.rc.Close() }

// rel turns an absolute image path into an fs.FS name.
func rel(p string) string {
	if p = strings.TrimPrefix(path.Clean(p), "/"); p == "" {
		return "."
	}
	return p
}

func (im *image) stat(p string) (fs.FileInfo, error) { return im.rc.Stat(rel(p)) }
func (im *image) readFile(p string) ([]byte, error)  { return im.rc.ReadFile(rel(p)) }

func (im *image) readDir(p string) ([]string, error) {
	entries, err := im.rc.ReadDir(rel(p))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}
