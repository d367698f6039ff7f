package portable

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/mkportable/mkportable/unit"
)

var (
	// ErrProfile is an unknown profile name.
	ErrProfile = errors.New("unknown portable profile")
	// ErrKind is a Kind the rules do not model.
	ErrKind = errors.New("image kind not modelled")
)

// Options say how the image is to be attached.
type Options struct {
	// FileName is the image's file name (or path): without Matches,
	// portablectl matches units by the name it derives from it
	// (ImageName).
	FileName string
	// Matches are the prefixes given to portablectl attach after the
	// image; none means the image name.
	Matches []string
	// Profile is the --profile of portablectl attach; "" means "default".
	Profile string
	// Kind is the kind of image; the zero value is a portable service.
	// For an extension (KindSysext, KindConfext), FileName is required and
	// Matches and Profile are not used.
	Kind Kind
	// Extensions are the extension images a portable image is attached
	// with (portablectl attach --extension FILE), lowest first.
	Extensions []Extension
}

// Extension is an extension image of a portable image.
type Extension struct {
	// FileName is the image's file name (or path): its release file is
	// named after it.
	FileName string
	// FS is the image's root, as for Check.
	FS fs.FS
}

// unitDirs are the directories portabled searches an image for units, in
// its order: systemd's system unit search path as lookup_paths_init builds
// it with a root directory and LOOKUP_PATHS_SPLIT_USR
// (src/basic/path-lookup.c; the same list in v252 and v257). A unit name
// found twice is taken from the first directory.
var unitDirs = []string{
	"/etc/systemd/system.control", "/run/systemd/system.control", "/run/systemd/transient",
	"/run/systemd/generator.early", "/etc/systemd/system", "/etc/systemd/system.attached",
	"/run/systemd/system", "/run/systemd/system.attached", "/run/systemd/generator",
	"/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system",
	"/run/systemd/generator.late",
}

// maxIgnoredUnits bounds the ignored-unit problems listed one by one; an
// OS image carries hundreds of units for other matches.
const maxIgnoredUnits = 20

// Check examines the image whose root is fsys as portablectl attach, with
// opts, and the services it starts, would treat it under every systemd
// version in Versions, and returns what it found. fsys is read through
// pathwalk.Rooted, so it must implement fs.ReadLinkFS (squashfs.Reader,
// the FS of a squashfs.Tree and fstest.MapFS do). Errors are for bad
// options (ErrProfile, ErrKind), a file system that cannot show symlinks,
// and a cancelled ctx; everything wrong with the image is a Problem.
func Check(ctx context.Context, fsys fs.FS, opts Options) (*Report, error) {
	switch {
	case opts.Kind.IsExtension():
		if opts.FileName == "" {
			return nil, errors.New("portable: Check needs the file name of an extension image: its release file is named after it")
		}
		if len(opts.Extensions) > 0 {
			return nil, fmt.Errorf("portable: a %s has no extensions of its own", opts.Kind)
		}
	case opts.Kind != KindPortable:
		return nil, fmt.Errorf("%w: %q", ErrKind, opts.Kind)
	default:
		if opts.Profile == "" {
			opts.Profile = "default"
		}
		if _, err := profileFor(opts.Profile, Versions[0]); err != nil {
			return nil, err
		}
		if len(opts.Matches) == 0 && opts.FileName == "" {
			return nil, errors.New("portable: Check needs a file name or matches")
		}
	}
	im, err := newImage(ctx, fsys)
	if err != nil {
		return nil, err
	}
	var runs []*Report
	for _, v := range Versions {
		c := &checker{im: im, opts: opts, v: v, r: &Report{Kind: opts.Kind.String(), Profile: opts.Profile, OSRelease: map[string]string{}}}
		if err := c.run(); err != nil {
			return nil, err
		}
		runs = append(runs, c.r)
	}
	return merge(runs), nil
}

