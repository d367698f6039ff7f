package squashfs

// Tests that check our images with readers nobody here wrote: unsquashfs,
// sqfsdiff against a mksquashfs image of the same tree, the Linux kernel
// (a loop mount), and go-diskfs. A missing program fails the test with the
// package to install (internal/testtool), unless MKPORTABLE_SKIP_TOOLS=1.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	diskfs "github.com/diskfs/go-diskfs/filesystem/squashfs"
	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// shared holds what the tests of this package build once and only read:
// the tricky tree, whose thousands of files take seconds to create. TestMain
// removes it.
var shared struct {
	once   sync.Once
	dir    string
	tricky string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	for _, p := range goImages {
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

// trickyTree returns the tree of trickyTreeAt, built on first use and
// shared by every test of the package, which must not change it.
func trickyTree(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "squashfs-test-")
		require.NoError(t, err)
		shared.dir = dir
		src := filepath.Join(dir, "src")
		trickyTreeAt(t, src)
		shared.tricky = src
	})
	if shared.tricky == "" {
		t.Fatal("the shared tricky tree could not be built: see the first test that used it")
	}
	return shared.tricky
}

func isRoot() bool { return os.Geteuid() == 0 }

// trickyTreeAt lays out at root a tree with every kind of entry and the
// sizes where writers go wrong.
func trickyTreeAt(t testing.TB, root string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := func(n int) []byte {
		var b bytes.Buffer
		for i := 0; b.Len() < n; i++ {
			fmt.Fprintf(&b, "line %d of a compressible file: the quick brown fox\n", i)
		}
		return b.Bytes()[:n]
	}
	write := func(rel string, data []byte, mode fs.FileMode) {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, mode))
		require.NoError(t, os.Chmod(p, mode)) // past the umask
	}

	// Sizes around every block size the tests use, random and compressible.
	for _, n := range []int{0, 1, 2, 4095, 4096, 4097, 65535, 131071, 131072, 131073,
		1<<20 - 1, 1 << 20, 1<<20 + 1, 3<<20 + 17} {
		// Random data is slow to compress, for us and for mksquashfs: a
		// file of several 1 MiB blocks and a tail is text only.
		if n < 2<<20 {
			write(fmt.Sprintf("sizes/random-%d", n), random(n), 0o644)
		}
		write(fmt.Sprintf("sizes/text-%d", n), text(n), 0o600)
	}
	// Duplicates: whole files, small files, and same size with other bytes.
	dup := text(300_000)
	write("dups/a", dup, 0o644)
	write("dups/b", dup, 0o755)
	write("dups/deep/c", dup, 0o644)
	write("dups/small-1", []byte("same small\n"), 0o644)
	write("dups/small-2", []byte("same small\n"), 0o644)
	write("dups/small-3", []byte("SAME SMALL\n"), 0o644)
	other := bytes.Clone(dup)
	other[len(other)-1] ^= 1
	write("dups/almost", other, 0o644)

	// A sparse file: data, a 2 MiB hole, data, then a hole to the end.
	sparse := filepath.Join(root, "sparse")
	f, err := os.Create(sparse)
	require.NoError(t, err)
	_, err = f.Write(text(5000))
	require.NoError(t, err)
	_, err = f.WriteAt(random(7000), 2<<20+3<<19)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(6<<20))
	require.NoError(t, f.Close())
	write("zeros", make([]byte, 2<<20+100), 0o644)

	// Names: the longest Linux allows, non-ASCII, odd bytes, and a big
	// directory that needs a directory index.
	write(strings.Repeat("n", 255), []byte("long name\n"), 0o644)
	write("names/héllo wörld", []byte("latin\n"), 0o644)
	write("names/日本語のファイル", []byte("cjk\n"), 0o644)
	write("names/emoji-🚀", []byte("rocket\n"), 0o644)
	write("names/with\nnewline", []byte("newline\n"), 0o644)
	write("names/-dash", []byte("dash\n"), 0o644)
	// The big directory has long names, so that a few hundred entries (each
	// file costs a millisecond to create and to extract here) make a
	// listing of over 64 KiB, past a basic inode's 16-bit size, with more
	// than 256 entries, the most one header covers, an index entry for
	// every 8 KiB metadata block, and inodes in several metadata blocks.
	listing := 0
	for i := range bigEntries {
		name := bigEntryName(i)
		write("big/"+name, []byte(strconv.Itoa(i)), 0o644)
		listing += 8 + len(name) // a squashfs directory entry
	}
	require.Greater(t, listing, 0xFFFF, "the big directory's listing")
	deep := "deep"
	for i := range 60 {
		deep = filepath.Join(deep, fmt.Sprintf("level%02d", i))
	}
	write(filepath.Join(deep, "bottom"), []byte("bottom\n"), 0o644)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "empty-dir"), 0o700))
	require.NoError(t, os.Chmod(filepath.Join(root, "empty-dir"), 0o700))

	// Permissions beyond rwx.
	write("modes/setuid", []byte("#!/bin/sh\n"), 0o755|fs.ModeSetuid)
	write("modes/setgid", []byte("#!/bin/sh\n"), 0o755|fs.ModeSetgid)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "modes/sticky"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(root, "modes/sticky"), 0o1777|fs.ModeSticky))
	write("modes/none", []byte("no permissions\n"), 0)

	// Links.
	require.NoError(t, os.Symlink("../sizes/text-4096", filepath.Join(root, "names/rel-link")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(root, "abs-link")))
	require.NoError(t, os.Symlink("does/not/exist", filepath.Join(root, "dangling")))
	require.NoError(t, os.Symlink("deep", filepath.Join(root, "dir-link")))
	require.NoError(t, os.Symlink(strings.Repeat("t/", 1000), filepath.Join(root, "long-target")))
	write("hard/one", text(20_000), 0o640)
	require.NoError(t, os.Link(filepath.Join(root, "hard/one"), filepath.Join(root, "hard/two")))
	require.NoError(t, os.Link(filepath.Join(root, "hard/one"), filepath.Join(root, "names/three")))

	// Special files need root for devices; FIFOs and sockets do not.
	require.NoError(t, unix.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	require.NoError(t, unix.Mknod(filepath.Join(root, "socket"), unix.S_IFSOCK|0o755, 0))
	if isRoot() {
		require.NoError(t, unix.Mknod(filepath.Join(root, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		require.NoError(t, unix.Mknod(filepath.Join(root, "loop"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 300))))
		require.NoError(t, unix.Mknod(filepath.Join(root, "bigdev"), unix.S_IFCHR|0o600, int(unix.Mkdev(4000, 900000))))
		// Owners other than root, for --keep-owners.
		require.NoError(t, os.Lchown(filepath.Join(root, "sizes/text-1"), 1000, 1000))
		require.NoError(t, os.Lchown(filepath.Join(root, "names"), 65534, 65534))
		require.NoError(t, os.Lchown(filepath.Join(root, "dangling"), 123, 456))
	}
	// Extended attributes, where the file system takes them.
	if err := unix.Lsetxattr(filepath.Join(root, "sizes/text-2"), "user.comment", []byte("hello"), 0); err == nil {
		require.NoError(t, unix.Lsetxattr(filepath.Join(root, "sizes/text-2"), "user.other", []byte{}, 0))
		require.NoError(t, unix.Lsetxattr(filepath.Join(root, "big"), "user.dir", []byte("on a directory"), 0))
		require.NoError(t, unix.Lsetxattr(filepath.Join(root, "dups/small-1"), "user.comment", []byte("hello"), 0))
		if isRoot() {
			// A file capability (cap_net_bind_service, permitted+effective),
			// as a web server binding port 80 would carry.
			capability := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
			require.NoError(t, unix.Lsetxattr(filepath.Join(root, "modes/setgid"), "security.capability", capability, 0))
			require.NoError(t, unix.Lsetxattr(filepath.Join(root, "hard/one"), "trusted.x", []byte("trusted"), 0))
		}
	}
	// Times, for --keep-times: mixed, and the epoch edge.
	require.NoError(t, os.Chtimes(filepath.Join(root, "sizes/text-0"), timeAt(0), timeAt(0)))
	require.NoError(t, os.Chtimes(filepath.Join(root, "sizes/random-1"), timeAt(1700000000), timeAt(1700000000)))
}

// bigEntries is the number of files in the tricky tree's big directory.
const bigEntries = 400

// bigEntryName is the name of the i-th file of the big directory: 100 to
// 249 bytes long.
func bigEntryName(i int) string {
	return fmt.Sprintf("entry-%05d-%s", i, strings.Repeat("x", 88+i*7%150))
}

// mksquashfsArgs are the mksquashfs flags equivalent to our options.
func mksquashfsArgs(opts Options) []string {
	c := opts.Compressor
	if c == nil {
		c = XZCompressor{}
	}
	comp := c.ID().String()
	args := []string{"-b", strconv.Itoa(opts.BlockSize), "-no-progress", "-quiet", "-processors", "2",
		"-mkfs-time", strconv.Itoa(DefaultEpoch)}
	if _, raw := c.(NoCompression); raw {
		args = append(args, "-noI", "-noD", "-noF", "-noX")
	} else {
		args = append(args, "-comp", comp)
	}
	if !opts.KeepOwners {
		args = append(args, "-all-root")
	}
	if !opts.KeepTimes {
		args = append(args, "-all-time", strconv.Itoa(DefaultEpoch))
	}
	if opts.NoXattrs {
		args = append(args, "-no-xattrs")
	} else {
		args = append(args, "-xattrs")
	}
	if xz, ok := c.(XZCompressor); ok && !xz.NoBCJ {
		args = append(args, "-Xbcj", "x86")
	}
	if z, ok := c.(ZstdCompressor); ok && z.Level != 0 {
		args = append(args, "-Xcompression-level", strconv.Itoa(z.Level))
	}
	if opts.NoFragments {
		args = append(args, "-no-fragments")
	}
	if opts.NoDedup {
		args = append(args, "-no-duplicates")
	}
	return args
}

// diskfsReads reports whether go-diskfs can read images written with c.
// It decodes lz4 as the LZ4 frame format, not the raw blocks squashfs
// stores, so it fails on mksquashfs's lz4 images too; and its xz reader
// knows no filter, while any of our xz blocks, metadata included, may carry
// the x86 BCJ filter unless NoBCJ is set. Only what it reads is handed to it.
func diskfsReads(c Compressor) bool {
	switch c := c.(type) {
	case LZ4Compressor:
		return false
	case XZCompressor:
		return c.NoBCJ
	}
	return true
}

func TestImagesMatchMksquashfs(t *testing.T) {
	t.Parallel()
	src := trickyTree(t)

	type variant struct {
		name string
		opts Options
	}
	var variants []variant
	for _, comp := range []string{"xz", "gzip", "zstd", "lz4", "none"} {
		for _, bs := range []int{4096, 128 << 10, 1 << 20} {
			c, err := NewCompressor(comp)
			require.NoError(t, err)
			name := fmt.Sprintf("%s-%d", comp, bs)
			switch {
			case comp == "xz" && bs == 1<<20:
				// Our default, with BCJ on blocks of code, against
				// mksquashfs -Xbcj x86.
				name = "xz-bcj-1048576"
			case comp == "xz":
				// mksquashfs -comp xz: plain LZMA2, which go-diskfs reads.
				c = XZCompressor{NoBCJ: true}
			}
			variants = append(variants, variant{name, Options{Compressor: c, BlockSize: bs}})
		}
	}
	variants = append(variants,
		variant{"keep-all", Options{Compressor: XZCompressor{NoBCJ: true}, BlockSize: 128 << 10, KeepOwners: true, KeepTimes: true}},
		variant{"no-xattrs", Options{Compressor: GzipCompressor{Level: 6}, BlockSize: 16 << 10, NoXattrs: true}},
		variant{"no-fragments", Options{Compressor: GzipCompressor{Level: 6}, BlockSize: 64 << 10, NoFragments: true}},
		variant{"no-dedup", Options{Compressor: LZ4Compressor{HC: true}, BlockSize: 32 << 10, NoDedup: true}},
		variant{"no-export-1-worker", Options{Compressor: ZstdCompressor{Level: 1}, BlockSize: 8 << 10, NoExport: true, Workers: 1}},
		// Our own zstd encoder's high setting; the default (15) is the
		// "zstd" variants above.
		variant{"zstd-19-1048576", Options{Compressor: ZstdCompressor{Level: 19}, BlockSize: 1 << 20}},
	)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ours := filepath.Join(dir, "ours.sqfs")
			tree, err := TreeFromDir(src, LoadOptions{NoXattrs: v.opts.NoXattrs})
			require.NoError(t, err)
			_, err = WriteFile(context.Background(), ours, tree, v.opts)
			require.NoError(t, err)

			theirs := filepath.Join(dir, "theirs.sqfs")
			out, err := testtool.Command(t, "mksquashfs", append([]string{src, theirs}, mksquashfsArgs(v.opts)...)...).CombinedOutput()
			require.NoError(t, err, "mksquashfs: %s", out)

			// sqfsdiff compares contents, owners, permissions, times (-T),
			// xattrs and the kind of every inode.
			out, err = testtool.Command(t, "sqfsdiff", "-T", "-a", theirs, "-b", ours).CombinedOutput()
			require.NoError(t, err, "sqfsdiff found differences:\n%s", out)

			// unsquashfs lists both the same way: names, modes, owners,
			// file sizes, times, symlink targets and device numbers.
			listing := func(img string) string {
				out, err := testtool.Command(t, "unsquashfs", "-lls", "-n", img).CombinedOutput()
				require.NoError(t, err, "unsquashfs -lls %s: %s", img, out)
				return dirSizesBlanked(strings.ReplaceAll(string(out), img, "IMAGE"))
			}
			require.Equal(t, listing(theirs), listing(ours))

			// unsquashfs extracts every file, which the source then matches.
			extracted := filepath.Join(dir, "x")
			out, err = testtool.Command(t, "unsquashfs", "-n", "-d", extracted, ours).CombinedOutput()
			require.NoError(t, err, "unsquashfs: %s", out)
			compareTrees(t, src, extracted, v.opts)

			if diskfsReads(v.opts.Compressor) {
				checkWithDiskfs(t, ours, src)
			}
		})
	}
}

