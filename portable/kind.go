package portable

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"unicode/utf8"
)

// Kind is the kind of image checked: a portable service, attached by
// portablectl, or an extension merged over the host's directories by
// systemd-sysext (system extensions, /usr and /opt) or systemd-confext
// (configuration extensions, /etc; systemd 254 and later).
type Kind string

const (
	// KindPortable is a portable service image (the zero Kind).
	KindPortable Kind = ""
	// KindSysext is a system extension image.
	KindSysext Kind = "sysext"
	// KindConfext is a configuration extension image.
	KindConfext Kind = "confext"
)

// Kinds are the kinds' names, as ParseKind takes them.
var Kinds = []string{"portable", "sysext", "confext"}

// ParseKind returns the Kind named s: "portable" (or ""), "sysext" or
// "confext". Other names wrap ErrKind.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "", "portable":
		return KindPortable, nil
	case "sysext":
		return KindSysext, nil
	case "confext":
		return KindConfext, nil
	}
	return KindPortable, fmt.Errorf("%w: %q (want portable, sysext or confext)", ErrKind, s)
}

// String returns the kind's name: "portable", "sysext" or "confext".
func (k Kind) String() string {
	if k == KindPortable {
		return "portable"
	}
	return string(k)
}

// Since is the first systemd version that has kind k: 254 for a confext
// (systemd-confext), 0 for the others (every modelled version).
func (k Kind) Since() int {
	if k == KindConfext {
		return confextSince
	}
	return 0
}

// IsExtension reports whether k is a system or configuration extension.
func (k Kind) IsExtension() bool { return k == KindSysext || k == KindConfext }

// Hierarchies are the top-level directories of the image an extension of
// kind k contributes: systemd-sysext merges /usr and /opt
// (SYSTEMD_SYSEXT_HIERARCHIES' default, v252 and v257), systemd-confext
// /etc. Anything else in the image is never seen. A portable image has
// none: its whole tree is the service's root.
func (k Kind) Hierarchies() []string {
	switch k {
	case KindSysext:
		return []string{"/usr", "/opt"}
	case KindConfext:
		return []string{"/etc"}
	}
	return nil
}

// ReleaseDir is the directory of an extension's release file:
// /usr/lib/extension-release.d for a sysext, /etc/extension-release.d for a
// confext; "" for a portable image.
func (k Kind) ReleaseDir() string {
	switch k {
	case KindSysext:
		return "/usr/lib/extension-release.d"
	case KindConfext:
		return "/etc/extension-release.d"
	}
	return ""
}

// ExtensionReleasePath is where an extension of kind k named name carries
// its release file, the one systemd looks for first:
// ReleaseDir()/extension-release.NAME.
func ExtensionReleasePath(k Kind, name string) string {
	return path.Join(k.ReleaseDir(), "extension-release."+name)
}

// StrictXattr is the extended attribute of a release file that, set to
// "0" (false), lets systemd use it when its name does not match the image
// name (the file was renamed on deployment, NAME_VERSION.raw say): systemd
// 252 then takes the only extension-release.* file of the directory that
// carries it. Builders set it so that a versioned file name works.
const StrictXattr = "user.extension-release.strict"

// LevelKey is the os-release field holding the extension API level a
// release file may match instead of VERSION_ID: SYSEXT_LEVEL, or
// CONFEXT_LEVEL for a confext (from 254; 252 knows only SYSEXT_LEVEL).
func (k Kind) LevelKey() string {
	if k == KindConfext {
		return "CONFEXT_LEVEL"
	}
	return "SYSEXT_LEVEL"
}

// ScopeKey is the release field that limits where an extension is used:
// SYSEXT_SCOPE, or CONFEXT_SCOPE for a confext.
func (k Kind) ScopeKey() string {
	if k == KindConfext {
		return "CONFEXT_SCOPE"
	}
	return "SYSEXT_SCOPE"
}

// DetectKind guesses the kind of the image whose root is fsys from what it
// carries: /usr/lib/extension-release.d makes it a sysext,
// /etc/extension-release.d a confext; anything else is a portable image.
func DetectKind(fsys fs.FS) Kind {
	for _, k := range []Kind{KindSysext, KindConfext} {
		if info, err := fs.Stat(fsys, strings.TrimPrefix(k.ReleaseDir(), "/")); err == nil && info.IsDir() {
			return k
		}
	}
	return KindPortable
}

// Architectures are systemd's architecture names (architecture_to_string,
// the same in v252 and v257), the values ARCHITECTURE= may take besides
// "_any".
var Architectures = []string{
	"arm64", "arm64-be", "arm", "arm-be", "alpha", "arc", "arc-be", "cris", "x86-64", "x86", "ia64",
	"loongarch64", "m68k", "mips64-le", "mips64", "mips-le", "mips", "nios2", "parisc64", "parisc",
	"ppc64-le", "ppc64", "ppc", "ppc-le", "riscv32", "riscv64", "s390x", "s390", "sh64", "sh",
	"sparc64", "sparc", "tilegx",
}

// imageNameValid is systemd's image_name_is_valid: a valid file name (not
// empty, ".", "..", longer than 255 bytes or holding '/'), no control
// characters, UTF-8, not starting with ".#".
func imageNameValid(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 || strings.ContainsRune(s, '/') {
		return false
	}
	if !utf8.ValidString(s) || strings.HasPrefix(s, ".#") {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

// stripRawSuffixes is raw_strip_suffixes, how systemd names the image of a
// file when it dissects it (the name an extension's release file must
// carry): the base name without any of .xz .gz .bz2 .raw .qcow2 .img .bin
// (257: also .sysext.raw and .confext.raw), stripped repeatedly.
func stripRawSuffixes(file string, v int) string {
	suffixes := []string{".xz", ".gz", ".bz2", ".raw", ".qcow2", ".img", ".bin"}
	if v >= 257 {
		suffixes = []string{".xz", ".gz", ".bz2", ".sysext.raw", ".confext.raw", ".raw", ".qcow2", ".img", ".bin"}
	}
	name := path.Base(file)
	for changed := true; changed; {
		changed = false
		for _, s := range suffixes {
			if n, ok := strings.CutSuffix(name, s); ok {
				name, changed = n, true
			}
		}
	}
	return name
}

// baseImageName is 257's path_extract_image_name: the name without an
// image suffix and without the version after the first '_' or '+'. A
// release file of that name matches without StrictXattr from 257 on.
func baseImageName(name string) string {
	for _, s := range []string{".sysext.raw", ".confext.raw", ".raw"} {
		if n, ok := strings.CutSuffix(name, s); ok {
			name = n
			break
		}
	}
	if i := strings.IndexAny(name, "_+"); i >= 0 {
		name = name[:i]
	}
	return name
}

// parseBoolean is systemd's parse_boolean: ok is false for anything it
// does not take.
func parseBoolean(s string) (v, ok bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}
