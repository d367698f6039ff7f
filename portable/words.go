package portable

import (
	"strings"
	"unicode/utf8"
)

// nextWord is systemd's extract_first_word with EXTRACT_UNQUOTE |
// EXTRACT_CUNESCAPE (and EXTRACT_DONT_COALESCE_SEPARATORS when seps is not
// blank): it skips leading separators, reads one word in which single and
// double quotes group and C escapes are undone, and returns the word, the
// rest after it, and whether a word was found. ok is false as well for a
// word with an unterminated quote or a bad escape (err then says which).
func nextWord(s, seps string) (word, rest string, found bool, err string) {
	blank := seps == ""
	if blank {
		seps = " \t\n\r"
		s = strings.TrimLeft(s, seps)
	}
	if s == "" {
		return "", "", false, ""
	}
	var b strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		case c == '\\':
			if i+1 >= len(s) {
				return "", "", false, "ends in a lone backslash"
			}
			r, n, ok := cunescape(s[i+1:])
			if !ok {
				return "", "", false, "has an invalid escape sequence"
			}
			b.WriteString(r)
			i += n
		case quote == 0 && strings.IndexByte(seps, c) >= 0:
			rest = s[i+1:]
			if blank {
				rest = strings.TrimLeft(rest, seps)
			}
			return b.String(), rest, true, ""
		default:
			b.WriteByte(c)
		}
	}
	if quote != 0 {
		return "", "", false, "has an unterminated quote"
	}
	return b.String(), "", true, ""
}

// cunescape undoes one C escape at the start of s (after the backslash)
// as systemd's cunescape_one does, and returns its text and length.
func cunescape(s string) (string, int, bool) {
	c := s[0]
	switch c {
	case 'a':
		return "\a", 1, true
	case 'b':
		return "\b", 1, true
	case 'f':
		return "\f", 1, true
	case 'n':
		return "\n", 1, true
	case 'r':
		return "\r", 1, true
	case 't':
		return "\t", 1, true
	case 'v':
		return "\v", 1, true
	case '\\', '"', '\'':
		return string(c), 1, true
	case 's':
		return " ", 1, true
	case 'x':
		if len(s) < 3 {
			return "", 0, false
		}
		v, ok := hexVal(s[1:3])
		if !ok || v == 0 {
			return "", 0, false
		}
		return string([]byte{byte(v)}), 3, true
	case 'u', 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		if len(s) < 1+n {
			return "", 0, false
		}
		v, ok := hexVal(s[1 : 1+n])
		if !ok || v == 0 || !utf8.ValidRune(rune(v)) {
			return "", 0, false
		}
		return string(rune(v)), 1 + n, true
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(s) < 3 {
			return "", 0, false
		}
		v := 0
		for _, d := range s[:3] {
			if d < '0' || d > '7' {
				return "", 0, false
			}
			v = v*8 + int(d-'0')
		}
		if v == 0 || v > 255 {
			return "", 0, false
		}
		return string([]byte{byte(v)}), 3, true
	}
	return "", 0, false
}

// hexVal parses s, hexadecimal digits of either case, as systemd's
// unhexchar does each.
func hexVal(s string) (uint32, bool) {
	var v uint32
	for _, h := range s {
		switch {
		case h >= '0' && h <= '9':
			v = v<<4 | uint32(h-'0')
		case h >= 'a' && h <= 'f':
			v = v<<4 | uint32(h-'a'+10)
		case h >= 'A' && h <= 'F':
			v = v<<4 | uint32(h-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// words splits a list setting into words with nextWord.
func words(s string) ([]string, string) {
	var out []string
	for {
		w, rest, found, err := nextWord(s, "")
		if err != "" {
			return out, err
		}
		if !found {
			return out, ""
		}
		out = append(out, w)
		s = rest
	}
}