// dirSizesBlanked replaces the size of every directory in an unsquashfs
// -lls listing with "-". A directory's size is the length of its listing,
// which depends on where its entries' inodes fall in the inode table: we
// pack the tail of a file longer than a block into a fragment, as
// mksquashfs does only with -tailends, so our inodes of such files are 4
// bytes shorter and directory headers fall elsewhere. (mksquashfs 4.5.1
// with -tailends cannot be the reference: it stored wrong tails of the
// tricky tree's random-131073 and text-1048575, 9 runs of 30 with lz4 at
// 128 KiB, 1 of 30 uncompressed on one thread.) The kernel and unsquashfs
// read our directories through those sizes, so they are checked anyway.
func dirSizesBlanked(listing string) string {
	lines := strings.Split(listing, "\n")
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.HasPrefix(f[0], "d") {
			lines[i] = strings.Replace(line, " "+f[2]+" ", " - ", 1)
		}
	}
	return strings.Join(lines, "\n")
}

// TestKernelMount mounts our images with the Linux kernel's own squashfs
// driver and compares what it reads with the source.
func TestKernelMount(t *testing.T) {
	t.Parallel()
	if !isRoot() {
		t.Skip("a loop mount needs root")
	}
	src := trickyTree(t)
	for _, comp := range []string{"xz", "gzip", "zstd", "zstd:19", "zstd:3", "lz4", "none"} {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			c, err := NewCompressor(comp)
			require.NoError(t, err)
			opts := Options{Compressor: c, BlockSize: 128 << 10, KeepOwners: true, KeepTimes: true}
			dir := t.TempDir()
			img := filepath.Join(dir, "img.sqfs")
			tree, err := TreeFromDir(src, LoadOptions{})
			require.NoError(t, err)
			_, err = WriteFile(context.Background(), img, tree, opts)
			require.NoError(t, err)
			mnt := testtool.Mount(t, img)
			compareTrees(t, src, mnt, opts)
			// A lookup in the big directory goes through its index.
			_, err = os.Lstat(filepath.Join(mnt, "big", bigEntryName(bigEntries-1)))
			require.NoError(t, err)
			_, err = os.Lstat(filepath.Join(mnt, "big", "entry-99999"))
			require.ErrorIs(t, err, fs.ErrNotExist)
		})
	}
}

