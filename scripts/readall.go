//go:build ignore

// readall reads every file of a squashfs image through squashfs.Reader and
// fs.WalkDir, as inspect or any Go tool reading an image does: the reader
// side of make bench, measured against `unsquashfs -d`.
//
//	go run scripts/readall.go IMAGE
package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/mkportable/mkportable/squashfs"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/readall.go IMAGE")
		os.Exit(2)
	}
	if err := readAll(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "readall:", err)
		os.Exit(1)
	}
}

func readAll(image string) error {
	rc, err := squashfs.OpenReader(image)
	if err != nil {
		return err
	}
	defer rc.Close()
	var files, bytes int64
	err = fs.WalkDir(rc, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := rc.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(io.Discard, f)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		files++
		bytes += n
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d files, %d bytes read\n", image, files, bytes)
	return nil
}
