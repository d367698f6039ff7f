package squashfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	diskfs "github.com/diskfs/go-diskfs/filesystem/squashfs"
	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
)

// memImage is an in-memory io.WriterAt.
type memImage = testtool.WriterAt

func writeMem(t testing.TB, tree *Tree, opts Options) []byte {
	t.Helper()
	var img memImage
	_, err := Write(context.Background(), &img, tree, opts)
	require.NoError(t, err)
	return img.B
}

func TestReproducibleAcrossWorkers(t *testing.T) {
	t.Parallel()
	src := trickyTree(t)
	for _, comp := range []string{"xz", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			c, err := NewCompressor(comp)
			require.NoError(t, err)
			var first [32]byte
			for i, workers := range []int{1, 2, 8} {
				tree, err := TreeFromDir(src, LoadOptions{})
				require.NoError(t, err)
				sum := sha256.Sum256(writeMem(t, tree, Options{Compressor: c, BlockSize: 64 << 10, Workers: workers}))
				if i == 0 {
					first = sum
					continue
				}
				require.Equal(t, first, sum, "%s with %d workers", comp, workers)
			}
		})
	}
}

// TestReproducibleAcrossBuildOrder builds the same tree in two orders and
// from two source directories whose atimes, umask and creation order
// differ; the images must be identical.
func TestReproducibleAcrossBuildOrder(t *testing.T) {
	type entry struct {
		path string
		data []byte
	}
	var entries []entry
	for i := range 200 {
		dir := fmt.Sprintf("d%d", i%7)
		entries = append(entries, entry{fmt.Sprintf("%s/f%03d", dir, i), bytes.Repeat([]byte{byte(i)}, i*97)})
	}
	build := func(order []int) *Tree {
		tree := NewTree()
		for _, i := range order {
			e := entries[i]
			require.NoError(t, tree.MkdirAll(filepath.Dir(e.path), Attr{Mode: 0o755}))
			require.NoError(t, tree.AddBytes(e.path, Attr{Mode: 0o644}, e.data))
		}
		return tree
	}
	rng := rand.New(rand.NewPCG(7, 7))
	a, b := rng.Perm(len(entries)), rng.Perm(len(entries))
	require.Equal(t, writeMem(t, build(a), Options{}), writeMem(t, build(b), Options{}))

	onDisk := func(order []int, umask int) string {
		root := t.TempDir()
		old := unixUmask(umask)
		defer unixUmask(old)
		for _, i := range order {
			e := entries[i]
			p := filepath.Join(root, e.path)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o777))
			require.NoError(t, os.WriteFile(p, e.data, 0o666))
			require.NoError(t, os.Chtimes(p, time.Unix(int64(rng.Uint32()), 0), time.Time{}))
		}
		// Modes must agree for the images to agree; only the umask that
		// created them differs.
		require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if d.IsDir() {
				return os.Chmod(p, 0o755)
			}
			return os.Chmod(p, 0o644)
		}))
		return root
	}
	treeA, err := TreeFromDir(onDisk(a, 0o022), LoadOptions{})
	require.NoError(t, err)
	treeB, err := TreeFromDir(onDisk(b, 0o077), LoadOptions{})
	require.NoError(t, err)
	require.Equal(t, writeMem(t, treeA, Options{}), writeMem(t, treeB, Options{}))
}

// fakeFile returns contents of size bytes that open may report wrongly.
type fakeFile struct {
	data    []byte
	openErr error
}

