package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// setXattrs gives the file at p a user.* attribute and, as root, the file
// capability cap_net_raw+ep (ping's), and returns the capability getcap
// shows, or "" when not root.
func setXattrs(t *testing.T, p string) string {
	t.Helper()
	require.NoError(t, unix.Lsetxattr(p, "user.origin", []byte("mkportable test"), 0))
	if os.Geteuid() != 0 {
		return ""
	}
	out, err := testtool.Command(t, "setcap", "cap_net_raw+ep", p).CombinedOutput()
	require.NoError(t, err, "setcap: %s", out)
	return "cap_net_raw=ep"
}

// requireXattrs checks that the file at p carries what setXattrs gave.
func requireXattrs(t *testing.T, p, capability string) {
	t.Helper()
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, "user.origin", buf)
	require.NoError(t, err, "%s: user.origin", p)
	require.Equal(t, "mkportable test", string(buf[:n]))
	if capability == "" {
		return
	}
	out, err := testtool.Command(t, "getcap", p).CombinedOutput()
	require.NoError(t, err, "getcap: %s", out)
	require.Equal(t, p+" "+capability, strings.TrimSpace(string(out)))
}

// TestSquashStoresXattrs: squash stores extended attributes by default, as
// mksquashfs does, so a root file system keeps its file capabilities;
// sqfsdiff finds our image and mksquashfs's equal, and unequal with
// --no-xattrs; unsquashfs and the kernel give the attributes back.
func TestSquashStoresXattrs(t *testing.T) {
	src := sourceTree(t)
	tool := filepath.Join(src, "bin", "tool")
	capability := setXattrs(t, tool)
	dir := t.TempDir()

	ours := filepath.Join(dir, "ours.sqfs")
	code, _, stderr := runCLI(t, "squash", src, ours, "--quiet")
	require.Equal(t, 0, code, stderr)
	theirs := filepath.Join(dir, "theirs.sqfs")
	out, err := testtool.Command(t, "mksquashfs", src, theirs, "-all-root", "-comp", "xz", "-b", "1M",
		"-no-progress", "-quiet").CombinedOutput()
	require.NoError(t, err, "mksquashfs: %s", out)
	out, err = testtool.Command(t, "sqfsdiff", "-a", theirs, "-b", ours).CombinedOutput()
	require.NoError(t, err, "sqfsdiff: %s", out)

	without := filepath.Join(dir, "without.sqfs")
	code, _, stderr = runCLI(t, "squash", src, without, "--quiet", "--no-xattrs")
	require.Equal(t, 0, code, stderr)
	out, err = testtool.Command(t, "sqfsdiff", "-a", theirs, "-b", without).CombinedOutput()
	require.Error(t, err, "sqfsdiff found no difference without xattrs: %s", out)
	require.Contains(t, string(out), "/bin/tool")

	extracted := filepath.Join(dir, "x")
	out, err = testtool.Command(t, "unsquashfs", "-n", "-d", extracted, ours).CombinedOutput()
	require.NoError(t, err, "unsquashfs: %s", out)
	requireXattrs(t, filepath.Join(extracted, "bin", "tool"), capability)
	requireXattrs(t, filepath.Join(testtool.Mount(t, ours), "bin", "tool"), capability)
}

// TestBuildStoresXattrs: build keeps the extended attributes of store
// contents, a capability included.
func TestBuildStoresXattrs(t *testing.T) {
	flags, storePath := storeFixture(t)
	var storeDir string
	for i, f := range flags {
		if f == "--store-dir" {
			storeDir = flags[i+1]
		}
	}
	capability := setXattrs(t, filepath.Join(storeDir, filepath.Base(storePath), "bin", "web-server"))
	out := t.TempDir()
	code, _, stderr := runCLI(t, append([]string{"build", "-o", out}, flags...)...)
	require.Equal(t, 0, code, stderr)
	img := filepath.Join(out, "web-server_20220227.raw")

	extracted := filepath.Join(t.TempDir(), "x")
	res, err := testtool.Command(t, "unsquashfs", "-n", "-d", extracted, img).CombinedOutput()
	require.NoError(t, err, "unsquashfs: %s", res)
	requireXattrs(t, filepath.Join(extracted, storePath, "bin", "web-server"), capability)
	requireXattrs(t, filepath.Join(testtool.Mount(t, img), storePath, "bin", "web-server"), capability)
}
