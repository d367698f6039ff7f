package portable

import (
	"context"
	"io/fs"
	"maps"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func dir() *fstest.MapFile { return &fstest.MapFile{Mode: fs.ModeDir | 0o755} }

func file(s string) *fstest.MapFile { return &fstest.MapFile{Mode: 0o644, Data: []byte(s)} }

func exe() *fstest.MapFile { return &fstest.MapFile{Mode: 0o755, Data: []byte("#!/bin/sh\n")} }

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(target)}
}

const webUnit = "[Service]\nDynamicUser=yes\nExecStart=/store/web/bin/serve\n"

// goodImage is an image systemd 252 and 257 attach as web-server and
// start: what the builder lays out.
func goodImage() fstest.MapFS {
	img := fstest.MapFS{
		"etc/os-release":                        file("ID=web-server\nPORTABLE_PREFIXES=\"web-server\"\nPRETTY_NAME='Web server'\n"),
		"etc/resolv.conf":                       file(""),
		"etc/machine-id":                        file(""),
		"store/web/bin/serve":                   exe(),
		"etc/systemd/system/web-server.service": file(webUnit),
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "var/tmp"} {
		img[d] = dir()
	}
	return img
}

// want is one expected problem: its rule, severity and versions, and a
// piece of its message.
type want struct {
	rule   string
	sev    Severity
	since  int
	before int
	msg    string
}

