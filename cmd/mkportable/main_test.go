package main

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	vcs := func(rev, time, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: time}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"none", nil, "mkportable (no build information)"},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"mkportable (devel) (no VCS revision recorded) go1.26.8"},
		{"go build in a checkout", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main:     debug.Module{Version: "v0.0.0-20261125153700-be16aea5e1f0+dirty"},
			Settings: vcs("be16aea5e1f0aaaabbbbccccddddeeeeffff0000", "2026-11-25T15:37:00Z", "true")},
			"mkportable v0.0.0-20261125153700-be16aea5e1f0+dirty (revision be16aea5e1f0aaaabbbbccccddddeeeeffff0000, " +
				"committed 2026-11-25T15:37:00Z, with uncommitted changes) go1.26.8"},
		{"clean tag", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"},
			Settings: vcs("0123456789abcdef0123456789abcdef01234567", "2026-01-02T03:04:05Z", "false")},
			"mkportable v1.2.3 (revision 0123456789abcdef0123456789abcdef01234567, committed 2026-01-02T03:04:05Z)"},
		{"empty version", &debug.BuildInfo{}, "mkportable (devel) (no VCS revision recorded)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, version(tt.info))
		})
	}
}

func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		code, stdout, stderr := runCLI(t, arg)
		require.Equal(t, 0, code, stderr)
		require.Regexp(t, `^mkportable \S+ \(.+\)`, stdout)
		require.Empty(t, stderr)
	}
}

// TestUsageOnNoArguments: a command given nothing prints its usage, flags
// included, and exits 2.
func TestUsageOnNoArguments(t *testing.T) {
	for name, flags := range map[string][]string{
		"build":   {"usage: mkportable build [SPEC.json] -o DIR", "-o string", "-unit FILE", "-store-path PATH"},
		"inspect": {"usage: mkportable inspect IMAGE.raw", "-json"},
		"squash":  {"usage: mkportable squash SRC OUT", "-compression string", "-no-xattrs"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, name)
			require.Equal(t, 2, code)
			require.Empty(t, stdout)
			require.True(t, strings.HasPrefix(stderr, "mkportable "+name+": no arguments\n"), stderr)
			for _, want := range flags {
				require.Contains(t, stderr, want)
			}
		})
	}
	code, _, stderr := runCLI(t)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "usage: mkportable COMMAND [ARGS]")
	require.Contains(t, stderr, "mkportable --version")
}