func (f fakeFile) open() (io.ReadCloser, error) {
	if f.openErr != nil {
		return nil, f.openErr
	}
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T, tree *Tree)
		opts  Options
		want  string
	}{
		{
			name: "file grew",
			build: func(t *testing.T, tree *Tree) {
				require.NoError(t, tree.AddFile("grows", Attr{}, 10, fakeFile{data: make([]byte, 11)}.open))
			},
			want: "/grows: file grew beyond its size of 10 bytes",
		},
		{
			name: "file grew past a block",
			build: func(t *testing.T, tree *Tree) {
				require.NoError(t, tree.AddFile("grows", Attr{}, 4096, fakeFile{data: make([]byte, 9000)}.open))
			},
			opts: Options{BlockSize: 4096},
			want: "/grows: file grew beyond its size of 4096 bytes",
		},
		{
			name: "file shrank",
			build: func(t *testing.T, tree *Tree) {
				require.NoError(t, tree.AddFile("shrinks", Attr{}, 5000, fakeFile{data: make([]byte, 4000)}.open))
			},
			opts: Options{BlockSize: 4096},
			want: "/shrinks: file shrank below its size of 5000 bytes",
		},
		{
			name: "duplicate candidate changed",
			build: func(t *testing.T, tree *Tree) {
				// A file of whole blocks is hashed before it is stored.
				require.NoError(t, tree.AddBytes("a", Attr{}, make([]byte, 5000)))
				calls := 0
				require.NoError(t, tree.AddFile("b", Attr{}, 5000, func() (io.ReadCloser, error) {
					calls++
					return io.NopCloser(strings.NewReader(fmt.Sprintf("%05000d", calls))), nil
				}))
			},
			opts: Options{BlockSize: 4096},
			want: "/b: file changed while being read",
		},
		{
			name: "open fails",
			build: func(t *testing.T, tree *Tree) {
				require.NoError(t, tree.AddFile("gone", Attr{}, 3, fakeFile{openErr: fs.ErrPermission}.open))
			},
			want: "/gone: permission denied",
		},
		{
			name: "time before 1970 kept",
			build: func(t *testing.T, tree *Tree) {
				require.NoError(t, tree.AddBytes("old", Attr{ModTime: time.Unix(-1, 0)}, nil))
			},
			opts: Options{KeepTimes: true},
			want: "/old: mtime 1969-12-31",
		},
		{
			name: "too many ids",
			build: func(t *testing.T, tree *Tree) {
				for i := range maxIDs / 2 {
					require.NoError(t, tree.AddBytes(fmt.Sprintf("f%d", i), Attr{UID: uint32(2 * i), GID: uint32(2*i + 1)}, nil))
				}
				require.NoError(t, tree.AddBytes("one-more", Attr{UID: 1 << 30}, nil))
			},
			opts: Options{KeepOwners: true},
			want: "more than 65536 distinct uids and gids: squashfs cannot store id 1073741824",
		},
		{
			name:  "block size",
			build: func(*testing.T, *Tree) {},
			opts:  Options{BlockSize: 3000},
			want:  "block size 3000 is not a power of two from 4096 to 1048576",
		},
		{
			name:  "time past 2106",
			build: func(*testing.T, *Tree) {},
			opts:  Options{ModTime: time.Unix(1<<33, 0)},
			want:  "image time:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := NewTree()
			tt.build(t, tree)
			_, err := Write(context.Background(), &memImage{}, tree, tt.opts)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestTreeErrors(t *testing.T) {
	tree := NewTree()
	require.NoError(t, tree.Mkdir("dir", Attr{Mode: 0o755}))
	require.NoError(t, tree.AddBytes("dir/file", Attr{}, []byte("x")))

	var pathErr *PathError
	err := tree.AddBytes(strings.Repeat("n", 257), Attr{}, nil)
	require.ErrorIs(t, err, ErrInvalidName)
	require.ErrorAs(t, err, &pathErr)
	require.ErrorContains(t, err, "name of 257 bytes is longer than the 256 squashfs allows")
	require.NoError(t, tree.AddBytes(strings.Repeat("n", 256), Attr{}, nil))

	require.ErrorIs(t, tree.AddBytes("dir/file", Attr{}, nil), ErrExist)
	require.ErrorIs(t, tree.AddBytes("missing/file", Attr{}, nil), ErrNotExist)
	require.ErrorIs(t, tree.AddBytes("dir/file/below", Attr{}, nil), ErrNotDir)
	require.ErrorIs(t, tree.MkdirAll("dir/file/below", Attr{}), ErrNotDir)
	require.ErrorIs(t, tree.Mkdir("/", Attr{}), ErrExist)
	require.ErrorContains(t, tree.Link("dir/link", "dir"), "is a directory")
	require.ErrorIs(t, tree.Link("dir/link", "nothing"), ErrNotExist)
	require.ErrorContains(t, tree.Symlink("dir/s", "", Attr{}), "empty target")
	require.ErrorContains(t, tree.Mknod("dev", fs.ModeDevice, 4096, 0, Attr{}), "does not fit")
	require.ErrorContains(t, tree.Mknod("dev", fs.ModeDir, 0, 0, Attr{}), "not a device")
	require.ErrorContains(t, tree.AddFile("neg", Attr{}, -1, fakeFile{}.open), "negative size")
	require.ErrorContains(t, tree.AddBytes("x", Attr{Xattrs: map[string][]byte{"system.posix_acl_access": nil}}, nil),
		"squashfs stores only user.*, trusted.* and security.* attributes")

	require.NoError(t, tree.Remove("dir/file"))
	require.ErrorIs(t, tree.Remove("dir/file"), ErrNotExist)
	require.ErrorIs(t, tree.Remove("/"), ErrExist)

	// Names are cleaned: "a/./b/../c" is "a/c".
	require.NoError(t, tree.AddBytes("dir/./x/../y", Attr{}, []byte("y")))
	_, err = tree.Lookup("/dir/y")
	require.NoError(t, err)
}

func TestResolve(t *testing.T) {
	tree := NewTree()
	require.NoError(t, tree.MkdirAll("nix/store/abc-pkg/bin", Attr{Mode: 0o755}))
	require.NoError(t, tree.AddBytes("nix/store/abc-pkg/bin/prog", Attr{Mode: 0o755}, []byte("#!")))
	require.NoError(t, tree.MkdirAll("usr/bin", Attr{Mode: 0o755}))
	require.NoError(t, tree.Symlink("usr/bin/abs", "/nix/store/abc-pkg/bin/prog", Attr{}))
	require.NoError(t, tree.Symlink("usr/bin/rel", "../../nix/store/abc-pkg/bin/prog", Attr{}))
	require.NoError(t, tree.Symlink("usr/bin/escape", "../../../../../nix/store/abc-pkg/bin/prog", Attr{}))
	require.NoError(t, tree.Symlink("pkg", "nix/store/abc-pkg", Attr{}))
	require.NoError(t, tree.Symlink("loop1", "loop2", Attr{}))
	require.NoError(t, tree.Symlink("loop2", "loop1", Attr{}))
	require.NoError(t, tree.Symlink("dangling", "/nowhere", Attr{}))

	for _, p := range []string{"usr/bin/abs", "/usr/bin/rel", "usr/bin/escape", "pkg/bin/prog", "/pkg/bin/../bin/prog"} {
		n, resolved, err := tree.Resolve(p)
		require.NoError(t, err, p)
		require.Equal(t, "/nix/store/abc-pkg/bin/prog", resolved, p)
		require.True(t, n.Mode().IsRegular())
	}
	_, _, err := tree.Resolve("loop1")
	require.ErrorContains(t, err, "too many levels of symbolic links")
	_, _, err = tree.Resolve("dangling")
	require.ErrorIs(t, err, ErrNotExist)
	_, _, err = tree.Resolve("pkg/bin/prog/x")
	require.ErrorIs(t, err, ErrNotDir)
}

func TestWriteFileLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "image.raw")
	tree := NewTree()
	require.NoError(t, tree.AddFile("bad", Attr{}, 10, fakeFile{data: []byte("short")}.open))
	_, err := WriteFile(context.Background(), out, tree, Options{})
	require.Error(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tree = NewTree()
	require.NoError(t, tree.AddBytes("good", Attr{}, bytes.Repeat([]byte("x"), 100_000)))
	_, err = WriteFile(ctx, out, tree, Options{BlockSize: 4096})
	require.ErrorIs(t, err, context.Canceled)

	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left, "a failed write left files behind")

	_, err = WriteFile(context.Background(), filepath.Join(dir, "no/such/dir/image.raw"), tree, Options{})
	require.ErrorContains(t, err, "create image")
}