func TestCheckRules(t *testing.T) {
	tests := []struct {
		name string
		// systemd is the behaviour the row encodes, with its version and
		// source (or guest verdict).
		systemd string
		file    string // default web-server_1.raw
		opts    Options
		change  func(img fstest.MapFS)
		want    []want
		units   []Unit // checked when set
	}{
		{name: "good image", systemd: "252, 257: attached and active (guest: the example image)"},
		{
			name: "underscore in the name", systemd: "portablectl.c extract_prefix, 252/257: name up to the first '_'",
			file: "web_server_1.raw",
			// "web" still matches web-server.service ('-' follows it), but
			// PORTABLE_PREFIXES lists web-server only.
			want: []want{{rule: "match-not-in-prefixes", sev: Refused, msg: `does not list the match "web"`}},
		},
		{
			name: "invalid image name", systemd: "extract_prefix: letters, digits, '-', '.' only, else attach fails",
			file: "web+server_1.raw",
			want: []want{{rule: "image-name", sev: Refused, msg: `'+' is not a letter`}},
		},
		{
			name: "match '-'", systemd: "portablectl attach: determine_matches(allow_any=false) refuses '-'",
			opts: Options{Matches: []string{"-"}},
			want: []want{{rule: "match-all", sev: Refused}},
		},
		{
			name: "no os-release", systemd: "portable.c: \"lacks os-release data, refusing\" (guest 252: e2e)",
			change: func(img fstest.MapFS) { delete(img, "etc/os-release") },
			want:   []want{{rule: "no-os-release", sev: Refused}},
		},
		{
			name: "os-release in /usr/lib, reached through a dangling /etc link", systemd: "os-util.c: /etc/os-release then /usr/lib/os-release, ENOENT falls through",
			change: func(img fstest.MapFS) {
				img["usr/lib/os-release"] = img["etc/os-release"]
				img["etc/os-release"] = link("/nowhere")
			},
		},
		{
			name: "os-release loop stops the search", systemd: "os-util.c: an error other than ENOENT ends the search",
			change: func(img fstest.MapFS) {
				img["usr/lib/os-release"] = img["etc/os-release"]
				img["etc/os-release"] = link("os-release")
			},
			want: []want{{rule: "os-release-unreadable", sev: Refused, msg: "too many levels"}},
		},
		{
			name: "os-release a directory", systemd: "portabled cannot read it",
			change: func(img fstest.MapFS) {
				delete(img, "etc/os-release")
				img["etc/os-release/x"] = file("")
			},
			want: []want{{rule: "os-release-unreadable", sev: Refused, msg: "a directory"}},
		},
		{
			name: "no ID", systemd: "portable.c extract_image_and_extensions: \"lacks the ID field\" (252 and 257 source)",
			change: func(img fstest.MapFS) { img["etc/os-release"] = file("PORTABLE_PREFIXES=web-server\nID=\n") },
			want:   []want{{rule: "os-release-no-id", sev: Refused}},
		},
		{
			name: "ID not per os-release(5)", systemd: "portabled needs ID only non-empty",
			change: func(img fstest.MapFS) { img["etc/os-release"] = file("ID='Web Server'\n") },
			want:   []want{{rule: "os-release-id-syntax", sev: Note}},
		},
		{
			name: "os-release not UTF-8", systemd: "env-file.c check_utf8ness_and_warn fails the parse",
			change: func(img fstest.MapFS) { img["etc/os-release"] = file("ID=x\nNAME=\xff\n") },
			want:   []want{{rule: "os-release-invalid", sev: Refused}},
		},
		{
			name: "PORTABLE_PREFIXES without the match", systemd: "portable.c prefix_matches_compatible (guest 252: multi with PORTABLE_PREFIXES=other refused)",
			change: func(img fstest.MapFS) { img["etc/os-release"] = file("ID=x\nPORTABLE_PREFIXES=other\n") },
			want:   []want{{rule: "match-not-in-prefixes", sev: Refused, msg: "Acceptable prefix matches are: other"}},
		},
		{
			name: "PORTABLE_PREFIXES=other with the explicit match other", systemd: "guest 252: attach multi_1.raw other works",
			opts: Options{Matches: []string{"other"}},
			change: func(img fstest.MapFS) {
				img["etc/os-release"] = file("ID=x\nPORTABLE_PREFIXES=other\n")
				img["etc/systemd/system/other.service"] = file(webUnit)
			},
			want: []want{{rule: "unit-not-matched", sev: Ignored}},
		},
		{
			name: "PORTABLE_PREFIXES of blanks", systemd: "strv_split of blanks is an empty list: no match is compatible",
			change: func(img fstest.MapFS) { img["etc/os-release"] = file("ID=x\nPORTABLE_PREFIXES=\"  \"\n") },
			want:   []want{{rule: "match-not-in-prefixes", sev: Refused}},
		},
		{
			name: "a comment continued by a backslash", systemd: "env-file.c: before 254 a comment ending in '\\' swallows the next line",
			change: func(img fstest.MapFS) { img["etc/os-release"] = file("# note \\\nID=x\n") },
			want:   []want{{rule: "os-release-no-id", sev: Refused, before: 257}},
		},
		{
			name: "stray unit of another prefix", systemd: "portable.c unit_match (guest 252: multi + third.service attaches multi, ignores third)",
			change: func(img fstest.MapFS) { img["etc/systemd/system/third.service"] = file(webUnit) },
			want:   []want{{rule: "unit-not-matched", sev: Ignored}},
			units: []Unit{
				{Name: "third.service", Path: "/etc/systemd/system/third.service"},
				{Name: "web-server.service", Path: "/etc/systemd/system/web-server.service", Attached: true},
			},
		},
		{
			name: "a .mount unit of the prefix", systemd: "unit_match: only service socket target timer path (guest 252: bbmnt-data.mount ignored)",
			change: func(img fstest.MapFS) { img["etc/systemd/system/web-server-data.mount"] = file("[Mount]\n") },
			want:   []want{{rule: "unit-type-not-attached", sev: Ignored}},
		},
		{
			name: "no unit for the match", systemd: "portable.c: \"Couldn't find any matching unit files\" (guest 252)",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/webserver.service"] = img["etc/systemd/system/web-server.service"]
				delete(img, "etc/systemd/system/web-server.service")
			},
			want: []want{{rule: "unit-not-matched", sev: Ignored}, {rule: "no-matching-units", sev: Refused}},
		},
		{
			name: "names matched with '-', '.', '@' and exactly", systemd: "portable.c prefix_match",
			change: func(img fstest.MapFS) {
				img["usr/lib/systemd/system/web-server-db.socket"] = file("[Socket]\nListenStream=1\nService=web-server.service\n")
				img["usr/lib/systemd/system/web-server.x.target"] = file("[Unit]\n")
				img["usr/lib/systemd/system/web-server@.service"] = file(webUnit)
				img["usr/lib/systemd/system/web-serverx.service"] = file(webUnit)
				img["usr/lib/systemd/system/web server.service"] = file(webUnit)
			},
			want: []want{{rule: "unit-not-matched", sev: Ignored}, {rule: "template-not-started", sev: Note}},
		},
		{
			name: "the first unit directory wins", systemd: "extract_now filters duplicates in search path order",
			change: func(img fstest.MapFS) {
				img["usr/lib/systemd/system/web-server.service"] = file("[Service]\nExecStart=/gone\n")
			},
			want: []want{{rule: "unit-shadowed", sev: Ignored}},
		},
		{
			name: "unit a relative symlink", systemd: "openat follows it inside the mounted image",
			change: func(img fstest.MapFS) {
				img["store/web/lib/web-server.service"] = img["etc/systemd/system/web-server.service"]
				img["etc/systemd/system/web-server.service"] = link("../../../store/web/lib/web-server.service")
			},
		},
		{
			name: "unit an absolute symlink", systemd: "openat on the mounted image resolves an absolute target on the host",
			change: func(img fstest.MapFS) {
				img["usr/lib/systemd/system/web-server.service"] = img["etc/systemd/system/web-server.service"]
				img["etc/systemd/system/web-server.service"] = link("/usr/lib/systemd/system/web-server.service")
			},
			want: []want{{rule: "unit-absolute-symlink", sev: Ignored}},
		},
		{
			name: "empty unit", systemd: "v257 extract_now skips empty unit files; v252 attaches it and loads it masked",
			change: func(img fstest.MapFS) { img["etc/systemd/system/web-server-x.service"] = file("") },
			want:   []want{{rule: "unit-empty", sev: Fails, before: 257}, {rule: "unit-empty", sev: Ignored, since: 257}},
		},
		{
			name: "drop-ins in the image", systemd: "portabled copies the unit file only",
			change: func(img fstest.MapFS) { img["etc/systemd/system/web-server.service.d/x.conf"] = file("[Service]\n") },
			want:   []want{{rule: "unit-dropins", sev: Ignored}},
		},
		{
			name: "bad section header", systemd: "conf-parser.c: \"Invalid section header\" fails the load",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/web-server.service"] = file("[Service\nExecStart=/x\n")
			},
			want: []want{{rule: "unit-syntax", sev: Fails}},
		},
		{
			name: "API file systems, /tmp and the bound files missing", systemd: "namespace.c: mount points cannot be made in a read-only image (guest 252: 226/NAMESPACE)",
			change: func(img fstest.MapFS) {
				delete(img, "proc")
				delete(img, "var/tmp")
				delete(img, "etc/machine-id")
				img["etc/resolv.conf"] = dir()
			},
			want: []want{
				{rule: "mount-point-missing", sev: Fails, msg: "/proc is missing"},
				{rule: "mount-point-missing", sev: Fails, msg: "/var/tmp is missing"},
				{rule: "mount-point-missing", sev: Fails, msg: "/etc/machine-id is missing"},
				{rule: "mount-point-is-a-directory", sev: Fails},
			},
		},
		{
			name: "StateDirectory= with DynamicUser=", systemd: "execute.c compile_bind_mounts binds /var/lib/NAME with RootImage= (guest 252: httpbin 226/NAMESPACE)",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/web-server.service"] = file(webUnit + "StateDirectory=httpbin\nCacheDirectory=c\nLogsDirectory=l\nConfigurationDirectory=e\nRuntimeDirectory=r\n")
				img["var/cache/c"] = dir()
			},
			want: []want{
				{rule: "mount-point-missing", sev: Fails, msg: "/var/lib/httpbin is missing"},
				{rule: "mount-point-missing", sev: Fails, msg: "/var/log/l is missing"},
				{rule: "mount-point-missing", sev: Fails, msg: "/etc/e is missing"},
			},
		},
		{
			name: "BindPaths=, TemporaryFileSystem=, ReadWritePaths=, WorkingDirectory=", systemd: "namespace.c apply_one_mount, execute.c apply_working_directory",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/web-server.service"] = file(webUnit +
					"BindPaths=/srv/data:/data -/host/opt:/opt:rbind /run/x\nTemporaryFileSystem=/scratch:size=1M\n" +
					"ReadWritePaths=/rw -/maybe\nWorkingDirectory=/work\nBindReadOnlyPaths=/etc/ssl /scratch/sub\n")
				img["data"] = dir()
			},
			want: []want{
				{rule: "cannot-check", sev: Note, msg: "/opt is missing: if the host has /host/opt"},
				{rule: "mount-point-missing", sev: Fails, msg: "/etc/ssl is missing"},
				{rule: "mount-point-missing", sev: Fails, msg: "/scratch is missing"},
				{rule: "mount-point-missing", sev: Fails, msg: "/rw is missing"},
				{rule: "working-directory-missing", sev: Fails, msg: "200/CHDIR"},
			},
		},
		{
			name: "mount point reached through a symlink", systemd: "namespace.c follow_symlink chases within the root",
			change: func(img fstest.MapFS) {
				delete(img, "tmp")
				img["tmp"] = link("var/tmp")
			},
		},
		{
			name: "programs missing, not executable, a directory, in a loop", systemd: "find_executable_full/check_x_access: 203/EXEC",
			change: func(img fstest.MapFS) {
				img["bin/loop"] = link("/bin/loop")
				img["bin/plain"] = file("")
				img["etc/systemd/system/web-server.service"] = file("[Service]\nExecStartPre=/bin/loop\nExecStartPre=/bin/plain\nExecStartPost=/bin\nExecStart=/bin/gone\n")
			},
			want: []want{
				{rule: "exec-not-found", sev: Fails, msg: "/bin/loop cannot be resolved"},
				{rule: "exec-not-found", sev: Fails, msg: "/bin/plain is not executable (mode 0644)"},
				{rule: "exec-not-found", sev: Fails, msg: "/bin is a directory"},
				{rule: "exec-not-found", sev: Fails, msg: "/bin/gone is not in the image"},
			},
		},
		{
			name: "program not executable by the dynamic user", systemd: "check_x_access(X_OK) as the dynamic user: others need x",
			change: func(img fstest.MapFS) { img["store/web/bin/serve"] = &fstest.MapFile{Mode: 0o750} },
			want:   []want{{rule: "exec-not-found", sev: Fails, msg: "not executable by the service's user"}},
		},
		{
			name: "'+' runs as root, without the sandbox", systemd: "EXEC_COMMAND_FULLY_PRIVILEGED: root's X_OK needs any x bit; no /run tmpfs, so the profile's binds into /run need their targets (guest 252 and 257: prefix-plus fails 226, \"Failed to mount /run/dbus/system_bus_socket\")",
			change: func(img fstest.MapFS) {
				img["store/web/bin/serve"] = &fstest.MapFile{Mode: 0o700}
				img["etc/systemd/system/web-server.service"] = file("[Service]\nExecStart=+/store/web/bin/serve\n")
			},
			want: []want{
				{rule: "mount-point-missing", sev: Fails, msg: "/run/dbus/system_bus_socket is missing"},
				{rule: "mount-point-missing", sev: Fails, before: 257, msg: "/run/host/os-release is missing"},
				{rule: "mount-point-missing", sev: Fails, before: 257, msg: "/dev/log is missing"},
				{rule: "mount-point-missing", sev: Fails, before: 257, msg: "/run/systemd/journal/socket is missing"},
			},
		},
		{
			name: "'+' with the targets in the image", systemd: "as above, the targets present",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/web-server.service"] = file("[Service]\nExecStart=+/store/web/bin/serve\n")
				for _, f := range []string{"run/dbus/system_bus_socket", "run/host/os-release", "dev/log", "run/systemd/journal/socket", "run/systemd/journal/stdout"} {
					img[f] = file("")
				}
			},
		},
		{
			name: "prefixes, a reset, specifiers, a program reached through a symlink", systemd: "load-fragment.c config_parse_exec prefixes - @ : + ! !!; unit-printf.c",
			change: func(img fstest.MapFS) {
				img["opt/web-server/serve"] = link("/store/web/bin/serve")
				img["etc/systemd/system/web-server.service"] = file("[Service]\nExecStartPre=/gone\nExecStartPre=\n" +
					"ExecStartPre=-@:/store/web/bin/serve argv0\nExecStartPre=!!/opt/%N/serve\nExecStart=/opt/%p/serve %H\n" +
					"ExecStartPost=-/missing\nExecReload=/missing-too\nExecStop=/opt/%H/x\n")
			},
			want: []want{
				{rule: "exec-not-found", sev: Note, msg: "/missing is not in the image; the \"-\" prefix"},
				{rule: "exec-not-found", sev: Note, msg: "/missing-too is not in the image: the service starts"},
				{rule: "cannot-check", sev: Note, msg: "%H is only known when the service runs"},
			},
		},
		{
			name: "'|' is no prefix in 252 or 257", systemd: "config_parse_exec: \"Neither a valid executable name nor an absolute path\"",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/web-server.service"] = file("[Service]\nExecStart=|/store/web/bin/serve\n")
			},
			want: []want{{rule: "exec-syntax", sev: Fails}, {rule: "service-no-execstart", sev: Fails}},
		},
		{
			name: "bare program names", systemd: "v252 (Debian, split-usr) searches /sbin:/bin; v257's default_PATH() never does (guest 252: bbbare active)",
			change: func(img fstest.MapFS) {
				img["bin/busybox"] = exe()
				img["etc/systemd/system/web-server.service"] = file("[Service]\nExecStart=busybox httpd\n")
			},
			want: []want{{rule: "exec-not-found", sev: Fails, since: 257, msg: "/usr/local/bin:/usr/bin"}},
		},
		{
			name: "bare name with ExecSearchPath=", systemd: "exec_search_path replaces the default",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/web-server.service"] = file("[Service]\nExecSearchPath=/store/web/bin\nExecStart=serve\n")
			},
		},
		{
			name: "%i of a template", systemd: "a template's instance is only known when it runs",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/web-server@.service"] = file("[Service]\nExecStart=/store/%i/serve\nStateDirectory=%i\n")
				img["etc/systemd/system/web-server.socket"] = file("[Socket]\nListenStream=80\nAccept=yes\n")
			},
			want: []want{{rule: "template-not-started", sev: Note}, {rule: "cannot-check", sev: Note}},
		},
		{
			name: "timer without its service", systemd: "timer.c: \"Refusing to start, unit to trigger not loaded\"",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/web-server-job.timer"] = file("[Timer]\nOnActiveSec=5\n")
			},
			want: []want{{rule: "trigger-not-attached", sev: Fails}},
		},
		{
			name: "service without ExecStart=", systemd: "service.c service_verify",
			change: func(img fstest.MapFS) { img["etc/systemd/system/web-server.service"] = file("[Service]\nUser=x\n") },
			want:   []want{{rule: "service-no-execstart", sev: Fails}},
		},
		{
			name: "trusted profile: no dynamic user, host /run", systemd: "profile/trusted/service.conf",
			opts: Options{Profile: "trusted"},
			change: func(img fstest.MapFS) {
				img["store/web/bin/serve"] = &fstest.MapFile{Mode: 0o700}
				img["etc/systemd/system/web-server.service"] = file("[Service]\nExecStart=/store/web/bin/serve\n")
			},
		},
		{
			name: "strict profile: no resolv.conf bound", systemd: "profile/strict/service.conf binds only /etc/machine-id",
			opts:   Options{Profile: "strict"},
			change: func(img fstest.MapFS) { delete(img, "etc/resolv.conf") },
			want:   []want{{rule: "profile-sandbox", sev: Note, msg: "TasksMax=4"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NotEmpty(t, tt.systemd)
			img := maps.Clone(goodImage())
			if tt.change != nil {
				tt.change(img)
			}
			opts := tt.opts
			opts.FileName = tt.file
			if opts.FileName == "" {
				opts.FileName = "/images/web-server_1.raw"
			}
			r, err := Check(context.Background(), img, opts)
			require.NoError(t, err)
			var got []string
			for _, p := range r.Problems {
				got = append(got, string(p.Severity)+" "+p.Rule+": "+p.Path+": "+p.Message)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range r.Problems {
					if p.Rule == w.rule && p.Severity == w.sev && p.Since == w.since && p.Before == w.before && strings.Contains(p.Message, w.msg) {
						found = true
					}
				}
				require.True(t, found, "want %+v in\n%s", w, strings.Join(got, "\n"))
			}
			for _, p := range r.Problems {
				require.True(t, func() bool {
					for _, w := range tt.want {
						if p.Rule == w.rule {
							return true
						}
					}
					return false
				}(), "unexpected problem: %s %s: %s", p.Severity, p.Rule, p.Message)
			}
			if tt.units != nil {
				require.Equal(t, tt.units, r.Units)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	r := &Report{Problems: []Problem{
		{Severity: Fails, Rule: "a", Since: 257},
		{Severity: Refused, Rule: "b", Before: 257},
		{Severity: Note, Rule: "c"},
	}}
	require.Equal(t, OutcomeRefused, r.Outcome(252))
	require.Equal(t, OutcomeFails, r.Outcome(257))
	require.Equal(t, map[string]Outcome{"252": OutcomeRefused, "257": OutcomeFails}, r.Outcomes())
	require.Equal(t, OutcomeActive, (&Report{}).Outcome(252))
}

func TestCheckOptions(t *testing.T) {
	_, err := Check(context.Background(), goodImage(), Options{FileName: "x.raw", Profile: "lax"})
	require.ErrorIs(t, err, ErrProfile)
	_, err = Check(context.Background(), goodImage(), Options{FileName: "x.raw", Kind: "initrd"})
	require.ErrorIs(t, err, ErrKind)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Check(ctx, goodImage(), Options{FileName: "web-server_1.raw"})
	require.ErrorIs(t, err, context.Canceled)
}

// A file larger than MaxFile is a problem, never a read of its size.
func TestCheckCapsReads(t *testing.T) {
	img := goodImage()
	img["etc/os-release"] = &fstest.MapFile{Mode: 0o644, Data: make([]byte, MaxFile+1)}
	r, err := Check(context.Background(), img, Options{FileName: "web-server_1.raw"})
	require.NoError(t, err)
	require.Equal(t, "os-release-too-large", r.Problems[0].Rule)
	require.Equal(t, Note, r.Problems[0].Severity)
}

// FuzzCheck: any os-release and unit file give a report, never a panic.
func FuzzCheck(f *testing.F) {
	f.Add([]byte("ID=x\nPORTABLE_PREFIXES=web-server\n"), []byte(webUnit+"StateDirectory=a b/c\nBindPaths=-/x:/y:rbind\n"), "web-server_1.raw")
	f.Add([]byte("ID=\"a\\\"\"\n"), []byte("[Service]\nExecStart=-@%n/x ; /y\nWorkingDirectory=%d\n"), "a_b.raw")
	f.Fuzz(func(t *testing.T, osrel, unitFile []byte, file string) {
		img := goodImage()
		img["etc/os-release"] = &fstest.MapFile{Mode: 0o644, Data: osrel}
		img["etc/systemd/system/web-server.service"] = &fstest.MapFile{Mode: 0o644, Data: unitFile}
		r, err := Check(context.Background(), img, Options{FileName: file + "x"})
		require.NoError(t, err)
		for _, p := range r.Problems {
			require.NotEmpty(t, p.Rule)
			require.Contains(t, []Severity{Refused, Fails, Ignored, Note}, p.Severity)
		}
	})
}

// A unit naming thousands of deep paths is checked in bounded time.
func TestCheckBoundsHostileUnits(t *testing.T) {
	img := goodImage()
	deep := "/" + strings.Repeat("a/", 2000)
	var b strings.Builder
	b.WriteString(webUnit)
	for range 120 { // about 960 KiB: under MaxFile
		b.WriteString("BindPaths=/x:" + deep + "\nExecStartPre=-" + deep + "x\n")
	}
	img["etc/systemd/system/web-server.service"] = file(b.String())
	r, err := Check(context.Background(), img, Options{FileName: "web-server_1.raw"})
	require.NoError(t, err)
	require.Equal(t, OutcomeActive, r.Outcome(257), "paths too deep to check are notes; '-' programs may be missing")
	rules := map[string]bool{}
	for _, p := range r.Problems {
		rules[p.Rule] = true
	}
	require.True(t, rules["cannot-check"])
}
