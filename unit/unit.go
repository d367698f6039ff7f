// Package unit reads systemd unit files: it parses them as systemd does,
// fills nixpkgs-style @name@ placeholders, and checks what
// systemd-portabled checks before it attaches an image's units.
//
// A File keeps its original bytes, so a unit written back is byte-for-byte
// the unit read; the parsed sections are a view for inspection.
package unit

import (
	"bytes"
	"fmt"
	"strings"
)

// A File is one parsed unit file.
type File struct {
	// Name is the file's name, as errors report it.
	Name     string
	data     []byte
	sections []Section
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

// Parse parses a unit file the way systemd's config parser does: lines are
// trimmed; blank lines and lines starting with # or ; are comments; a line
// ending in a backslash continues on the next (comment lines inside the
// continuation are skipped); [Section] starts a section; everything else is
// Key=Value, with space around the key and value trimmed. An assignment
// before the first section is an error, as is a file with no assignment
// at all, which portabled would attach as an empty unit.
func Parse(name string, data []byte) (*File, error) {
	f := &File{Name: name, data: data}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var current *Section
	entries := 0
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		// Join continuation lines: the backslash becomes a space.
		for strings.HasSuffix(line, "\\") {
			line = strings.TrimSuffix(line, "\\") + " "
			for i+1 < len(lines) {
				i++
				next := strings.TrimSpace(lines[i])
				if next != "" && (next[0] == '#' || next[0] == ';') {
					continue
				}
				line += next
				break
			}
			if i+1 >= len(lines) {
				break
			}
		}
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, &SyntaxError{name, lineNo, fmt.Sprintf("bad section header %q", line)}
			}
			f.sections = append(f.sections, Section{Name: line[1 : len(line)-1], Line: lineNo})
			current = &f.sections[len(f.sections)-1]
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, &SyntaxError{name, lineNo, fmt.Sprintf("%q is not a section header, a comment or Key=Value", line)}
		}
		if current == nil {
			return nil, &SyntaxError{name, lineNo, fmt.Sprintf("assignment %s= comes before any [Section]", key)}
		}
		current.Entries = append(current.Entries, Entry{Key: key, Value: strings.TrimSpace(value), Line: lineNo})
		entries++
	}
	if entries == 0 {
		return nil, &SyntaxError{name, 1, "unit file is empty: no Key=Value in any section"}
	}
	return f, nil
}

// Bytes returns the file's original bytes.
func (f *File) Bytes() []byte { return bytes.Clone(f.data) }

// Sections returns the sections in file order.
func (f *File) Sections() []Section { return f.sections }

// Values returns every value of key in every section named section, in
// order.
func (f *File) Values(section, key string) []string {
	var vals []string
	for _, s := range f.sections {
		if s.Name != section {
			continue
		}
		for _, e := range s.Entries {
			if e.Key == key {
				vals = append(vals, e.Value)
			}
		}
	}
	return vals
}

// execKeys are the [Service] settings whose values are command lines.
var execKeys = map[string]bool{
	"ExecStart": true, "ExecStartPre": true, "ExecStartPost": true, "ExecCondition": true,
	"ExecReload": true, "ExecStop": true, "ExecStopPost": true,
}

// An ExecCommand is the program of one Exec*= line.
type ExecCommand struct {
	Key  string // ExecStart, ExecStartPre, ...
	Line int
	// Path is the program as written, after systemd's prefixes.
	Path string
	// Prefixes are the special characters that preceded it ("-", "@", "+",
	// "!", "!!", ":", "|"), as written.
	Prefixes string
}

// ExecCommands returns the program of every Exec*= line in [Service]. An
// empty assignment (a reset) has none. Only the first word counts: systemd
// stopped splitting command lines at " ; " in version 243's documentation
// for ExecStart= of non-oneshot services, and arguments are not programs.
func (f *File) ExecCommands() []ExecCommand {
	var cmds []ExecCommand
	for _, s := range f.sections {
		if s.Name != "Service" {
			continue
		}
		for _, e := range s.Entries {
			if !execKeys[e.Key] || e.Value == "" {
				continue
			}
			v := e.Value
			prefixes := v[:len(v)-len(strings.TrimLeft(v, "-@+!:|"))]
			v = v[len(prefixes):]
			cmds = append(cmds, ExecCommand{Key: e.Key, Line: e.Line, Path: firstWord(v), Prefixes: prefixes})
		}
	}
	return cmds
}

// firstWord returns the first word of a command line, unquoting it as
// systemd does when it is quoted.
func firstWord(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if q := s[0]; q == '"' || q == '\'' {
		if end := strings.IndexByte(s[1:], q); end >= 0 {
			return s[1 : end+1]
		}
		return s[1:]
	}
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}
