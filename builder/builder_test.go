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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mkportable/mkportable/portable"
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
		StorePaths: []string{storePath}, StoreDir: store, Dir: dir,
	}
}

// writeUnit writes a unit file into the spec's directory and adds it.
func writeUnit(t *testing.T, s *Spec, name, text string) string {
	t.Helper()
	p := filepath.Join(s.Dir, name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	s.Units = append(s.Units, p)
	return p
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
	require.Equal(t, map[string]portable.Outcome{"252": "active", "257": "active"}, a.Report.Outcomes())
}

func TestLayout(t *testing.T) {
	spec := fixture(t)
	spec.Symlinks = []Symlink{{Object: spec.StorePaths[0] + "/bin/web-server", Symlink: "/usr/bin/web-server"}}
	spec.OSRelease = map[string]string{"ID": "nixos", "VARIANT": `say "hi" $HOME`}
	spec.Homepage = "https://example.org"
	img, err := Layout(context.Background(), spec, Options{})
	require.NoError(t, err)
	// What portable.Check says the service needs under every profile, and
	// nothing more.
	require.Equal(t, []string{"/dev", "/etc/machine-id", "/etc/resolv.conf", "/proc", "/run", "/sys", "/tmp", "/var/tmp"}, img.Created)
	for _, p := range img.Created {
		n, err := img.Tree.Lookup(p)
		require.NoError(t, err, p)
		require.Zero(t, len(n.Names()), p)
	}
	_, resolved, err := img.Tree.Resolve("/usr/bin/web-server")
	require.NoError(t, err)
	require.Equal(t, spec.StorePaths[0]+"/bin/web-server", resolved)
	osrel, err := osRelease(spec)
	require.NoError(t, err)
	require.Equal(t, `ID="nixos"
PRETTY_NAME="A web service"
VERSION_ID="20220227"
BUILD_ID="20220227"
PORTABLE_ID="web-server"
PORTABLE_PRETTY_NAME="A web service"
PORTABLE_PREFIXES="web-server"
HOME_URL="https://example.org"
VARIANT="say \"hi\" \$HOME"
`, string(osrel))
	require.Equal(t, []Input{
		{"unit", spec.Units[0], "/etc/systemd/system/web-server.service"},
		{"store-path", filepath.Join(spec.StoreDir, filepath.Base(spec.StorePaths[0])), spec.StorePaths[0]},
	}, img.Inputs)
}

// TestFixes: what the builder can fix it fixes, and says so (issue 9: a
// go-httpbin unit with DynamicUser=yes and StateDirectory= failed with
// 226/NAMESPACE in systemd 252 until /var/lib/httpbin was added).
func TestFixes(t *testing.T) {
	spec := fixture(t)
	writeUnit(t, &spec, "web-server-db.service.in", "[Service]\nExecStart=@web@/bin/web-server\nStateDirectory=httpbin\n"+
		"CacheDirectory=c/d\nLogsDirectory=l\nConfigurationDirectory=conf\nRuntimeDirectory=r\nTemporaryFileSystem=/scratch\n")
	img, err := Layout(context.Background(), spec, Options{})
	require.NoError(t, err)
	for _, p := range []string{"/var/lib/httpbin", "/var/cache/c/d", "/var/log/l", "/etc/conf", "/scratch"} {
		require.Contains(t, img.Created, p)
		n, err := img.Tree.Lookup(p)
		require.NoError(t, err)
		require.True(t, n.IsDir())
	}
	require.NotContains(t, img.Created, "/run/r", "RuntimeDirectory= is made in the /run tmpfs")

	// A "+" command runs without the sandbox's /run and /dev (guest 252
	// and 257: 226/NAMESPACE on /run/dbus/system_bus_socket): the bind
	// targets are made as empty files.
	spec = fixture(t)
	writeUnit(t, &spec, "web-server-root.service.in", "[Service]\nExecStart=+@web@/bin/web-server\n")
	img, err = Layout(context.Background(), spec, Options{})
	require.NoError(t, err)
	for _, p := range []string{"/run/dbus/system_bus_socket", "/run/host/os-release", "/dev/log", "/run/systemd/journal/socket", "/run/systemd/journal/stdout"} {
		require.Contains(t, img.Created, p)
		n, err := img.Tree.Lookup(p)
		require.NoError(t, err)
		require.True(t, n.Mode().IsRegular())
	}
	require.Equal(t, portable.OutcomeActive, img.Report.Outcome(252))
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, s *Spec)
		want   []string
	}{
		{"underscore in the name: one error, not its follow-ons", func(t *testing.T, s *Spec) { s.Name = "bb_httpd" },
			[]string{`name: "bb_httpd": portablectl derives the image name "bb" from bb_httpd_20220227.raw`}},
		{"newline in the description: one error, not one per field it fills", func(t *testing.T, s *Spec) { s.Description = "a\nb" },
			[]string{`description: invalid os-release field: PRETTY_NAME: the value holds the control character '\n'`}},
		{"slash in the version: one error, not one per field it fills", func(t *testing.T, s *Spec) { s.Version = "1/2" },
			[]string{`version: "1/2" must be`}},
		{"no units", func(t *testing.T, s *Spec) { s.Units = nil }, []string{"units: no unit files"}},
		{"missing placeholder", func(t *testing.T, s *Spec) { s.Substitutions = nil },
			[]string{"web-server.service.in:6: placeholder @web@ has no value"}},
		{"missing store path", func(t *testing.T, s *Spec) { s.StorePaths = append(s.StorePaths, "/nix/store/gone") },
			[]string{"storePaths: store path /nix/store/gone does not exist at"}},
		{"store path outside the store", func(t *testing.T, s *Spec) { s.StorePaths = append(s.StorePaths, "/etc/ssl/certs") },
			[]string{`storePaths: "/etc/ssl/certs" is not a store path: it must be /nix/store/<hash>-<name>`}},
		{"store path escaping the store", func(t *testing.T, s *Spec) { s.StorePaths = append(s.StorePaths, "/nix/store/../../etc") },
			[]string{`"/nix/store/../../etc" is not a store path`}},
		{"closureInfo entry outside the store", func(t *testing.T, s *Spec) {
			ci := filepath.Join(s.Dir, "closure")
			require.NoError(t, os.WriteFile(ci, []byte(s.StorePaths[0]+"\n/etc/ssl/certs\n"), 0o644))
			s.ClosureInfo = ci
		}, []string{`closureInfo ` + "", `"/etc/ssl/certs" is not a store path`}},
		{"program not in image", func(t *testing.T, s *Spec) { s.Substitutions["web"] = "/nix/store/elsewhere" },
			[]string{"web-server.service.in: exec-not-found (fails): line 6: ExecStart= program /nix/store/elsewhere/bin/web-server is not in the image"}},
		{"program not executable", func(t *testing.T, s *Spec) {
			p := filepath.Join(s.StoreDir, filepath.Base(s.StorePaths[0]), "bin", "web-server")
			require.NoError(t, os.Chmod(p, 0o644))
		}, []string{"ExecStart= program", "is not executable"}},
		{"unit that is a device", func(t *testing.T, s *Spec) { s.Units = append(s.Units, "/dev/zero") },
			[]string{"/dev/zero: unit is a device, not a regular file"}},
		{"unit that is a FIFO", func(t *testing.T, s *Spec) {
			fifo := filepath.Join(t.TempDir(), "x.service")
			require.NoError(t, syscall.Mkfifo(fifo, 0o644))
			s.Units = append(s.Units, fifo)
		}, []string{"x.service: unit is a FIFO, not a regular file"}},
		{"unit too large", func(t *testing.T, s *Spec) {
			big := filepath.Join(t.TempDir(), "big.service")
			require.NoError(t, os.WriteFile(big, nil, 0o644))
			require.NoError(t, os.Truncate(big, unit.MaxSize+1))
			s.Units = append(s.Units, big)
		}, []string{"big.service: unit is 67108865 bytes, more than the 67108864 a unit may have"}},
		{"closureInfo that is a device", func(t *testing.T, s *Spec) { s.ClosureInfo = "/dev/urandom" },
			[]string{"closureInfo /dev/urandom: a device, not a regular file"}},
		{"missing unit", func(t *testing.T, s *Spec) { s.Units = append(s.Units, "/nonexistent/x.service") },
			[]string{"/nonexistent/x.service: cannot read unit: no such file or directory"}},
		{"two units of one name", func(t *testing.T, s *Spec) {
			other := filepath.Join(t.TempDir(), "web-server.service")
			require.NoError(t, os.WriteFile(other, []byte("[Service]\nExecStart=/bin/true\n"), 0o644))
			s.Units = append(s.Units, other)
		}, []string{"unit web-server.service is also made from"}},
		{"empty unit", func(t *testing.T, s *Spec) { writeUnit(t, s, "web-server-x.service", "") },
			[]string{"unit-empty (fails, systemd before 257)"}},
		{"PORTABLE_PREFIXES without the image name", func(t *testing.T, s *Spec) {
			s.OSRelease = map[string]string{"PORTABLE_PREFIXES": "web"}
		}, []string{`osRelease: match-not-in-prefixes (refused): PORTABLE_PREFIXES="web" does not list the match "web-server"`}},
		{"bad os-release field", func(t *testing.T, s *Spec) { s.OSRelease = map[string]string{"x": "1", "VARIANT": "a\nb"} },
			[]string{`osRelease: invalid os-release field: "x" is not a field name`, `osRelease: invalid os-release field: VARIANT: the value holds the control character '\n'`}},
		{"symlink to nothing", func(t *testing.T, s *Spec) {
			s.Symlinks = []Symlink{{Object: "/nix/store/gone/etc/ssl", Symlink: "/etc/ssl"}}
		}, []string{"symlink /etc/ssl: object /nix/store/gone/etc/ssl is not in the image"}},
		{"bare program name not on the search path", func(t *testing.T, s *Spec) {
			writeUnit(t, s, "web-server-pre.service", "[Service]\nExecStartPre=web-server\nExecStart=/bin/sh\n")
		}, []string{"ExecStartPre= program web-server is not an executable file in /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"ExecStart= program /bin/sh is not in the image"}},
		{"relative program path", func(t *testing.T, s *Spec) {
			writeUnit(t, s, "web-server-rel.service", "[Service]\nExecStart=bin/web-server\n")
		}, []string{"bin/web-server is neither a valid executable name nor an absolute path"}},
		{"BindPaths= target missing", func(t *testing.T, s *Spec) {
			writeUnit(t, s, "web-server-b.service.in", "[Service]\nExecStart=@web@/bin/web-server\nBindPaths=/srv:/data\n")
		}, []string{"mount-point-missing (fails): /data is missing"}},
		{"contents outside the spec's directory", func(t *testing.T, s *Spec) {
			s.Contents = []Content{{Source: "/etc/hostname", Target: "/etc/hostname"}}
		}, []string{`/etc/hostname: contents source is outside`, `"hostContents": true`}},
		{"several at once", func(t *testing.T, s *Spec) {
			s.Version = "a/b"
			s.Contents = []Content{{Source: "/nope", Target: "/x"}}
		}, []string{`version: "a/b" must be`, "/nope: contents source does not exist"}},
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
			if strings.Contains(tt.name, "one error") {
				require.Equal(t, 1, strings.Count(err.Error(), "\n")+1, "one root cause, one error: %v", err)
			}
			left, _ := os.ReadDir(out)
			require.Empty(t, left, "a failed build left files behind")
		})
	}
}

