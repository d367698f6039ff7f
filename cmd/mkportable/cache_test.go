package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSquashWithCache(t *testing.T) {
	src := sourceTree(t)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	sum := func(p string) [32]byte {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return sha256.Sum256(b)
	}
	code, _, stderr := runCLI(t, "squash", src, filepath.Join(dir, "cold.sqfs"), "--quiet")
	require.Equal(t, 0, code, stderr)
	for _, name := range []string{"first.sqfs", "second.sqfs"} {
		code, _, stderr = runCLI(t, "squash", src, filepath.Join(dir, name), "--quiet", "--cache", cache)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, sum(filepath.Join(dir, "cold.sqfs")), sum(filepath.Join(dir, name)), name)
	}

	code, stdout, stderr := runCLI(t, "cache", "stats", "--cache", cache)
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `cache: [1-9]\d* blocks, .*, least recently used `, stdout)
	code, stdout, stderr = runCLI(t, "cache", "prune", "--cache", cache, "--max-size", "0")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `cache: removed [1-9]\d* blocks`, stdout)
	code, stdout, _ = runCLI(t, "cache", "stats", "--cache", cache)
	require.Equal(t, 0, code)
	require.Contains(t, stdout, ": 0 blocks, 0 B")
}

func TestCacheUsage(t *testing.T) {
	for _, args := range [][]string{{"cache"}, {"cache", "clear"}} {
		code, _, _ := runCLI(t, args...)
		require.Equal(t, 2, code, args)
	}
	code, _, stderr := runCLI(t, "cache", "prune", "--cache", t.TempDir(), "--max-size", "lots")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `--max-size: size "lots"`)
	code, stdout, _ := runCLI(t, "cache", "stats", "--cache", filepath.Join(t.TempDir(), "none"))
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "no cache")
}
