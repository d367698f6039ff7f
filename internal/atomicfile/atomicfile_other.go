//go:build !linux

package atomicfile

// createTmpfile always falls back to a named temporary file: O_TMPFILE is
// Linux's.
func createTmpfile(name string) (*File, error) { return nil, errNoTmpfile }