// compareTrees checks that got holds what want holds: the same names, kinds,
// permissions, sizes, contents, symlink targets, device numbers and hard
// links, and owners, times and xattrs as opts says they were stored.
func compareTrees(t *testing.T, want, got string, opts Options) {
	t.Helper()
	wantLinks, gotLinks := map[uint64]string{}, map[uint64]string{}
	seen := 0
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, err := filepath.Rel(want, p)
		require.NoError(t, err)
		g := filepath.Join(got, rel)
		var ws, gs unix.Stat_t
		require.NoError(t, unix.Lstat(p, &ws))
		require.NoError(t, unix.Lstat(g, &gs), "%s missing", rel)
		seen++
		require.Equal(t, ws.Mode, gs.Mode, "%s: mode", rel)
		if ws.Mode&unix.S_IFMT != unix.S_IFDIR {
			require.Equal(t, ws.Size, gs.Size, "%s: size", rel)
		}
		switch ws.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			require.Equal(t, fileSum(t, p), fileSum(t, g), "%s: contents", rel)
		case unix.S_IFLNK:
			wt, err := os.Readlink(p)
			require.NoError(t, err)
			gt, err := os.Readlink(g)
			require.NoError(t, err)
			require.Equal(t, wt, gt, "%s: target", rel)
		case unix.S_IFCHR, unix.S_IFBLK:
			require.Equal(t, ws.Rdev, gs.Rdev, "%s: device", rel)
		case unix.S_IFDIR:
			wn, err := os.ReadDir(p)
			require.NoError(t, err)
			gn, err := os.ReadDir(g)
			require.NoError(t, err)
			require.Equal(t, len(wn), len(gn), "%s: entries", rel)
		}
		if ws.Mode&unix.S_IFMT != unix.S_IFDIR && ws.Nlink > 1 {
			// Names that share an inode in the source share one here.
			require.Equal(t, ws.Nlink, gs.Nlink, "%s: links", rel)
			if first, ok := wantLinks[ws.Ino]; ok {
				require.Equal(t, gotLinks[gs.Ino], first, "%s: not linked to %s", rel, first)
			} else {
				wantLinks[ws.Ino], gotLinks[gs.Ino] = rel, rel
			}
		}
		if opts.KeepOwners {
			require.Equal(t, [2]uint32{ws.Uid, ws.Gid}, [2]uint32{gs.Uid, gs.Gid}, "%s: owner", rel)
		} else {
			require.Equal(t, [2]uint32{0, 0}, [2]uint32{gs.Uid, gs.Gid}, "%s: owner", rel)
		}
		if ws.Mode&unix.S_IFMT != unix.S_IFLNK || opts.KeepTimes {
			wantTime := int64(DefaultEpoch)
			if opts.KeepTimes {
				wantTime = ws.Mtim.Sec
			}
			// unsquashfs cannot set a symlink's time without following it
			// on every system, so symlinks are compared only when kept.
			if ws.Mode&unix.S_IFMT != unix.S_IFLNK {
				require.Equal(t, wantTime, gs.Mtim.Sec, "%s: mtime", rel)
			}
		}
		if !opts.NoXattrs {
			require.Equal(t, xattrsOf(t, p), xattrsOf(t, g), "%s: xattrs", rel)
		}
		return nil
	})
	require.NoError(t, err)
	// Nothing extra: count the other side's entries too.
	extra := 0
	require.NoError(t, filepath.WalkDir(got, func(string, fs.DirEntry, error) error { extra++; return nil }))
	require.Equal(t, seen, extra, "entries in %s", got)
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return [32]byte(h.Sum(nil))
}

