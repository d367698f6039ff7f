// Package unit reads systemd unit files as systemd's configuration parser
// does, and fills nixpkgs-style @name@ placeholders in unit templates.
// What portabled and the service manager make of a unit's settings is
// package portable's business.
//
// A File keeps its original bytes, so a unit written back is byte-for-byte
// the unit read; the parsed sections are a view for inspection.
package unit

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLine is the longest line, continuation lines joined, that systemd's
// configuration parser reads (LONG_LINE_MAX, 1 MiB in systemd 252 and 257).
// A longer one makes the whole unit fail to load.
const MaxLine = 1 << 20

// A File is one parsed unit file.
type File struct {
	// Name is the file's name, as errors report it.
	Name     string
	data     []byte
	sections []Section
	// Warnings are lines systemd skips with a warning: an assignment
	// outside any section, a line without '=', an empty key.
	Warnings []*SyntaxError
}

// A Section is a [Name] header and its assignments, in file order.
type Section struct {
	Name    string
	Line    int
	Entries []Entry
}

// An Entry is one Key=Value assignment. Repeated keys are kept in order; an
// empty value (Key=) is kept too, as the reset systemd reads it as.
type Entry struct {
	Key, Value string
	Line       int // the line the assignment starts on
}

// SyntaxError is a line systemd would not parse.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

// Error returns "file:line: message".
func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Parse parses a unit file the way systemd's config_parse does. Lines
// whose first non-blank character is # or ; are comments, also inside a
// continuation; a line ending in an unescaped backslash continues on the
// next, the backslash becoming a space; each joined line is trimmed;
// "[Name]" starts a section; everything else is Key=Value with the key and
// value trimmed. A leading UTF-8 byte order mark is skipped.
//
// Parse returns an error for what makes systemd refuse to load the unit
// (a section header without its closing ']' or with control characters, a
// line that is not UTF-8, a line longer than MaxLine) and records as
// Warnings what systemd skips with a warning. An empty file is no error:
// what portabled makes of one is a rule of its own.
func Parse(name string, data []byte) (*File, error) {
	f := &File{Name: name, data: data}
	text := string(data)
	text = strings.TrimPrefix(text, "\uFEFF")
	var current *Section
	// cont is a line continued so far, each joining backslash made a
	// space; it grows by what each line adds, so a long continued line
	// costs time in proportion to its length.
	var cont []byte
	contLine, inCont := 0, false
	lineNo := 0
	for len(text) > 0 || inCont {
		if len(text) == 0 {
			// A continuation at the end of the file: systemd parses what it has.
			inCont = false
			if err := f.parseLine(&current, contLine, string(cont)); err != nil {
				return nil, err
			}
			break
		}
		raw, rest := cutLine(text)
		text = rest
		lineNo++
		if len(raw) > MaxLine {
			return nil, &SyntaxError{name, lineNo, fmt.Sprintf("line longer than %d bytes: systemd refuses to load the unit", MaxLine)}
		}
		if t := strings.TrimLeft(raw, " \t\n\r"); t != "" && (t[0] == '#' || t[0] == ';') {
			continue
		}
		if inCont && len(cont)+len(raw) > MaxLine {
			return nil, &SyntaxError{name, lineNo, fmt.Sprintf("continued line longer than %d bytes: systemd refuses to load the unit", MaxLine)}
		}
		// A continued line ends in a space, so whether the joined line
		// ends escaped is whether this line does.
		if endsEscaped(raw) {
			if !inCont {
				cont = cont[:0]
				inCont, contLine = true, lineNo
			}
			cont = append(cont, raw[:len(raw)-1]...)
			cont = append(cont, ' ')
			continue
		}
		line, at := raw, lineNo
		if inCont {
			line, at = string(append(cont, raw...)), contLine
			inCont = false
		}
		if err := f.parseLine(&current, at, line); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// lineBreakChars end a line of a unit file, as systemd's read_line reads
// it: "\n", "\r", "\r\n" or NUL.
const lineBreakChars = "\n\r\x00"

// cutLine splits off the first line of s as systemd's read_line does: a
// line ends at "\n", "\r", "\r\n" or NUL.
func cutLine(s string) (line, rest string) {
	i := strings.IndexAny(s, lineBreakChars)
	if i < 0 {
		return s, ""
	}
	if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
		return s[:i], s[i+2:]
	}
	return s[:i], s[i+1:]
}

// endsEscaped reports whether s ends in a backslash that is not itself
// escaped.
func endsEscaped(s string) bool {
	escaped := false
	for i := 0; i < len(s); i++ {
		if escaped {
			escaped = false
		} else if s[i] == '\\' {
			escaped = true
		}
	}
	return escaped
}

func (f *File) parseLine(current **Section, lineNo int, line string) error {
	l := strings.Trim(line, " \t\n\r")
	if l == "" {
		return nil
	}
	if !utf8.ValidString(l) {
		return &SyntaxError{f.Name, lineNo, "line is not valid UTF-8: systemd refuses to load the unit"}
	}
	if l[0] == '[' {
		if l[len(l)-1] != ']' {
			return &SyntaxError{f.Name, lineNo, fmt.Sprintf("invalid section header %q: systemd refuses to load the unit", l)}
		}
		n := l[1 : len(l)-1]
		if strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return &SyntaxError{f.Name, lineNo, fmt.Sprintf("bad characters in section header %q: systemd refuses to load the unit", l)}
		}
		f.sections = append(f.sections, Section{Name: n, Line: lineNo})
		*current = &f.sections[len(f.sections)-1]
		return nil
	}
	if *current == nil {
		f.Warnings = append(f.Warnings, &SyntaxError{f.Name, lineNo, "assignment outside of any section: systemd ignores it"})
		return nil
	}
	key, value, ok := strings.Cut(l, "=")
	switch {
	case !ok:
		f.Warnings = append(f.Warnings, &SyntaxError{f.Name, lineNo, fmt.Sprintf("%q has no '=': systemd ignores the line", shorten(l))})
		return nil
	case key == "":
		f.Warnings = append(f.Warnings, &SyntaxError{f.Name, lineNo, "no key before '=': systemd ignores the line"})
		return nil
	}
	(*current).Entries = append((*current).Entries, Entry{Key: strings.Trim(key, " \t\n\r"), Value: strings.Trim(value, " \t\n\r"), Line: lineNo})
	return nil
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// Bytes returns the file's original bytes.
func (f *File) Bytes() []byte { return bytes.Clone(f.data) }

// Sections returns the sections in file order.
func (f *File) Sections() []Section { return f.sections }

// Entries returns every assignment of every section named section, in
// order.
func (f *File) Entries(section string) []Entry {
	var out []Entry
	for _, s := range f.sections {
		if s.Name == section {
			out = append(out, s.Entries...)
		}
	}
	return out
}

// Values returns every value of key in every section named section, in
// order.
func (f *File) Values(section, key string) []string {
	var vals []string
	for _, e := range f.Entries(section) {
		if e.Key == key {
			vals = append(vals, e.Value)
		}
	}
	return vals
}
