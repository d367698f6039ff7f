package portable

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ParseOSRelease parses an os-release file exactly as systemd's
// parse_env_file does (src/basic/env-file.c): KEY=VALUE lines; blanks
// around the key and an unquoted value trimmed; '#' or ';' starting a
// comment; single quotes literal; inside double quotes a backslash escapes
// only " \ ` $ (and a newline, which is dropped) and is kept before any
// other character; outside quotes a backslash escapes any character and a
// backslash-newline joins lines; quoted and unquoted pieces of one value
// concatenate; a line without '=' is skipped; the last assignment of a key
// wins; a key with nothing after '=' has the empty value. A comment ending
// in a backslash swallows the next line too before systemd 254, and no
// longer from 254 on: version picks the behaviour. A key or value that is
// not UTF-8 makes systemd fail to parse the whole file, an error here.
func ParseOSRelease(data []byte, version int) (map[string]string, error) {
	commentContinues := version < 254
	const (
		preKey = iota
		key
		preValue
		value
		valueEscape
		singleQuote
		doubleQuote
		doubleQuoteEscape
		comment
		commentEscape
	)
	out := map[string]string{}
	var k, v []byte
	lastKeySpace, lastValueSpace := -1, -1
	state := preKey
	line := 1
	push := func() error {
		if lastKeySpace >= 0 {
			k = k[:lastKeySpace]
		}
		if !utf8.Valid(k) {
			return fmt.Errorf("line %d: key is not valid UTF-8", line)
		}
		if !utf8.Valid(v) {
			return fmt.Errorf("line %d: value of %s is not valid UTF-8", line, k)
		}
		out[string(k)] = string(v)
		k, v = k[:0], nil
		return nil
	}
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	isNewline := func(c byte) bool { return c == '\n' || c == '\r' }
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == 0 {
			break // systemd reads the file as a C string
		}
		switch state {
		case preKey:
			if c == '#' || c == ';' {
				state = comment
			} else if !isSpace(c) {
				state = key
				lastKeySpace = -1
				k = append(k[:0], c)
			}
		case key:
			switch {
			case isNewline(c):
				state = preKey
				line++
				k = k[:0]
			case c == '=':
				state = preValue
				lastValueSpace = -1
			default:
				if !isSpace(c) {
					lastKeySpace = -1
				} else if lastKeySpace < 0 {
					lastKeySpace = len(k)
				}
				k = append(k, c)
			}
		case preValue:
			switch {
			case isNewline(c):
				state = preKey
				line++
				if err := push(); err != nil {
					return nil, err
				}
			case c == '\'':
				state = singleQuote
			case c == '"':
				state = doubleQuote
			case c == '\\':
				state = valueEscape
			case !isSpace(c):
				state = value
				v = append(v, c)
			}
		case value:
			switch {
			case isNewline(c):
				state = preKey
				line++
				if lastValueSpace >= 0 {
					v = v[:lastValueSpace]
				}
				if err := push(); err != nil {
					return nil, err
				}
			case c == '\\':
				state = valueEscape
				lastValueSpace = -1
			default:
				if !isSpace(c) {
					lastValueSpace = -1
				} else if lastValueSpace < 0 {
					lastValueSpace = len(v)
				}
				v = append(v, c)
			}
		case valueEscape:
			state = value
			if !isNewline(c) {
				v = append(v, c)
			}
		case singleQuote:
			if c == '\'' {
				state = preValue
			} else {
				v = append(v, c)
			}
		case doubleQuote:
			switch c {
			case '"':
				state = preValue
			case '\\':
				state = doubleQuoteEscape
			default:
				v = append(v, c)
			}
		case doubleQuoteEscape:
			state = doubleQuote
			switch {
			case strings.IndexByte("\"\\`$", c) >= 0:
				v = append(v, c)
			case c != '\n':
				v = append(v, '\\', c)
			}
		case comment:
			if c == '\\' {
				state = commentEscape
			} else if isNewline(c) {
				state = preKey
				line++
			}
		case commentEscape:
			if !commentContinues && isNewline(c) {
				state = preKey
				line++
			} else {
				state = comment
			}
		}
	}
	switch state {
	case preValue, value, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		if state == value && lastValueSpace >= 0 {
			v = v[:lastValueSpace]
		}
		if err := push(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var (
	osReleaseKey = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	osReleaseID  = regexp.MustCompile(`^[a-z0-9._-]+$`)
)

// ErrOSReleaseField is the error of an os-release field that cannot be
// written as os-release(5) asks.
var ErrOSReleaseField = errors.New("invalid os-release field")

// CheckOSReleaseField checks one field before it is written: the key is
// upper-case letters, digits and '_' not starting with a digit
// (os-release(5)); the value is one line of UTF-8 without control
// characters (os-release(5) has no line continuation, and systemd refuses
// a file that is not UTF-8). Errors wrap ErrOSReleaseField.
func CheckOSReleaseField(key, value string) error {
	if !osReleaseKey.MatchString(key) {
		return fmt.Errorf("%w: %q is not a field name (upper-case letters, digits and '_', not starting with a digit)", ErrOSReleaseField, key)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("%w: %s: the value is not valid UTF-8", ErrOSReleaseField, key)
	}
	if i := strings.IndexFunc(value, func(r rune) bool { return r < ' ' || r == 0x7f }); i >= 0 {
		return fmt.Errorf("%w: %s: the value holds the control character %q; an os-release value is one line", ErrOSReleaseField, key, value[i])
	}
	return nil
}

// FormatOSRelease writes os-release fields in order, each checked with
// CheckOSReleaseField and double-quoted with " \ $ and ` escaped, so that
// ParseOSRelease (and systemd) read back exactly the values given.
func FormatOSRelease(fields [][2]string) ([]byte, error) {
	var b strings.Builder
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`")
	for _, f := range fields {
		if err := CheckOSReleaseField(f[0], f[1]); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s=\"%s\"\n", f[0], esc.Replace(f[1]))
	}
	return []byte(b.String()), nil
}
