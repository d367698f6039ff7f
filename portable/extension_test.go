package portable

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mkportable/mkportable/squashfs"
	"github.com/stretchr/testify/require"
)

// withStrict is a release file carrying StrictXattr=value.
func withStrict(data, value string) *fstest.MapFile {
	f := file(data)
	f.Sys = &squashfs.InodeInfo{Xattrs: map[string][]byte{StrictXattr: []byte(value)}}
	return f
}

const toolRelease = "usr/lib/extension-release.d/extension-release.tool"

// goodSysext is a system extension both versions merge from tool_1.raw:
// what the builder lays out.
func goodSysext() fstest.MapFS {
	return fstest.MapFS{
		toolRelease:    withStrict("ID=_any\nARCHITECTURE=x86-64\nSYSEXT_ID=tool\nSYSEXT_VERSION_ID=1\n", "0"),
		"usr/bin/tool": exe(),
	}
}

const confRelease = "etc/extension-release.d/extension-release.conf"

func goodConfext() fstest.MapFS {
	return fstest.MapFS{
		confRelease:          withStrict("ID=_any\n", "0"),
		"etc/conf/conf.conf": file("x=1\n"),
	}
}

// checkWant runs Check and requires exactly the wanted problems (any
// number of each wanted rule, with the wanted severity and versions).
func checkWant(t *testing.T, fsys fstest.MapFS, opts Options, wants []want) *Report {
	t.Helper()
	r, err := Check(context.Background(), fsys, opts)
	require.NoError(t, err)
	var got []string
	for _, p := range r.Problems {
		got = append(got, string(p.Severity)+" "+p.Rule+" ["+p.Versions()+"]: "+p.Path+": "+p.Message)
	}
	for _, w := range wants {
		found := false
		for _, p := range r.Problems {
			if p.Rule == w.rule && p.Severity == w.sev && p.Since == w.since && p.Before == w.before && strings.Contains(p.Message, w.msg) {
				found = true
			}
		}
		require.True(t, found, "want %+v in\n%s", w, strings.Join(got, "\n"))
	}
	for _, p := range r.Problems {
		ok := false
		for _, w := range wants {
			ok = ok || (p.Rule == w.rule && p.Severity == w.sev)
		}
		require.True(t, ok, "unexpected problem: %s\nall:\n%s", p.Rule, strings.Join(got, "\n"))
	}
	return r
}

var (
	archNote    = want{rule: "extension-release-architecture", sev: Note, msg: "x86-64 machines"}
	archNote257 = want{rule: "extension-release-architecture", sev: Note, since: 257, msg: "x86-64 machines"}
)

