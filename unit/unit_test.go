package unit

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const webServer = `[Unit]
Description=A web service

[Service]
DynamicUser=yes
ExecStart=@web@/bin/web-server

[Install]
WantedBy=multi-user.target
`

func TestParseExample(t *testing.T) {
	store := "/nix/store/00000000000000000000000000000000-web-server-20220227"
	data, err := Substitute("web-server.service.in", []byte(webServer), map[string]string{"web": store})
	require.NoError(t, err)
	f, err := Parse("web-server.service", data)
	require.NoError(t, err)
	require.Equal(t, data, f.Bytes())
	require.Equal(t, []string{"A web service"}, f.Values("Unit", "Description"))
	require.Equal(t, []string{store + "/bin/web-server"}, f.Values("Service", "ExecStart"))
	require.Equal(t, []string{"multi-user.target"}, f.Values("Install", "WantedBy"))
	require.Empty(t, f.Warnings)
}

// TestParse follows systemd's config_parse (src/shared/conf-parser.c,
// v252 and v257 alike).
func TestParse(t *testing.T) {
	f, err := Parse("x.service", []byte("\uFEFF# comment\n; other comment\nOutside=1\n[Service]\n"+
		"  Environment = A=1 \\\n# skipped inside a continuation\n    B=2\n"+
		"Environment=\nExecStart=/bin/a \\\\\nExecStop=/bin/b\r\nwords only\n=x\nExecReload=/bin/c \\"))
	require.NoError(t, err)
	require.Equal(t, []string{"A=1      B=2", ""}, f.Values("Service", "Environment"))
	require.Equal(t, []string{`/bin/a \\`}, f.Values("Service", "ExecStart"), "an escaped backslash does not continue")
	require.Equal(t, []string{"/bin/b"}, f.Values("Service", "ExecStop"), "CRLF ends a line")
	require.Equal(t, []string{"/bin/c"}, f.Values("Service", "ExecReload"), "a continuation at the end of the file")
	require.Len(t, f.Warnings, 3)
	require.Contains(t, f.Warnings[0].Error(), "x.service:3: assignment outside of any section")
	require.Contains(t, f.Warnings[1].Error(), `"words only" has no '='`)
	require.Contains(t, f.Warnings[2].Error(), "no key before '='")
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[Unit\nA=b\n", `x.service:1: invalid section header "[Unit"`},
		{"[Un\x01it]\n", "bad characters in section header"},
		{"[Unit]\nA=\xff\n", "x.service:2: line is not valid UTF-8"},
		{"[Unit]\nA=" + strings.Repeat("a", MaxLine) + "\n", "x.service:2: line longer than"},
	}
	for _, tt := range tests {
		_, err := Parse("x.service", []byte(tt.in))
		var syn *SyntaxError
		require.ErrorAs(t, err, &syn, tt.want)
		require.ErrorContains(t, err, tt.want)
	}
	f, err := Parse("x.service", nil)
	require.NoError(t, err, "an empty file parses; what portabled does with it is portable's rule")
	require.Empty(t, f.Sections())
}

func TestSubstitute(t *testing.T) {
	vals := map[string]string{"web": "/nix/store/abc", "user": "www"}
	out, err := Substitute("a.in", []byte("ExecStart=@web@/bin/x user@host @@ a@b @user@\n"), vals)
	require.NoError(t, err)
	require.Equal(t, "ExecStart=/nix/store/abc/bin/x user@host @@ a@b www\n", string(out))

	_, err = Substitute("web-server.service.in", []byte("[Unit]\n\nExecStart=@web@ @missing@\n"), vals)
	var pe *PlaceholderError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "web-server.service.in:3: placeholder @missing@ has no value", err.Error())
}

