package unit

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

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

// ValueError is a substitution value that would change the structure of
// the unit it fills instead of staying inside the setting it sits in.
type ValueError struct {
	File string
	Line int
	Key  string // the substitution key, KEY of @KEY@
	Rule string // what is wrong with the value there
}

// Error returns "file:line: value of @KEY@ rule".
func (e *ValueError) Error() string {
	return fmt.Sprintf("%s:%d: value of @%s@ %s", e.File, e.Line, e.Key, e.Rule)
}

// Substitute replaces every @name@ in data whose name is a key of values,
// as nixpkgs' substituteAll does, and leaves every other byte as it was.
// Only @ + identifier + @ is a placeholder, so an address such as
// user@host or a lone @@ passes through untouched.
//
// Each value is checked where it lands, so that no value adds a setting
// the template does not have (a *ValueError naming the key): no control
// character (a newline would start a new line), valid UTF-8 (systemd
// refuses to load a unit with a line that is not), no trailing backslash
// (it would join the next line to this one); in a key or a section header
// only characters a key may hold; in an Exec*= command line no lone ";"
// (it would start another command). An @name@ left unfilled is a
// *PlaceholderError naming the file, line and placeholder.
func Substitute(name string, data []byte, values map[string]string) ([]byte, error) {
	var out bytes.Buffer
	line, lineStart, last := 1, 0, 0
	for _, loc := range placeholder.FindAllIndex(data, -1) {
		line += bytes.Count(data[lineStart:loc[0]], []byte("\n"))
		if i := bytes.LastIndexByte(data[:loc[0]], '\n'); i >= 0 {
			lineStart = i + 1
		} else {
			lineStart = 0
		}
		key := string(data[loc[0]+1 : loc[1]-1])
		v, ok := values[key]
		if !ok {
			return nil, &PlaceholderError{File: name, Line: line, Placeholder: string(data[loc[0]:loc[1]])}
		}
		lineEnd := len(data)
		if i := bytes.IndexByte(data[loc[1]:], '\n'); i >= 0 {
			lineEnd = loc[1] + i
		}
		if rule := checkValue(string(data[lineStart:loc[0]]), string(data[loc[1]:lineEnd]), v); rule != "" {
			return nil, &ValueError{File: name, Line: line, Key: key, Rule: rule}
		}
		out.Write(data[last:loc[0]])
		out.WriteString(v)
		last = loc[1]
	}
	out.Write(data[last:])
	return out.Bytes(), nil
}

// checkValue says what is wrong with value v placed between before and
// after on one line of a unit, or "" when it stays inside its setting.
func checkValue(before, after, v string) string {
	if i := strings.IndexFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }); i >= 0 {
		return fmt.Sprintf("holds the control character %q, which would end or split the line it lands on", v[i])
	}
	if !utf8.ValidString(v) {
		return "is not valid UTF-8: systemd refuses to load a unit with such a line"
	}
	if strings.HasSuffix(v, `\`) {
		return "ends in a backslash, which would escape what follows it or join the next line to this one"
	}
	head := strings.TrimLeft(before, " \t")
	if strings.HasPrefix(head, "#") || strings.HasPrefix(head, ";") {
		return "" // a comment
	}
	key, _, isValue := strings.Cut(head, "=")
	if !isValue {
		// In a key, or a section header: no character that would end it.
		if strings.ContainsAny(v, "=[]#; \t\"'") {
			return "holds one of = [ ] # ; quotes or blanks, which would end the key or section name it sits in"
		}
		return ""
	}
	key = strings.TrimSpace(key)
	if strings.HasPrefix(key, "Exec") {
		for _, w := range strings.Fields(before[len(before)-len(strings.TrimLeft(before, " \t")):] + v + after) {
			if w == ";" && strings.Contains(" "+v+" ", " ; ") {
				return "holds a lone \";\", which would start another command in " + key + "="
			}
		}
	}
	return ""
}