func TestCheckSysext(t *testing.T) {
	tests := []struct {
		name, systemd string
		file          string // default tool_1.raw
		change        func(img fstest.MapFS)
		want          []want
	}{
		{name: "good", systemd: "252, 257: merged (guest)", want: []want{archNote}},
		{
			name: "versioned file name without the xattr", systemd: "252 open_extension_release: no extension-release.tool_1, fallback needs the xattr; 257 path_extract_image_name matches tool",
			change: func(img fstest.MapFS) { img[toolRelease] = file(string(img[toolRelease].Data)) },
			want:   []want{archNote257, {rule: "no-extension-release", sev: Refused, before: 257, msg: "extended attribute"}},
		},
		{
			name: "file named after the release without the xattr", systemd: "exact name: extension-release.tool for tool.raw",
			file:   "/var/lib/extensions/tool.raw",
			change: func(img fstest.MapFS) { img[toolRelease] = file(string(img[toolRelease].Data)) },
			want:   []want{archNote},
		},
		{
			name: "xattr says strict", systemd: "252: strict=1 skips the file; 257 matches the base name first",
			change: func(img fstest.MapFS) { img[toolRelease] = withStrict(string(img[toolRelease].Data), "1") },
			want:   []want{archNote257, {rule: "no-extension-release", sev: Refused, before: 257}},
		},
		{
			name: "xattr not a boolean", systemd: "parse_boolean fails: skipped in 252",
			change: func(img fstest.MapFS) { img[toolRelease] = withStrict(string(img[toolRelease].Data), "maybe") },
			want:   []want{archNote257, {rule: "no-extension-release", sev: Refused, before: 257}},
		},
		{
			name: "renamed file with the xattr", systemd: "fallback: the one file with strict=0",
			file: "other_2.raw",
			want: []want{archNote},
		},
		{
			name: "renamed file without the xattr", systemd: "no candidate in either version",
			file:   "other_2.raw",
			change: func(img fstest.MapFS) { img[toolRelease] = file(string(img[toolRelease].Data)) },
			want:   []want{{rule: "no-extension-release", sev: Refused}},
		},
		{
			name: "two candidates", systemd: "ENOTUNIQ",
			file: "other_2.raw",
			change: func(img fstest.MapFS) {
				img["usr/lib/extension-release.d/extension-release.tool2"] = img[toolRelease]
			},
			want: []want{{rule: "no-extension-release", sev: Refused, msg: "ENOTUNIQ"}},
		},
		{
			name: "exact name through a symlink", systemd: "chase_symlinks resolves it in the image",
			change: func(img fstest.MapFS) {
				img["usr/lib/extension-release.d/extension-release.tool_1"] = link("extension-release.tool")
			},
			want: []want{archNote},
		},
		{
			name: "no release directory", systemd: "nothing to find",
			change: func(img fstest.MapFS) { delete(img, toolRelease) },
			want:   []want{{rule: "no-extension-release", sev: Refused}},
		},
		{
			name: "empty release", systemd: "extension_release_validate: carries no data, ignoring",
			change: func(img fstest.MapFS) { img[toolRelease] = withStrict("", "0") },
			want:   []want{{rule: "extension-release-empty", sev: Refused}},
		},
		{
			name: "no ID", systemd: "extension_release_validate: no ID",
			change: func(img fstest.MapFS) { img[toolRelease] = withStrict("VERSION_ID=12\n", "0") },
			want:   []want{{rule: "extension-release-no-id", sev: Refused}},
		},
		{
			name: "ID without versions", systemd: "host VERSION_ID set, extension none: refused",
			change: func(img fstest.MapFS) { img[toolRelease] = withStrict("ID=debian\n", "0") },
			want: []want{
				{rule: "extension-release-host", sev: Note, before: 257, msg: "ID=debian, and no VERSION_ID"},
				{rule: "extension-release-host", sev: Note, since: 257, msg: "ID_LIKE"},
				{rule: "extension-release-no-version", sev: Refused},
			},
		},
		{
			name: "ID and VERSION_ID", systemd: "used on Debian 12 hosts only",
			change: func(img fstest.MapFS) { img[toolRelease] = withStrict("ID=debian\nVERSION_ID=12\n", "0") },
			want: []want{
				{rule: "extension-release-host", sev: Note, before: 257, msg: "VERSION_ID=12"},
				{rule: "extension-release-host", sev: Note, since: 257, msg: "VERSION_ID=12"},
			},
		},
		{
			name: "unknown architecture", systemd: "architecture_to_string never gives amd64",
			change: func(img fstest.MapFS) { img[toolRelease] = withStrict("ID=_any\nARCHITECTURE=amd64\n", "0") },
			want:   []want{{rule: "extension-release-architecture", sev: Refused, msg: "amd64"}},
		},
		{
			name: "scope portable", systemd: "SYSEXT_SCOPE=portable is not merged on the system: declared for portable images",
			change: func(img fstest.MapFS) { img[toolRelease] = withStrict("ID=_any\nSYSEXT_SCOPE=portable\n", "0") },
			want:   []want{{rule: "extension-release-scope", sev: Note, msg: "for portable only"}},
		},
		{
			name: "scope of nothing known", systemd: "strv_contains fails for system; no use declared",
			change: func(img fstest.MapFS) { img[toolRelease] = withStrict("ID=_any\nSYSEXT_SCOPE=\n", "0") },
			want:   []want{{rule: "extension-release-scope", sev: Refused}},
		},
		{
			name: "carries /usr/lib/os-release", systemd: "sysext.c validate_version (252), extension_has_forbidden_content (257)",
			change: func(img fstest.MapFS) { img["usr/lib/os-release"] = file("ID=x\n") },
			want:   []want{archNote, {rule: "extension-os-release", sev: Refused}},
		},
		{
			name: "files outside /usr and /opt", systemd: "SYSTEMD_SYSEXT_HIERARCHIES=/usr:/opt",
			change: func(img fstest.MapFS) {
				img["etc/tool.conf"] = file("")
				img["opt/tool/x"] = file("")
				img["nix/store/x"] = file("")
			},
			want: []want{archNote, {rule: "outside-hierarchies", sev: Ignored, msg: "/etc, /nix of the image"}},
		},
		{
			name: "EXTENSION_RELOAD_MANAGER", systemd: "NEWS: read from 255 on",
			change: func(img fstest.MapFS) {
				img[toolRelease] = withStrict("ID=_any\nEXTENSION_RELOAD_MANAGER=1\n", "0")
			},
			want: []want{{rule: "extension-reload-manager", sev: Ignored, before: 257}},
		},
		{
			name: "not a .raw file", systemd: "discover-image.c image_make: regular files ending in .raw",
			file: "tool_1.img",
			want: []want{archNote, {rule: "extension-file-name", sev: Refused}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NotEmpty(t, tt.systemd)
			img := maps.Clone(goodSysext())
			if tt.change != nil {
				tt.change(img)
			}
			opts := Options{Kind: KindSysext, FileName: tt.file}
			if opts.FileName == "" {
				opts.FileName = "/var/lib/extensions/tool_1.raw"
			}
			r := checkWant(t, img, opts, tt.want)
			require.Equal(t, "sysext", r.Kind)
		})
	}

	r := checkWant(t, goodSysext(), Options{Kind: KindSysext, FileName: "tool_1.raw"}, []want{archNote})
	require.Equal(t, "tool_1", r.Name)
	require.Equal(t, "/"+toolRelease, r.ExtensionReleasePath)
	require.Equal(t, "tool", r.ExtensionRelease["SYSEXT_ID"])
	require.Equal(t, map[string]Outcome{"252": OutcomeActive, "257": OutcomeActive}, r.Outcomes())
}

