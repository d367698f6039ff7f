package portable

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/mkportable/mkportable/internal/pathwalk"
	"github.com/mkportable/mkportable/squashfs"
)

// This file holds the rules of extension images: what systemd-sysext and
// systemd-confext merge (src/sysext/sysext.c), how they find an image's
// release file (open_extension_release, src/basic/os-util.c) and when it
// matches (extension_release_validate, src/shared/extension-release.c in
// v252, extension-util.c in v257); and what portabled takes as an extension
// of a portable image (src/portable/portable.c), checked against that
// image's os-release.

// The first systemd versions with systemd-confext, and with
// EXTENSION_RELOAD_MANAGER= (NEWS).
const (
	confextSince = 254
	reloadSince  = 255
)

// findRelease finds the release file of the extension image im named name,
// of kind k, as systemd version v's open_extension_release does without
// relaxing the check: ReleaseDir/extension-release.NAME (symlinks
// resolved in the image); else the one regular file
// ReleaseDir/extension-release.X whose StrictXattr is false (from 257 on,
// also X equal to the name without its version, NAME_VERSION giving NAME).
// It returns the path, or "" and why there is none.
func (im *image) findRelease(k Kind, name string, v int) (string, string, error) {
	exact := ExtensionReleasePath(k, name)
	if !imageNameValid(name) {
		return "", fmt.Sprintf("%q is not a valid image name", name), nil
	}
	_, _, err := im.stat(exact)
	if err == nil {
		return exact, "", nil
	}
	if cerr := im.ctx.Err(); cerr != nil {
		return "", "", context.Cause(im.ctx)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Sprintf("%s: %v", exact, err), nil
	}
	dir := k.ReleaseDir()
	info, real, err := im.stat(dir)
	if err != nil || !info.IsDir() {
		return "", fmt.Sprintf("no %s, and no %s directory", exact, dir), nil
	}
	entries, err := im.readDir(real)
	if err != nil {
		if cerr := im.ctx.Err(); cerr != nil {
			return "", "", context.Cause(im.ctx)
		}
		return "", fmt.Sprintf("%s: %v", dir, err), nil
	}
	base := baseImageName(name)
	var found, skipped []string
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), "extension-release.")
		if !ok || !e.Type().IsRegular() || !imageNameValid(suffix) {
			continue
		}
		p := path.Join(dir, e.Name())
		if v < 257 || suffix != base {
			if strict, ok := im.strictXattr(path.Join(real, e.Name()), v); !ok || strict {
				skipped = append(skipped, p)
				continue
			}
		}
		found = append(found, p)
	}
	switch {
	case len(found) == 1:
		return found[0], "", nil
	case len(found) > 1:
		return "", fmt.Sprintf("no %s, and %d other release files that could stand for it (%s): systemd refuses to pick one (ENOTUNIQ)", exact, len(found), strings.Join(found, ", ")), nil
	case len(skipped) > 0:
		return "", fmt.Sprintf("no %s; %s is not used for it without the extended attribute %s=0 (or, from 257 on, the name extension-release.%s)", exact, strings.Join(skipped, ", "), StrictXattr, base), nil
	}
	return "", fmt.Sprintf("no %s", exact), nil
}

// strictXattr reads a release file's StrictXattr as systemd version v
// parses it; ok is false when it is missing or not a boolean, which makes
// systemd skip the file.
func (im *image) strictXattr(p string, v int) (strict, ok bool) {
	info, err := im.fsys.Lstat(strings.TrimPrefix(p, "/"))
	if err != nil {
		return false, false
	}
	ii, isSquash := info.Sys().(*squashfs.InodeInfo)
	if !isSquash {
		return false, false
	}
	val, present := ii.Xattrs[StrictXattr]
	if !present {
		return false, false
	}
	s := string(val)
	if i := strings.IndexByte(s, 0); i >= 0 {
		if v >= 257 {
			return false, false // getxattr_at_bool refuses an embedded NUL
		}
		s = s[:i] // 252 reads it as a C string
	}
	return parseBoolean(s)
}

// loadRelease finds and parses the release file of an extension; it
// returns "" and the reason when systemd finds none it can use.
func (im *image) loadRelease(k Kind, name string, v int) (string, map[string]string, string, error) {
	p, why, err := im.findRelease(k, name, v)
	if err != nil || p == "" {
		return "", nil, why, err
	}
	data, err := im.readFile(p)
	if err != nil {
		if cerr := im.ctx.Err(); cerr != nil {
			return "", nil, "", context.Cause(im.ctx)
		}
		return "", nil, fmt.Sprintf("%s: %v", p, err), nil
	}
	fields, err := ParseOSRelease(data, v)
	if err != nil {
		return "", nil, fmt.Sprintf("%s: %v", p, err), nil
	}
	return p, fields, "", nil
}

