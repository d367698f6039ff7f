package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/mkportable/mkportable/squashfs"
	"github.com/stretchr/testify/require"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func sourceTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "bin", "tool"), bytes.Repeat([]byte("tool "), 50_000), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "README"), []byte("hello\n"), 0o644))
	require.NoError(t, os.Symlink("bin/tool", filepath.Join(src, "link")))
	return src
}

func TestSquash(t *testing.T) {
	src := sourceTree(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "a.sqfs")
	code, stdout, stderr := runCLI(t, "squash", src, out)
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `^.*a\.sqfs: 2 files, 244\.1 KiB in, 4\.0 KiB out \(1\.6%\), \d+\.\ds\n$`, stdout)

	// Flags after the arguments, other worker counts: the same bytes.
	again := filepath.Join(dir, "b.sqfs")
	code, _, stderr = runCLI(t, "squash", src, again, "--jobs", "1", "--quiet")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, sum(t, out), sum(t, again))

	listing, err := testtool.Command(t, "unsquashfs", "-lls", "-n", out).CombinedOutput()
	require.NoError(t, err, "%s", listing)
	require.Contains(t, string(listing), "-rwxr-xr-x root/root            250000 1980-01-01 00:00 squashfs-root/bin/tool")
	require.Contains(t, string(listing), "squashfs-root/link -> bin/tool")
}

func TestSquashOptions(t *testing.T) {
	src := sourceTree(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--compression", "zstd", "--block-size", "128K"},
		{"--compression", "zstd:19", "--block-size", "1M"},
		{"--compression", "zstd:3"},
		{"--compression", "gzip", "--no-fragments", "--no-dedup"},
		{"--compression", "lz4", "--keep-owners", "--keep-times", "--xattrs"},
		{"--compression", "xz", "--no-xattrs"},
		{"--compression", "none", "--mtime", "1645920000"},
	} {
		out := filepath.Join(dir, strings.Join(args, "_")+".sqfs")
		code, _, stderr := runCLI(t, append([]string{"squash", src, out, "--quiet"}, args...)...)
		require.Equal(t, 0, code, "%v: %s", args, stderr)
		require.FileExists(t, out)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1645920000")
	withEnv := filepath.Join(dir, "env.sqfs")
	code, _, stderr := runCLI(t, "squash", src, withEnv, "--quiet")
	require.Equal(t, 0, code, stderr)
	withFlag := filepath.Join(dir, "flag.sqfs")
	t.Setenv("SOURCE_DATE_EPOCH", "")
	code, _, stderr = runCLI(t, "squash", src, withFlag, "--quiet", "--mtime", "1645920000")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, sum(t, withEnv), sum(t, withFlag))
}

func TestSquashErrors(t *testing.T) {
	src := sourceTree(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.sqfs")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"squash", src}, 2, "want SRC and OUT, got 1 arguments"},
		{[]string{"squash", src, out, "--compression", "lzo"}, 2, `unknown compression "lzo"`},
		{[]string{"squash", src, out, "--compression", "zstd:99"}, 2, `compression "zstd:99": zstd levels are 1 to 22`},
		{[]string{"squash", src, out, "--block-size", "3K"}, 2, `block size "3K" is not a power of two from 4K to 1M`},
		{[]string{"squash", src, out, "--mtime", "1", "--keep-times"}, 2, "--mtime and --keep-times exclude each other"},
		{[]string{"squash", src, out, "--mtime", "soon"}, 2, `--mtime "soon": want seconds since 1970`},
		{[]string{"squash", src, out, "--jobs", "-1"}, 2, "--jobs -1"},
		{[]string{"squash", src, out, "--xattrs", "--no-xattrs"}, 2, "--xattrs and --no-xattrs exclude each other"},
		{[]string{"squash", src, out, "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"squash", filepath.Join(dir, "missing"), out}, 1, "source: stat"},
		{[]string{"squash", filepath.Join(src, "README"), out}, 1, "is not a directory"},
		{[]string{"squash", src, filepath.Join(dir, "no", "dir", "out.sqfs")}, 1, "create image"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			require.Equal(t, tt.code, code, stderr)
			require.Contains(t, stderr, tt.want)
		})
	}
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left, "failed runs left files behind")
}

func sum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// TestLimitMemory checks squash sets the runtime's soft memory limit from
// the tree, unless GOMEMLIMIT says otherwise.
func TestLimitMemory(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	tree, err := squashfs.TreeFromDir(sourceTree(t), squashfs.LoadOptions{})
	require.NoError(t, err)
	opts := squashfs.Options{Workers: 2}
	want, err := squashfs.MemoryLimit(tree, opts)
	require.NoError(t, err)

	for _, tc := range []struct {
		name, env string
		want      int64
	}{
		{"from the tree", "", want},
		{"GOMEMLIMIT wins", "1GiB", 12345},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("GOMEMLIMIT", tc.env)
			} else {
				unsetEnv(t, "GOMEMLIMIT")
			}
			debug.SetMemoryLimit(12345)
			require.NoError(t, limitMemory(tree, opts))
			require.Equal(t, tc.want, debug.SetMemoryLimit(-1))
		})
	}
	unsetEnv(t, "GOMEMLIMIT")
	require.Error(t, limitMemory(tree, squashfs.Options{BlockSize: 3}))
}

// unsetEnv removes an environment variable for the rest of the test.
func unsetEnv(t *testing.T, key string) {
	t.Setenv(key, "") // restores the old value afterwards
	require.NoError(t, os.Unsetenv(key))
}