// TestWhatPortabledAccepts: what portabled attaches and runs, the builder
// builds (issue 9, guest verdicts in systemd 252).
func TestWhatPortabledAccepts(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(t *testing.T, s *Spec)
		ignored []string // rules of the ignored problems reported
	}{
		{"a literal @ in a plain unit (guest 252: a@b@c runs)", func(t *testing.T, s *Spec) {
			writeUnit(t, s, "web-server-mail.service", "[Unit]\nDescription=mail a@b@c @x@\n[Service]\nExecStart=/usr/bin/web-server\n")
			s.Symlinks = []Symlink{{Object: s.StorePaths[0] + "/bin/web-server", Symlink: "/usr/bin/web-server"}}
		}, nil},
		{"a .mount unit beside the services (guest 252: attached, .mount ignored)", func(t *testing.T, s *Spec) {
			writeUnit(t, s, "web-server-data.mount", "[Mount]\nWhat=/x\nWhere=/data\n")
		}, []string{"unit-type-not-attached"}},
		{"a stray unit of another prefix (guest 252: ignored)", func(t *testing.T, s *Spec) {
			writeUnit(t, s, "third.service", "[Service]\nExecStart=/bin/true\n")
		}, []string{"unit-not-matched"}},
		{"PORTABLE_PREFIXES=other with the match other (guest 252: attach multi_1.raw other works)", func(t *testing.T, s *Spec) {
			writeUnit(t, s, "other.service.in", serviceIn)
			s.Matches = []string{"other"}
		}, []string{"unit-not-matched"}},
		{"substituteAll fills plain units too", func(t *testing.T, s *Spec) {
			writeUnit(t, s, "web-server-two.service", serviceIn)
			s.SubstituteAll = true
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fixture(t)
			tt.mutate(t, &spec)
			res, err := Build(context.Background(), spec, filepath.Join(t.TempDir(), "new", "dir"), Options{})
			require.NoError(t, err)
			var rules []string
			for _, p := range res.Report.Problems {
				rules = append(rules, p.Rule)
			}
			require.Equal(t, tt.ignored, rules)
		})
	}
}

