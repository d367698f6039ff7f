package squashfs

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// linkTree is a small image with the symlink shapes portable images have:
// units and programs reached through absolute and relative links.
func linkTree(t *testing.T) *Tree {
	t.Helper()
	tree := NewTree()
	dir := Attr{Mode: 0o755}
	for _, d := range []string{"/nix/store/abc-web/bin", "/usr/lib/systemd/system", "/etc/systemd/system", "/proc"} {
		require.NoError(t, tree.MkdirAll(d, dir))
	}
	require.NoError(t, tree.AddBytes("/nix/store/abc-web/bin/web", Attr{Mode: 0o755, UID: 7, Xattrs: map[string][]byte{"user.a": []byte("b")}}, []byte("#!prog")))
	require.NoError(t, tree.AddBytes("/usr/lib/os-release", Attr{Mode: 0o644}, []byte("ID=x\n")))
	require.NoError(t, tree.Symlink("/etc/os-release", "../usr/lib/os-release", Attr{Mode: 0o777}))
	require.NoError(t, tree.Symlink("/usr/bin", "/nix/store/abc-web/bin", Attr{Mode: 0o777}))
	require.NoError(t, tree.Symlink("/etc/systemd/system/web.service", "/usr/lib/systemd/system/web.service", Attr{Mode: 0o777}))
	require.NoError(t, tree.AddBytes("/usr/lib/systemd/system/web.service", Attr{Mode: 0o644}, []byte("[Service]\nExecStart=/usr/bin/web\n")))
	require.NoError(t, tree.Mknod("/dev-null", fs.ModeDevice|fs.ModeCharDevice, 1, 3, Attr{Mode: 0o666}))
	return tree
}

func TestTreeFSPassesFSTest(t *testing.T) {
	tree := linkTree(t)
	// fstest reads every file that is not a directory; a device has
	// nothing to read.
	require.NoError(t, tree.Remove("/dev-null"))
	require.NoError(t, fstest.TestFS(tree.FS(), "nix/store/abc-web/bin/web", "usr/lib/os-release", "etc/os-release"))
}

// A tree's FS and a Reader of the image written from it show the same
// entries, modes, owners, contents and link resolution: one check can look
// at either.
func TestTreeFSMatchesTheWrittenImage(t *testing.T) {
	tree := linkTree(t)
	img := filepath.Join(t.TempDir(), "x.sqfs")
	_, err := WriteFile(context.Background(), img, tree, Options{KeepOwners: true})
	require.NoError(t, err)
	rc, err := OpenReader(img)
	require.NoError(t, err)
	defer rc.Close()
	tfs := tree.FS().(fs.ReadLinkFS)

	var fromTree, fromImage []string
	walk := func(fsys fs.ReadLinkFS, out *[]string) {
		require.NoError(t, fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			require.NoError(t, err)
			info, err := fsys.Lstat(p)
			require.NoError(t, err)
			sys := info.Sys().(*InodeInfo)
			line := p + " " + info.Mode().String() + " " + string(rune('0'+sys.UID))
			if info.Mode()&fs.ModeSymlink != 0 {
				target, err := fsys.ReadLink(p)
				require.NoError(t, err)
				line += " -> " + target
			}
			*out = append(*out, line)
			return nil
		}))
	}
	walk(tfs, &fromTree)
	walk(rc, &fromImage)
	require.Equal(t, fromImage, fromTree)

	for _, name := range []string{"etc/os-release", "usr/bin/web", "etc/systemd/system/web.service"} {
		want, err := fs.ReadFile(rc, name)
		require.NoError(t, err, name)
		got, err := fs.ReadFile(tfs, name)
		require.NoError(t, err, name)
		require.True(t, bytes.Equal(want, got), name)
		info, err := fs.Stat(tfs, name)
		require.NoError(t, err)
		require.True(t, info.Mode().IsRegular(), name)
	}
	info, err := fs.Stat(tfs, "usr/bin/web")
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"user.a": []byte("b")}, info.Sys().(*InodeInfo).Xattrs)
	_, err = fs.Stat(tfs, "usr/bin/web/x")
	require.ErrorIs(t, err, ErrNotDir)
	_, err = fs.Stat(tfs, "/etc")
	require.ErrorIs(t, err, fs.ErrInvalid)
}
