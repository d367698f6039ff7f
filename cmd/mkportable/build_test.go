package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/mkportable/mkportable/builder"
	"github.com/mkportable/mkportable/portable"
	"github.com/stretchr/testify/require"
)

// storeFixture makes a store directory with one executable and a unit
// template, and returns the flags that build an image from them.
func storeFixture(t *testing.T) (flags []string, storePath string) {
	t.Helper()
	dir := t.TempDir()
	storePath = "/nix/store/11111111111111111111111111111111-web-server-20220227"
	bin := filepath.Join(dir, "store", filepath.Base(storePath), "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "web-server"), []byte("#!/bin/sh\n"), 0o755))
	unitFile := filepath.Join(dir, "web-server.service.in")
	require.NoError(t, os.WriteFile(unitFile, []byte("[Service]\nExecStart=@web@/bin/web-server\n"), 0o644))
	return []string{"--name", "web-server", "--version", "20220227", "--unit", unitFile,
		"--store-dir", filepath.Join(dir, "store"), "--store-path", storePath, "--subst", "web=" + storePath}, storePath
}

func TestBuildAndInspect(t *testing.T) {
	flags, storePath := storeFixture(t)
	out := filepath.Join(t.TempDir(), "new")
	code, stdout, stderr := runCLI(t, append([]string{"build", "-o", out, "--json"}, flags...)...)
	require.Equal(t, 0, code, stderr)
	var res buildResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	require.Equal(t, filepath.Join(out, "web-server_20220227.raw"), res.Path)
	require.Len(t, res.SHA256, 64)
	require.Contains(t, res.Inputs, builder.Input{Kind: "store-path", Source: filepath.Join(flags[7], filepath.Base(storePath)), Target: storePath})
	require.Contains(t, res.Created, "/proc")
	require.Empty(t, res.Problems)
	require.Contains(t, stdout, `"problems": []`)

	code, stdout, stderr = runCLI(t, "inspect", res.Path, "--json")
	require.Equal(t, 0, code, stderr)
	var got inspection
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	require.Equal(t, "web-server", got.Name)
	require.Equal(t, "web-server", got.OSRelease["PORTABLE_PREFIXES"])
	require.Equal(t, []portable.Unit{{Name: "web-server.service", Path: "/etc/systemd/system/web-server.service", Attached: true}}, got.Units)
	require.Empty(t, got.Problems)
	require.Contains(t, stdout, `"problems": []`)
}

func TestBuildErrors(t *testing.T) {
	flags, _ := storeFixture(t)
	out := t.TempDir()
	aFile := filepath.Join(t.TempDir(), "afile")
	require.NoError(t, os.WriteFile(aFile, nil, 0o644))
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{append([]string{"build", "-o", out}, append(flags, "--name", "webserver")...), 1,
			[]string{`mkportable build: `, `units: no-matching-units (refused)`}},
		{append([]string{"build", "-o", out}, append(flags, "--name", "bb_httpd")...), 1,
			[]string{`mkportable build: name: "bb_httpd": portablectl derives the image name "bb"`}},
		{append([]string{"build", "-o", out}, append(flags, "--store-path", "/nix/store/gone")...), 1,
			[]string{"mkportable build: storePaths: store path /nix/store/gone does not exist"}},
		{append([]string{"build", "-o", out}, append(flags, "--store-path", "/etc/ssl/certs")...), 1,
			[]string{`mkportable build: storePaths: "/etc/ssl/certs" is not a store path`}},
		{append([]string{"build", "-o", out}, append(flags, "--contents", "/etc/hostname:/etc/hostname")...), 1,
			[]string{`--host-contents`}},
		{append([]string{"build", "-o", out, "--profile", "lax"}, flags...), 2, []string{`--profile "lax"`}},
		{append([]string{"build"}, flags...), 2, []string{"-o DIR is required"}},
		{append([]string{"build", "-o", out, "--subst", "novalue"}, flags...), 2, []string{`--subst "novalue": want KEY=VALUE`}},
		{append([]string{"build", "-o", aFile}, flags...), 1, []string{"is a file, not a directory"}},
		{[]string{"build", "-o", out, filepath.Join(out, "none.json")}, 1, []string{"spec: open"}},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, tt.args...)
		require.Equal(t, tt.code, code, stderr)
		for _, w := range tt.want {
			require.Contains(t, stderr, w)
		}
	}
	left, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, left, "failed builds left files behind")
}

// TestBuildLimitsMemory checks that build, like squash, sets the process's
// memory limit to what writing its image needs.
func TestBuildLimitsMemory(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	unsetEnv(t, "GOMEMLIMIT")
	debug.SetMemoryLimit(math.MaxInt64)
	flags, _ := storeFixture(t)
	code, _, stderr := runCLI(t, append([]string{"build", "-o", t.TempDir(), "--json"}, flags...)...)
	require.Equal(t, 0, code, stderr)
	limit := debug.SetMemoryLimit(-1)
	require.Less(t, limit, int64(math.MaxInt64))
	require.Greater(t, limit, int64(16<<20))
}