// TestInjection: no value that lands in a unit or in os-release adds a
// setting or a field (issue 10).
func TestInjection(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Spec)
		want   string
	}{
		{"substitution newline", func(s *Spec) {
			s.Substitutions["web"] = s.StorePaths[0] + "\nExecStartPre=/evil --x\nUser=root"
		}, `value of @web@ holds the control character '\n'`},
		{"substitution carriage return", func(s *Spec) { s.Substitutions["web"] += "\rUser=root" }, `'\r'`},
		{"substitution trailing backslash", func(s *Spec) { s.Substitutions["web"] += `\` }, "ends in a backslash"},
		{"substitution lone semicolon", func(s *Spec) { s.Substitutions["web"] += " ; /evil" }, `lone ";"`},
		{"description", func(s *Spec) { s.Description = "x\"\nID=evil" }, `description: invalid os-release field: PRETTY_NAME: the value holds the control character '\n'`},
		{"homepage", func(s *Spec) { s.Homepage = "https://x\nID=evil" }, `homepage: invalid os-release field: HOME_URL`},
		{"version", func(s *Spec) { s.Version = "1\nID=evil" }, `version: "1\nID=evil" must be`},
		{"osRelease value", func(s *Spec) { s.OSRelease = map[string]string{"VARIANT": "a\nID=evil"} }, "osRelease: invalid os-release field: VARIANT"},
		{"osRelease key", func(s *Spec) { s.OSRelease = map[string]string{"ID=evil\nX": "a"} }, "is not a field name"},
		{"osRelease not UTF-8", func(s *Spec) { s.OSRelease = map[string]string{"VARIANT": "\xff"} }, "not valid UTF-8"},
		{"matches", func(s *Spec) { s.Matches = []string{"web-server\nID=evil"} }, "matches: invalid os-release field: PORTABLE_PREFIXES"},
		{"name", func(s *Spec) { s.Name = "web\nID=evil" }, `name: "web\nID=evil"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fixture(t)
			tt.mutate(&spec)
			_, err := Layout(context.Background(), spec, Options{})
			require.ErrorContains(t, err, tt.want)
		})
	}
	spec := fixture(t)
	spec.Substitutions["web"] += "\nUser=root"
	_, err := Layout(context.Background(), spec, Options{})
	var ve *unit.ValueError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "web", ve.Key)
}

