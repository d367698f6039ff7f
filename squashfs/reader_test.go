package squashfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// checkReader compares every entry the Reader shows with the source tree.
func checkReader(t *testing.T, img, src string, owners, times bool) {
	t.Helper()
	rc, err := OpenReader(img)
	require.NoError(t, err)
	defer rc.Close()
	n := 0
	require.NoError(t, fs.WalkDir(rc, ".", func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err, p)
		n++
		var st unix.Stat_t
		require.NoError(t, unix.Lstat(filepath.Join(src, p), &st), p)
		info, err := rc.Lstat(p)
		require.NoError(t, err, p)
		want, err := os.Lstat(filepath.Join(src, p))
		require.NoError(t, err)
		require.Equal(t, want.Mode(), info.Mode(), "%s: mode", p)
		sys := info.Sys().(*InodeInfo)
		if owners {
			require.Equal(t, [2]uint32{st.Uid, st.Gid}, [2]uint32{sys.UID, sys.GID}, "%s: owner", p)
		}
		if times && !want.Mode().IsDir() && want.Mode()&fs.ModeSymlink == 0 {
			require.Equal(t, want.ModTime().Unix(), info.ModTime().Unix(), "%s: mtime", p)
		}
		switch {
		case want.Mode().IsRegular():
			got, err := rc.ReadFile(p)
			require.NoError(t, err, p)
			data, err := os.ReadFile(filepath.Join(src, p))
			require.NoError(t, err)
			require.True(t, string(data) == string(got), "%s: contents differ", p)
			if st.Nlink > 1 {
				require.EqualValues(t, st.Nlink, sys.Nlink, "%s: links", p)
			}
		case want.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(src, p))
			require.NoError(t, err)
			got, err := rc.ReadLink(p)
			require.NoError(t, err)
			require.Equal(t, target, got, p)
		case want.Mode()&fs.ModeDevice != 0:
			require.Equal(t, [2]uint32{unix.Major(st.Rdev), unix.Minor(st.Rdev)}, [2]uint32{sys.Major, sys.Minor}, p)
		}
		return nil
	}))
	count := 0
	require.NoError(t, filepath.WalkDir(src, func(string, fs.DirEntry, error) error { count++; return nil }))
	require.Equal(t, count, n)
}

func TestReaderRoundTrip(t *testing.T) {
	t.Parallel()
	src := trickyTree(t)
	for _, comp := range []string{"xz", "gzip", "zstd", "lz4", "none"} {
		for _, bs := range []int{4096, 1 << 20} {
			t.Run(fmt.Sprintf("%s-%d", comp, bs), func(t *testing.T) {
				t.Parallel()
				c, err := NewCompressor(comp)
				require.NoError(t, err)
				tree, err := TreeFromDir(src, LoadOptions{})
				require.NoError(t, err)
				img := filepath.Join(t.TempDir(), "img")
				_, err = WriteFile(context.Background(), img, tree, Options{Compressor: c, BlockSize: bs, KeepOwners: true, KeepTimes: true})
				require.NoError(t, err)
				checkReader(t, img, src, true, true)
			})
		}
	}
}

func TestReaderReadsMksquashfs(t *testing.T) {
	t.Parallel()
	src := trickyTree(t)
	for _, comp := range []string{"xz", "gzip", "zstd", "lz4"} {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			img := filepath.Join(t.TempDir(), "img")
			out, err := testtool.Command(t, "mksquashfs", src, img, "-comp", comp, "-b", "128K", "-no-progress", "-quiet").CombinedOutput()
			require.NoError(t, err, "%s", out)
			checkReader(t, img, src, true, true)
		})
	}
}