// merge joins the reports of each version into one: a problem found for
// some versions only gets Since and Before bounding them (unless its rule
// set them), a unit is attached if every version attaches it.
func merge(runs []*Report) *Report {
	out := *runs[len(runs)-1]
	out.Problems, out.MountPoints, out.Units = nil, nil, nil
	type seen struct {
		p        Problem
		versions []int
	}
	var problems []*seen
	for i, r := range runs {
		for _, p := range r.Problems {
			j := slices.IndexFunc(problems, func(s *seen) bool { return s.p == p })
			if j < 0 {
				problems = append(problems, &seen{p: p})
				j = len(problems) - 1
			}
			problems[j].versions = append(problems[j].versions, Versions[i])
		}
	}
	for _, s := range problems {
		p := s.p
		if p.Since == 0 && p.Before == 0 {
			p.Since, p.Before = span(s.versions)
		}
		out.add(p)
	}
	out.sortProblems()
	// A mount point is listed once, with the versions that need it.
	for i, r := range runs {
		for _, m := range r.MountPoints {
			if slices.ContainsFunc(out.MountPoints, func(x MountPoint) bool { return x.Path == m.Path }) {
				continue
			}
			var vs []int
			for j, rr := range runs[i:] {
				if slices.ContainsFunc(rr.MountPoints, func(x MountPoint) bool { return x.Path == m.Path }) {
					vs = append(vs, Versions[i+j])
				}
			}
			m.Since, m.Before = span(vs)
			out.MountPoints = append(out.MountPoints, m)
		}
	}
	for i, r := range runs {
		for _, u := range r.Units {
			j := slices.IndexFunc(out.Units, func(x Unit) bool { return x.Name == u.Name })
			if j < 0 {
				if i > 0 {
					u.Attached = false // absent from an earlier version
				}
				out.Units = append(out.Units, u)
				continue
			}
			out.Units[j].Attached = out.Units[j].Attached && u.Attached
		}
	}
	for j := range out.Units {
		for _, r := range runs {
			if !slices.ContainsFunc(r.Units, func(x Unit) bool { return x.Name == out.Units[j].Name }) {
				out.Units[j].Attached = false
			}
		}
	}
	if out.Units == nil {
		out.Units = []Unit{}
	}
	if out.MountPoints == nil {
		out.MountPoints = []MountPoint{}
	}
	if out.Problems == nil {
		out.Problems = []Problem{}
	}
	return &out
}

// span turns the modelled versions a finding holds for into Since and
// Before: 0, 0 for all of them; otherwise from the first version it holds
// for up to the next one it does not.
func span(vs []int) (since, before int) {
	if len(vs) == len(Versions) {
		return 0, 0
	}
	first := slices.Index(Versions, vs[0])
	if first > 0 {
		since = vs[0]
	}
	next := first + len(vs)
	if next < len(Versions) {
		before = Versions[next]
	}
	return since, before
}

// checker checks an image for one systemd version.
type checker struct {
	im   *image
	opts Options
	v    int
	r    *Report
	prof profile
	// ignoredUnits counts unit-not-matched problems, of which the first
	// maxIgnoredUnits are listed.
	ignoredUnits int
	attached     map[string]string // unit name -> path
	// prefixes are PORTABLE_PREFIXES of the image and its extensions;
	// prefixesFrom is the image's os-release path when it sets them.
	prefixes     []string
	prefixesFrom string
	// exts are the extension images portabled takes units from, in
	// order; view is the root the service sees, the image with the
	// extensions stacked over it (the image alone without extensions).
	exts []extImage
	view *image
}

// extImage is an extension image of a portable image ("" file: the image
// itself).
type extImage struct {
	file string
	im   *image
}

// label is how a problem names path p of the image: FILE:P in an
// extension.
func (e extImage) label(p string) string {
	if e.file == "" {
		return p
	}
	return e.file + ":" + p
}

