package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
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
	// Cache keeps compressed blocks for the next build (squashfs.Options).
	Cache squashfs.Cache
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
	// validOSReleaseID is os-release(5)'s ID: lower-case letters, digits,
	// '.', '_' and '-'.
	validOSReleaseID  = regexp.MustCompile(`^[a-z0-9._-]+$`)
	validOSReleaseKey = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// Build lays out spec's image, checks it, and writes outDir/NAME_VERSION.raw.
// A failed build leaves no image: it is written beside the target and
// renamed into place only when complete.
func Build(ctx context.Context, spec Spec, outDir string, opts Options) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	tree, err := Layout(spec, opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
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
		Cache: opts.Cache,
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
// whole, then contents and symlinks. With SkipChecks it lays out what it
// can and ignores what breaks a rule, so tests can build the images
// portabled refuses; the tree can be changed further before
// squashfs.WriteFile writes it.
func Layout(spec Spec, opts Options) (*squashfs.Tree, error) {
	var problems []error
	fail := func(input, format string, args ...any) {
		problems = append(problems, &CheckError{input, fmt.Sprintf(format, args...)})
	}
	// must records an error of the tree, naming the input it came from.
	must := func(input string, err error) {
		if err != nil {
			problems = append(problems, &CheckError{input, err.Error()})
		}
	}
	if !validImageName.MatchString(spec.Name) || len(spec.Name) > 200 {
		fail("name", "%q is not an image name portabled can derive from NAME_VERSION.raw: use letters, digits, '-' and '.', start with a letter or digit, and no '_'", spec.Name)
	}
	if !validVersion.MatchString(spec.Version) {
		fail("version", "%q must be letters, digits and . _ + ~ - (it becomes part of the file name)", spec.Version)
	}
	if len(spec.Units) == 0 {
		fail("units", "no unit files: portabled attaches nothing from an image without units")
	}
	osrel := osReleaseFields(spec)
	id := fieldValue(osrel, "ID")
	if !validOSReleaseID.MatchString(id) {
		fail("osRelease", "ID=%q: os-release(5) wants lower-case letters, digits, '.', '_' and '-', and portabled refuses an image without an ID", id)
	}
	prefixes := strings.Fields(fieldValue(osrel, "PORTABLE_PREFIXES"))
	if !slices.Contains(prefixes, spec.Name) {
		fail("osRelease", "PORTABLE_PREFIXES=%q does not list the image name %q: portablectl attach matches units by the image name and refuses an image whose PORTABLE_PREFIXES leave it out", strings.Join(prefixes, " "), spec.Name)
		prefixes = append(prefixes, spec.Name)
	}
	for _, k := range slices.Sorted(maps.Keys(spec.OSRelease)) {
		if !validOSReleaseKey.MatchString(k) {
			fail("osRelease", "%q is not an os-release(5) field name (upper-case letters, digits and '_')", k)
		}
		if strings.ContainsAny(spec.OSRelease[k], "\n\r\x00") {
			fail("osRelease", "%s: an os-release value is one line", k)
		}
	}

	tree := squashfs.NewTree()
	dirAttr := squashfs.Attr{Mode: 0o755}
	fileAttr := squashfs.Attr{Mode: 0o644}
	for _, d := range append([]string{unitDir}, mountPoints...) {
		must(d, tree.MkdirAll(d, dirAttr))
	}
	for _, f := range emptyFiles {
		must(f, tree.AddBytes(f, fileAttr, nil))
	}

	// Units: fill placeholders, parse, check names, refuse repeats.
	type laidUnit struct {
		src string
		u   *unit.File
	}
	var units []laidUnit
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
		if err := unit.CheckName(name, prefixes...); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", src, err))
		}
		if first, dup := seen[name]; dup {
			fail(src, "unit %s is also made from %s; an image holds one unit of a name", name, first)
			continue
		}
		seen[name] = src
		units = append(units, laidUnit{src, u})
		must(src, tree.AddBytes(path.Join(unitDir, name), fileAttr, data))
	}

	must("/etc/os-release", tree.AddBytes("/etc/os-release", fileAttr, formatOSRelease(osrel)))

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
		must(p, addPath(tree, p, host))
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
		must(c.Source, addPath(tree, path.Clean(c.Target), c.Source))
	}
	var links []Symlink
	for _, l := range spec.Symlinks {
		if !path.IsAbs(l.Symlink) || path.Clean(l.Symlink) == "/" || l.Object == "" {
			fail("symlinks", "%q -> %q: the symlink must be an absolute path below / and the object non-empty", l.Symlink, l.Object)
			continue
		}
		if err := tree.MkdirAll(path.Dir(l.Symlink), dirAttr); err != nil {
			must("symlink "+l.Symlink, err)
			continue
		}
		if err := tree.Symlink(l.Symlink, l.Object, squashfs.Attr{Mode: 0o777}); err != nil {
			must("symlink "+l.Symlink, err)
			continue
		}
		links = append(links, l)
	}

	// Every symlink asked for leads somewhere in the image: nixpkgs'
	// objects are store paths, which the closure must hold.
	for _, l := range links {
		if _, _, err := tree.Resolve(l.Symlink); err != nil {
			fail("symlink "+l.Symlink, "object %s is not in the image (is its store path in storePaths or closureInfo?)", l.Object)
		}
	}
	// Every program a unit runs must be in the image and executable.
	stat := func(name string) (fs.FileMode, error) {
		n, _, err := tree.Resolve(name)
		if err != nil {
			return 0, err
		}
		return n.Mode(), nil
	}
	for _, lu := range units {
		problems = append(problems, CheckPrograms(lu.src, lu.u, stat)...)
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

// osReleaseFields returns the fields of /etc/os-release: those portabled
// and systemd read, in a fixed order, then spec.OSRelease's extra fields
// sorted; spec.OSRelease overrides a field of the same name.
func osReleaseFields(s Spec) [][2]string {
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
	return fields
}

func fieldValue(fields [][2]string, key string) string {
	for _, f := range fields {
		if f[0] == key {
			return f[1]
		}
	}
	return ""
}

// formatOSRelease writes os-release fields, each value double-quoted with
// ", \, $ and ` escaped as os-release(5) requires.
func formatOSRelease(fields [][2]string) []byte {
	var b strings.Builder
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`")
	for _, f := range fields {
		fmt.Fprintf(&b, "%s=\"%s\"\n", f[0], esc.Replace(f[1]))
	}
	return []byte(b.String())
}

// osRelease returns the /etc/os-release of spec's image.
func osRelease(s Spec) []byte { return formatOSRelease(osReleaseFields(s)) }
