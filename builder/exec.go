package builder

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/mkportable/mkportable/unit"
)

// ExecSearchPath is where systemd looks for a program named without a
// slash (ExecStart=web-server) when the unit sets no ExecSearchPath=: its
// compiled-in search path, searched inside the service's root, which for a
// portable service is the image.
var ExecSearchPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// ExecError is an Exec*= line whose program the service could not run.
type ExecError struct {
	File    string // the unit file, as given or as found in the image
	Line    int
	Key     string // ExecStart, ExecStartPre, ...
	Program string // as written, after systemd's prefixes
	Rule    string // what is wrong with it
}

// Error returns "file:line: Key= program P rule".
func (e *ExecError) Error() string {
	return fmt.Sprintf("%s:%d: %s= program %s %s", e.File, e.Line, e.Key, e.Program, e.Rule)
}

// StatFunc reports the mode of the file at an absolute path in an image,
// following symlinks inside the image.
type StatFunc func(name string) (fs.FileMode, error)

// CheckPrograms returns an *ExecError for each Exec*= line of u whose
// program is not an executable regular file in the image stat looks into.
// Absolute programs are looked up as written; a bare name is searched for
// in the unit's ExecSearchPath= or else in ExecSearchPath; a program with a
// specifier (%) is skipped, since systemd expands it at run time. file
// names the unit in the errors.
func CheckPrograms(file string, u *unit.File, stat StatFunc) []error {
	search := ExecSearchPath
	if vals := u.Values("Service", "ExecSearchPath"); len(vals) > 0 {
		search = nil
		for _, v := range vals {
			if v == "" {
				search = nil // an empty assignment resets the list
				continue
			}
			search = append(search, strings.Split(v, ":")...)
		}
	}
	var errs []error
	for _, c := range u.ExecCommands() {
		fail := func(rule string) {
			errs = append(errs, &ExecError{File: file, Line: c.Line, Key: c.Key, Program: c.Path, Rule: rule})
		}
		switch {
		case c.Path == "" || strings.ContainsRune(c.Path, '%'):
			continue
		case path.IsAbs(c.Path):
			mode, err := stat(c.Path)
			switch {
			case err != nil:
				fail("is not in the image")
			case !mode.IsRegular():
				fail(fmt.Sprintf("is not a regular file but %s", describeMode(mode)))
			case mode.Perm()&0o111 == 0:
				fail(fmt.Sprintf("is not executable (mode %04o)", mode.Perm()))
			}
		case strings.ContainsRune(c.Path, '/'):
			fail("is neither an absolute path nor a bare name systemd searches for")
		default:
			found := false
			for _, dir := range search {
				if !path.IsAbs(dir) {
					continue
				}
				if mode, err := stat(path.Join(dir, c.Path)); err == nil && mode.IsRegular() && mode.Perm()&0o111 != 0 {
					found = true
					break
				}
			}
			if !found {
				fail(fmt.Sprintf("is not an executable file in any of %s in the image", strings.Join(search, ":")))
			}
		}
	}
	return errs
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}