func TestWriterAtSeekerMatchesWriteAt(t *testing.T) {
	tree := NewTree()
	require.NoError(t, tree.AddBytes("a", Attr{Mode: 0o644}, bytes.Repeat([]byte("abc"), 50_000)))
	want := writeMem(t, tree, Options{BlockSize: 8192})
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	require.NoError(t, err)
	defer f.Close()
	_, err = Write(context.Background(), WriterAtSeeker(f), tree, Options{BlockSize: 8192})
	require.NoError(t, err)
	got, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestLargeFile stores a file over 4 GiB, which needs an extended inode
// with 64-bit sizes; its zero blocks become holes, so the image is small.
func TestLargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 5 GiB of zeros")
	}
	const size = 5<<30 + 123
	const markAt = 4<<30 + 1<<29
	mark := []byte("data past 4 GiB")
	tree := NewTree()
	require.NoError(t, tree.AddFile("big", Attr{Mode: 0o644}, size, func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(
			io.LimitReader(zeroReader{}, markAt), bytes.NewReader(mark),
			io.LimitReader(zeroReader{}, size-markAt-int64(len(mark))))), nil
	}))
	img := filepath.Join(t.TempDir(), "big.sqfs")
	// Plain xz, which go-diskfs reads.
	opts := Options{Compressor: XZCompressor{NoBCJ: true}}
	require.True(t, diskfsReads(opts.Compressor))
	stats, err := WriteFile(context.Background(), img, tree, opts)
	require.NoError(t, err)
	require.Less(t, stats.ImageSize, int64(1<<20))
	require.EqualValues(t, size-(1<<20), stats.SparseBytes)

	out, err := testtool.Command(t, "unsquashfs", "-lls", "-n", img).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), fmt.Sprintf("%d 1980-01-01 00:00 squashfs-root/big", int64(size)))
	// Read around the mark with go-diskfs; unsquashfs -cat would pipe all
	// 5 GiB through the test.
	testtool.Ran(t, "go-diskfs", img)
	f, err := os.Open(img)
	require.NoError(t, err)
	defer f.Close()
	sfs, err := diskfs.Read(file.New(f, true), stats.ImageSize, 0, 0)
	require.NoError(t, err)
	rf, err := sfs.OpenFile("big", os.O_RDONLY)
	require.NoError(t, err)
	_, err = rf.Seek(markAt-100, io.SeekStart)
	require.NoError(t, err)
	got := make([]byte, 200)
	_, err = io.ReadFull(rf, got)
	require.NoError(t, err)
	require.Equal(t, append(make([]byte, 100), append(mark, make([]byte, 100-len(mark))...)...), got)
	_, err = rf.Seek(size-10, io.SeekStart)
	require.NoError(t, err)
	tail, err := io.ReadAll(rf)
	require.NoError(t, err)
	require.Equal(t, make([]byte, 10), tail)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestParseBlockSize(t *testing.T) {
	for in, want := range map[string]int{"4K": 4096, "4096": 4096, "128k": 131072, "1M": 1 << 20, "1m": 1 << 20} {
		got, err := ParseBlockSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "2K", "2M", "100000", "1G", "-4K", "K", "x"} {
		_, err := ParseBlockSize(in)
		require.Error(t, err, in)
	}
}

