package squashfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// metadataTree holds every kind of inode and every piece of metadata an
// image stores: owners other than root, setuid, setgid and sticky modes,
// devices, a FIFO and a socket, symlinks, xattrs of each namespace on
// each kind, hard links, holes, duplicates and times.
func metadataTree(t *testing.T) *Tree {
	t.Helper()
	tree := NewTree()
	at := func(secs int64) time.Time { return time.Unix(secs, 0) }
	x := func(kv ...string) map[string][]byte {
		m := map[string][]byte{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = []byte(kv[i+1])
		}
		return m
	}
	require.NoError(t, tree.SetAttr("/", Attr{Mode: 0o755, ModTime: at(1000)}))
	require.NoError(t, tree.Mkdir("/home", Attr{Mode: 0o755, ModTime: at(2000)}))
	require.NoError(t, tree.Mkdir("/home/u", Attr{Mode: 0o700, UID: 1000, GID: 1000, ModTime: at(3000), Xattrs: x("user.dir", "on a directory")}))
	require.NoError(t, tree.AddBytes("/home/u/notes", Attr{Mode: 0o640, UID: 1000, GID: 100, ModTime: at(1700000000),
		Xattrs: x("user.comment", "hello", "trusted.t", "trusted value")}, []byte("notes\n")))
	require.NoError(t, tree.Mkdir("/bin", Attr{Mode: 0o755}))
	require.NoError(t, tree.AddBytes("/bin/su", Attr{Mode: 0o755 | fs.ModeSetuid}, []byte("#!/bin/sh\n")))
	require.NoError(t, tree.AddBytes("/bin/wall", Attr{Mode: 0o755 | fs.ModeSetgid, GID: 5,
		Xattrs: map[string][]byte{"security.capability": {1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}, []byte("#!/bin/sh\n# wall\n")))
	require.NoError(t, tree.Mkdir("/tmp", Attr{Mode: 0o777 | fs.ModeSticky}))
	require.NoError(t, tree.Mkdir("/dev", Attr{Mode: 0o755}))
	require.NoError(t, tree.Mknod("/dev/null", fs.ModeDevice|fs.ModeCharDevice, 1, 3, Attr{Mode: 0o666}))
	require.NoError(t, tree.Mknod("/dev/loop0", fs.ModeDevice, 7, 300, Attr{Mode: 0o660, GID: 6}))
	require.NoError(t, tree.Mknod("/dev/big", fs.ModeDevice|fs.ModeCharDevice, 4000, 900000, Attr{Mode: 0o600, Xattrs: x("user.dev", "x")}))
	require.NoError(t, tree.Mkdir("/run", Attr{Mode: 0o755}))
	require.NoError(t, tree.Mknod("/run/fifo", fs.ModeNamedPipe, 0, 0, Attr{Mode: 0o620, UID: 65534}))
	require.NoError(t, tree.Mknod("/run/sock", fs.ModeSocket, 0, 0, Attr{Mode: 0o777, Xattrs: x("user.s", "")}))
	require.NoError(t, tree.Symlink("/etc-link", "/home/u/notes", Attr{Mode: 0o777, UID: 1000}))
	require.NoError(t, tree.Symlink("/bin/sh", "su", Attr{Mode: 0o777, Xattrs: x("user.l", "on a link")}))
	require.NoError(t, tree.Mkdir("/data", Attr{Mode: 0o755}))
	big := bytes.Repeat([]byte("data that compresses, "), 2000)
	sparse := append(append(bytes.Clone(big[:5000]), make([]byte, 3*4096)...), big[:777]...)
	require.NoError(t, tree.AddBytes("/data/big", Attr{Mode: 0o644}, big))
	require.NoError(t, tree.AddBytes("/data/big-copy", Attr{Mode: 0o600}, big))
	require.NoError(t, tree.AddBytes("/data/sparse", Attr{Mode: 0o644}, sparse))
	require.NoError(t, tree.AddBytes("/data/empty", Attr{Mode: 0o644}, nil))
	require.NoError(t, tree.Mkdir("/data/empty-dir", Attr{Mode: 0o711}))
	require.NoError(t, tree.AddBytes("/data/one", Attr{Mode: 0o644, UID: 7, Xattrs: x("user.linked", "yes")}, []byte("linked\n")))
	require.NoError(t, tree.Link("/data/two", "/data/one"))
	require.NoError(t, tree.Link("/home/u/three", "/data/one"))
	require.NoError(t, tree.Mknod("/run/fifo-a", fs.ModeNamedPipe, 0, 0, Attr{Mode: 0o600}))
	require.NoError(t, tree.Link("/run/fifo-b", "/run/fifo-a"))
	return tree
}

// A Reader's tree, added to a new Tree and written again with the same
// options, is the same image byte for byte: AddFS keeps everything the
// Reader shows.
func TestAddFSRoundTripsAReader(t *testing.T) {
	for _, comp := range []Compressor{XZCompressor{}, GzipCompressor{Level: 6}, ZstdCompressor{Level: 3}, LZ4Compressor{}, NoCompression{}} {
		for _, opts := range []Options{
			{Compressor: comp, BlockSize: 4096, KeepOwners: true, KeepTimes: true},
			{Compressor: comp, BlockSize: 1 << 20, NoFragments: true},
		} {
			t.Run(fmt.Sprintf("%v-%d", comp.ID(), opts.BlockSize), func(t *testing.T) {
				first := writeMem(t, metadataTree(t), opts)
				rd, err := NewReader(bytesReaderAt(first), int64(len(first)))
				require.NoError(t, err)
				again := NewTree()
				require.NoError(t, again.AddFS("/", rd))
				second := writeMem(t, again, opts)
				require.True(t, bytes.Equal(first, second), "the image changed on a round trip through Reader and AddFS")

				if !opts.KeepOwners {
					return
				}
				info, err := rd.Lstat("home/u/notes")
				require.NoError(t, err)
				sys := info.Sys().(*InodeInfo)
				require.Equal(t, [2]uint32{1000, 100}, [2]uint32{sys.UID, sys.GID})
				require.Equal(t, map[string][]byte{"user.comment": []byte("hello"), "trusted.t": []byte("trusted value")}, sys.Xattrs)
				n, err := again.Lookup("/dev/big")
				require.NoError(t, err)
				major, minor := decodeDevice(n.rdev)
				require.Equal(t, [2]uint32{4000, 900000}, [2]uint32{major, minor})
				one, err := again.Lookup("/data/one")
				require.NoError(t, err)
				three, err := again.Lookup("/home/u/three")
				require.NoError(t, err)
				require.Same(t, one, three, "hard links stay one node")
			})
		}
	}
}

// An image mksquashfs made of a host tree reads back through AddFS with the
// owners, modes, devices, links and xattrs it holds: sqfsdiff finds our
// image of that tree the same as mksquashfs's.
func TestAddFSReadsMksquashfsImages(t *testing.T) {
	mksquashfs := testtool.Need(t, "mksquashfs")
	sqfsdiff := testtool.Need(t, "sqfsdiff")
	src := trickyTree(t)
	dir := t.TempDir()
	theirs := filepath.Join(dir, "theirs.sqfs")
	out, err := exec.Command(mksquashfs, src, theirs, "-comp", "zstd", "-b", "64K", "-xattrs", "-no-progress", "-quiet").CombinedOutput()
	require.NoError(t, err, "%s", out)
	rc, err := OpenReader(theirs)
	require.NoError(t, err)
	defer rc.Close()
	tree := NewTree()
	require.NoError(t, tree.AddFS("/", rc))
	ours := filepath.Join(dir, "ours.sqfs")
	_, err = WriteFile(context.Background(), ours, tree, Options{Compressor: ZstdCompressor{Level: 3}, BlockSize: 64 << 10,
		KeepOwners: true, KeepTimes: true})
	require.NoError(t, err)
	out, err = exec.Command(sqfsdiff, "-T", "-a", theirs, "-b", ours).CombinedOutput()
	require.NoError(t, err, "sqfsdiff found differences:\n%s", out)

	// sqfsdiff leaves xattrs and link counts out; the Readers compare them.
	mine, err := OpenReader(ours)
	require.NoError(t, err)
	defer mine.Close()
	xattrs := 0
	require.NoError(t, fs.WalkDir(rc, ".", func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		want, err := rc.Lstat(p)
		require.NoError(t, err)
		got, err := mine.Lstat(p)
		require.NoError(t, err)
		w, g := want.Sys().(*InodeInfo), got.Sys().(*InodeInfo)
		require.Equal(t, w.Xattrs, g.Xattrs, p)
		require.Equal(t, w.Nlink, g.Nlink, p)
		xattrs += len(w.Xattrs)
		return nil
	}))
	if xattrsSupported(t) {
		require.NotZero(t, xattrs, "the source tree's xattrs are in neither image")
	}
}

// xattrsSupported reports whether the temporary directory's file system
// takes user xattrs, as trickyTree needs to set them.
func xattrsSupported(t *testing.T) bool {
	p := filepath.Join(t.TempDir(), "x")
	require.NoError(t, os.WriteFile(p, nil, 0o644))
	return unix.Lsetxattr(p, "user.probe", []byte("x"), 0) == nil
}

// TestHostFilesSwappedAfterLoad checks what reading a loaded directory's
// files does when the host tree changes between the load and the write:
// a file or a directory on its path swapped for a link out of the tree,
// or a file for a FIFO, fails the write, naming the file, without
// following the link or waiting on the FIFO.
func TestHostFilesSwappedAfterLoad(t *testing.T) {
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(outside, "d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "d", "f"), []byte("secret"), 0o644))

	for _, tc := range []struct {
		name string
		swap func(src string) error
		want string
	}{
		{"file to link out", func(src string) error {
			f := filepath.Join(src, "d", "f")
			return errors.Join(os.Remove(f), os.Symlink(filepath.Join(outside, "secret"), f))
		}, "d/f"},
		{"directory to link out", func(src string) error {
			d := filepath.Join(src, "d")
			return errors.Join(os.RemoveAll(d), os.Symlink(filepath.Join(outside, "d"), d))
		}, "d/f"},
		{"file to FIFO", func(src string) error {
			f := filepath.Join(src, "d", "f")
			return errors.Join(os.Remove(f), unix.Mkfifo(f, 0o644))
		}, "d/f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(src, "d"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(src, "d", "f"), []byte("inside"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(src, "top"), []byte("top file"), 0o644))
			tree, err := TreeFromDir(src, LoadOptions{})
			require.NoError(t, err)
			require.NoError(t, tc.swap(src))

			done := make(chan error, 1)
			go func() {
				_, err := Write(context.Background(), &memImage{}, tree, Options{Compressor: GzipCompressor{Level: 1}})
				done <- err
			}()
			select {
			case err := <-done:
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.want)
				t.Log(err)
			case <-time.After(time.Minute):
				t.Fatal("the write hung")
			}
		})
	}
}

