package builder

import (
	"context"
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

	"github.com/mkportable/mkportable/ddi"
	"github.com/mkportable/mkportable/pkcs7"
	"github.com/mkportable/mkportable/portable"
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
	// SkipChecks lays out and writes the image even when portabled would
	// refuse it or its service would fail. It exists to test what
	// portabled does with bad images; never ship one.
	SkipChecks bool
	// BeforeWrite, when set, is called with the laid-out tree and the
	// writer's options just before the image is written; an error stops
	// the build. A command sets its process's memory limit there
	// (squashfs.MemoryLimit).
	BeforeWrite func(*squashfs.Tree, squashfs.Options) error
}

// Input is one thing Build took from the host.
type Input struct {
	// Kind is "unit", "store-path" or "contents".
	Kind string `json:"kind"`
	// Source is the host path read.
	Source string `json:"source"`
	// Target is where it is in the image.
	Target string `json:"target"`
}

// Image is a laid-out image, not yet written.
type Image struct {
	Tree *squashfs.Tree
	// Report is portable.Check's verdict on the tree, with the spec's
	// matches and profile.
	Report *portable.Report
	// Created are the empty directories and files Layout added because an
	// attached service needs them (its StateDirectory= and friends, the
	// mount points of a profile).
	Created []string
	// Inputs are the host files and trees the image holds.
	Inputs []Input
}

// Result describes a written image.
type Result struct {
	Path    string
	Size    int64
	SHA256  string
	Stats   *squashfs.Stats
	Report  *portable.Report
	Created []string
	Inputs  []Input
	// Kind ("portable", "sysext", "confext"), Format ("raw", "ddi") and
	// Architecture are what was built.
	Kind, Format, Architecture string
	// RootHash is the dm-verity root hash, "" without verity.
	RootHash string
	// Outputs are the files written, the image last.
	Outputs []Output
	// Removed are the sidecars of an earlier build removed because this
	// one does not write them.
	Removed []string
	// Disk is the layout of a DDI; nil for a raw image.
	Disk *ddi.Image
}

// CheckError is an input that breaks a rule: Input names the spec field,
// file or image path, Rule says what is wrong. Build returns all of them
// at once, joined.
type CheckError struct {
	Input string
	Rule  string
}

// Error returns "input: rule".
func (e *CheckError) Error() string { return e.Input + ": " + e.Rule }

// portableUnitDir is where the builder puts a portable image's units:
// portabled looks there first among the directories an image usually has,
// and nixpkgs puts them there.
const portableUnitDir = "/etc/systemd/system"

// extensionUnitDirs are where an extension's units go: in the hierarchy
// its kind merges, where the host's service manager finds them.
var extensionUnitDirs = map[portable.Kind]string{
	portable.KindSysext:  "/usr/lib/systemd/system",
	portable.KindConfext: "/etc/systemd/system",
}

