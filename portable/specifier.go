package portable

import (
	"fmt"
	"strings"
)

// unknownSpecifier is the error of a specifier whose value cannot be known
// before the service runs (the host name, the machine ID, the instance of
// a template...): what it affects cannot be checked.
type unknownSpecifier struct{ spec byte }

func (u unknownSpecifier) Error() string {
	return fmt.Sprintf("%%%c is only known when the service runs", u.spec)
}

// badSpecifier is a '%' systemd does not know: it refuses the setting
// (specifier_printf's -EBADSLT).
type badSpecifier struct{ spec string }

func (b badSpecifier) Error() string {
	return fmt.Sprintf("%q is not a specifier systemd knows", b.spec)
}

// expand expands the unit specifiers of a setting of unit name (as
// unit_full_printf does, src/core/unit-printf.c and
// src/shared/specifier.c) for the system manager, where they can be known
// before the service runs: %n %N %p %P %i %I %j %J %f, the fixed system
// directories %t %S %C %L %E %T %V and %d, and %%. Others (%H %m %b %u
// %h...) and the instance of a template give an unknownSpecifier.
func expand(s, name string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	dot := strings.LastIndexByte(name, '.')
	stem := name[:dot]
	prefix, instance, hasAt := strings.Cut(stem, "@")
	template := hasAt && instance == ""
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", badSpecifier{"%"}
		}
		i++
		c := s[i]
		var v string
		var ok = true
		switch c {
		case '%':
			v = "%"
		case 'n':
			v = name
		case 'N':
			v, ok = unescapeUnitName(stem)
		case 'p':
			v = prefix
		case 'P':
			v, ok = unescapeUnitName(prefix)
		case 'i', 'I':
			if template || !hasAt {
				if !hasAt {
					v = "" // a plain unit's instance is empty
					break
				}
				return "", unknownSpecifier{c}
			}
			v = instance
			if c == 'I' {
				v, ok = unescapeUnitName(instance)
			}
		case 'j', 'J':
			v = prefix
			if d := strings.LastIndexByte(prefix, '-'); d >= 0 {
				v = prefix[d+1:]
			}
			if c == 'J' {
				v, ok = unescapeUnitName(v)
			}
		case 'f':
			switch {
			case template:
				return "", unknownSpecifier{c}
			case hasAt:
				v, ok = unescapePath(instance)
			default:
				v, ok = unescapePath(prefix)
			}
		case 't':
			v = "/run"
		case 'S':
			v = "/var/lib"
		case 'C':
			v = "/var/cache"
		case 'L':
			v = "/var/log"
		case 'E':
			v = "/etc"
		case 'T':
			v = "/tmp"
		case 'V':
			v = "/var/tmp"
		case 'd':
			v = "/run/credentials/" + name
		case 'a', 'A', 'b', 'B', 'H', 'l', 'q', 'm', 'M', 'o', 'v', 'w', 'W', 'g', 'G', 'u', 'U', 'h', 's', 'y', 'Y', 'c', 'r', 'R':
			return "", unknownSpecifier{c}
		default:
			return "", badSpecifier{"%" + string(c)}
		}
		if !ok {
			return "", badSpecifier{"%" + string(c) + " of a name with a malformed escape"}
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
