package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mkportable/mkportable/squashfs"
	"github.com/mkportable/mkportable/unit"
)

// Options tune Build beyond the spec.
type Options struct {
	// ModTime is every inode's and the image's time; zero means 1980-01-01.
	// Callers honouring SOURCE_DATE_EPOCH pass squashfs.ModTimeFromEnv.
	ModTime time.Time
	// Workers compress in parallel; 0 means all cores. The image is the
	// same for any value.
	Workers int
	// Progress is called as data is written.
	Progress func(squashfs.Progress)
	// SkipChecks writes the image even when portabled would refuse it. It
	// exists to test what portabled does with bad images; never ship one.
	SkipChecks bool
}

// Result describes a written image.
type Result struct {
	Path   string
	Size   int64
	SHA256 string
	Stats  *squashfs.Stats
}

// CheckError is an input that breaks a rule: Input names the file or field,
// Rule says what is wrong. Build returns all of them at once, joined.
type CheckError struct {
	Input string
	Rule  string
}

// Error returns "input: rule".
func (e *CheckError) Error() string { return e.Input + ": " + e.Rule }

// mountPoints are the empty directories portabled binds the host's over;
// without them the service fails with 226/NAMESPACE.
var mountPoints = []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/var/lib", "/var/cache", "/var/log"}

// emptyFiles are bound over too.
var emptyFiles = []string{"/etc/resolv.conf", "/etc/machine-id"}

// unitDir is where portabled looks for units first and nixpkgs puts them.
const unitDir = "/etc/systemd/system"