func (c *checker) add(sev Severity, rule, p, format string, args ...any) {
	c.r.add(Problem{Severity: sev, Rule: rule, Path: p, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) run() error {
	if c.opts.Kind.IsExtension() {
		return c.extension()
	}
	c.prof, _ = profileFor(c.opts.Profile, c.v)
	if !c.matches() {
		return nil // portablectl refuses before asking portabled anything
	}
	if err := c.osRelease(); err != nil {
		return err
	}
	if err := c.extensions(); err != nil {
		return err
	}
	c.checkPrefixes()
	if err := c.units(); err != nil {
		return err
	}
	return nil
}

// matches sets the report's name and matches as portablectl's
// determine_matches does for attach: the given matches, or else the name
// derived from the file name. It reports false when portablectl refuses
// to go on.
func (c *checker) matches() bool {
	var nameErr error
	if c.opts.FileName != "" {
		c.r.Name, nameErr = imageName(c.opts.FileName, c.v)
	}
	switch {
	case len(c.opts.Matches) == 0 && nameErr != nil:
		c.r.Matches = []string{}
		c.add(Refused, "image-name", "", "%v: portablectl attach without a match refuses the image (\"Failed to extract prefix of image name\"); rename the file NAME_VERSION.raw with NAME of letters, digits, '-' and '.', or give the match", nameErr)
		return false
	case len(c.opts.Matches) == 0:
		c.r.Matches = []string{c.r.Name}
	case len(c.opts.Matches) == 1 && c.opts.Matches[0] == "-":
		c.r.Matches = slices.Clone(c.opts.Matches)
		c.add(Refused, "match-all", "", "portablectl attach refuses the match \"-\" (\"Refusing all unit file match\"); only inspect accepts it")
		return false
	default:
		c.r.Matches = slices.Clone(c.opts.Matches)
	}
	return true
}

// osRelease finds and checks os-release as portabled does.
func (c *checker) osRelease() error {
	var found string
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		_, _, err := c.im.stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // chase_symlinks' ENOENT: portabled tries the next
		}
		if err := c.im.ctx.Err(); err != nil {
			return context.Cause(c.im.ctx)
		}
		if err != nil {
			c.add(Refused, "os-release-unreadable", p, "%v: portabled stops looking at the first os-release it cannot open for any reason but its absence, and refuses the image (\"lacks os-release data\")", err)
			return nil
		}
		found = p
		break
	}
	if found == "" {
		c.add(Refused, "no-os-release", "", "neither /etc/os-release nor /usr/lib/os-release exists: portabled refuses the image (\"Image ... lacks os-release data, refusing.\")")
		return nil
	}
	c.r.OSReleasePath = found
	data, err := c.im.readFile(found)
	var big errTooLarge
	switch {
	case errors.As(err, &big) && big.size > 64<<20-1:
		c.add(Refused, "os-release-too-large", found, "%d bytes: systemd reads at most 64 MiB - 1 of a file (READ_FULL_BYTES_MAX) and refuses the image", big.size)
		return nil
	case errors.As(err, &big):
		c.add(Note, "os-release-too-large", found, "%v: ID= and PORTABLE_PREFIXES= cannot be checked", err)
		return nil
	case err != nil:
		if cerr := c.im.ctx.Err(); cerr != nil {
			return context.Cause(c.im.ctx)
		}
		c.add(Refused, "os-release-unreadable", found, "%v: portabled cannot read it and refuses the image", err)
		return nil
	}
	osrel, err := ParseOSRelease(data, c.v)
	if err != nil {
		c.add(Refused, "os-release-invalid", found, "%v: systemd's parse_env_file fails on it and portabled refuses the image", err)
		return nil
	}
	c.r.OSRelease = osrel
	id := osrel["ID"]
	switch {
	case id == "":
		c.add(Refused, "os-release-no-id", found, "no ID= (or an empty one): portabled refuses the image (\"os-release metadata lacks the ID field\")")
	case !osReleaseID.MatchString(id):
		c.add(Note, "os-release-id-syntax", found, "ID=%q: os-release(5) wants lower-case letters, digits, '.', '_' and '-'; portabled only needs it non-empty", id)
	}
	if v := osrel["PORTABLE_PREFIXES"]; v != "" {
		c.prefixes = strings.Fields(v)
		c.prefixesFrom = found
	}
	return nil
}

