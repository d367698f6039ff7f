package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mkportable/mkportable/builder"
	"github.com/mkportable/mkportable/squashfs"
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
	flags, _ := storeFixture(t)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, append([]string{"build", "-o", out, "--json"}, flags...)...)
	require.Equal(t, 0, code, stderr)
	var res struct {
		Path, SHA256, Name, Version string
		Size                        int64
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	require.Equal(t, filepath.Join(out, "web-server_20220227.raw"), res.Path)
	require.Len(t, res.SHA256, 64)

	code, stdout, stderr = runCLI(t, "inspect", res.Path, "--json")
	require.Equal(t, 0, code, stderr)
	var got inspection
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	require.Equal(t, "web-server", got.Name)
	require.Equal(t, "web-server", got.OSRelease["PORTABLE_PREFIXES"])
	require.Equal(t, []inspectUnit{{"web-server.service", "/etc/systemd/system/web-server.service"}}, got.Units)
	require.Empty(t, got.Problems)
	require.Contains(t, stdout, `"problems": []`)
}

func TestBuildErrors(t *testing.T) {
	flags, _ := storeFixture(t)
	out := t.TempDir()
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{append([]string{"build", "-o", out}, append(flags, "--name", "webserver")...), 1,
			[]string{`mkportable build: `, `name does not start with "webserver"`}},
		{append([]string{"build", "-o", out}, append(flags, "--store-path", "/nix/store/gone", "--name", "web_server")...), 1,
			[]string{`mkportable build: name: "web_server" is not an image name`, "mkportable build: /nix/store/gone: store path does not exist"}},
		{append([]string{"build"}, flags...), 2, []string{"-o DIR is required"}},
		{append([]string{"build", "-o", out, "--subst", "novalue"}, flags...), 2, []string{`--subst "novalue": want KEY=VALUE`}},
		{append([]string{"build", "-o", filepath.Join(out, "missing")}, flags...), 1, []string{"output directory"}},
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

// TestInspectProblems builds images that portabled refuses, with the
// builder's checks bypassed, and checks inspect names each problem.
func TestInspectProblems(t *testing.T) {
	flags, storePath := storeFixture(t)
	tests := []struct {
		name   string
		mutate func(t *testing.T, tree *squashfs.Tree)
		want   string
	}{
		{"no os-release", func(t *testing.T, tree *squashfs.Tree) { remove(t, tree, "/etc/os-release") },
			"no os-release: neither /etc/os-release nor /usr/lib/os-release exists"},
		{"unit outside the prefix", func(t *testing.T, tree *squashfs.Tree) {
			remove(t, tree, "/etc/systemd/system/web-server.service")
			require.NoError(t, tree.AddBytes("/etc/systemd/system/other.service", squashfs.Attr{Mode: 0o644}, []byte("[Service]\nExecStart=/bin/true\n")))
		}, "no unit file named web-server followed by '-', '.' or '@'"},
		{"no mount points", func(t *testing.T, tree *squashfs.Tree) { remove(t, tree, "/proc") },
			"/proc is missing: portabled binds the host's over it, so the service would fail with 226/NAMESPACE"},
		{"program missing", func(t *testing.T, tree *squashfs.Tree) { remove(t, tree, storePath+"/bin/web-server") },
			"ExecStart= program " + storePath + "/bin/web-server is not in the image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := builder.Spec{Name: "web-server", Version: "1"}
			for i := 0; i < len(flags); i += 2 {
				switch flags[i] {
				case "--unit":
					spec.Units = append(spec.Units, flags[i+1])
				case "--store-dir":
					spec.StoreDir = flags[i+1]
				}
			}
			spec.StorePaths = []string{storePath}
			spec.Substitutions = map[string]string{"web": storePath}
			tree, err := builder.Layout(spec, builder.Options{})
			require.NoError(t, err)
			tt.mutate(t, tree)
			img := filepath.Join(t.TempDir(), "web-server_1.raw")
			_, err = squashfs.WriteFile(context.Background(), img, tree, squashfs.Options{})
			require.NoError(t, err)
			code, stdout, _ := runCLI(t, "inspect", img)
			require.Equal(t, 1, code)
			require.Contains(t, stdout, tt.want)
		})
	}
	code, _, stderr := runCLI(t, "inspect", filepath.Join(t.TempDir(), "nothing.raw"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no such file")

	notImage := filepath.Join(t.TempDir(), "x.raw")
	require.NoError(t, os.WriteFile(notImage, make([]byte, 4096), 0o644))
	code, _, stderr = runCLI(t, "inspect", notImage)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "not a readable squashfs image")

	lz4Image := filepath.Join(t.TempDir(), "web-server_20220227.raw")
	code, _, stderr = runCLI(t, append([]string{"build", "-o", filepath.Dir(lz4Image), "--compression", "lz4"}, flags...)...)
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr := runCLI(t, "inspect", lz4Image)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "problems    none")
}

// remove drops a path from a laid-out tree.
func remove(t *testing.T, tree *squashfs.Tree, p string) {
	t.Helper()
	require.NoError(t, tree.Remove(p))
}