func TestCheckConfext(t *testing.T) {
	r := checkWant(t, goodConfext(), Options{Kind: KindConfext, FileName: "conf_1.raw"},
		[]want{{rule: "confext-unsupported", sev: Refused, before: 257}})
	require.Equal(t, map[string]Outcome{"252": OutcomeRefused, "257": OutcomeActive}, r.Outcomes())
	require.Equal(t, "/"+confRelease, r.ExtensionReleasePath)

	img := goodConfext()
	img["usr/bin/x"] = exe()
	img[confRelease] = withStrict("ID=_any\nCONFEXT_SCOPE=bogus\nSYSEXT_SCOPE=system\n", "0")
	checkWant(t, img, Options{Kind: KindConfext, FileName: "conf_1.raw"}, []want{
		{rule: "confext-unsupported", sev: Refused, before: 257},
		{rule: "outside-hierarchies", sev: Ignored, since: 257, msg: "merges only /etc; /usr"},
		{rule: "extension-release-scope", sev: Refused, since: 257, msg: "CONFEXT_SCOPE"},
	})
}

func TestDetectKind(t *testing.T) {
	require.Equal(t, KindSysext, DetectKind(goodSysext()))
	require.Equal(t, KindConfext, DetectKind(goodConfext()))
	require.Equal(t, KindPortable, DetectKind(goodImage()))
	for _, s := range Kinds {
		k, err := ParseKind(s)
		require.NoError(t, err)
		require.Equal(t, s, k.String())
	}
	_, err := ParseKind("initrd")
	require.ErrorIs(t, err, ErrKind)
}

func TestImageNames(t *testing.T) {
	require.Equal(t, "tool_1", stripRawSuffixes("/x/tool_1.raw", 252))
	require.Equal(t, "tool_1.sysext", stripRawSuffixes("tool_1.sysext.raw", 252))
	require.Equal(t, "tool_1", stripRawSuffixes("tool_1.sysext.raw", 257))
	require.Equal(t, "tool", stripRawSuffixes("tool.raw.xz", 252))
	require.Equal(t, "tool", baseImageName("tool_1"))
	require.Equal(t, "tool", baseImageName("tool+3-1.raw"))
	require.False(t, imageNameValid(".#tool"))
	require.False(t, imageNameValid("a\x01b"))
	require.True(t, imageNameValid("tool_1"))
}