// checkPrefixes refuses matches that PORTABLE_PREFIXES, of the image and
// its extensions, does not list.
func (c *checker) checkPrefixes() {
	if c.prefixesFrom == "" {
		return
	}
	var missing []string
	for _, m := range c.r.Matches {
		if !slices.Contains(c.prefixes, m) {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		prefixes := slices.Clone(c.prefixes)
		slices.Sort(prefixes)
		prefixes = slices.Compact(prefixes)
		c.add(Refused, "match-not-in-prefixes", c.prefixesFrom, "PORTABLE_PREFIXES=%q does not list the match %s: portabled refuses (\"Selected matches ... are not compatible with portable service image ..., refusing. (Acceptable prefix matches are: %s)\"); attach with one of those matches or list %s",
			strings.Join(c.prefixes, " "), quoteList(missing), strings.Join(prefixes, ", "), quoteList(missing))
	}
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// units finds the unit files portabled attaches for the matches and checks
// each.
func (c *checker) units() error {
	c.attached = map[string]string{}
	seen := map[string]string{}
	type found struct {
		name, path string // path as reported: FILE:PATH for an extension's
		ipath      string // path in its image
		im         *image
		data       []byte
		big        bool
	}
	var attached []found
	// portabled takes the units of the image, then those of each
	// extension whose names it has not seen (hashmap_move).
	sources := append([]extImage{{im: c.im}}, c.exts...)
	for _, src := range sources {
		for _, dir := range unitDirs {
			if err := src.im.ctx.Err(); err != nil {
				return context.Cause(src.im.ctx)
			}
			info, real, err := src.im.stat(dir)
			if err != nil || !info.IsDir() {
				continue // chase_symlinks_and_opendir fails: portabled skips the directory
			}
			entries, err := src.im.readDir(real)
			if err != nil {
				if cerr := src.im.ctx.Err(); cerr != nil {
					return context.Cause(src.im.ctx)
				}
				continue
			}
			for _, e := range entries {
				if err := src.im.ctx.Err(); err != nil {
					return context.Cause(src.im.ctx)
				}
				name := e.Name()
				ip := path.Join(dir, name)
				p := src.label(ip)
				if !ValidUnitName(name) {
					continue // not a unit to systemd, nor to portabled
				}
				if !matchUnit(name, c.r.Matches) {
					c.notMatched(name, p)
					continue
				}
				if first, dup := seen[name]; dup {
					c.add(Ignored, "unit-shadowed", p, "%s comes first in portabled's search path and is the one attached; this copy is not", first)
					continue
				}
				typ := e.Type()
				if !typ.IsRegular() && typ&fs.ModeSymlink == 0 {
					c.add(Ignored, "unit-not-a-file", p, "is %s: portabled attaches regular files and symlinks only", DescribeMode(typ))
					continue
				}
				if typ&fs.ModeSymlink != 0 {
					target, err := src.im.fsys.ReadLink(strings.TrimPrefix(ip, "/"))
					if err == nil && strings.HasPrefix(target, "/") {
						c.add(Ignored, "unit-absolute-symlink", p, "is a symlink to the absolute path %s: portabled opens units with the image mounted elsewhere, so the target is looked up on the host, not in the image; the unit is not attached (unless the host has that file, which is then attached instead); make the link relative", target)
						continue
					}
				}
				data, err := src.im.readFile(ip)
				var big errTooLarge
				switch {
				case errors.As(err, &big):
					c.add(Note, "unit-too-large", p, "%v: it is attached, but its settings cannot be checked", err)
				case err != nil:
					if cerr := src.im.ctx.Err(); cerr != nil {
						return context.Cause(src.im.ctx)
					}
					c.add(Ignored, "unit-unreadable", p, "%v: portabled cannot open it and skips it", err)
					continue
				}
				if err == nil && len(data) == 0 {
					if c.v >= 257 {
						c.add(Ignored, "unit-empty", p, "is empty: portabled skips empty unit files (\"Unit file ... is empty, ignoring\")")
						continue
					}
					c.add(Fails, "unit-empty", p, "is empty: portabled attaches it, and systemd loads an empty unit file as masked, so it cannot be started")
				}
				seen[name] = p
				attached = append(attached, found{name, p, ip, src.im, data, err != nil})
				c.attached[name] = p
				c.r.Units = append(c.r.Units, Unit{Name: name, Path: ip, Image: src.file, Attached: true})
			}
		}
	}
	if c.ignoredUnits > maxIgnoredUnits {
		c.add(Ignored, "unit-not-matched", "", "%d more units outside the matches %s are not attached", c.ignoredUnits-maxIgnoredUnits, quoteList(c.r.Matches))
	}
	if len(attached) == 0 {
		c.add(Refused, "no-matching-units", "", "no unit file of type .service, .socket, .target, .timer or .path named %s followed by '-', '.', '@' or nothing, in %s or another unit directory: portabled refuses the image (\"Couldn't find any matching unit files in image ..., refusing.\")",
			strings.Join(quoteAll(c.r.Matches), " or "), "/etc/systemd/system, /usr/lib/systemd/system")
		return nil
	}
	// The units' settings are checked against the root the service sees:
	// portabled gives ExtensionImages= only to the units that come from an
	// extension (install_chroot_dropin, 252 and 257); a unit of the image
	// itself runs on the image alone.
	base := c.im
	for _, a := range attached {
		if err := base.ctx.Err(); err != nil {
			return context.Cause(base.ctx)
		}
		c.im = base
		if a.im != base {
			c.im = c.view
		} else if len(c.exts) > 0 && unitType(a.name) == "service" {
			c.add(Note, "extensions-not-for-image-units", a.path, "a unit of the image itself: portabled sets ExtensionImages= only for the units that come from an extension, so this service sees the image without the extensions' files")
		}
		if info, _, err := a.im.stat(a.ipath + ".d"); err == nil && info.IsDir() {
			c.add(Ignored, "unit-dropins", a.path+".d", "portabled copies only the unit file to the host, not its drop-in directory: these settings do not apply")
		}
		if a.big || len(a.data) == 0 {
			continue
		}
		if err := c.unit(a.name, a.path, a.data); err != nil {
			return err
		}
	}
	return nil
}

func quoteAll(ss []string) []string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return q
}

// notMatched records a unit portabled leaves out.
func (c *checker) notMatched(name, p string) {
	if !slices.Contains(portableTypes, unitType(name)) {
		if slices.ContainsFunc(c.r.Matches, func(m string) bool { return prefixMatch(name, m) }) {
			c.add(Ignored, "unit-type-not-attached", p, "portabled attaches .service, .socket, .target, .timer and .path units only; this .%s unit stays in the image, unused", unitType(name))
		}
		return
	}
	c.ignoredUnits++
	if c.ignoredUnits <= maxIgnoredUnits {
		c.add(Ignored, "unit-not-matched", p, "its name does not start with %s followed by '-', '.' or '@': portabled does not attach it with these matches", strings.Join(quoteAll(c.r.Matches), " or "))
	}
	c.r.Units = append(c.r.Units, Unit{Name: name, Path: p, Attached: false})
}

// unit checks one attached unit file.
func (c *checker) unit(name, p string, data []byte) error {
	f, err := unit.Parse(p, data)
	if err != nil {
		msg := err.Error()
		var se *unit.SyntaxError
		if errors.As(err, &se) {
			msg = fmt.Sprintf("line %d: %s", se.Line, se.Msg)
		}
		c.add(Fails, "unit-syntax", p, "%s; the unit does not load, so it cannot start", msg)
		return nil
	}
	for _, w := range f.Warnings {
		c.add(Note, "unit-syntax-warning", p, "line %d: %s", w.Line, w.Msg)
	}
	if isTemplate(name) {
		c.add(Note, "template-not-started", p, "a template: attach --now asks systemd to start it and prints an error (\"Unit name ... is missing the instance name\") that does not fail attach; it runs only as instances (%%i is not known before then)")
	}
	switch unitType(name) {
	case "service":
		return c.service(name, p, f)
	case "socket", "timer", "path":
		c.trigger(name, p, f)
	}
	return nil
}

// trigger checks that the unit a socket, timer or path unit activates is
// attached too: systemd refuses to start the trigger otherwise ("Refusing
// to start, unit ... to trigger not loaded").
func (c *checker) trigger(name, p string, f *unit.File) {
	typ := unitType(name)
	section := map[string]string{"socket": "Socket", "timer": "Timer", "path": "Path"}[typ]
	key := map[string]string{"socket": "Service", "timer": "Unit", "path": "Unit"}[typ]
	stem := strings.TrimSuffix(name, "."+typ)
	target := stem + ".service"
	if typ == "socket" && parseBool(last(f.Values("Socket", "Accept"))) {
		target = stem + "@.service"
	}
	if vals := f.Values(section, key); len(vals) > 0 && last(vals) != "" {
		v, err := expand(last(vals), name)
		if err != nil {
			c.add(Note, "cannot-check", p, "%s=%s: %v", key, last(vals), err)
			return
		}
		target = v
	}
	look := target
	if pre, rest, ok := strings.Cut(target, "@"); ok && ValidUnitName(target) {
		look = pre + "@" + rest[strings.LastIndexByte(rest, '.'):]
	}
	if _, ok := c.attached[target]; ok {
		return
	}
	if _, ok := c.attached[look]; ok {
		return
	}
	c.add(Fails, "trigger-not-attached", p, "activates %s, which is not among the units portabled attaches from this image: systemd refuses to start %s (\"unit to trigger not loaded\") unless the host has that unit", target, name)
}

func last(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[len(ss)-1]
}

// parseBool is systemd's parse_boolean; anything else is false.
func parseBool(s string) bool {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	}
	return false
}