// scopes are the uses SYSEXT_SCOPE= and CONFEXT_SCOPE= name: merged on a
// running system, in the initrd, or attached with a portable image.
var scopes = []string{"system", "initrd", "portable"}

// host is what an extension's release is compared with: the running
// system's os-release for sysext and confext, which no image check knows
// (nil), or a portable image's.
type host map[string]string

// validateRelease applies extension_release_validate as systemd version v
// runs it for an extension of kind k in scope ("system" for merging,
// "portable" for attaching), against h, or against any host when h is nil:
// then what depends on the host is a note. sev is the severity of a
// mismatch; where is the release file's path.
func (c *checker) validateRelease(k Kind, fields map[string]string, scope string, h host, sev Severity, rule, where, what string) {
	if len(fields) == 0 {
		c.add(sev, rule+"-empty", where, "carries no fields: %s", what)
		return
	}
	scopeKey := "SYSEXT_SCOPE"
	if c.v >= 257 {
		scopeKey = k.ScopeKey()
	}
	if s, ok := fields[scopeKey]; ok && !slices.Contains(strings.Fields(s), scope) {
		if other := slices.DeleteFunc(strings.Fields(s), func(x string) bool { return !slices.Contains(scopes, x) }); h == nil && len(other) > 0 {
			// Declared for other uses only: that is not a mistake.
			c.add(Note, rule+"-scope", where, "%s=%q: for %s only; %s", scopeKey, s, strings.Join(other, " and "), what)
		} else {
			c.add(sev, rule+"-scope", where, "%s=%q does not list %q: %s", scopeKey, s, scope, what)
		}
	}
	if a := fields["ARCHITECTURE"]; a != "" && a != "_any" {
		if !slices.Contains(Architectures, a) {
			c.add(sev, rule+"-architecture", where, "ARCHITECTURE=%q is none of systemd's architectures (%s, or _any), so it matches no machine: %s", a, strings.Join(Architectures[:10], ", ")+", ...", what)
		} else {
			c.add(Note, rule+"-architecture", where, "ARCHITECTURE=%s: used only on %s machines (systemd compares it with uname's)", a, a)
		}
	}
	id := fields["ID"]
	if id == "" {
		c.add(sev, rule+"-no-id", where, "no ID= (or an empty one); ID=_any matches every OS: %s", what)
		return
	}
	if id == "_any" {
		return
	}
	level := fields[k.LevelKey()]
	if c.v < 257 {
		level = fields["SYSEXT_LEVEL"]
	}
	version := fields["VERSION_ID"]
	if h == nil {
		like := ""
		if c.v >= 257 {
			like = " (or listing it in ID_LIKE=)"
		}
		c.add(Note, rule+"-host", where, "ID=%s: used only on hosts whose os-release says ID=%s%s, and %s", id, id, like, versionNeed(k, c.v, version, level))
		if version == "" && level == "" {
			c.add(sev, rule+"-no-version", where, "ID=%s without VERSION_ID= or %s=: refused on every host whose os-release has VERSION_ID= (all but rolling releases); give the host's VERSION_ID= or ID=_any", id, levelKeyFor(k, c.v))
		}
		return
	}
	var like []string
	if c.v >= 257 {
		like = strings.Fields(h["ID_LIKE"])
	}
	if id != h["ID"] && !slices.Contains(like, id) {
		c.add(sev, rule+"-mismatch", where, "ID=%s, but the portable image's os-release says ID=%s%s: %s", id, h["ID"], likeNote(like), what)
		return
	}
	hostLevel := h[levelKeyFor(k, c.v)]
	hostVersion := h["VERSION_ID"]
	switch {
	case hostVersion == "" && hostLevel == "":
	case hostLevel != "" && level != "":
		if hostLevel != level {
			c.add(sev, rule+"-mismatch", where, "%s=%s, but the portable image's os-release says %s=%s: %s", levelKeyFor(k, c.v), level, levelKeyFor(k, c.v), hostLevel, what)
		}
	case hostVersion != "":
		if version != hostVersion {
			c.add(sev, rule+"-mismatch", where, "VERSION_ID=%q, but the portable image's os-release says VERSION_ID=%s: %s", version, hostVersion, what)
		}
	}
}