// TestSubstituteInjection: no value may add a setting to the unit it
// fills (issue 10), wherever its placeholder sits.
func TestSubstituteInjection(t *testing.T) {
	tmpl := "[Service]\nExecStart=@prog@ --flag\nEnvironment=A=@env@\n@key@=1\n# @comment@\nDescription=@desc@\n"
	ok := map[string]string{"prog": "/nix/store/x/bin/p", "env": "a b", "key": "User", "comment": "[x] = y", "desc": `quote " and 'x'`}
	_, err := Substitute("u.in", []byte(tmpl), ok)
	require.NoError(t, err)
	for _, tc := range []struct{ key, value, rule string }{
		{"prog", "/nix/store/x/bin/p\nExecStartPre=/evil\nUser=root", `control character '\n'`},
		{"prog", "/p\rUser=root", `control character '\r'`},
		{"env", "x\x00", `control character '\x00'`},
		{"desc", "tab\there", `control character '\t'`},
		{"desc", "bell\x7f", `control character '\x7f'`},
		{"desc", "end\\", "ends in a backslash"},
		{"env", "\xff", "not valid UTF-8"},
		{"key", "User=root\nX", "control character"},
		{"key", "ExecStartPre=/evil #", "would end the key"},
		{"key", "[Install]", "would end the key"},
		{"prog", "/bin/true ; /evil", `lone ";"`},
		{"comment", "x\nUser=root", "control character"},
	} {
		vals := map[string]string{}
		for k, v := range ok {
			vals[k] = v
		}
		vals[tc.key] = tc.value
		_, err := Substitute("u.in", []byte(tmpl), vals)
		var ve *ValueError
		require.ErrorAs(t, err, &ve, "%s=%q", tc.key, tc.value)
		require.Equal(t, tc.key, ve.Key)
		require.ErrorContains(t, err, tc.rule)
	}
}

// TestSubstituteKeepsSettings: a value that passes the checks where it
// lands may still not take a setting away or make systemd refuse the unit;
// the filled unit must have the template's sections and settings, line for
// line. Lines end where systemd ends them, at "\r" too. Seen with
// systemd-analyze verify of systemd 252 (Debian 12): "=1" and "  =x" give
// "Missing key name before '=', ignoring line."; in a file whose lines end
// in "\r", that message names the line counted at "\r" breaks, and
// "ExecStart=/bin/true ; /bin/false" is two commands ("Service has more
// than one ExecStart= setting").
func TestSubstituteKeepsSettings(t *testing.T) {
	for _, tc := range []struct {
		name, tmpl, value, b string // b fills @b@
		line                 int
		rule                 string // "" when the values are accepted
	}{
		{"empty key", "[Service]\n@k@=1\n", "", "", 2, "changes the unit's settings"},
		{"empty key with blanks", "[Service]\nA=1\n  @k@ =1\n", "", "", 3, "changes the unit's settings"},
		{"comment left", "[Service]\n@k@#x=1\n", "", "", 2, "changes the unit's settings"},
		{"header left", "[Service]\n@k@[Install]\nA=1\n", "", "", 2, "changes the unit's settings"},
		{"too long", "[Service]\nDescription=@k@\n", strings.Repeat("a", MaxLine), "", 2, "makes systemd refuse the unit: line longer"},
		{"lines end at CR", "[Service]\rExecStart=@k@\r", "/bin/true ; /evil", "", 2, `lone ";"`},
		{"CR LF is one break", "[Service]\r\nA=1\r\n@k@=1\r\n", "", "", 3, "changes the unit's settings"},
		{"lone ; from two values", "[Service]\nExecStart=/bin/true @k@@b@\n", ";", " /evil", 2, `another command in ExecStart=`},
		{"lone ; left by an empty value", "[Service]\nExecStart=/bin/true @k@; /evil\n", "", "", 2, `lone ";"`},
		{"lone ; in a continued command", "[Service]\nExecStartPre=/bin/true \\\n x= @k@ /evil\n", ";", "", 2, `another command in ExecStartPre=`},
		{"the template's own ;", "[Service]\nExecStart=/bin/a @k@ ; /bin/b\n", "x", "", 0, ""},
		{"; inside a word", "[Service]\nExecStart=/bin/echo @k@\n", "a;b \\; c;", "", 0, ""},
		{"; outside Exec", "[Service]\nEnvironment=A=@k@\n", "x ; y", "", 0, ""},
		{"unit too large", "[Service]\n" + strings.Repeat("Description=@k@\n", 100), strings.Repeat("a", 700<<10), "", 95, "makes the unit larger than 67108864 bytes"},
		{"key kept", "[Service]\n@k@Foo=1\n", "", "", 0, ""},
		{"inside a continued value", "[Service]\nA=1 \\\n@k@=2\n", "", "", 0, ""},
		{"template without a section", "@k@=1\n", "", "", 0, ""},
	} {
		out, err := Substitute("u.in", []byte(tc.tmpl), map[string]string{"k": tc.value, "b": tc.b})
		if tc.rule == "" {
			require.NoError(t, err, tc.name)
			require.Equal(t, strings.NewReplacer("@k@", tc.value, "@b@", tc.b).Replace(tc.tmpl), string(out), tc.name)
			continue
		}
		var ve *ValueError
		require.ErrorAs(t, err, &ve, tc.name)
		require.Equal(t, "k", ve.Key, tc.name)
		require.Equal(t, tc.line, ve.Line, tc.name)
		require.ErrorContains(t, err, tc.rule, tc.name)
	}
}

