package squashfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"

	"golang.org/x/sys/unix"
)

// fdFile is a file opened for reading by openFileAt: a bare descriptor,
// read with read(2), which an *os.File would first set non-blocking and
// offer to the network poller, two more system calls for each of a
// tree's files.
type fdFile struct {
	fd      int
	name    string
	cleanup runtime.Cleanup
}

// openFileAt opens the file name in the directory dir for reading,
// without following a symbolic link and without blocking on a FIFO.
func openFileAt(dir *os.File, name string) (io.ReadCloser, error) {
	raw, err := dir.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var openErr error
	err = raw.Control(func(dfd uintptr) {
		for {
			fd, openErr = unix.Openat(int(dfd), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
			if openErr != unix.EINTR {
				return
			}
		}
	})
	full := path.Join(dir.Name(), name)
	if err == nil {
		err = openErr
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: full, Err: err}
	}
	f := &fdFile{fd: fd, name: full}
	// A file dropped without Close gives its descriptor back.
	f.cleanup = runtime.AddCleanup(f, func(fd int) { unix.Close(fd) }, fd)
	return f, nil
}

func (f *fdFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *fdFile) Close() error {
	if f.fd < 0 {
		return fs.ErrClosed
	}
	f.cleanup.Stop()
	err := unix.Close(f.fd)
	f.fd = -1
	runtime.KeepAlive(f)
	if err != nil {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}