func TestReaderFS(t *testing.T) {
	tree := NewTree()
	require.NoError(t, tree.MkdirAll("etc/systemd/system", Attr{Mode: 0o755}))
	require.NoError(t, tree.AddBytes("etc/os-release", Attr{Mode: 0o644}, []byte("ID=x\n")))
	require.NoError(t, tree.MkdirAll("usr/lib", Attr{Mode: 0o755}))
	require.NoError(t, tree.Symlink("usr/lib/os-release", "../../etc/os-release", Attr{Mode: 0o777}))
	require.NoError(t, tree.Symlink("lib", "/usr/lib", Attr{Mode: 0o777}))
	require.NoError(t, tree.AddBytes("etc/systemd/system/a.service", Attr{Mode: 0o644}, []byte("[Service]\n")))
	img := filepath.Join(t.TempDir(), "img")
	_, err := WriteFile(context.Background(), img, tree, Options{BlockSize: 4096})
	require.NoError(t, err)
	rc, err := OpenReader(img)
	require.NoError(t, err)
	defer rc.Close()
	require.NoError(t, fstest.TestFS(rc, "etc/os-release", "etc/systemd/system/a.service"))
	got, err := rc.ReadFile("lib/os-release")
	require.NoError(t, err)
	require.Equal(t, "ID=x\n", string(got))
	_, err = rc.Stat("lib/../../../etc/os-release")
	require.Error(t, err) // not a valid fs.FS path
	_, err = rc.Open("missing")
	require.ErrorIs(t, err, fs.ErrNotExist)

	bad := filepath.Join(t.TempDir(), "bad")
	require.NoError(t, os.WriteFile(bad, make([]byte, 4096), 0o644))
	_, err = OpenReader(bad)
	require.ErrorContains(t, err, "magic 0x0: not a valid squashfs image")
	require.ErrorIs(t, err, ErrFormat)
}

// Every cut of a valid image, and every table pointer moved past the end,
// is ErrFormat from NewReader or from the first walk, never a panic.
func TestReaderTruncatedIsErrFormat(t *testing.T) {
	tree := linkTree(t)
	var img memImage
	_, err := Write(context.Background(), &img, tree, Options{BlockSize: 4096, Compressor: GzipCompressor{Level: 1}, KeepOwners: true})
	require.NoError(t, err)
	used := int(binary.LittleEndian.Uint64(img.B[40:])) // the padding after may go
	for n := 0; n < used; n += 7 {
		rd, err := NewReader(bytesReaderAt(img.B[:n]), int64(n))
		if err == nil {
			err = walkAndRead(rd)
		}
		require.ErrorIs(t, err, ErrFormat, "cut at %d of %d", n, used)
	}
}

// walkAndRead walks fsys, reads every regular file and every symlink, and
// returns the first error.
func walkAndRead(fsys fs.FS) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch d.Type() {
		case 0:
			f, err := fsys.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(io.Discard, f)
			return err
		case fs.ModeSymlink:
			_, err := fs.ReadLink(fsys, p)
			return err
		}
		return nil
	})
}

func TestReaderWithContext(t *testing.T) {
	var img memImage
	tree := NewTree()
	require.NoError(t, tree.AddBytes("f", Attr{Mode: 0o644}, bytes.Repeat([]byte("x"), 3*4096)))
	_, err := Write(context.Background(), &img, tree, Options{BlockSize: 4096})
	require.NoError(t, err)
	rd, err := NewReader(bytesReaderAt(img.B), int64(len(img.B)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	view := rd.WithContext(ctx)
	f, err := view.Open("f")
	require.NoError(t, err)
	buf := make([]byte, 4096)
	_, err = io.ReadFull(f, buf)
	require.NoError(t, err)
	cancel()
	_, err = f.Read(buf)
	require.ErrorIs(t, err, context.Canceled)
	_, err = view.Stat("f")
	require.ErrorIs(t, err, context.Canceled)
	// The Reader it came from is not bound by the context.
	data, err := rd.ReadFile("f")
	require.NoError(t, err)
	require.Len(t, data, 3*4096)
}

// FuzzReader feeds corrupted images to the whole read path: NewReader, a
// walk of every directory, every file read to its end, every symlink read
// and followed. Every error must wrap ErrFormat or be a clean one (no such
// file, a symlink loop, ...), and nothing may panic or hang. Seeds are
// small images of every compressor from this package and from mksquashfs,
// and the small images of the hostile corpus.
func FuzzReader(f *testing.F) {
	for _, img := range fuzzSeeds(f) {
		// Without the padding to 4 KiB, mutations land where they matter.
		if used := binary.LittleEndian.Uint64(img[40:]); used >= superblockSize && used < uint64(len(img)) {
			img = img[:used]
		}
		f.Add(img)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytesReaderAt(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrCompressor) {
				t.Fatalf("NewReader: an error that is not ErrFormat: %v", err)
			}
			return
		}
		if res := walkReader(rd); len(res.Unexpected) > 0 {
			t.Fatalf("errors that are neither ErrFormat nor clean: %q", res.Unexpected)
		}
	})
}