var (
	validImageName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
	validVersion   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]*$`)
)

// Build lays out spec's image, checks it, and writes outDir/NAME_VERSION.raw.
// A failed build leaves no image: it is written beside the target and
// renamed into place only when complete.
func Build(ctx context.Context, spec Spec, outDir string, opts Options) (*Result, error) {
	tree, err := Layout(spec, opts)
	if err != nil {
		return nil, err
	}
	comp, err := squashfs.NewCompressor(spec.Compression)
	if err != nil {
		return nil, &CheckError{"compression", err.Error()}
	}
	bs := squashfs.MaxBlockSize
	if spec.BlockSize != "" {
		if bs, err = squashfs.ParseBlockSize(spec.BlockSize); err != nil {
			return nil, &CheckError{"blockSize", err.Error()}
		}
	}
	out := filepath.Join(outDir, spec.FileName())
	stats, err := squashfs.WriteFile(ctx, out, tree, squashfs.Options{
		Compressor: comp, BlockSize: bs, Workers: opts.Workers, ModTime: opts.ModTime, Progress: opts.Progress,
	})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("hash %s: %w", out, err)
	}
	return &Result{Path: out, Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), Stats: stats}, nil
}

// Layout returns the tree of spec's image, checked unless opts.SkipChecks:
// units in /etc/systemd/system, /etc/os-release, empty /etc/resolv.conf and
// /etc/machine-id, the mount points portabled binds over, every store path
// whole, then contents and symlinks.
func Layout(spec Spec, opts Options) (*squashfs.Tree, error) {
	var problems []error
	fail := func(input, format string, args ...any) {
		problems = append(problems, &CheckError{input, fmt.Sprintf(format, args...)})
	}
	if !validImageName.MatchString(spec.Name) {
		fail("name", "%q is not an image name portabled can derive from NAME_VERSION.raw: use letters, digits, '-' and '.', and no '_'", spec.Name)
	}
	if !validVersion.MatchString(spec.Version) {
		fail("version", "%q must be letters, digits and . _ + ~ - (it becomes part of the file name)", spec.Version)
	}
	if len(spec.Units) == 0 {
		fail("units", "no unit files: portabled attaches nothing from an image without units")
	}

	tree := squashfs.NewTree()
	dirAttr := squashfs.Attr{Mode: 0o755}
	fileAttr := squashfs.Attr{Mode: 0o644}
	must := func(err error) {
		if err != nil {
			problems = append(problems, err)
		}
	}
	for _, d := range append([]string{unitDir}, mountPoints...) {
		must(tree.MkdirAll(d, dirAttr))
	}
	for _, f := range emptyFiles {
		must(tree.AddBytes(f, fileAttr, nil))
	}

	// Units: fill placeholders, parse, check names, refuse repeats.
	var units []*unit.File
	seen := map[string]string{}
	for _, src := range spec.Units {
		data, err := os.ReadFile(src)
		if err != nil {
			fail(src, "cannot read unit: %v", errors.Unwrap(err))
			continue
		}
		name := strings.TrimSuffix(filepath.Base(src), ".in")
		data, err = unit.Substitute(src, data, spec.Substitutions)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		u, err := unit.Parse(src, data)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if err := unit.CheckName(name, spec.Name); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", src, err))
		}
		if first, dup := seen[name]; dup {
			fail(src, "unit %s is also made from %s; an image holds one unit of a name", name, first)
			continue
		}
		seen[name] = src
		units = append(units, u)
		must(tree.AddBytes(path.Join(unitDir, name), fileAttr, data))
	}

	must(tree.AddBytes("/etc/os-release", fileAttr, osRelease(spec)))

	storePaths, err := spec.storePaths()
	if err != nil {
		problems = append(problems, err)
	}
	for _, p := range storePaths {
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			fail(p, "a store path must be a clean absolute path such as /nix/store/<hash>-<name>")
			continue
		}
		host := spec.hostPath(p)
		if _, err := os.Lstat(host); err != nil {
			fail(p, "store path does not exist at %s", host)
			continue
		}
		must(addPath(tree, p, host))
	}
	for _, c := range spec.Contents {
		if !path.IsAbs(c.Target) {
			fail(c.Source, "contents target %q must be an absolute path in the image", c.Target)
			continue
		}
		if _, err := os.Lstat(c.Source); err != nil {
			fail(c.Source, "contents source does not exist")
			continue
		}
		must(addPath(tree, c.Target, c.Source))
	}
	for _, l := range spec.Symlinks {
		if !path.IsAbs(l.Symlink) || l.Object == "" {
			fail("symlinks", "%q -> %q: the symlink must be an absolute path and the object non-empty", l.Symlink, l.Object)
			continue
		}
		must(tree.MkdirAll(path.Dir(l.Symlink), dirAttr))
		must(tree.Symlink(l.Symlink, l.Object, squashfs.Attr{Mode: 0o777}))
	}

	// Every program a unit runs must be in the image and executable.
	for _, u := range units {
		for _, c := range u.ExecCommands() {
			if !path.IsAbs(c.Path) || strings.ContainsRune(c.Path, '%') {
				continue // found on the host's PATH, or a specifier systemd expands
			}
			n, resolved, err := tree.Resolve(c.Path)
			switch {
			case err != nil:
				fail(fmt.Sprintf("%s:%d", u.Name, c.Line), "%s= program %s is not in the image", c.Key, c.Path)
			case !n.Mode().IsRegular():
				fail(fmt.Sprintf("%s:%d", u.Name, c.Line), "%s= program %s is not a regular file (%s)", c.Key, c.Path, resolved)
			case n.Mode().Perm()&0o111 == 0:
				fail(fmt.Sprintf("%s:%d", u.Name, c.Line), "%s= program %s is not executable", c.Key, c.Path)
			}
		}
	}
	if len(problems) > 0 && !opts.SkipChecks {
		return nil, errors.Join(problems...)
	}
	return tree, nil
}

// addPath copies a host file or directory into the tree at target.
func addPath(tree *squashfs.Tree, target, host string) error {
	info, err := os.Lstat(host)
	if err != nil {
		return err
	}
	if err := tree.MkdirAll(path.Dir(target), squashfs.Attr{Mode: 0o755}); err != nil {
		return err
	}
	if info.IsDir() {
		return tree.AddDir(target, host, squashfs.LoadOptions{})
	}
	switch {
	case info.Mode().Type() == fs.ModeSymlink:
		link, err := os.Readlink(host)
		if err != nil {
			return err
		}
		return tree.Symlink(target, link, squashfs.Attr{Mode: 0o777})
	case info.Mode().IsRegular():
		return tree.AddFile(target, squashfs.Attr{Mode: info.Mode().Perm()}, info.Size(), func() (io.ReadCloser, error) {
			return os.Open(host)
		})
	}
	return &CheckError{host, "contents must be regular files, symlinks or directories"}
}

// osRelease returns /etc/os-release: the fields portabled and systemd read,
// each value double-quoted with ", \, $ and ` escaped as os-release(5)
// requires, in a fixed order, then any extra fields sorted.
func osRelease(s Spec) []byte {
	pretty := s.Description
	if pretty == "" {
		pretty = s.Name + " " + s.Version
	}
	fields := [][2]string{
		{"ID", strings.ToLower(s.Name)},
		{"PRETTY_NAME", pretty},
		{"VERSION_ID", s.Version},
		{"BUILD_ID", s.Version},
		{"PORTABLE_ID", s.Name},
		{"PORTABLE_PRETTY_NAME", pretty},
		{"PORTABLE_PREFIXES", s.Name},
	}
	if s.Homepage != "" {
		fields = append(fields, [2]string{"HOME_URL", s.Homepage})
	}
	var extra []string
	for k := range s.OSRelease {
		extra = append(extra, k)
	}
	slices.Sort(extra)
	for _, k := range extra {
		if i := slices.IndexFunc(fields, func(f [2]string) bool { return f[0] == k }); i >= 0 {
			fields[i][1] = s.OSRelease[k]
		} else {
			fields = append(fields, [2]string{k, s.OSRelease[k]})
		}
	}
	var b strings.Builder
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`")
	for _, f := range fields {
		fmt.Fprintf(&b, "%s=\"%s\"\n", f[0], esc.Replace(f[1]))
	}
	return []byte(b.String())
}