func TestHostContents(t *testing.T) {
	spec := fixture(t)
	host := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(host, "conf"), []byte("x"), 0o644))
	spec.Contents = []Content{{Source: filepath.Join(host, "conf"), Target: "/etc/web/conf"}}
	_, err := Layout(context.Background(), spec, Options{})
	require.ErrorContains(t, err, "contents source is outside")
	spec.HostContents = true
	img, err := Layout(context.Background(), spec, Options{})
	require.NoError(t, err)
	require.Contains(t, img.Inputs, Input{"contents", filepath.Join(host, "conf"), "/etc/web/conf"})

	// Inside the spec's directory it needs no permission.
	spec = fixture(t)
	require.NoError(t, os.WriteFile(filepath.Join(spec.Dir, "conf"), []byte("x"), 0o644))
	spec.Contents = []Content{{Source: filepath.Join(spec.Dir, "conf"), Target: "/etc/web/conf"}}
	_, err = Layout(context.Background(), spec, Options{})
	require.NoError(t, err)
}

func TestTypedErrors(t *testing.T) {
	spec := fixture(t)
	spec.StorePaths = append(spec.StorePaths, "/nix/store/gone")
	_, err := Layout(context.Background(), spec, Options{})
	var checkErr *CheckError
	require.True(t, errors.As(err, &checkErr))
	require.Equal(t, "storePaths", checkErr.Input)

	var phErr *unit.PlaceholderError
	spec = fixture(t)
	spec.Substitutions = nil
	_, err = Layout(context.Background(), spec, Options{})
	require.True(t, errors.As(err, &phErr))
	require.Equal(t, "@web@", phErr.Placeholder)
}