func xattrsOf(t *testing.T, p string) map[string]string {
	t.Helper()
	x, err := readXattrs(p)
	require.NoError(t, err)
	m := map[string]string{}
	for k, v := range x {
		m[k] = string(v)
	}
	return m
}

// checkWithDiskfs reads every entry of img with go-diskfs's squashfs reader
// and compares kinds, permissions, contents and symlink targets with src.
func checkWithDiskfs(t *testing.T, img, src string) {
	t.Helper()
	testtool.Ran(t, "go-diskfs", img)
	f, err := os.Open(img)
	require.NoError(t, err)
	defer f.Close()
	info, err := f.Stat()
	require.NoError(t, err)
	sfs, err := diskfs.Read(file.New(f, true), info.Size(), 0, 0)
	require.NoError(t, err)
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := sfs.ReadDir(dir)
		require.NoError(t, err, "diskfs ReadDir %s", dir)
		want, err := os.ReadDir(filepath.Join(src, dir))
		require.NoError(t, err)
		require.Len(t, entries, len(want), "diskfs: entries of %s", dir)
		for _, e := range entries {
			rel := path.Join(dir, e.Name())
			st, err := os.Lstat(filepath.Join(src, rel))
			require.NoError(t, err, "diskfs lists %s, which the source lacks", rel)
			fi, err := e.Info()
			require.NoError(t, err)
			require.Equal(t, st.Mode().Type(), fi.Mode().Type(), "diskfs: %s type", rel)
			require.Equal(t, st.Mode().Perm(), fi.Mode().Perm(), "diskfs: %s perm", rel)
			switch {
			case st.Mode().IsDir():
				walk(rel)
			case st.Mode().IsRegular():
				// Opening through the entry, not the path, spares diskfs a
				// scan of the whole directory for every file.
				opener, ok := e.(interface {
					Open() (filesystem.File, error)
				})
				require.True(t, ok)
				rf, err := opener.Open()
				require.NoError(t, err)
				data, err := io.ReadAll(rf)
				require.NoError(t, err, "diskfs read %s", rel)
				require.Equal(t, fileSum(t, filepath.Join(src, rel)), sha256.Sum256(data), "diskfs: %s contents", rel)
			case st.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(filepath.Join(src, rel))
				require.NoError(t, err)
				l, ok := e.(interface{ Readlink() (string, error) })
				require.True(t, ok)
				got, err := l.Readlink()
				require.NoError(t, err)
				require.Equal(t, target, got, "diskfs: %s target", rel)
			}
		}
	}
	walk(".")
}

