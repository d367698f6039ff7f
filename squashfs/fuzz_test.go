package squashfs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	diskfs "github.com/diskfs/go-diskfs/filesystem/squashfs"
	"github.com/stretchr/testify/require"
)

// fuzzTree turns fuzz input into a tree, and returns what each path must
// hold: file contents, or "->target" for a symlink, or "/" for a directory.
func fuzzTree(t *testing.T, data []byte) (*Tree, map[string]string) {
	tree := NewTree()
	want := map[string]string{}
	dirs := []string{"/"}
	var files []string
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	names := []string{"a", "b", "B", "zz", "é", "日本", strings.Repeat("L", 255), "x.y", "-", "123"}
	for n := 0; len(data) > 0 && n < 200; n++ {
		op, dir := next()%6, dirs[next()%len(dirs)]
		name := path.Join(dir, names[next()%len(names)]+fmt.Sprint(next()%4))
		if _, taken := want[name]; taken {
			continue
		}
		switch op {
		case 0:
			require.NoError(t, tree.Mkdir(name, Attr{Mode: fs.FileMode(next()) | 0o700}))
			want[name], dirs = "/", append(dirs, name)
		case 1, 2:
			// Sizes around 4 KiB blocks, repeated patterns so duplicates
			// and zero blocks occur.
			size := next()*next()*2 + next()%3*4096
			fill := byte(next() % 3)
			contents := bytes.Repeat([]byte{fill}, size)
			if fill == 2 && size > 0 {
				contents[size/2] = 'x'
			}
			require.NoError(t, tree.AddBytes(name, Attr{Mode: 0o644}, contents))
			want[name], files = string(contents), append(files, name)
		case 3:
			target := names[next()%len(names)]
			require.NoError(t, tree.Symlink(name, target, Attr{}))
			want[name] = "->" + target
		case 4:
			if len(files) == 0 {
				continue
			}
			first := files[next()%len(files)]
			require.NoError(t, tree.Link(name, first))
			want[name] = want[first]
		case 5:
			require.NoError(t, tree.Mknod(name, fs.ModeNamedPipe, 0, 0, Attr{Mode: 0o600}))
			want[name] = "|"
		}
	}
	return tree, want
}

func FuzzWrite(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 1, 1, 1, 200, 200, 2, 2})
	f.Add(bytes.Repeat([]byte{1, 0, 3, 1, 9, 40, 2}, 30))
	f.Add([]byte("a tree of a few entries of every kind, as fuzz input"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tree, want := fuzzTree(t, data)
		// go-diskfs reads the image back, so xz without BCJ (diskfsReads).
		comps := []Compressor{GzipCompressor{Level: 1}, NoCompression{}, ZstdCompressor{Level: 1}, XZCompressor{NoBCJ: true}}
		opts := Options{BlockSize: 4096, Compressor: comps[len(data)%len(comps)],
			NoFragments: len(data)%5 == 0, NoDedup: len(data)%7 == 0, Workers: 1}
		img := writeMem(t, tree, opts)
		opts.Workers = 3
		require.Equal(t, img, writeMem(t, tree, opts), "the worker count changed the image")

		p := filepath.Join(t.TempDir(), "img")
		require.NoError(t, os.WriteFile(p, img, 0o644))
		fh, err := os.Open(p)
		require.NoError(t, err)
		defer fh.Close()
		sfs, err := diskfs.Read(file.New(fh, true), int64(len(img)), 0, 0)
		require.NoError(t, err)
		got := map[string]string{}
		var walk func(dir string)
		walk = func(dir string) {
			entries, err := sfs.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				rel := path.Join(dir, e.Name())
				key := "/" + rel
				switch info, _ := e.Info(); {
				case info.IsDir():
					got[key] = "/"
					walk(rel)
				case info.Mode()&fs.ModeSymlink != 0:
					target, err := e.(interface{ Readlink() (string, error) }).Readlink()
					require.NoError(t, err)
					got[key] = "->" + target
				case info.Mode()&fs.ModeNamedPipe != 0:
					got[key] = "|"
				default:
					rf, err := e.(interface {
						Open() (filesystem.File, error)
					}).Open()
					require.NoError(t, err)
					b, err := io.ReadAll(rf)
					require.NoError(t, err)
					got[key] = string(b)
				}
			}
		}
		walk(".")
		require.Equal(t, len(want), len(got))
		for k, v := range want {
			require.Equal(t, v, got[k], "%s", k)
		}
	})
}
