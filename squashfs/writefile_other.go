//go:build !linux

package squashfs

// createOutput opens a named temporary file beside name: O_TMPFILE is
// Linux's.
func createOutput(name string) (*output, error) { return createNamed(name) }