func timeAt(secs int64) time.Time { return time.Unix(secs, 0) }

// TestBigDirectory checks a directory of thousands of entries, whose
// listing spans many metadata blocks and index entries and whose inodes
// fill several export table blocks, built in memory: creating and
// extracting that many files on disk would take most of a minute here.
// unsquashfs lists it as written, go-diskfs and our Reader read every
// file, and the kernel looks names up through the index.
func TestBigDirectory(t *testing.T) {
	t.Parallel()
	const n = 3000
	name := func(i int) string { return fmt.Sprintf("entry-%05d-%s", i, strings.Repeat("x", i%40)) }
	tree := NewTree()
	require.NoError(t, tree.Mkdir("big", Attr{Mode: 0o755}))
	for i := range n {
		require.NoError(t, tree.AddBytes("big/"+name(i), Attr{Mode: 0o644}, []byte(strconv.Itoa(i))))
	}
	img := filepath.Join(t.TempDir(), "big.sqfs")
	_, err := WriteFile(context.Background(), img, tree, Options{Compressor: XZCompressor{NoBCJ: true}, BlockSize: 4096})
	require.NoError(t, err)

	out, err := testtool.Command(t, "unsquashfs", "-lls", "-n", img).CombinedOutput()
	require.NoError(t, err, "%s", out)
	listed := 0
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "squashfs-root/big/"); i >= 0 {
			require.Equal(t, name(listed), line[i+len("squashfs-root/big/"):])
			listed++
		}
	}
	require.Equal(t, n, listed)

	rc, err := OpenReader(img)
	require.NoError(t, err)
	defer rc.Close()
	entries, err := rc.ReadDir("big")
	require.NoError(t, err)
	require.Len(t, entries, n)
	for i, e := range entries {
		require.Equal(t, name(i), e.Name())
		data, err := rc.ReadFile("big/" + e.Name())
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(i), string(data))
	}

	testtool.Ran(t, "go-diskfs", img)
	f, err := os.Open(img)
	require.NoError(t, err)
	defer f.Close()
	sfs, err := diskfs.Read(file.New(f, true), fileSize(t, img), 0, 0)
	require.NoError(t, err)
	got, err := sfs.ReadDir("big")
	require.NoError(t, err)
	require.Len(t, got, n)
	for i, e := range got {
		require.Equal(t, name(i), e.Name())
	}

	mnt := testtool.Mount(t, img)
	for _, i := range []int{0, 1, 255, 256, 1000, 2047, n - 1} {
		data, err := os.ReadFile(filepath.Join(mnt, "big", name(i)))
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(i), string(data))
	}
	_, err = os.Lstat(filepath.Join(mnt, "big", "entry-99999"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	names, err := os.ReadDir(filepath.Join(mnt, "big"))
	require.NoError(t, err)
	require.Len(t, names, n)
}
