package unit

import (
	"bytes"
	"errors"
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
// No value may change the unit's structure (a *ValueError naming the key
// and the rule). Each value is checked where it lands: no control
// character (a newline would start a new line), valid UTF-8 (systemd
// refuses to load a unit with a line that is not), no trailing backslash
// (it would join the next line to this one); in a key or a section header
// only characters a key may hold. Then, when the template parses, the
// filled unit must parse to the template's section headers and settings on
// the same lines (an empty value must not leave a key empty, "=x", a line
// systemd ignores), and each Exec*= setting must have no more lone ";"
// than the template's, since one starts another command. Lines end where
// systemd ends them: at "\n", "\r", "\r\n" or NUL. An @name@ left
// unfilled is a *PlaceholderError naming the file, line and placeholder.
//
// The work is linear in the size of data and of the unit it fills, which
// may not exceed MaxSize bytes.
func Substitute(name string, data []byte, values map[string]string) ([]byte, error) {
	var out bytes.Buffer
	var spots []spot
	var ln lineFacts
	line, scanned, last := 1, 0, 0
	for _, loc := range placeholder.FindAllIndex(data, -1) {
		line += lineBreaks(data[scanned:loc[0]])
		scanned = loc[0]
		if loc[0] >= ln.end {
			ln = factsOfLine(data, loc[0])
		}
		key := string(data[loc[0]+1 : loc[1]-1])
		v, ok := values[key]
		if !ok {
			return nil, &PlaceholderError{File: name, Line: line, Placeholder: string(data[loc[0]:loc[1]])}
		}
		if rule := checkValue(ln.place(loc[0]), v); rule != "" {
			return nil, &ValueError{File: name, Line: line, Key: key, Rule: rule}
		}
		if out.Len()+(loc[0]-last)+len(v)+(len(data)-loc[1]) > MaxSize {
			return nil, &ValueError{File: name, Line: line, Key: key, Rule: fmt.Sprintf("makes the unit larger than %d bytes", MaxSize)}
		}
		spots = append(spots, spot{line, key})
		out.Write(data[last:loc[0]])
		out.WriteString(v)
		last = loc[1]
	}
	out.Write(data[last:])
	if err := checkSettings(name, data, out.Bytes(), spots); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// MaxSize bounds a unit file: the most bytes of one a build reads and
// the most Substitute fills. Far above any real unit, it keeps a long
// value used many times, or a unit path naming a huge file, from filling
// memory.
const MaxSize = 64 << 20

// lineBreaks counts the line breaks in b as cutLine finds them, "\r\n"
// as one.
func lineBreaks(b []byte) int {
	n := 0
	for i, c := range b {
		switch {
		case c == '\n' || c == 0:
			n++
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			n++
		}
	}
	return n
}

// lineFacts are what checkValue needs of the line a placeholder sits on,
// found once for every placeholder on it.
type lineFacts struct {
	end     int  // the offset of the line's break, or len(data)
	comment bool // its first non-blank character is # or ;
	eq      int  // the offset of its first '=', or end
}

// factsOfLine returns the facts of the line of data holding offset at.
func factsOfLine(data []byte, at int) lineFacts {
	start := bytes.LastIndexAny(data[:at], lineBreakChars) + 1
	ln := lineFacts{end: len(data)}
	if i := bytes.IndexAny(data[at:], lineBreakChars); i >= 0 {
		ln.end = at + i
	}
	text := data[start:ln.end]
	head := bytes.TrimLeft(text, " \t")
	ln.comment = len(head) > 0 && (head[0] == '#' || head[0] == ';')
	ln.eq = ln.end
	if i := bytes.IndexByte(text, '='); i >= 0 {
		ln.eq = start + i
	}
	return ln
}

// Where a placeholder sits on its line.
const (
	inComment = iota
	inKey     // or in a section header
	inValue
)

// place tells where a placeholder at offset at sits on the line.
func (ln lineFacts) place(at int) int {
	switch {
	case ln.comment:
		return inComment
	case at > ln.eq:
		return inValue
	}
	return inKey
}

// checkValue says what is wrong with value v where it lands (see place),
// or "" when it stays inside its setting.
func checkValue(place int, v string) string {
	if i := strings.IndexFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }); i >= 0 {
		return fmt.Sprintf("holds the control character %q, which would end or split the line it lands on", v[i])
	}
	if !utf8.ValidString(v) {
		return "is not valid UTF-8: systemd refuses to load a unit with such a line"
	}
	if strings.HasSuffix(v, `\`) {
		return "ends in a backslash, which would escape what follows it or join the next line to this one"
	}
	if place == inKey && strings.ContainsAny(v, "=[]#; \t\"'") {
		return "holds one of = [ ] # ; quotes or blanks, which would end the key or section name it sits in"
	}
	return ""
}

// A spot is a placeholder Substitute filled: its line and key.
type spot struct {
	line int
	key  string
}

// checkSettings checks that the filled unit out has the structure of its
// template data, when the template parses (one that does not fails where
// it is parsed): the same section headers and settings on the same lines,
// and in each Exec*= setting no more lone ";" than the template has there.
// A value that passes checkValue can still change them: an empty value
// that leaves a line's key empty or turns the rest of the line into a
// comment or a section header; a ";" that a value makes stand alone, as
// "@a@@b@" with ";" and " /x", or "@a@;" with "". The error names the
// first placeholder on the first line that differs.
func checkSettings(name string, data, out []byte, spots []spot) error {
	if len(spots) == 0 {
		return nil
	}
	tmpl, err := Parse(name, data)
	if err != nil {
		return nil
	}
	filled, err := Parse(name, out)
	if err != nil {
		var syn *SyntaxError
		if !errors.As(err, &syn) {
			return err
		}
		return &ValueError{File: name, Line: syn.Line, Key: keyFrom(spots, syn.Line), Rule: "makes systemd refuse the unit: " + syn.Msg}
	}
	if line, changed := firstChange(layout(tmpl), layout(filled)); changed {
		return &ValueError{File: name, Line: line, Key: keyFrom(spots, line),
			Rule: "changes the unit's settings: the line no longer holds the section header or Key=Value setting the template has there (an empty key, which systemd ignores, or a comment or header)"}
	}
	for i, s := range filled.Sections() {
		for j, e := range s.Entries {
			if strings.HasPrefix(e.Key, "Exec") && loneSemicolons(e.Value) > loneSemicolons(tmpl.Sections()[i].Entries[j].Value) {
				return &ValueError{File: name, Line: e.Line, Key: keyFrom(spots, e.Line),
					Rule: "makes a lone \";\", which would start another command in " + e.Key + "="}
			}
		}
	}
	return nil
}

// loneSemicolons counts the words of an Exec*= value that are ";", which
// systemd reads as the end of a command: at a word's start, a ";" followed
// by a blank or the end. Quotes are not followed, so a ";" in a quoted
// argument counts too: the count is never below systemd's.
func loneSemicolons(v string) int {
	n := 0
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' }) {
		if w == ";" {
			n++
		}
	}
	return n
}

// A mark is a section header or a setting of a parsed unit, by its line.
type mark struct {
	line    int
	section bool
}

// layout lists f's section headers and settings in file order.
func layout(f *File) []mark {
	var ms []mark
	for _, s := range f.Sections() {
		ms = append(ms, mark{s.Line, true})
		for _, e := range s.Entries {
			ms = append(ms, mark{e.Line, false})
		}
	}
	return ms
}

// firstChange returns the first line where two layouts differ.
func firstChange(a, b []mark) (int, bool) {
	for i := range max(len(a), len(b)) {
		switch {
		case i >= len(a):
			return b[i].line, true
		case i >= len(b):
			return a[i].line, true
		case a[i] != b[i]:
			return min(a[i].line, b[i].line), true
		}
	}
	return 0, false
}

// keyFrom returns the key of the first placeholder on line or after it
// (a setting continued over lines starts before its placeholders), else
// of the last one.
func keyFrom(spots []spot, line int) string {
	for _, s := range spots {
		if s.line >= line {
			return s.key
		}
	}
	return spots[len(spots)-1].key
}
