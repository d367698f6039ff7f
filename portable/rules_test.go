package portable

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParseOSRelease follows env-file.c parse_env_file_internal (v252, v257).
func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"ID=debian\n", map[string]string{"ID": "debian"}},
		{"# comment\n; other\n  KEY  =  spaced value  \n", map[string]string{"KEY": "spaced value"}},
		{`A="x \"q\" \$HOME \\ \n"` + "\n", map[string]string{"A": `x "q" $HOME \ \n`}},
		{"A='single $x \\n'\n", map[string]string{"A": `single $x \n`}},
		{`A="con"'cat'enated` + "\n", map[string]string{"A": "concatenated"}},
		{"A=un\\ quoted\\\ncontinued\n", map[string]string{"A": "un quotedcontinued"}},
		{"A=\"multi\nline\"\n", map[string]string{"A": "multi\nline"}},
		{"A=1\nA=2\nB=\n", map[string]string{"A": "2", "B": ""}},
		{"NOEQUALS\nC=3", map[string]string{"C": "3"}},
		{"A=x\x00B=y\n", map[string]string{"A": "x"}},
		{"A=\"open", map[string]string{"A": "open"}},
	}
	for _, tt := range tests {
		for _, v := range Versions {
			got, err := ParseOSRelease([]byte(tt.in), v)
			require.NoError(t, err, tt.in)
			require.Equal(t, tt.want, got, "%q v%d", tt.in, v)
		}
	}
	// A comment ending in a backslash continues before 254 only.
	in := []byte("# x \\\nID=y\n")
	got, err := ParseOSRelease(in, 252)
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = ParseOSRelease(in, 257)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"ID": "y"}, got)
	_, err = ParseOSRelease([]byte("ID=\xff\n"), 257)
	require.ErrorContains(t, err, "not valid UTF-8")
}

func TestFormatOSRelease(t *testing.T) {
	fields := [][2]string{{"ID", "x"}, {"PRETTY_NAME", "say \"hi\" $HOME `id` \\ ; # 'q'"}}
	data, err := FormatOSRelease(fields)
	require.NoError(t, err)
	for _, v := range Versions {
		got, err := ParseOSRelease(data, v)
		require.NoError(t, err)
		require.Equal(t, map[string]string{"ID": "x", "PRETTY_NAME": fields[1][1]}, got)
	}
	// Issue 10: nothing a value holds may add a field.
	for _, bad := range [][2]string{
		{"PRETTY_NAME", "x\"\nID=evil"}, {"X", "a\rb"}, {"X", "\xff"}, {"X", "tab\t"},
		{"lower", "x"}, {"1X", "x"}, {"A-B", "x"}, {"", "x"},
	} {
		_, err := FormatOSRelease([][2]string{bad})
		require.ErrorIs(t, err, ErrOSReleaseField, "%q", bad)
	}
}

func FuzzOSRelease(f *testing.F) {
	f.Add("x\"\nID=evil", []byte("ID=x\n"))
	f.Fuzz(func(t *testing.T, value string, data []byte) {
		_, _ = ParseOSRelease(data, 252)
		_, _ = ParseOSRelease(data, 257)
		out, err := FormatOSRelease([][2]string{{"ID", "x"}, {"V", value}})
		if err != nil {
			return
		}
		got, err := ParseOSRelease(out, 257)
		require.NoError(t, err)
		require.Equal(t, map[string]string{"ID": "x", "V": value}, got)
	})
}

// TestImageName follows portablectl.c extract_prefix (v252, v257).
func TestImageName(t *testing.T) {
	for file, want := range map[string]string{
		"/x/web-server_20220227.raw": "web-server",
		"web-server_1_2.raw":         "web-server",
		"web-server.raw":             "web-server",
		"web-server":                 "web-server",
		"a.b_1.raw":                  "a.b",
		"bb_httpd_1.raw":             "bb",
	} {
		got, err := ImageName(file)
		require.NoError(t, err, file)
		require.Equal(t, want, got, file)
	}
	for v, want := range map[int]string{252: "web.v", 257: "web"} {
		got, err := imageName("web.v", v)
		require.NoError(t, err)
		require.Equal(t, want, got, "v%d", v)
	}
	for _, file := range []string{"_1.raw", "web server_1.raw", "..raw", "a:b.raw", "ä_1.raw"} {
		_, err := ImageName(file)
		require.ErrorIs(t, err, ErrImageName, file)
	}
}

// TestValidUnitName follows unit-name.c unit_name_is_valid(UNIT_NAME_ANY).
func TestValidUnitName(t *testing.T) {
	for name, ok := range map[string]bool{
		"web.service": true, "web@.service": true, "web@a@b.service": true, `a\x2d:_.b.mount`: true,
		"web.mount": true, "@web.service": false, "web.serv": false, "web": false, ".service": false,
		"web server.service": false, "web.": false, string(make([]byte, 250)) + ".service": false,
	} {
		require.Equal(t, ok, ValidUnitName(name), name)
	}
}

// TestExpand follows unit-printf.c and specifier.c (v252, v257).
func TestExpand(t *testing.T) {
	for _, tt := range []struct{ in, unit, want string }{
		{"/opt/%n/%N/%p/%P", `web\x2dx-db.service`, `/opt/web\x2dx-db.service/web-x-db/web\x2dx-db/web-x-db`},
		{"%i|%I|%j|%J|%f", `web@a\x2db.service`, "a\\x2db|a-b|web|web|/a-b"},
		{"%f %j", "web-server-db.service", "/web/server/db db"},
		{"%t %S %C %L %E %T %V %%", "a.service", "/run /var/lib /var/cache /var/log /etc /tmp /var/tmp %"},
		{"%d", "a.service", "/run/credentials/a.service"},
	} {
		got, err := expand(tt.in, tt.unit)
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
	_, err := expand("%i", "web@.service")
	require.ErrorAs(t, err, new(unknownSpecifier))
	_, err = expand("%H", "web.service")
	require.ErrorAs(t, err, new(unknownSpecifier))
	_, err = expand("%Z", "web.service")
	require.ErrorAs(t, err, new(badSpecifier))
}

// TestNextWord follows extract_first_word with EXTRACT_UNQUOTE |
// EXTRACT_CUNESCAPE, as config_parse_exec reads a command (v252, v257).
func TestNextWord(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		bad  string
	}{
		{`  /bin/a  b  `, []string{"/bin/a", "b"}, ""},
		{`"/opt/with space"/x 'single q' a"b"c`, []string{"/opt/with space/x", "single q", "abc"}, ""},
		{`\x41\t\101 \"`, []string{"A\tA", `"`}, ""},
		{`"open`, nil, "has an unterminated quote"},
		{`bad\q`, nil, "has an invalid escape sequence"},
		{`end\`, nil, "ends in a lone backslash"},
	} {
		got, bad := words(tt.in)
		require.Equal(t, tt.bad, bad, tt.in)
		if tt.bad == "" {
			require.Equal(t, tt.want, got, tt.in)
		}
	}
}
