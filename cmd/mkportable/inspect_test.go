package main

import (
	"io/fs"
	"maps"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// goodImage is the root of an image portabled attaches as web-server: what
// the builder lays out, as an in-memory file system.
func goodImage() fstest.MapFS {
	dir := &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	img := fstest.MapFS{
		"etc/os-release":      {Data: []byte("ID=web-server\nPORTABLE_PREFIXES=\"web-server\"\nPRETTY_NAME='Web server'\n")},
		"etc/resolv.conf":     {},
		"etc/machine-id":      {},
		"store/web/bin/serve": {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"etc/systemd/system/web-server.service": {
			Data: []byte("[Service]\nExecStart=/store/web/bin/serve\n"),
		},
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "var/tmp"} {
		img[d] = dir
	}
	return img
}

func symlink(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func TestInspectRules(t *testing.T) {
	tests := []struct {
		name      string
		file      string                 // the image's file name; web-server_1.raw if empty
		change    func(img fstest.MapFS) // applied to goodImage
		units     []inspectUnit          // nil: only web-server.service
		osRelease map[string]string      // checked when set
		problems  []string               // substrings, one per problem, in order
	}{
		{name: "good image"},
		{
			name: "os-release under /usr/lib and single-quoted values",
			change: func(img fstest.MapFS) {
				img["usr/lib/os-release"] = img["etc/os-release"]
				delete(img, "etc/os-release")
			},
			osRelease: map[string]string{"ID": "web-server", "PORTABLE_PREFIXES": "web-server", "PRETTY_NAME": "Web server"},
		},
		{
			name: "os-release a symlink to /usr/lib, unit a symlink out of the unit directory",
			change: func(img fstest.MapFS) {
				img["usr/lib/os-release"] = img["etc/os-release"]
				img["etc/os-release"] = symlink("../usr/lib/os-release")
				img["store/web/lib/web-server.service"] = img["etc/systemd/system/web-server.service"]
				img["etc/systemd/system/web-server.service"] = symlink("/store/web/lib/web-server.service")
			},
		},
		{
			name: "program reached through a symlink climbing above the root",
			change: func(img fstest.MapFS) {
				img["bin/serve"] = symlink("../../../../store/web/bin/serve")
				img["etc/systemd/system/web-server.service"] = &fstest.MapFile{Data: []byte("[Service]\nExecStart=/bin/serve\n")}
			},
		},
		{
			name: "units for other matches are left alone",
			change: func(img fstest.MapFS) {
				img["usr/lib/systemd/system/other.service"] = &fstest.MapFile{Data: []byte("[Service]\n")}
			},
			units: []inspectUnit{
				{"web-server.service", "/etc/systemd/system/web-server.service"},
				{"other.service", "/usr/lib/systemd/system/other.service"},
			},
		},
		{
			name: "the first unit directory wins, non-units and invalid names are skipped",
			change: func(img fstest.MapFS) {
				img["usr/lib/systemd/system/web-server.service"] = &fstest.MapFile{Data: []byte("[Service]\nExecStart=/missing\n")}
				img["etc/systemd/system/web-server.conf"] = &fstest.MapFile{Data: []byte("x")}
				img["etc/systemd/system/web-server-dir.service"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
				img["etc/systemd/system/web server.service"] = &fstest.MapFile{Data: []byte("[Service]\n")}
			},
		},
		{
			name:     "no os-release",
			change:   func(img fstest.MapFS) { delete(img, "etc/os-release") },
			problems: []string{"no os-release: neither /etc/os-release nor /usr/lib/os-release exists"},
		},
		{
			name:     "os-release without ID",
			change:   func(img fstest.MapFS) { img["etc/os-release"] = &fstest.MapFile{Data: []byte("NAME=x\n")} },
			problems: []string{"/etc/os-release has no ID="},
		},
		{
			name: "PORTABLE_PREFIXES without the image name",
			change: func(img fstest.MapFS) {
				img["etc/os-release"] = &fstest.MapFile{Data: []byte("ID=x\nPORTABLE_PREFIXES=\"web other\"\n")}
			},
			problems: []string{`PORTABLE_PREFIXES="web other" does not list the image name "web-server"`},
		},
		{
			name:  "image name portablectl cannot derive",
			file:  "web+server_1.raw",
			units: []inspectUnit{{"web-server.service", "/etc/systemd/system/web-server.service"}},
			problems: []string{`image name "web+server", derived from the file name web+server_1.raw`,
				`PORTABLE_PREFIXES="web-server" does not list the image name "web+server"`, "no unit file named web+server"},
		},
		{
			name: "only a unit outside the prefix",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/webserver.service"] = img["etc/systemd/system/web-server.service"]
				delete(img, "etc/systemd/system/web-server.service")
			},
			units:    []inspectUnit{{"webserver.service", "/etc/systemd/system/webserver.service"}},
			problems: []string{"no unit file named web-server followed by '-', '.' or '@'"},
		},
		{
			name: "programs missing, not executable, in a symlink loop",
			change: func(img fstest.MapFS) {
				img["bin/loop"] = symlink("/bin/loop")
				img["bin/plain"] = &fstest.MapFile{Mode: 0o644}
				img["etc/systemd/system/web-server.service"] = &fstest.MapFile{
					Data: []byte("[Service]\nExecStartPre=/bin/loop\nExecStartPre=-/bin/plain\nExecStart=/bin/gone\n"),
				}
			},
			problems: []string{
				"web-server.service:2: ExecStartPre= program /bin/loop is not in the image",
				"web-server.service:3: ExecStartPre= program /bin/plain is not executable (mode 0644)",
				"web-server.service:4: ExecStart= program /bin/gone is not in the image",
			},
		},
		{
			name: "unit that does not parse",
			change: func(img fstest.MapFS) {
				img["etc/systemd/system/web-server.service"] = &fstest.MapFile{Data: []byte("[Service\n")}
			},
			problems: []string{"/etc/systemd/system/web-server.service:1"},
		},
		{
			name: "bind-mount points missing or of the wrong kind",
			change: func(img fstest.MapFS) {
				delete(img, "proc")
				img["tmp"] = &fstest.MapFile{}
				img["etc/resolv.conf"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
			},
			problems: []string{
				"/proc is missing",
				"/tmp is not a directory",
				"/etc/resolv.conf is a directory",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := maps.Clone(goodImage())
			if tt.change != nil {
				tt.change(img)
			}
			file := tt.file
			if file == "" {
				file = "/images/web-server_1.raw"
			}
			got := inspect(img, file)
			want := tt.units
			if want == nil {
				want = []inspectUnit{{"web-server.service", "/etc/systemd/system/web-server.service"}}
			}
			require.Equal(t, want, got.Units)
			if tt.osRelease != nil {
				require.Equal(t, tt.osRelease, got.OSRelease)
			}
			require.Len(t, got.Problems, len(tt.problems), "problems: %q", got.Problems)
			for i, p := range tt.problems {
				require.Contains(t, got.Problems[i], p)
			}
		})
	}
}

func TestImageName(t *testing.T) {
	tests := []struct{ file, name string }{
		{"/x/web-server_20220227.raw", "web-server"},
		{"web-server_1_2.raw", "web-server"},
		{"web-server.raw", "web-server"},
		{"web-server", "web-server"},
		{"a.b_1.raw", "a.b"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.name, imageName(tt.file), tt.file)
	}
}

func TestParseOSRelease(t *testing.T) {
	got := parseOSRelease("# comment\nID=debian\nNAME=\"Debian \\\"GNU\\\" \\$HOME\"\nX='single $quote'\n  SPACED = \"v\" \nBROKEN\nEMPTY=\n")
	require.Equal(t, map[string]string{
		"ID": "debian", "NAME": `Debian "GNU" $HOME`, "X": "single $quote", "SPACED": "v", "EMPTY": "",
	}, got)
}
