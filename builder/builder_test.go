package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mkportable/mkportable/squashfs"
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
	ab, err := os.ReadFile(a.Path)
	require.NoError(t, err)
	bb, err := os.ReadFile(b.Path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(ab, bb), "same inputs gave different bytes")
	// The default time is 1980-01-01, squashfs.DefaultModTime.
	require.Equal(t, uint32(315532800), binary.LittleEndian.Uint32(ab[8:]))
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
		{"ID overridden with what os-release forbids", func(t *testing.T, s *Spec) { s.OSRelease = map[string]string{"ID": "Web Server"} },
			[]string{`osRelease: ID="Web Server": os-release(5) wants lower-case letters`}},
		{"PORTABLE_PREFIXES without the image name", func(t *testing.T, s *Spec) {
			s.OSRelease = map[string]string{"PORTABLE_PREFIXES": "web"}
		}, []string{`osRelease: PORTABLE_PREFIXES="web" does not list the image name "web-server"`}},
		{"bad os-release field", func(t *testing.T, s *Spec) { s.OSRelease = map[string]string{"x": "1", "VARIANT": "a\nb"} },
			[]string{`osRelease: "x" is not an os-release(5) field name`, "osRelease: VARIANT: an os-release value is one line"}},
		{"symlink to nothing", func(t *testing.T, s *Spec) {
			s.Symlinks = []Symlink{{Object: "/nix/store/gone/etc/ssl", Symlink: "/etc/ssl"}}
		}, []string{"symlink /etc/ssl: object /nix/store/gone/etc/ssl is not in the image"}},
		{"program is a directory", func(t *testing.T, s *Spec) {
			u := filepath.Join(t.TempDir(), "web-server-dir.service.in")
			require.NoError(t, os.WriteFile(u, []byte("[Service]\nExecStart=@web@/bin/../bin\n"), 0o644))
			s.Units = append(s.Units, u)
		}, []string{"web-server-dir.service.in:2: ExecStart= program /nix/store/00000000000000000000000000000000-web-server-20220227/bin/../bin is not a regular file but a directory"}},
		{"bare program name not on the search path", func(t *testing.T, s *Spec) {
			u := filepath.Join(t.TempDir(), "web-server-pre.service")
			require.NoError(t, os.WriteFile(u, []byte("[Service]\nExecStartPre=-web-server\nExecStart=/bin/sh\n"), 0o644))
			s.Units = append(s.Units, u)
		}, []string{"web-server-pre.service:2: ExecStartPre= program web-server is not an executable file in any of /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin in the image",
			"web-server-pre.service:3: ExecStart= program /bin/sh is not in the image"}},
		{"relative program path", func(t *testing.T, s *Spec) {
			u := filepath.Join(t.TempDir(), "web-server-rel.service")
			require.NoError(t, os.WriteFile(u, []byte("[Service]\nExecStart=bin/web-server\n"), 0o644))
			s.Units = append(s.Units, u)
		}, []string{"web-server-rel.service:2: ExecStart= program bin/web-server is neither an absolute path nor a bare name"}},
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

// TestProgramsFound checks the ways a program is found that must pass:
// through symlinks in the image, by bare name on systemd's search path or
// the unit's ExecSearchPath=, and with specifiers left to systemd.
func TestProgramsFound(t *testing.T) {
	spec := fixture(t)
	spec.Symlinks = []Symlink{
		{Object: spec.StorePaths[0] + "/bin/alias", Symlink: "/usr/bin/web-server"},
		{Object: spec.StorePaths[0] + "/bin", Symlink: "/opt/bin"},
	}
	u := filepath.Join(t.TempDir(), "web-server-more.service")
	require.NoError(t, os.WriteFile(u, []byte(`[Service]
ExecStartPre=!!web-server --check
ExecStartPost=@/opt/bin/web-server argv0
ExecReload=%h/bin/x
ExecStop=
ExecStart=/usr/bin/web-server
`), 0o644))
	v := filepath.Join(t.TempDir(), "web-server-search.service")
	require.NoError(t, os.WriteFile(v, []byte("[Service]\nExecSearchPath=/opt/bin\nExecStart=web-server\n"), 0o644))
	spec.Units = append(spec.Units, u, v)
	_, err := Layout(spec, Options{})
	require.NoError(t, err)
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

	spec = fixture(t)
	spec.Substitutions["web"] = "/nix/store/elsewhere"
	_, err = Layout(spec, Options{})
	var execErr *ExecError
	require.True(t, errors.As(err, &execErr))
	require.Equal(t, ExecError{File: spec.Units[0], Line: 6, Key: "ExecStart", Program: "/nix/store/elsewhere/bin/web-server", Rule: "is not in the image"}, *execErr)
	var phErr *unit.PlaceholderError
	spec.Substitutions = nil
	_, err = Layout(spec, Options{})
	require.True(t, errors.As(err, &phErr))
	require.Equal(t, "@web@", phErr.Placeholder)
}

// TestCancelledBuild checks that a build stopped while writing leaves
// neither an image nor a temporary file.
func TestCancelledBuild(t *testing.T) {
	spec := fixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := t.TempDir()
	_, err := Build(ctx, spec, out, Options{})
	require.ErrorIs(t, err, context.Canceled)
	left, _ := os.ReadDir(out)
	require.Empty(t, left)
}

// TestModTimeAndProgress checks that the time given is the image's and
// that progress is reported.
func TestModTimeAndProgress(t *testing.T) {
	spec := fixture(t)
	var last squashfs.Progress
	when := time.Unix(1700000000, 0)
	res, err := Build(context.Background(), spec, t.TempDir(), Options{ModTime: when, Progress: func(p squashfs.Progress) { last = p }})
	require.NoError(t, err)
	require.Equal(t, last.BytesTotal, last.BytesDone)
	require.NotZero(t, last.BytesTotal)
	img, err := os.ReadFile(res.Path)
	require.NoError(t, err)
	require.Equal(t, uint32(1700000000), binary.LittleEndian.Uint32(img[8:]))
	require.Equal(t, res.Size, int64(len(img)))
	sum := sha256.Sum256(img)
	require.Equal(t, hex.EncodeToString(sum[:]), res.SHA256)
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
