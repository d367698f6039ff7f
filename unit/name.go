package unit

import (
	"fmt"
	"regexp"
	"strings"
)

// maxNameLen is systemd's UNIT_NAME_MAX.
const maxNameLen = 255

// HasPortableType reports whether name ends in a unit type portabled
// attaches: .service, .socket, .target, .timer or .path.
func HasPortableType(name string) bool {
	for _, s := range []string{".service", ".socket", ".target", ".timer", ".path"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// NameError says why a unit name is not one portabled attaches.
type NameError struct {
	Unit string // the unit name
	Rule string // the rule it breaks
}

// Error returns "unit NAME: rule".
func (e *NameError) Error() string { return fmt.Sprintf("unit %s: %s", e.Unit, e.Rule) }

// CheckName checks a unit file name as portabled does: a valid systemd unit
// name (at most 255 bytes of letters, digits and ":-_.\\", one "@" for
// templates and instances, a non-empty prefix) whose type is one portabled
// attaches (.service, .socket, .target, .timer or .path), and which starts
// with one of prefixes followed by "-", "." or "@" — portabled's rule for
// matching an image's units to its name or PORTABLE_PREFIXES. So for the
// prefix "web-server", web-server.service, web-server-db.socket and
// web-server@.service pass, while webserver.service and
// web-serverx.service do not.
func CheckName(name string, prefixes ...string) error {
	if err := CheckSyntax(name); err != nil {
		return err
	}
	if !HasPortableType(name) {
		return &NameError{name, "portable units must be .service, .socket, .target, .timer or .path units"}
	}
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" && strings.ContainsRune("-.@", rune(rest[0])) {
			return nil
		}
	}
	return &NameError{name, fmt.Sprintf("name does not start with %s followed by '-', '.' or '@', so portabled will not attach it", strings.Join(quoteAll(prefixes), " or "))}
}

func quoteAll(ss []string) []string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return q
}

// CheckSyntax checks only that name is a valid systemd unit name, as
// systemd's unit_name_is_valid does, whatever its type and prefix.
func CheckSyntax(name string) error {
	switch {
	case name == "":
		return &NameError{name, "empty unit name"}
	case len(name) > maxNameLen:
		return &NameError{name, fmt.Sprintf("unit name longer than %d bytes", maxNameLen)}
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || dot == len(name)-1 {
		return &NameError{name, "unit name has no type suffix such as .service"}
	}
	stem := name[:dot]
	for _, c := range stem {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(":-_.\\@", c)) {
			return &NameError{name, fmt.Sprintf("character %q is not allowed in unit names", c)}
		}
	}
	if at := strings.IndexByte(stem, '@'); at >= 0 {
		if at == 0 {
			return &NameError{name, "unit name has nothing before '@'"}
		}
		if strings.Count(stem, "@") > 1 {
			return &NameError{name, "unit name has more than one '@'"}
		}
	}
	return nil
}

// placeholder matches nixpkgs substituteAll's @name@: a letter or _ then
// letters, digits and _.
var placeholder = regexp.MustCompile(`@[A-Za-z_][A-Za-z0-9_]*@`)

// PlaceholderError is an @name@ that no value fills.
type PlaceholderError struct {
	File        string
	Line        int
	Placeholder string
}

// Error returns "file:line: placeholder @name@ has no value".
func (e *PlaceholderError) Error() string {
	return fmt.Sprintf("%s:%d: placeholder %s has no value", e.File, e.Line, e.Placeholder)
}

// Substitute replaces every @name@ in data whose name is a key of values,
// as nixpkgs' substituteAll does, and leaves every other byte as it was.
// An @name@ left unfilled is an error naming the file, line and
// placeholder. Only @ + identifier + @ is a placeholder, so an address
// such as user@host or a lone @@ passes through untouched.
func Substitute(name string, data []byte, values map[string]string) ([]byte, error) {
	var missing *PlaceholderError
	out := placeholder.ReplaceAllFunc(data, func(m []byte) []byte {
		key := string(m[1 : len(m)-1])
		if v, ok := values[key]; ok {
			return []byte(v)
		}
		if missing == nil {
			missing = &PlaceholderError{File: name, Placeholder: string(m)}
		}
		return m
	})
	if missing != nil {
		idx := placeholder.FindIndex(out)
		for loc := placeholder.FindAllIndex(out, -1); len(loc) > 0; loc = loc[1:] {
			if _, ok := values[string(out[loc[0][0]+1:loc[0][1]-1])]; !ok {
				idx = loc[0]
				break
			}
		}
		missing.Line = 1 + strings.Count(string(out[:idx[0]]), "\n")
		return nil, missing
	}
	return out, nil
}