// validVersion keeps the version a single file name element that does not
// change the image name portablectl derives (which ends at the first '_').
var validVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]*$`)

// Build lays out spec's image, checks it as portable.Check does, and writes
// outDir/NAME_VERSION.raw, creating outDir if need be: the squashfs itself,
// with NAME_VERSION.verity and NAME_VERSION.roothash beside it when
// spec.Verity is set and NAME_VERSION.roothash.p7s when it is signed, or
// with spec.Format "ddi" a GPT disk image holding the squashfs, its hash
// tree and signature as partitions. Every output is the same bytes for the
// same inputs. Refused and fails problems are errors (*CheckError,
// joined), except those of systemd versions that lack the image's kind
// (252 and a confext); ignored and note ones are in Result.Report. A
// failed, cancelled or killed build leaves no output and no temporary file
// (internal/atomicfile), and a build removes the sidecars an earlier one
// left that it does not write.
func Build(ctx context.Context, spec Spec, outDir string, opts Options) (*Result, error) {
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
	img, err := Layout(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	if info, err := os.Stat(outDir); err == nil && !info.IsDir() {
		return nil, &CheckError{outDir, "the output directory is a file, not a directory"}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	out := filepath.Join(outDir, spec.FileName())
	set, _ := spec.settings() // Layout refused any error
	var signer *pkcs7.Signer
	if set.signed {
		if signer, err = spec.signer(); err != nil {
			return nil, err
		}
	}
	sq := squashfs.Options{
		Compressor: comp, BlockSize: bs, Workers: opts.Workers, ModTime: opts.ModTime, Progress: opts.Progress,
		Cache: opts.Cache,
	} // xattrs are stored: an extension's release file carries portable.StrictXattr
	if opts.BeforeWrite != nil {
		if err := opts.BeforeWrite(img.Tree, sq); err != nil {
			return nil, err
		}
	}
	w, err := writeOutputs(ctx, out, img.Tree, sq, set, signer)
	if err != nil {
		return nil, err
	}
	format := "raw"
	if set.ddi {
		format = "ddi"
	}
	image := w.outputs[len(w.outputs)-1]
	return &Result{Path: out, Size: image.Size, SHA256: image.SHA256, Stats: w.stats,
		Report: img.Report, Created: img.Created, Inputs: img.Inputs,
		Kind: set.kind.String(), Format: format, Architecture: set.arch, RootHash: w.rootHash,
		Outputs: w.outputs, Removed: w.removed, Disk: w.disk}, nil
}

// Layout returns spec's image, laid out and checked: units in
// /etc/systemd/system, /etc/os-release, every store path whole, then
// contents and symlinks, and the empty directories and files the attached
// services need (found by portable.Check under every profile). Inputs are
// checked first (a spec field, a unit, a store path...): if one is wrong
// Layout returns those errors only, since the image's problems would
// follow from them. Then portable.Check's refused and fails problems are
// errors. With opts.SkipChecks it returns what it could lay out and no
// error for the image's problems, so tests can build images portabled
// refuses; the tree can be changed further before squashfs.WriteFile
// writes it.
func Layout(ctx context.Context, spec Spec, opts Options) (*Image, error) {
	img := &Image{Tree: squashfs.NewTree()}
	var problems []error
	fail := func(input, format string, args ...any) {
		problems = append(problems, &CheckError{input, fmt.Sprintf(format, args...)})
	}
	must := func(input string, err error) {
		if err != nil {
			problems = append(problems, &CheckError{input, err.Error()})
		}
	}
	// The name is the root of every other rule: portablectl matches units
	// and PORTABLE_PREFIXES by the name it derives from NAME_VERSION.raw.
	file := spec.FileName()
	if !validVersion.MatchString(spec.Version) {
		file = spec.Name + "_VERSION.raw"
	}
	if derived, err := portable.ImageName(file); err != nil || derived != spec.Name {
		why := fmt.Sprintf("portablectl derives the image name %q from %s (up to the first '_'), not %q", derived, file, spec.Name)
		if err != nil {
			why = err.Error()
		}
		return nil, &CheckError{"name", fmt.Sprintf("%q: %s; use letters, digits, '-' and '.'", spec.Name, why)}
	}
	if !validVersion.MatchString(spec.Version) {
		fail("version", "%q must be letters, digits and . _ + ~ - (it becomes part of the file name)", spec.Version)
	}
	set, errs := spec.settings()
	problems = append(problems, errs...)
	ext := set.kind.IsExtension()
	unitDir := portableUnitDir
	var release []byte
	var err error
	if ext {
		unitDir = extensionUnitDirs[set.kind]
		if len(spec.Matches) > 0 {
			fail("matches", "a %s is not attached with matches: they apply to portable images", set.kind)
		}
		if spec.Profile != "" {
			fail("profile", "a %s runs no service under a portable profile: it applies to portable images", set.kind)
		}
		if release, err = extensionRelease(spec, set); err != nil {
			problems = append(problems, err)
		}
	} else if len(spec.Units) == 0 {
		fail("units", "no unit files: portabled attaches nothing from an image without units")
	}
	var osrel []byte
	if !ext {
		if osrel, err = osRelease(spec); err != nil {
			problems = append(problems, err)
		}
	}
	// inHierarchy refuses a path an extension would carry where its kind
	// merges nothing: it would never be seen.
	inHierarchy := func(input, p string) bool {
		if !ext {
			return true
		}
		for _, h := range set.kind.Hierarchies() {
			if p == h || strings.HasPrefix(p, h+"/") {
				return true
			}
		}
		fail(input, "%s is outside %s, the only directories a %s contributes: it would never be seen", p, strings.Join(set.kind.Hierarchies(), " and "), set.kind)
		return false
	}

	tree := img.Tree
	fileAttr := squashfs.Attr{Mode: 0o644}
	if len(spec.Units) > 0 || !ext {
		must(unitDir, tree.MkdirAll(unitDir, squashfs.Attr{Mode: 0o755}))
	}
	seen := map[string]string{}
	for _, src := range spec.Units {
		data, err := readUnit(src)
		if err != nil {
			fail(src, "%v", err)
			continue
		}
		name := filepath.Base(src)
		if strings.HasSuffix(name, ".in") || spec.SubstituteAll {
			name = strings.TrimSuffix(name, ".in")
			if data, err = unit.Substitute(src, data, spec.Substitutions); err != nil {
				problems = append(problems, err)
				continue
			}
		}
		if !portable.ValidUnitName(name) {
			fail(src, "%q is not a unit name systemd loads: a name of letters, digits and :-_.\\@ (not starting with '@') and a type such as .service, at most 255 bytes", name)
			continue
		}
		if first, dup := seen[name]; dup {
			fail(src, "unit %s is also made from %s; an image holds one unit of a name", name, first)
			continue
		}
		seen[name] = src
		target := path.Join(unitDir, name)
		img.Inputs = append(img.Inputs, Input{"unit", src, target})
		must(src, tree.AddBytes(target, fileAttr, data))
	}
	if osrel != nil {
		must("/etc/os-release", tree.AddBytes("/etc/os-release", fileAttr, osrel))
	}
	if release != nil {
		// The file is named after the image name, NAME; systemd looks for
		// the name of the file, NAME_VERSION, first, and takes this one
		// in its place thanks to the attribute (252), or to the name
		// without the version (257).
		p := portable.ExtensionReleasePath(set.kind, spec.Name)
		must(p, tree.MkdirAll(path.Dir(p), squashfs.Attr{Mode: 0o755}))
		must(p, tree.AddBytes(p, squashfs.Attr{Mode: 0o644, Xattrs: map[string][]byte{portable.StrictXattr: []byte("0")}}, release))
	}

	storePaths, err := spec.storePaths()
	if err != nil {
		problems = append(problems, err)
	}
	storeDir := spec.StoreDir
	if storeDir == "" {
		storeDir = NixStore
	}
	for _, sp := range storePaths {
		name, ok := strings.CutPrefix(sp.path, NixStore+"/")
		if !ok || name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			fail(sp.input, "%q is not a store path: it must be %s/<hash>-<name>, which is read from the store directory %s (a host path outside the store is never copied)", sp.path, NixStore, storeDir)
			continue
		}
		host := filepath.Join(storeDir, name)
		if !inHierarchy(sp.input, sp.path) {
			continue
		}
		if _, err := os.Lstat(host); err != nil {
			fail(sp.input, "store path %s does not exist at %s", sp.path, host)
			continue
		}
		img.Inputs = append(img.Inputs, Input{"store-path", host, sp.path})
		must(sp.path, addPath(tree, sp.path, host))
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
		if err := spec.checkContentsSource(c.Source); err != nil {
			problems = append(problems, err)
			continue
		}
		if !inHierarchy(c.Source, path.Clean(c.Target)) {
			continue
		}
		img.Inputs = append(img.Inputs, Input{"contents", c.Source, path.Clean(c.Target)})
		must(c.Source, addPath(tree, path.Clean(c.Target), c.Source))
	}
	var links []Symlink
	for _, l := range spec.Symlinks {
		if !path.IsAbs(l.Symlink) || path.Clean(l.Symlink) == "/" || l.Object == "" {
			fail("symlinks", "%q -> %q: the symlink must be an absolute path below / and the object non-empty", l.Symlink, l.Object)
			continue
		}
		if !inHierarchy("symlink "+l.Symlink, path.Clean(l.Symlink)) {
			continue
		}
		if err := tree.MkdirAll(path.Dir(l.Symlink), squashfs.Attr{Mode: 0o755}); err != nil {
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
	if len(problems) > 0 && !opts.SkipChecks {
		return nil, errors.Join(problems...)
	}

	// The paths the services need, under any profile, are made empty.
	checkOpts := portable.Options{FileName: spec.FileName(), Matches: spec.Matches, Profile: spec.Profile, Kind: set.kind}
	if ext {
		checkOpts.Matches, checkOpts.Profile = nil, ""
	} else if err := img.createMountPoints(ctx, checkOpts); err != nil {
		return nil, err
	}
	img.Report, err = portable.Check(ctx, tree.FS(), checkOpts)
	if err != nil {
		return nil, err
	}
	for _, p := range img.Report.Worst(portable.Fails) {
		if !appliesWhereKindExists(p, set.kind) {
			continue // e.g. systemd 252 and a confext: reported, not an error
		}
		versions := ""
		if p.Since != 0 || p.Before != 0 {
			versions = ", systemd " + p.Versions()
		}
		problems = append(problems, &CheckError{spec.inputOf(p, img.Inputs), fmt.Sprintf("%s (%s%s): %s", p.Rule, p.Severity, versions, p.Message)})
	}
	if len(problems) > 0 && !opts.SkipChecks {
		return nil, errors.Join(problems...)
	}
	return img, nil
}

// appliesWhereKindExists reports whether p applies to a modelled systemd
// version that has images of kind k at all.
func appliesWhereKindExists(p portable.Problem, k portable.Kind) bool {
	for _, v := range portable.Versions {
		if v >= k.Since() && p.AppliesTo(v) {
			return true
		}
	}
	return false
}

// createMountPoints adds the empty directories and files that the attached
// services need in the image, under every profile and version, and that
// the tree lacks.
func (img *Image) createMountPoints(ctx context.Context, opts portable.Options) error {
	need := map[string]string{} // path -> kind
	for _, prof := range portable.Profiles {
		o := opts
		o.Profile = prof
		r, err := portable.Check(ctx, img.Tree.FS(), o)
		if err != nil {
			return err
		}
		for _, m := range r.MountPoints {
			if !m.Exists {
				need[m.Path] = m.Kind
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(need)) {
		if _, err := img.Tree.Lookup(p); err == nil {
			continue // there, but of the wrong kind: Check reports it
		}
		if _, _, err := img.Tree.Resolve(p); err == nil {
			continue
		}
		var err error
		switch need[p] {
		case "dir":
			err = img.Tree.MkdirAll(p, squashfs.Attr{Mode: 0o755})
		case "file":
			if err = img.Tree.MkdirAll(path.Dir(p), squashfs.Attr{Mode: 0o755}); err == nil {
				err = img.Tree.AddBytes(p, squashfs.Attr{Mode: 0o644}, nil)
			}
		default:
			continue // a bind target of unknown kind: Check reports it
		}
		if err != nil {
			continue // e.g. a symlink in the way: Check reports it
		}
		img.Created = append(img.Created, p)
	}
	return nil
}

// inputOf names the input a problem comes from: the unit source for a
// problem in a unit, else the image path or the spec.
func (s Spec) inputOf(p portable.Problem, inputs []Input) string {
	for _, in := range inputs {
		if p.Path != "" && (p.Path == in.Target || strings.HasPrefix(p.Path, in.Target+"/")) {
			return in.Source
		}
	}
	switch {
	case p.Path == "/etc/os-release", strings.Contains(p.Path, "/extension-release.d/"):
		return "osRelease"
	case p.Path != "":
		return p.Path
	case p.Rule == "no-matching-units":
		return "units"
	case p.Rule == "image-name":
		return "name"
	case strings.HasPrefix(p.Rule, "extension-release"):
		return "osRelease"
	}
	return "spec"
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

// osRelease returns the /etc/os-release of spec's image: the fields
// portabled and systemd read, in a fixed order, then spec.OSRelease's
// extra fields sorted; spec.OSRelease overrides a field of the same name.
// Every value is checked where it enters (portable.CheckOSReleaseField),
// naming the spec field it came from.
func osRelease(s Spec) ([]byte, error) {
	pretty := s.Description
	if pretty == "" {
		pretty = s.Name + " " + s.Version
	}
	fields := []releaseField{
		{"ID", strings.ToLower(s.Name), "name"},
		{"PRETTY_NAME", pretty, "description"},
		{"VERSION_ID", s.Version, "version"},
		{"BUILD_ID", s.Version, "version"},
		{"PORTABLE_ID", s.Name, "name"},
		{"PORTABLE_PRETTY_NAME", pretty, "description"},
		{"PORTABLE_PREFIXES", s.Name, "name"},
	}
	if len(s.Matches) > 0 {
		fields[len(fields)-1] = releaseField{"PORTABLE_PREFIXES", strings.Join(s.Matches, " "), "matches"}
	}
	if s.Homepage != "" {
		fields = append(fields, releaseField{"HOME_URL", s.Homepage, "homepage"})
	}
	return releaseFile(fields, s.OSRelease)
}

// releaseField is a field of a release file and the spec input its value
// came from.
type releaseField struct{ key, value, input string }

// releaseFile returns fields as a release file, after the spec's
// osRelease fields, sorted, override those of the same name or follow.
// Every value is checked (portable.CheckOSReleaseField), with one error
// per spec input and value: a description that fills PRETTY_NAME and
// PORTABLE_PRETTY_NAME is one mistake, reported once.
func releaseFile(fields []releaseField, overrides map[string]string) ([]byte, error) {
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		if i := slices.IndexFunc(fields, func(f releaseField) bool { return f.key == k }); i >= 0 {
			fields[i] = releaseField{k, overrides[k], "osRelease"}
		} else {
			fields = append(fields, releaseField{k, overrides[k], "osRelease"})
		}
	}
	var errs []error
	reported := make(map[[2]string]bool)
	kv := make([][2]string, len(fields))
	for i, f := range fields {
		kv[i] = [2]string{f.key, f.value}
		if reported[[2]string{f.input, f.value}] {
			continue
		}
		if err := portable.CheckOSReleaseField(f.key, f.value); err != nil {
			reported[[2]string{f.input, f.value}] = true
			errs = append(errs, &CheckError{f.input, err.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return portable.FormatOSRelease(kv)
}

// extensionRelease returns the release file of an extension image, in a
// fixed order: ID=_any (the extension runs on any OS: a Nix closure or a
// static program needs nothing of the host), ARCHITECTURE= of a sysext
// (its programs run on one architecture; a confext's files do not), the
// image's name and version as SYSEXT_ID= and SYSEXT_VERSION_ID= (CONFEXT_
// for a confext), then spec.OSRelease's fields sorted, which override
// these: ID= and VERSION_ID= (or SYSEXT_LEVEL=) to match one OS, or the
// portable image an extension is for; EXTENSION_RELOAD_MANAGER=1;
// SYSEXT_SCOPE=; PORTABLE_PREFIXES=.
func extensionRelease(s Spec, set settings) ([]byte, error) {
	prefix := "SYSEXT_"
	if set.kind == portable.KindConfext {
		prefix = "CONFEXT_"
	}
	fields := []releaseField{{"ID", "_any", "kind"}}
	if set.kind == portable.KindSysext {
		fields = append(fields, releaseField{"ARCHITECTURE", set.arch, "architecture"})
	}
	fields = append(fields, releaseField{prefix + "ID", s.Name, "name"}, releaseField{prefix + "VERSION_ID", s.Version, "version"})
	return releaseFile(fields, s.OSRelease)
}

// readUnit reads a unit file of the spec: a regular file (a device could
// be read forever, a FIFO block the open) of at most unit.MaxSize bytes.
func readUnit(name string) ([]byte, error) {
	info, err := os.Stat(name)
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot read unit: %w", errors.Unwrap(err))
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("unit is %s, not a regular file", portable.DescribeMode(info.Mode()))
	case info.Size() > unit.MaxSize:
		return nil, fmt.Errorf("unit is %d bytes, more than the %d a unit may have", info.Size(), unit.MaxSize)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read unit: %w", errors.Unwrap(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, unit.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read unit: %w", err)
	}
	if len(data) > unit.MaxSize {
		return nil, fmt.Errorf("unit grew past the %d bytes a unit may have while it was read", unit.MaxSize)
	}
	return data, nil
}
