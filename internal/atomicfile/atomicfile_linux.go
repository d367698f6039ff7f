//go:build linux

package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// createTmpfile opens an unnamed O_TMPFILE in name's directory, linked
// into place by commit; errNoTmpfile where the file system lacks them.
func createTmpfile(name string) (*File, error) {
	dir := filepath.Dir(name)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EINVAL):
		return nil, errNoTmpfile
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	return &File{
		File:   f,
		name:   name,
		commit: func() error { return linkTmpfile(f, name) },
		abort:  func() {}, // an unnamed file vanishes when closed
	}, nil
}

// linkTmpfile gives the O_TMPFILE f the name name, replacing a file of
// that name: linkat through /proc/self/fd (or with AT_EMPTY_PATH, which
// needs CAP_DAC_READ_SEARCH, where /proc is missing), straight to name when
// it is free, else to a named temporary renamed over it.
func linkTmpfile(f *os.File, name string) error {
	link := func(to string) error {
		err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, to, unix.AT_SYMLINK_FOLLOW)
		if errors.Is(err, unix.ENOENT) {
			if _, serr := os.Stat("/proc/self/fd"); serr != nil {
				err = unix.Linkat(int(f.Fd()), "", unix.AT_FDCWD, to, unix.AT_EMPTY_PATH)
			}
		}
		return err
	}
	err := link(name)
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	tmp := filepath.Join(filepath.Dir(name), tempPrefix(name)+strconv.Itoa(os.Getpid())+"-link")
	os.Remove(tmp)
	if err := link(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
