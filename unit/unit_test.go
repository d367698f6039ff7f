package unit

import (
	"errors"
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
	require.Equal(t, []string{"multi-user.target"}, f.Values("Install", "WantedBy"))
	require.Equal(t, []ExecCommand{{Key: "ExecStart", Line: 6, Path: store + "/bin/web-server"}}, f.ExecCommands())
	require.NoError(t, CheckName("web-server.service", "web-server"))
}

func TestParse(t *testing.T) {
	f, err := Parse("x.service", []byte(`# comment
; other comment
[Service]
  Environment = A=1 \
# skipped inside a continuation
    B=2
Environment=
ExecStartPre=-+/bin/prep arg
ExecStart="/usr/bin/with space" arg
ExecStop=!!@/bin/stop argv0
ExecReload=
`))
	require.NoError(t, err)
	require.Equal(t, []string{"A=1  B=2", ""}, f.Values("Service", "Environment"))
	require.Equal(t, []ExecCommand{
		{Key: "ExecStartPre", Line: 8, Path: "/bin/prep", Prefixes: "-+"},
		{Key: "ExecStart", Line: 9, Path: "/usr/bin/with space"},
		{Key: "ExecStop", Line: 10, Path: "/bin/stop", Prefixes: "!!@"},
	}, f.ExecCommands())
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Key=value\n", "x.service:1: assignment Key= comes before any [Section]"},
		{"[Unit]\njust words\n", `x.service:2: "just words" is not a section header, a comment or Key=Value`},
		{"[Unit\nA=b\n", `x.service:1: bad section header "[Unit"`},
		{"", "x.service:1: unit file is empty"},
		{"# only\n[Unit]\n\n", "x.service:1: unit file is empty"},
		{"[Unit]\n=value\n", `x.service:2: "=value" is not a section header`},
	}
	for _, tt := range tests {
		_, err := Parse("x.service", []byte(tt.in))
		var syn *SyntaxError
		require.ErrorAs(t, err, &syn, tt.in)
		require.ErrorContains(t, err, tt.want)
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		rule string
	}{
		{"web-server.service", true, ""},
		{"web-server-foo.socket", true, ""},
		{"web-server@.service", true, ""},
		{"web-server@inst.service", true, ""},
		{"web-server.foo.timer", true, ""},
		{"web-server.target", true, ""},
		{"web-server.path", true, ""},
		{"webserver.service", false, `does not start with "web-server" followed by`},
		{"web-serverx.service", false, "does not start with"},
		{"web-server.mount", false, "must be .service, .socket, .target, .timer or .path"},
		{"web-server", false, "no type suffix"},
		{"web server.service", false, "character ' ' is not allowed"},
		{"@web-server.service", false, "nothing before '@'"},
		{"web-server@a@b.service", false, "more than one '@'"},
		{"", false, "empty unit name"},
	}
	for _, tt := range tests {
		err := CheckName(tt.name, "web-server")
		if tt.ok {
			require.NoError(t, err, tt.name)
			continue
		}
		var ne *NameError
		require.True(t, errors.As(err, &ne), tt.name)
		require.ErrorContains(t, err, tt.rule, tt.name)
	}
	require.NoError(t, CheckName("db-helper.service", "web-server", "db"))
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

func FuzzParse(f *testing.F) {
	f.Add([]byte(webServer))
	f.Add([]byte("[A]\nB=c \\\n#x\n d\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.service", data)
		if err != nil {
			return
		}
		require.Equal(t, data, file.Bytes())
		for _, c := range file.ExecCommands() {
			require.NotContains(t, c.Key, "=")
		}
	})
}

func FuzzSubstitute(f *testing.F) {
	f.Add([]byte(webServer), "web", "/nix/store/x")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		out, err := Substitute("f", data, map[string]string{key: value})
		if err != nil {
			var pe *PlaceholderError
			require.ErrorAs(t, err, &pe)
			return
		}
		if !placeholder.Match(data) {
			require.Equal(t, string(data), string(out))
		}
	})
}
