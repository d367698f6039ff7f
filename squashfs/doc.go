// Package squashfs writes SquashFS 4.0 images, the read-only file system
// format of systemd portable services, live CDs and snaps, in pure Go and
// reproducibly: the same tree and options always give the same bytes,
// whatever the number of workers, the order the tree was built in, or the
// host's users, umask and clocks.
//
// Build a Tree in memory (Mkdir, AddFile, AddBytes, Symlink, Link, Mknod)
// or load one from a directory (TreeFromDir, Tree.AddDir) or any fs.FS
// (Tree.AddFS), then Write it to an io.WriterAt, or WriteFile it to a path,
// which renames the finished image into place so a failure leaves nothing
// behind:
//
//	tree, err := squashfs.TreeFromDir("rootfs", squashfs.LoadOptions{})
//	...
//	stats, err := squashfs.WriteFile(ctx, "rootfs.sqfs", tree, squashfs.Options{})
//
// The default options give what `mksquashfs rootfs rootfs.sqfs -all-root
// -comp xz -b 1M` gives, with every time set to 1980-01-01: xz compression
// with a 1 MiB block and dictionary, root ownership, extended attributes
// (file capabilities among them), tail-end packing into fragments,
// whole-file deduplication, holes for all-zero blocks, and an NFS export
// table. Options select gzip, zstd, lz4 or no compression, other block
// sizes, keeping owners and times, and dropping extended attributes.
//
// Reader reads images back, this package's or mksquashfs's, as an fs.FS
// that never trusts the image: a broken one gives an error wrapping
// ErrFormat. Tree.AddFS copies a Reader's tree with all its metadata.
//
// Data blocks are compressed on Options.Workers goroutines while one
// goroutine writes them in order, so memory stays near two blocks per
// worker plus the tree's metadata, not the image's size. The images are
// checked in this package's tests against the Linux kernel, unsquashfs,
// sqfsdiff (against mksquashfs images of the same trees) and go-diskfs.
package squashfs
