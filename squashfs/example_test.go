package squashfs_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/mkportable/mkportable/squashfs"
)

// Squash a directory, as `mksquashfs DIR IMAGE -all-root -comp xz -b 1M`
// would, but reproducibly.
func Example_squashDirectory() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "bin"), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "bin", "hello"), []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		log.Fatal(err)
	}

	tree, err := squashfs.TreeFromDir(src, squashfs.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	stats, err := squashfs.WriteFile(context.Background(), filepath.Join(dir, "image.sqfs"), tree, squashfs.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d files, %d directories, %d bytes\n", stats.Files, stats.Dirs, stats.ImageSize)
	// Output: 1 files, 2 directories, 4096 bytes
}

// Build an image from any fs.FS plus files made in memory.
func Example_fromFS() {
	fsys := fstest.MapFS{
		"etc/hostname": {Data: []byte("portable\n"), Mode: 0o644},
		"usr/bin/tool": {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
	}
	tree := squashfs.NewTree()
	if err := tree.AddFS("/", fsys); err != nil {
		log.Fatal(err)
	}
	if err := tree.AddBytes("/etc/os-release", squashfs.Attr{Mode: 0o644}, []byte("ID=example\n")); err != nil {
		log.Fatal(err)
	}
	if err := tree.Symlink("/bin", "usr/bin", squashfs.Attr{Mode: 0o777}); err != nil {
		log.Fatal(err)
	}

	f, err := os.CreateTemp("", "example-*.sqfs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	stats, err := squashfs.Write(context.Background(), f, tree, squashfs.Options{
		Compressor: squashfs.ZstdCompressor{Level: 3},
		BlockSize:  128 << 10,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d inodes, %d bytes of file data\n", stats.Inodes, stats.BytesIn)
	// Output: 8 inodes, 30 bytes of file data
}