// TestHostFilesFromTheLoadedDirectory checks that files are read only
// from the directory that was loaded: when another takes its name before
// the write, the write fails, naming it.
func TestHostFilesFromTheLoadedDirectory(t *testing.T) {
	parent := t.TempDir()
	src := filepath.Join(parent, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "d", "f"), []byte("loaded"), 0o644))
	tree, err := TreeFromDir(src, LoadOptions{})
	require.NoError(t, err)
	require.NoError(t, os.Rename(src, filepath.Join(parent, "moved")))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "d", "f"), []byte("swap!!"), 0o644))

	_, err = Write(context.Background(), &memImage{}, tree, Options{Compressor: GzipCompressor{Level: 1}})
	require.ErrorIs(t, err, errDirReplaced)
	require.ErrorContains(t, err, src)
}

// TestHostDescriptors checks that a tree made of many added directories
// holds no more than two descriptors once written, as a closure of
// hundreds of store paths is.
func TestHostDescriptors(t *testing.T) {
	openFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(ents)
	}
	base := t.TempDir()
	tree := NewTree()
	before := openFDs()
	for i := range 300 {
		dir := filepath.Join(base, fmt.Sprint("p", i))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "f"), []byte(fmt.Sprint("store path ", i)), 0o644))
		require.NoError(t, tree.AddDir(fmt.Sprint("/nix/store/p", i), dir, LoadOptions{}))
	}
	require.LessOrEqual(t, openFDs()-before, 0, "loading keeps no descriptor")
	img := writeMem(t, tree, Options{Compressor: GzipCompressor{Level: 1}})
	require.LessOrEqual(t, openFDs()-before, 2)
	r, err := NewReader(bytes.NewReader(img), int64(len(img)))
	require.NoError(t, err)
	got, err := fs.ReadFile(r, "nix/store/p299/bin/f")
	require.NoError(t, err)
	require.Equal(t, "store path 299", string(got))
}

// TestHostFilesAcrossDirectories reads files of many directories in the
// order a write does, with duplicates that send it back to earlier
// directories, and gets each file's own bytes.
func TestHostFilesAcrossDirectories(t *testing.T) {
	src := t.TempDir()
	for d := range 5 {
		for f := range 4 {
			dir := filepath.Join(src, fmt.Sprint("d", d), "sub")
			require.NoError(t, os.MkdirAll(dir, 0o755))
			data := fmt.Sprintf("file %d/%d", d, f)
			if f == 3 {
				data = "file 0/0" // the same as an earlier directory's
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprint("f", f)), []byte(data), 0o644))
		}
	}
	tree, err := TreeFromDir(src, LoadOptions{})
	require.NoError(t, err)
	img := writeMem(t, tree, Options{Compressor: GzipCompressor{Level: 1}})
	r, err := NewReader(bytes.NewReader(img), int64(len(img)))
	require.NoError(t, err)
	for d := range 5 {
		for f := range 4 {
			name := fmt.Sprintf("d%d/sub/f%d", d, f)
			want, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(name)))
			require.NoError(t, err)
			got, err := fs.ReadFile(r, name)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), name)
		}
	}
}