func TestModTimeFromEnv(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "SOURCE_DATE_EPOCH" {
				return v
			}
			return ""
		}
	}
	got, err := ModTimeFromEnv(env(""))
	require.NoError(t, err)
	require.Equal(t, int64(DefaultEpoch), got.Unix())
	got, err = ModTimeFromEnv(env("1645920000"))
	require.NoError(t, err)
	require.Equal(t, int64(1645920000), got.Unix())
	_, err = ModTimeFromEnv(env("yesterday"))
	require.ErrorContains(t, err, `SOURCE_DATE_EPOCH="yesterday"`)
}

func TestStats(t *testing.T) {
	tree := NewTree()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	require.NoError(t, tree.MkdirAll("a/b", Attr{}))
	require.NoError(t, tree.AddBytes("a/one", Attr{}, data))
	require.NoError(t, tree.AddBytes("a/b/two", Attr{}, data))
	require.NoError(t, tree.Link("a/three", "a/one"))
	require.NoError(t, tree.AddBytes("empty", Attr{}, nil))
	var img memImage
	stats, err := Write(context.Background(), &img, tree, Options{BlockSize: 4096})
	require.NoError(t, err)
	require.Equal(t, Stats{Inodes: 6, Files: 3, Dirs: 3, BytesIn: 10_000, Duplicates: 1, Fragments: 1,
		ImageSize: int64(len(img.B))}, *stats)
	require.Zero(t, len(img.B)%4096)
}

func unixUmask(mask int) int { return syscall.Umask(mask) }