func levelKeyFor(k Kind, v int) string {
	if v < 257 {
		return "SYSEXT_LEVEL"
	}
	return k.LevelKey()
}

func likeNote(like []string) string {
	if len(like) == 0 {
		return ""
	}
	return " (ID_LIKE=" + strings.Join(like, " ") + ")"
}

// versionNote says what a host must have for a release's versions.
func versionNeed(k Kind, v int, version, level string) string {
	lk := levelKeyFor(k, v)
	switch {
	case version != "" && level != "":
		return fmt.Sprintf("%s=%s if the host sets %s=, else VERSION_ID=%s", lk, level, lk, version)
	case level != "":
		return fmt.Sprintf("%s=%s (a host that sets no %s= but VERSION_ID=, as Debian does, refuses it)", lk, level, lk)
	case version != "":
		return fmt.Sprintf("VERSION_ID=%s (or neither VERSION_ID= nor %s=)", version, lk)
	}
	return "no VERSION_ID= nor " + lk + "= (a rolling release)"
}

// extension checks an image of an extension kind for one version, as
// `systemd-sysext merge` or `systemd-confext merge` treats it once it is
// in /var/lib/extensions or /var/lib/confexts. Refused means it is not
// merged; ignored, that it is merged without something it carries.
func (c *checker) extension() error {
	k := c.opts.Kind
	tool := "systemd-sysext"
	if k == KindConfext {
		tool = "systemd-confext"
	}
	c.r.Matches = []string{}
	c.r.Profile = ""
	file := path.Base(c.opts.FileName)
	name := stripRawSuffixes(file, c.v)
	c.r.Name = name
	if k == KindConfext && c.v < confextSince {
		c.add(Refused, "confext-unsupported", "", "systemd %d has no systemd-confext (it came in %d): nothing merges a configuration extension", c.v, confextSince)
		return nil
	}
	if !strings.HasSuffix(file, ".raw") {
		c.add(Refused, "extension-file-name", "", "%s is not NAME.raw: %s merges only .raw files (and directories) of its search path (/etc, /run, /var/lib and /usr/lib /%s)", file, tool, extensionsDir(k))
	}
	skip := fmt.Sprintf("%s merge skips the image (\"No suitable extensions found\")", tool)
	p, fields, why, err := c.im.loadRelease(k, name, c.v)
	if err != nil {
		return err
	}
	if p == "" {
		c.add(Refused, "no-extension-release", "", "%s: %s; an extension of image %q carries %s", why, skip, name, ExtensionReleasePath(k, name))
	} else {
		c.r.ExtensionReleasePath, c.r.ExtensionRelease = p, fields
		c.validateRelease(k, fields, "system", nil, Refused, "extension-release", p, skip)
	}
	if err := c.forbidden(); err != nil {
		return err
	}
	if v, ok := fields["EXTENSION_RELOAD_MANAGER"]; ok && p != "" {
		b, valid := parseBoolean(v)
		switch {
		case c.v < reloadSince && b:
			c.add(Ignored, "extension-reload-manager", p, "EXTENSION_RELOAD_MANAGER=%s: systemd %d does not read it (%d and later reload the service manager after merging): run `systemctl daemon-reload` for units the extension adds", v, c.v, reloadSince)
		case c.v >= reloadSince && !valid:
			c.add(Ignored, "extension-reload-manager", p, "EXTENSION_RELOAD_MANAGER=%q is not a boolean: %s warns and does not reload the service manager", v, tool)
		}
	}
	return c.hierarchies(k, tool)
}

func extensionsDir(k Kind) string {
	if k == KindConfext {
		return "confexts"
	}
	return "extensions"
}

// forbidden refuses an extension that carries /usr/lib/os-release, which
// would replace the host's ("Extension image contains /usr/lib/os-release
// file, which is not allowed"; v252 and v257).
func (c *checker) forbidden() error {
	_, _, err := c.im.stat("/usr/lib/os-release")
	if err == nil {
		c.add(Refused, "extension-os-release", "/usr/lib/os-release", "an extension must not carry /usr/lib/os-release, which would hide the host's: systemd refuses the image (/etc/os-release is allowed, never merged)")
	} else if cerr := c.im.ctx.Err(); cerr != nil {
		return context.Cause(c.im.ctx)
	}
	return nil
}