// TestSkipChecks lays out and writes what portabled refuses, for tests.
func TestSkipChecks(t *testing.T) {
	spec := fixture(t)
	spec.Name = "webserver"
	out := t.TempDir()
	_, err := Build(context.Background(), spec, out, Options{})
	require.ErrorContains(t, err, "no-matching-units")
	res, err := Build(context.Background(), spec, out, Options{SkipChecks: true})
	require.NoError(t, err)
	require.FileExists(t, res.Path)
	require.Equal(t, portable.OutcomeRefused, res.Report.Outcome(252))
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

func TestOutputDirectory(t *testing.T) {
	spec := fixture(t)
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err := Build(context.Background(), spec, file, Options{})
	require.ErrorContains(t, err, "is a file, not a directory")
	res, err := Build(context.Background(), spec, filepath.Join(t.TempDir(), "a", "b"), Options{})
	require.NoError(t, err)
	require.FileExists(t, res.Path)
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
	require.Equal(t, dir, s.Dir)

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

// TestBeforeWrite checks that the hook sees the laid-out tree and the
// writer's options, and that its error stops the build with no output.
func TestBeforeWrite(t *testing.T) {
	spec := fixture(t)
	when := time.Unix(1700000000, 0)
	var seen *squashfs.Tree
	var seenOpts squashfs.Options
	hook := func(tree *squashfs.Tree, opts squashfs.Options) error {
		seen, seenOpts = tree, opts
		return nil
	}
	_, err := Build(context.Background(), spec, t.TempDir(), Options{ModTime: when, Workers: 3, BeforeWrite: hook})
	require.NoError(t, err)
	require.NotNil(t, seen)
	require.Equal(t, 3, seenOpts.Workers)
	require.True(t, when.Equal(seenOpts.ModTime))
	require.Equal(t, squashfs.MaxBlockSize, seenOpts.BlockSize)
	_, err = seen.Lookup("etc/os-release")
	require.NoError(t, err, "the tree is the laid-out image's")

	out := t.TempDir()
	boom := errors.New("no memory limit")
	_, err = Build(context.Background(), spec, out, Options{BeforeWrite: func(*squashfs.Tree, squashfs.Options) error { return boom }})
	require.ErrorIs(t, err, boom)
	left, _ := os.ReadDir(out)
	require.Empty(t, left)
}
