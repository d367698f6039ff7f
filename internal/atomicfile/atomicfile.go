// Package atomicfile writes files that appear under their name only once
// they are complete and synced, so that a failed, cancelled or killed
// writer leaves nothing behind: on Linux an unnamed O_TMPFILE in the
// target's directory, linked into place by Commit; elsewhere, or where the
// file system lacks O_TMPFILE, a temporary file named
// ".NAME.mkportable-tmp-PID-N" renamed over the target. Such a file left
// by a killed process is removed by the next Create of the same name.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Mode is the permission a committed file gets.
const Mode = 0o644

// File is a file being written. Write to it through the embedded *os.File
// (it is open for reading and writing), then Commit it or Abort it.
type File struct {
	*os.File
	name   string
	commit func() error
	abort  func()
	done   bool
}

// Create starts a file to be committed as name, replacing whatever is
// there then. It first removes the named temporaries of name that a
// process no longer running left.
func Create(name string) (*File, error) {
	removeStale(name)
	f, err := createTmpfile(name)
	if errors.Is(err, errNoTmpfile) {
		return CreateNamed(name)
	}
	return f, err
}

// CreateNamed is Create with a named temporary file even where O_TMPFILE
// works: the fallback, for tests.
func CreateNamed(name string) (*File, error) {
	removeStale(name)
	f, err := os.CreateTemp(filepath.Dir(name), tempPrefix(name)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, err
	}
	return &File{
		File:   f,
		name:   name,
		commit: func() error { return os.Rename(f.Name(), name) },
		abort:  func() { os.Remove(f.Name()) },
	}, nil
}

// Target is the name the file gets when committed.
func (f *File) Target() string { return f.name }

// Commit gives the file mode Mode, syncs it, puts it in place under its
// name and closes it. On error nothing is left under a temporary name; the
// target is unchanged.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("atomicfile: %s: already committed or aborted", f.name)
	}
	f.done = true
	err := f.Chmod(Mode)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		if err = f.commit(); err != nil {
			err = fmt.Errorf("put %s in place: %w", f.name, err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", f.name, cerr)
	}
	if err != nil {
		f.abort()
	}
	return err
}

// Abort closes and discards the file. It does nothing after Commit or a
// first Abort, so it can be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	f.abort()
}

// tempPrefix is the start of the names of name's named temporary files:
// ".NAME.mkportable-tmp-".
func tempPrefix(name string) string { return "." + filepath.Base(name) + ".mkportable-tmp-" }

// removeStale removes the named temporary files of name that a process no
// longer running left behind (it was killed while writing).
func removeStale(name string) {
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