// TestSubstituteIsLinear: a template of one long line full of
// placeholders costs memory in proportion to its size. Each placeholder
// used to copy the line up to it: a 1 MB line of 250,000 placeholders took
// 7.5 minutes, and this 100 KB one allocated 2.66 GB; it allocates 6.6 MB
// now (46 MB built with -race, hence the wide bound).
func TestSubstituteIsLinear(t *testing.T) {
	for _, exec := range []string{"Description=", "ExecStart=/bin/echo "} {
		tmpl := []byte("[Service]\n" + exec + strings.Repeat("@k@ ", 25000) + "\n")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := Substitute("u.in", tmpl, map[string]string{"k": "x"})
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		require.Len(t, out, len(tmpl)-2*25000)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1024*len(tmpl)), exec)
	}
}

// TestParseIsLinear: a line continued over many lines costs memory in
// proportion to its length. Each continuation used to copy the line so
// far and scan it for a final backslash: 40,000 of them (120 KB) took 7 s,
// a 1 MiB unit in an image would have kept inspect busy for minutes.
func TestParseIsLinear(t *testing.T) {
	data := []byte("[A]\nB=" + strings.Repeat("a\\\n", 40000) + "x\n")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := Parse("x.service", data)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Equal(t, []string{strings.Repeat("a ", 40000) + "x"}, f.Values("A", "B"))
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64*len(data)))
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(webServer))
	f.Add([]byte("[A]\nB=c \\\n#x\n d\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.service", data)
		if err != nil {
			var syn *SyntaxError
			require.ErrorAs(t, err, &syn)
			return
		}
		require.Equal(t, data, file.Bytes())
		for _, s := range file.Sections() {
			for _, e := range s.Entries {
				require.NotEmpty(t, e.Key)
				require.NotContains(t, e.Key, "=")
			}
		}
	})
}

// FuzzSubstitute: a value Substitute accepts never adds a line or a
// setting to the unit.
func FuzzSubstitute(f *testing.F) {
	f.Add([]byte(webServer), "web", "/nix/store/x")
	f.Add([]byte("[S]\n@k@=1\n"), "k", "User")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		out, err := Substitute("f", data, map[string]string{key: value})
		if err != nil {
			return
		}
		if !placeholder.Match(data) {
			require.Equal(t, string(data), string(out))
		}
		before, err1 := Parse("f", data)
		after, err2 := Parse("f", out)
		if err1 != nil || err2 != nil {
			return
		}
		require.Equal(t, len(before.Sections()), len(after.Sections()))
		for i, s := range before.Sections() {
			require.Equal(t, len(s.Entries), len(after.Sections()[i].Entries))
		}
	})
}