// extension is an extension of the web-server image from goodImage.
func extension(release string) fstest.MapFS {
	return fstest.MapFS{
		"usr/lib/extension-release.d/extension-release.web-server-ext": file(release),
		"usr/bin/ext-tool": exe(),
		"opt/ext/data":     file("from the extension\n"),
	}
}

func TestCheckPortableExtensions(t *testing.T) {
	usesExt := "[Service]\nDynamicUser=yes\nExecStart=/usr/bin/ext-tool /opt/ext/data\n"
	tests := []struct {
		name, systemd string
		change        func(base, ext fstest.MapFS)
		matches       []string
		want          []want
	}{
		{
			name: "a unit of the extension runs a program of the extension", systemd: "252, 257: ExtensionImages= overlays /usr and /opt for the extension's units (guest)",
			change: func(base, ext fstest.MapFS) { ext["usr/lib/systemd/system/web-server-app.service"] = file(usesExt) },
		},
		{
			name: "a unit of the image runs a program of the extension", systemd: "252, 257: portabled writes no ExtensionImages= for the image's own units (guest: cat fails)",
			change: func(base, ext fstest.MapFS) { base["etc/systemd/system/web-server.service"] = file(usesExt) },
			want:   []want{{rule: "exec-not-found", sev: Fails}},
		},
		{
			name: "ID of another OS", systemd: "portable.c: extension-release metadata does not match the root's",
			change: func(base, ext fstest.MapFS) {
				ext["usr/lib/extension-release.d/extension-release.web-server-ext"] = file("ID=debian\nVERSION_ID=12\n")
			},
			want: []want{{rule: "extension-release-mismatch", sev: Refused, msg: "ID=web-server"}},
		},
		{
			name: "same ID, other VERSION_ID", systemd: "extension_release_validate compares VERSION_ID",
			change: func(base, ext fstest.MapFS) {
				base["etc/os-release"] = file("ID=web-server\nVERSION_ID=1\n")
				ext["usr/lib/extension-release.d/extension-release.web-server-ext"] = file("ID=web-server\nVERSION_ID=2\n")
			},
			want: []want{{rule: "extension-release-mismatch", sev: Refused, msg: "VERSION_ID=\"2\""}},
		},
		{
			name: "same ID and VERSION_ID", systemd: "matches",
			change: func(base, ext fstest.MapFS) {
				base["etc/os-release"] = file("ID=web-server\nVERSION_ID=1\n")
				ext["usr/lib/extension-release.d/extension-release.web-server-ext"] = file("ID=web-server\nVERSION_ID=1\n")
			},
		},
		{
			name: "ID_LIKE of the image", systemd: "257 matches ID_LIKE; 252 compares ID only",
			change: func(base, ext fstest.MapFS) {
				base["etc/os-release"] = file("ID=web-server\nID_LIKE=debian\n")
				ext["usr/lib/extension-release.d/extension-release.web-server-ext"] = file("ID=debian\n")
			},
			want: []want{{rule: "extension-release-mismatch", sev: Refused, before: 257}},
		},
		{
			name: "no release file", systemd: "portable.c extract_now: Failed to open extension release",
			change: func(base, ext fstest.MapFS) {
				delete(ext, "usr/lib/extension-release.d/extension-release.web-server-ext")
				ext["usr/lib/extension-release.d/extension-release.other"] = file("ID=_any\n")
			},
			want: []want{{rule: "extension-no-release", sev: Refused}},
		},
		{
			name: "scope system only", systemd: "scope \"portable\" is not listed",
			change: func(base, ext fstest.MapFS) {
				ext["usr/lib/extension-release.d/extension-release.web-server-ext"] = file("ID=_any\nSYSEXT_SCOPE=system\n")
			},
			want: []want{{rule: "extension-release-scope", sev: Refused}},
		},
		{
			name: "a unit from the extension", systemd: "portable.c: the extension's matching units are attached too",
			change: func(base, ext fstest.MapFS) {
				ext["usr/lib/systemd/system/web-server-extra.service"] = file(usesExt)
			},
		},
		{
			name: "the extension's PORTABLE_PREFIXES", systemd: "portable.c: valid prefixes of the extensions are added",
			matches: []string{"web-server", "extra"},
			change: func(base, ext fstest.MapFS) {
				ext["usr/lib/extension-release.d/extension-release.web-server-ext"] = file("ID=_any\nPORTABLE_PREFIXES=extra\n")
				ext["usr/lib/systemd/system/extra.service"] = file(usesExt)
			},
		},
		{
			name: "the image's unit wins over the extension's", systemd: "hashmap_move keeps the image's",
			change: func(base, ext fstest.MapFS) {
				ext["usr/lib/systemd/system/web-server.service"] = file("[Service]\nExecStart=/gone\n")
			},
			want: []want{{rule: "unit-shadowed", sev: Ignored}},
		},
		{
			name: "extension binary hidden by an upper symlink", systemd: "overlayfs: an upper non-directory hides the lower tree",
			change: func(base, ext fstest.MapFS) {
				ext["usr/lib/systemd/system/web-server-x.service"] = file("[Service]\nDynamicUser=yes\nExecStart=/opt/ext/sub/tool\n")
				base["opt/ext/sub/tool"] = exe()
				ext["opt/ext/sub"] = file("not a directory")
			},
			want: []want{{rule: "exec-not-found", sev: Fails}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NotEmpty(t, tt.systemd)
			base, ext := maps.Clone(goodImage()), extension("ID=_any\n")
			tt.change(base, ext)
			opts := Options{FileName: "web-server_1.raw", Matches: tt.matches,
				Extensions: []Extension{{FileName: "/x/web-server-ext.raw", FS: ext}}}
			// The image's own web-server.service never sees the extension.
			wants := append(slices.Clone(tt.want), want{rule: "extensions-not-for-image-units", sev: Note})
			r := checkWant(t, base, opts, wants)
			require.Len(t, r.Extensions, 1)
			require.Equal(t, "web-server-ext", r.Extensions[0].Name)
		})
	}

	// Without the extension the same service fails: the program is not
	// in the image.
	base := goodImage()
	base["etc/systemd/system/web-server.service"] = file(usesExt)
	checkWant(t, base, Options{FileName: "web-server_1.raw"}, []want{{rule: "exec-not-found", sev: Fails}})

	base = goodImage()
	ext := extension("ID=_any\n")
	ext["usr/lib/systemd/system/web-server-extra.service"] = file(usesExt)
	r := checkWant(t, base, Options{FileName: "web-server_1.raw", Extensions: []Extension{{FileName: "web-server-ext.raw", FS: ext}}},
		[]want{{rule: "extensions-not-for-image-units", sev: Note}})
	require.Contains(t, r.Units, Unit{Name: "web-server-extra.service", Path: "/usr/lib/systemd/system/web-server-extra.service", Image: "web-server-ext.raw", Attached: true})
}