// hierarchies notes what an extension carries outside the directories its
// kind merges: it is never seen.
func (c *checker) hierarchies(k Kind, tool string) error {
	entries, err := c.im.readDir("/")
	if err != nil {
		if cerr := c.im.ctx.Err(); cerr != nil {
			return context.Cause(c.im.ctx)
		}
		return nil
	}
	var outside []string
	for _, e := range entries {
		if !slices.Contains(k.Hierarchies(), "/"+e.Name()) {
			outside = append(outside, "/"+e.Name())
		}
	}
	if len(outside) > 0 {
		c.add(Ignored, "outside-hierarchies", "", "%s merges only %s; %s of the image are never seen", tool, strings.Join(k.Hierarchies(), " and "), strings.Join(outside, ", "))
	}
	return nil
}

// ExtensionInfo is what Check found of an extension of a portable image.
type ExtensionInfo struct {
	File string `json:"file"`
	// Name is the image name its release file must carry.
	Name string `json:"name"`
	// ReleasePath and Release are its release file; "" and nil when
	// portabled finds none.
	ReleasePath string            `json:"releasePath"`
	Release     map[string]string `json:"release"`
}

// extensions checks the extension images a portable image is attached
// with, as portabled does before it attaches anything (portable.c,
// portable_extract): each must carry a release file named after it
// (/usr/lib/extension-release.d; from 257 on also /etc/extension-release.d)
// matching the portable image's os-release in scope "portable", else
// attach is refused ("extension-release metadata does not match the
// root's"). Their PORTABLE_PREFIXES= add to the image's, and the service
// sees their /usr and /opt over the image's.
func (c *checker) extensions() error {
	c.view = c.im
	if len(c.opts.Extensions) == 0 {
		return nil
	}
	if len(c.opts.Extensions) > maxLayers {
		return fmt.Errorf("portable: %d extensions, at most %d are checked", len(c.opts.Extensions), maxLayers)
	}
	var layers []fs.ReadLinkFS
	for _, e := range c.opts.Extensions {
		im, err := newImage(c.im.ctx, e.FS)
		if err != nil {
			return fmt.Errorf("extension %s: %w", e.FileName, err)
		}
		c.exts = append(c.exts, extImage{file: e.FileName, im: im})
		layers = append(layers, im.fsys)
		name := stripRawSuffixes(e.FileName, c.v)
		info := ExtensionInfo{File: e.FileName, Name: name}
		refuse := fmt.Sprintf("portabled refuses to attach with extension %s", path.Base(e.FileName))
		k := KindSysext
		p, fields, why, err := im.loadRelease(k, name, c.v)
		if err != nil {
			return err
		}
		if p == "" && c.v >= 257 {
			if p2, f2, _, err := im.loadRelease(KindConfext, name, c.v); err != nil {
				return err
			} else if p2 != "" {
				k, p, fields = KindConfext, p2, f2
			}
		}
		where := e.FileName + ":" + p
		if p == "" {
			c.add(Refused, "extension-no-release", e.FileName, "%s: %s (252: \"Image ... lacks extension-release data, refusing.\"); it must carry %s", why, refuse, ExtensionReleasePath(KindSysext, name))
			c.r.Extensions = append(c.r.Extensions, info)
			continue
		}
		info.ReleasePath, info.Release = p, fields
		c.r.Extensions = append(c.r.Extensions, info)
		if c.r.OSRelease["ID"] != "" {
			c.validateRelease(k, fields, "portable", host(c.r.OSRelease), Refused, "extension-release", where,
				refuse+" (\"extension-release metadata does not match the root's\")")
		}
		if c.v >= 257 {
			if _, _, err := im.stat("/usr/lib/os-release"); err == nil {
				c.add(Refused, "extension-os-release", e.FileName+":/usr/lib/os-release", "an extension must not carry /usr/lib/os-release: %s", refuse)
			}
		}
		if v := fields["PORTABLE_PREFIXES"]; v != "" {
			c.prefixes = append(c.prefixes, strings.Fields(v)...)
			if c.prefixesFrom == "" {
				c.prefixesFrom = where
			}
		}
	}
	c.view = &image{fsys: newOverlay(c.im.fsys, layers, KindSysext.Hierarchies()), ctx: c.im.ctx}
	if rl, ok := pathwalk.Rooted(c.view.fsys).(fs.ReadLinkFS); ok {
		c.view.fsys = rl
	}
	return nil
}
