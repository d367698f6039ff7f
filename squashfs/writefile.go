package squashfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// output is an image file being written for WriteFile.
type output struct {
	f *os.File
	// commit puts the complete file in place under its name; abort
	// removes what is left of it.
	commit func() error
	abort  func()
}

// tempPrefix is the start of the names of WriteFile's named temporary
// files: ".NAME.mkportable-tmp-".
func tempPrefix(name string) string { return "." + filepath.Base(name) + ".mkportable-tmp-" }

// createNamed creates a named temporary file beside name, to be renamed
// over it.
func createNamed(name string) (*output, error) {
	f, err := os.CreateTemp(filepath.Dir(name), tempPrefix(name)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, err
	}
	return &output{
		f:      f,
		commit: func() error { return os.Rename(f.Name(), name) },
		abort:  func() { os.Remove(f.Name()) },
	}, nil
}

// removeStaleTemps removes the named temporary files of name that a
// process no longer running left behind (it was killed while writing).
func removeStaleTemps(name string) {
	entries, err := os.ReadDir(filepath.Dir(name))
	if err != nil {
		return
	}
	prefix := tempPrefix(name)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || processRunning(pid) {
			continue
		}
		os.Remove(filepath.Join(filepath.Dir(name), e.Name()))
	}
}

// processRunning reports whether a process pid exists.
func processRunning(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// errNoTmpfile is why an unnamed temporary file could not be used.
var errNoTmpfile = errors.New("O_TMPFILE not supported")

func wrapCommit(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
