// Package boundedfile reads small files whose size a caller must bound:
// keys, certificates, signatures and root hashes named by a user, which
// may as well name /dev/zero or a disk image.
package boundedfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is returned, wrapped with the file's name, for a file
// larger than the limit.
var ErrTooLarge = errors.New("file too large")

// Read reads the file name if it holds at most limit bytes; it reads at
// most limit+1 bytes of it either way.
func Read(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrTooLarge, limit)
	}
	return data, nil
}
