package pathwalk

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(target)}
}

func dir() *fstest.MapFile { return &fstest.MapFile{Mode: fs.ModeDir | 0o755} }

func file(s string) *fstest.MapFile { return &fstest.MapFile{Mode: 0o644, Data: []byte(s)} }

// image is a small root file system in the shape of a portable image: a
// store path, links into it, and the link shapes the kernel resolves in
// ways a naive path join does not.
func image() fstest.MapFS {
	m := fstest.MapFS{
		"nix/store/abc-web/bin/web":  file("prog"),
		"usr/lib/os-release":         file("ID=x\n"),
		"etc/os-release":             link("../usr/lib/os-release"),
		"bin":                        link("usr/bin"),
		"usr/bin/web":                link("/nix/store/abc-web/bin/web"),
		"usr/bin/rel":                link("../../nix/store/abc-web/bin/web"),
		"usr/bin/up":                 link("../../../../../usr/lib/os-release"),
		"opt/deep/x":                 file("x"),
		"opt/a":                      link("deep"),
		"opt/dotdot":                 link("a/.."), // .. of the directory reached: /opt
		"loop1":                      link("loop2"),
		"loop2":                      link("loop1"),
		"dangling":                   link("/nowhere"),
		"empty":                      link(""),
		"notdir":                     link("/etc/os-release/x"),
		"self":                       link("."),
		"usr/lib/systemd/system/x.s": file("[Unit]\n"),
	}
	// A chain of exactly MaxHops links resolves; one more is a loop.
	for i := range MaxHops + 1 {
		m["hop/"+itoa(i)] = link(itoa(i + 1))
	}
	m["hop/"+itoa(MaxHops+1)] = file("end")
	return m
}

func itoa(i int) string { return fmt.Sprintf("h%02d", i) }

func TestRootedResolvesAsTheKernel(t *testing.T) {
	fsys := Rooted(image())
	for _, tc := range []struct {
		name, want string // want: file contents, or "dir"
		err        error
	}{
		{"etc/os-release", "ID=x\n", nil},               // relative target, from the link's directory
		{"bin/web", "prog", nil},                        // link in the middle, then an absolute link
		{"usr/bin/rel", "prog", nil},                    // .. out of the link's directory
		{"usr/bin/up", "ID=x\n", nil},                   // .. never climbs above the root
		{"opt/dotdot/deep/x", "x", nil},                 // .. after a link: parent of the directory reached
		{"self/self/usr/lib/os-release", "ID=x\n", nil}, // a link to its own directory
		{"hop/" + itoa(1), "end", nil},                  // 40 links: the most the kernel follows
		{"hop/" + itoa(0), "", ErrLoop},                 // 41 links
		{"loop1", "", ErrLoop},                          //
		{"dangling", "", fs.ErrNotExist},                //
		{"empty", "", fs.ErrNotExist},                   // the kernel will not follow an empty link
		{"notdir", "", ErrNotDir},                       // a file in the middle of a path
		{"etc/os-release/x", "", ErrNotDir},             //
		{"usr/lib/systemd/system", "dir", nil},          //
		{"missing/x", "", fs.ErrNotExist},               //
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := fs.Stat(fsys, tc.name)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				var pe *fs.PathError
				require.True(t, errors.As(err, &pe))
				require.Equal(t, tc.name, pe.Path)
				return
			}
			require.NoError(t, err)
			if tc.want == "dir" {
				require.True(t, info.IsDir())
				_, err := fs.ReadDir(fsys, tc.name)
				require.NoError(t, err)
				return
			}
			data, err := fs.ReadFile(fsys, tc.name)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(data))
		})
	}
}

func TestRootedLstatAndReadLinkDoNotFollowTheLastLink(t *testing.T) {
	fsys := Rooted(image()).(fs.ReadLinkFS)
	info, err := fsys.Lstat("bin/web")
	require.NoError(t, err)
	require.Equal(t, fs.ModeSymlink, info.Mode().Type())
	require.Equal(t, "web", info.Name())
	target, err := fsys.ReadLink("bin/web")
	require.NoError(t, err)
	require.Equal(t, "/nix/store/abc-web/bin/web", target)
	info, err = fs.Stat(fsys, "bin/web")
	require.NoError(t, err)
	require.True(t, info.Mode().IsRegular())
	require.Equal(t, "web", info.Name())
}

func TestResolveReturnsTheResolvedPath(t *testing.T) {
	m := image()
	root, err := m.Lstat(".")
	require.NoError(t, err)
	for name, want := range map[string]string{
		"/bin/web":                       "/nix/store/abc-web/bin/web",
		"bin/..":                         "/usr", // .. after a link to usr/bin
		"bin/../lib/os-release":          "/usr/lib/os-release",
		"opt/a/../../usr/lib/os-release": "/usr/lib/os-release",
		"..":                             "/",
		"":                               "/",
		"/opt/dotdot/":                   "/opt",
	} {
		_, got, err := Resolve[entry](lstatWalker{m}, entry{".", root}, "open", name, true)
		require.NoError(t, err, name)
		require.Equal(t, want, got, name)
	}
}

// countingWalker is a directory that contains itself ("a") and nothing
// else; it counts the lookups Resolve makes.
type countingWalker struct{ calls *int }

func (w countingWalker) Child(dir int, name string) (int, error) {
	*w.calls++
	if name != "a" {
		return 0, fs.ErrNotExist
	}
	return dir + 1, nil
}
func (countingWalker) IsDir(int) bool                 { return true }
func (countingWalker) Link(int) (string, bool, error) { return "", false, nil }

// A path that walks down a self-containing directory and back up with ..
// costs one lookup an element: linear, however deep it goes.
func TestResolveIsLinear(t *testing.T) {
	var calls int
	name := strings.Repeat("a/", 800) + strings.Repeat("../", 800) + "a"
	_, p, err := Resolve[int](countingWalker{&calls}, 0, "open", name, true)
	require.NoError(t, err)
	require.Equal(t, "/a", p)
	require.Equal(t, 801, calls)

	_, _, err = Resolve[int](countingWalker{&calls}, 0, "open", strings.Repeat("a/", MaxName), true)
	require.ErrorIs(t, err, ErrNameTooLong)
	require.Less(t, len(err.Error()), 600, "an error about a long name is short itself")
}

// Without fs.ReadLinkFS there are no symlinks to see: the FS is used as it is.
func TestRootedKeepsFileSystemsItCannotImprove(t *testing.T) {
	type plain struct{ fs.FS }
	p := plain{fstest.MapFS{"x": file("x")}}
	require.Equal(t, fs.FS(p), Rooted(p))
}
