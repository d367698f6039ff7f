package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mkportable/mkportable/unit"
	"github.com/stretchr/testify/require"
)

const serviceIn = `[Unit]
Description=A web service

[Service]
DynamicUser=yes
ExecStart=@web@/bin/web-server

[Install]
WantedBy=multi-user.target
`

// fixture lays out a store directory with one package and a unit template,
// and returns a spec that builds.
func fixture(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	pkg := filepath.Join(store, "00000000000000000000000000000000-web-server-20220227")
	require.NoError(t, os.MkdirAll(filepath.Join(pkg, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(pkg, "bin", "web-server"), []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, os.Symlink("web-server", filepath.Join(pkg, "bin", "alias")))
	unitFile := filepath.Join(dir, "web-server.service.in")
	require.NoError(t, os.WriteFile(unitFile, []byte(serviceIn), 0o644))
	storePath := "/nix/store/" + filepath.Base(pkg)
	return Spec{
		Name: "web-server", Version: "20220227", Description: "A web service",
		Units: []string{unitFile}, Substitutions: map[string]string{"web": storePath},
		StorePaths: []string{storePath}, StoreDir: store,
	}
}

func TestBuildReproducible(t *testing.T) {
	spec := fixture(t)
	a, err := Build(context.Background(), spec, t.TempDir(), Options{Workers: 1})
	require.NoError(t, err)
	b, err := Build(context.Background(), spec, t.TempDir(), Options{Workers: 4})
	require.NoError(t, err)
	require.Equal(t, a.SHA256, b.SHA256)
	require.Equal(t, "web-server_20220227.raw", filepath.Base(a.Path))
}

func TestLayout(t *testing.T) {
	spec := fixture(t)
	spec.Symlinks = []Symlink{{Object: spec.StorePaths[0] + "/bin/web-server", Symlink: "/usr/bin/web-server"}}
	spec.OSRelease = map[string]string{"ID": "nixos", "VARIANT": `say "hi" $HOME`}
	spec.Homepage = "https://example.org"
	tree, err := Layout(spec, Options{})
	require.NoError(t, err)
	for _, p := range append(append([]string{}, mountPoints...), "/etc/systemd/system") {
		n, err := tree.Lookup(p)
		require.NoError(t, err, p)
		require.True(t, n.IsDir(), p)
	}
	for _, p := range emptyFiles {
		n, err := tree.Lookup(p)
		require.NoError(t, err, p)
		require.Zero(t, n.Size(), p)
	}
	_, resolved, err := tree.Resolve("/usr/bin/web-server")
	require.NoError(t, err)
	require.Equal(t, spec.StorePaths[0]+"/bin/web-server", resolved)
	require.Equal(t, `ID="nixos"
PRETTY_NAME="A web service"
VERSION_ID="20220227"
BUILD_ID="20220227"
PORTABLE_ID="web-server"
PORTABLE_PRETTY_NAME="A web service"
PORTABLE_PREFIXES="web-server"
HOME_URL="https://example.org"
VARIANT="say \"hi\" \$HOME"
`, string(osRelease(spec)))
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, s *Spec)
		want   []string
	}{
		{"underscore in name", func(t *testing.T, s *Spec) { s.Name = "web_server" },
			[]string{`name: "web_server" is not an image name portabled can derive`}},
		{"unit outside the prefix", func(t *testing.T, s *Spec) { s.Name = "webserver" },
			[]string{`unit web-server.service: name does not start with "webserver"`}},
		{"no units", func(t *testing.T, s *Spec) { s.Units = nil }, []string{"units: no unit files"}},
		{"missing placeholder", func(t *testing.T, s *Spec) { s.Substitutions = nil },
			[]string{"web-server.service.in:6: placeholder @web@ has no value"}},
		{"missing store path", func(t *testing.T, s *Spec) { s.StorePaths = append(s.StorePaths, "/nix/store/gone") },
			[]string{"/nix/store/gone: store path does not exist at"}},
		{"program not in image", func(t *testing.T, s *Spec) { s.Substitutions["web"] = "/nix/store/elsewhere" },
			[]string{"web-server.service.in:6: ExecStart= program /nix/store/elsewhere/bin/web-server is not in the image"}},
		{"program not executable", func(t *testing.T, s *Spec) {
			p := filepath.Join(s.StoreDir, filepath.Base(s.StorePaths[0]), "bin", "web-server")
			require.NoError(t, os.Chmod(p, 0o644))
		}, []string{"ExecStart= program", "is not executable"}},
		{"two units of one name", func(t *testing.T, s *Spec) {
			other := filepath.Join(t.TempDir(), "web-server.service")
			require.NoError(t, os.WriteFile(other, []byte("[Service]\nExecStart=/bin/true\n"), 0o644))
			s.Units = append(s.Units, other)
		}, []string{"unit web-server.service is also made from"}},
		{"empty unit", func(t *testing.T, s *Spec) {
			empty := filepath.Join(t.TempDir(), "web-server-x.service")
			require.NoError(t, os.WriteFile(empty, []byte("# nothing\n"), 0o644))
			s.Units = append(s.Units, empty)
		}, []string{"unit file is empty"}},
		{"several at once", func(t *testing.T, s *Spec) {
			s.Version = "a/b"
			s.Contents = []Content{{Source: "/nope", Target: "/x"}}
		},
			[]string{`version: "a/b" must be`, "/nope: contents source does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fixture(t)
			tt.mutate(t, &spec)
			out := t.TempDir()
			_, err := Build(context.Background(), spec, out, Options{})
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			left, _ := os.ReadDir(out)
			require.Empty(t, left, "a failed build left files behind")
			// SkipChecks writes what portabled would refuse, for tests.
			if tt.name == "unit outside the prefix" {
				res, err := Build(context.Background(), spec, out, Options{SkipChecks: true})
				require.NoError(t, err)
				require.FileExists(t, res.Path)
			}
		})
	}
}

func TestTypedErrors(t *testing.T) {
	spec := fixture(t)
	spec.Name = "webserver"
	spec.StorePaths = append(spec.StorePaths, "/nix/store/gone")
	_, err := Layout(spec, Options{})
	var nameErr *unit.NameError
	require.True(t, errors.As(err, &nameErr))
	require.Equal(t, "web-server.service", nameErr.Unit)
	var checkErr *CheckError
	require.True(t, errors.As(err, &checkErr))
}

func TestLoadSpec(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "spec.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"name":"a","version":"1","units":["u/a.service"],"storeDir":"store",
		"closureInfo":"closure","contents":[{"source":"etc","target":"/etc/x"}]}`), 0o644))
	s, err := LoadSpec(p)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "u/a.service"), s.Units[0])
	require.Equal(t, filepath.Join(dir, "store"), s.StoreDir)
	require.Equal(t, filepath.Join(dir, "closure"), s.ClosureInfo)
	require.Equal(t, filepath.Join(dir, "etc"), s.Contents[0].Source)

	require.NoError(t, os.WriteFile(p, []byte(`{"name":"a","verison":"1"}`), 0o644))
	_, err = LoadSpec(p)
	require.ErrorContains(t, err, `unknown field "verison"`)
}

func TestClosureInfo(t *testing.T) {
	spec := fixture(t)
	closure := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(closure, "store-paths"), []byte(spec.StorePaths[0]+"\n"+spec.StorePaths[0]+"\n"), 0o644))
	spec.StorePaths, spec.ClosureInfo = nil, closure
	paths, err := spec.storePaths()
	require.NoError(t, err)
	require.Len(t, paths, 1)
	_, err = Build(context.Background(), spec, t.TempDir(), Options{})
	require.NoError(t, err)
}
