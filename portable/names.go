package portable

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// ErrImageName is the error of an image file name portablectl cannot
// derive a match from.
var ErrImageName = errors.New("not a valid image name")

// ImageName returns the name portablectl matches units with when attach is
// given no match: the file's base name up to its first '_' (the version
// follows it), or else the base name without ".raw" (portablectl.c's
// extract_prefix, v252 and v257; 257 also strips ".raw.v" and ".v", see
// imageName). The name must be letters, digits, '-' and '.', and a valid
// file name; anything else wraps ErrImageName: portablectl then refuses to
// attach without an explicit match ("Failed to extract prefix of image
// name").
func ImageName(file string) (string, error) { return imageName(file, 252) }

// imageName is ImageName as systemd version v derives it: from 257 on, a
// name without '_' loses a ".raw.v", ".raw" or ".v" suffix.
func imageName(file string, v int) (string, error) {
	base := path.Base(file)
	name, _, found := strings.Cut(base, "_")
	if !found {
		suffixes := []string{".raw"}
		if v >= 257 {
			suffixes = []string{".raw.v", ".raw", ".v"}
		}
		for _, s := range suffixes {
			if n, ok := strings.CutSuffix(base, s); ok {
				name = n
				break
			}
		}
	}
	if err := checkImageName(name); err != nil {
		return name, fmt.Errorf("image name %q from %s: %w: %s", name, base, ErrImageName, err)
	}
	return name, nil
}

// checkImageName is extract_prefix's test: in_charset(DIGITS LETTERS "-.")
// and filename_is_valid (not empty, ".", "..", nor longer than 255 bytes).
func checkImageName(name string) error {
	switch {
	case name == "":
		return errors.New("it is empty")
	case name == "." || name == "..":
		return errors.New(`"." and ".." are not file names`)
	case len(name) > 255:
		return errors.New("it is longer than 255 bytes")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("%q is not a letter, digit, '-' or '.'", c)
		}
	}
	return nil
}

// unitTypes are the unit types systemd knows (unit_type_from_string).
var unitTypes = []string{"service", "mount", "swap", "socket", "target", "device", "automount", "timer", "path", "slice", "scope"}

// portableTypes are the types portabled attaches (portable.c unit_match).
var portableTypes = []string{"service", "socket", "target", "timer", "path"}

// maxUnitName is the longest unit name systemd accepts (UNIT_NAME_MAX - 1).
const maxUnitName = 255

// ValidUnitName reports whether name is a unit name systemd loads
// (unit_name_is_valid with UNIT_NAME_ANY, v252 and v257): at most 255
// bytes, a known type after the last '.', before it at least one character
// of [0-9A-Za-z:_.\-@] not starting with '@'.
func ValidUnitName(name string) bool {
	if name == "" || len(name) > maxUnitName {
		return false
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || !slices.Contains(unitTypes, name[dot+1:]) {
		return false
	}
	if name[0] == '@' {
		return false
	}
	for i := 0; i < dot; i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(":-_.\\@", c) >= 0) {
			return false
		}
	}
	return true
}

// unitType returns the type of a valid unit name.
func unitType(name string) string { return name[strings.LastIndexByte(name, '.')+1:] }

// isTemplate reports whether a valid unit name is a template ("x@.service").
func isTemplate(name string) bool {
	dot := strings.LastIndexByte(name, '.')
	at := strings.IndexByte(name, '@')
	return at >= 0 && at == dot-1
}

// prefixMatch is portable.c's prefix_match: name starts with prefix and
// the next character is '-', '.', '@' or the end.
func prefixMatch(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	return ok && (rest == "" || strings.IndexByte("-.@", rest[0]) >= 0)
}

// matchUnit is portable.c's unit_match: a type portabled attaches, and a
// name matching one of matches (every name when matches is empty).
func matchUnit(name string, matches []string) bool {
	if !slices.Contains(portableTypes, unitType(name)) {
		return false
	}
	if len(matches) == 0 {
		return true
	}
	return slices.ContainsFunc(matches, func(m string) bool { return prefixMatch(name, m) })
}

// unescapeUnitName undoes systemd's unit name escaping (unit_name_unescape):
// "\xNN" becomes the byte NN. ok is false for a malformed escape.
func unescapeUnitName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if len(s) < i+4 || s[i+1] != 'x' {
			return "", false
		}
		v, ok := hexVal(s[i+2 : i+4])
		if !ok {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), true
}

// unescapePath is unit_name_path_unescape: '-' becomes '/', escapes are
// undone, and the result is absolute ("" and "-" give "/").
func unescapePath(s string) (string, bool) {
	if s == "" || s == "-" {
		return "/", true
	}
	u, ok := unescapeUnitName(strings.ReplaceAll(s, "-", "/"))
	if !ok {
		return "", false
	}
	return "/" + strings.TrimPrefix(u, "/"), true
}