// FuzzExtensions checks extension images and a portable image with an
// extension from arbitrary release files, xattrs and file names.
func FuzzExtensions(f *testing.F) {
	f.Add([]byte("ID=_any\nARCHITECTURE=x86-64\n"), "0", "tool_1.raw")
	f.Add([]byte("ID=debian\nSYSEXT_LEVEL=1\nSYSEXT_SCOPE=\"portable system\"\nPORTABLE_PREFIXES=a b\n"), "no\x00x", "x+y.sysext.raw")
	f.Fuzz(func(t *testing.T, release []byte, strict, file string) {
		for _, k := range []Kind{KindSysext, KindConfext} {
			img := fstest.MapFS{
				strings.TrimPrefix(ExtensionReleasePath(k, "tool"), "/"): &fstest.MapFile{Mode: 0o644, Data: release,
					Sys: &squashfs.InodeInfo{Xattrs: map[string][]byte{StrictXattr: []byte(strict)}}},
			}
			r, err := Check(context.Background(), img, Options{Kind: k, FileName: file + "x"})
			require.NoError(t, err)
			for _, p := range r.Problems {
				require.NotEmpty(t, p.Rule)
			}
		}
		ext := extension(string(release))
		r, err := Check(context.Background(), goodImage(), Options{FileName: "web-server_1.raw", Extensions: []Extension{{FileName: file, FS: ext}}})
		require.NoError(t, err)
		require.Len(t, r.Extensions, 1)
	})
}