// fuzzSeeds returns small images: ours and mksquashfs's of one small tree
// with each compressor, and the hostile corpus's images of at most 16 KiB.
func fuzzSeeds(tb testing.TB) [][]byte {
	src := filepath.Join(tb.TempDir(), "src")
	for name, data := range map[string]string{
		"a/b/f": "some file contents, some file contents",
		"a/g":   strings.Repeat("a block and a tail ", 300),
		"e":     "",
	} {
		p := filepath.Join(src, name)
		require.NoError(tb, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(tb, os.WriteFile(p, []byte(data), 0o644))
	}
	require.NoError(tb, os.Symlink("b/f", filepath.Join(src, "a/l")))
	require.NoError(tb, os.Link(filepath.Join(src, "a/b/f"), filepath.Join(src, "a/hard")))
	require.NoError(tb, unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	var seeds [][]byte
	for _, name := range []string{"gzip", "xz", "zstd", "lz4", "none"} {
		c, err := NewCompressor(name)
		require.NoError(tb, err)
		tree, err := TreeFromDir(src, LoadOptions{})
		require.NoError(tb, err)
		require.NoError(tb, tree.SetAttr("/a/g", Attr{Mode: 0o644, UID: 1000, Xattrs: map[string][]byte{"user.x": []byte("y")}}))
		var img memImage
		_, err = Write(context.Background(), &img, tree, Options{Compressor: c, BlockSize: 4096, KeepOwners: true})
		require.NoError(tb, err)
		seeds = append(seeds, img.B)
	}
	{
		mksquashfs := testtool.Need(tb, "mksquashfs")
		for _, args := range [][]string{{"-comp", "gzip"}, {"-comp", "xz"}, {"-comp", "xz", "-Xbcj", "x86"}, {"-comp", "zstd"},
			{"-comp", "lz4"}, {"-noI", "-noD", "-noF", "-noX"}} {
			img := filepath.Join(tb.TempDir(), "img")
			testtool.Ran(tb, "mksquashfs", args...)
			out, err := exec.Command(mksquashfs, append([]string{src, img, "-b", "4K", "-no-progress", "-quiet", "-xattrs"}, args...)...).CombinedOutput()
			require.NoError(tb, err, "mksquashfs %v: %s", args, out)
			b, err := os.ReadFile(img)
			require.NoError(tb, err)
			seeds = append(seeds, b)
		}
	}
	ents, err := os.ReadDir(hostileDir)
	require.NoError(tb, err)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Size() <= 16<<10 {
			b, err := os.ReadFile(filepath.Join(hostileDir, e.Name()))
			require.NoError(tb, err)
			seeds = append(seeds, b)
		}
	}
	return seeds
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Goroutines reading one Reader at once, with read-ahead, shared blocks
// and fragments, all get every file right (run it with -race).
func TestReaderConcurrent(t *testing.T) {
	tree := NewTree()
	want := map[string][]byte{}
	for i := range 40 {
		data := bytes.Repeat([]byte(fmt.Sprintf("file %d, ", i%7)), 1000+i*300)
		name := fmt.Sprintf("d%d/f%02d", i%3, i)
		require.NoError(t, tree.MkdirAll(path.Dir(name), Attr{Mode: 0o755}))
		require.NoError(t, tree.AddBytes(name, Attr{Mode: 0o644}, data))
		want[name] = data
	}
	var img memImage
	_, err := Write(context.Background(), &img, tree, Options{BlockSize: 4096, Compressor: XZCompressor{}})
	require.NoError(t, err)
	rd, err := NewReader(bytesReaderAt(img.B), int64(len(img.B)))
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range want {
				got, err := rd.ReadFile(k)
				if err == nil && !bytes.Equal(got, want[k]) {
					err = fmt.Errorf("%s: contents differ", k)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
