package testtool

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB whose Fatal and Skip record instead of ending
// the test, so Need's verdicts can be checked.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Fatal(args ...any)            { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.fatal = fmt.Sprintf(f, args...) }
func (r *recorder) Skipf(f string, args ...any)  { r.skip = fmt.Sprintf(f, args...) }
func (r *recorder) Logf(string, ...any)          {}

func TestParseDeps(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "deps.txt")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	got, err := parseDeps(write("# comment\n\nsquashfs-tools: mksquashfs unsquashfs\n  xz-utils:xz\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"mksquashfs": "squashfs-tools", "unsquashfs": "squashfs-tools", "xz": "xz-utils"}, got)

	for text, want := range map[string]string{
		"squashfs-tools mksquashfs\n": `:1: want "package: program..."`,
		"# only\n":                    "lists no programs",
		"a: b\n: c\n":                 `:2: want "package: program..."`,
		"a:\n":                        `:1: want "package: program..."`,
	} {
		_, err := parseDeps(write(text))
		require.ErrorContains(t, err, want, text)
	}
}

// TestDepsList checks the project's own list, which scripts/deps.sh reads
// too, and that the programs every package's tests run are on it.
func TestDepsList(t *testing.T) {
	file, err := depsFile()
	require.NoError(t, err)
	pkgs, err := parseDeps(file)
	require.NoError(t, err)
	for _, tool := range []string{"mksquashfs", "unsquashfs", "sqfsdiff", "sqfs2tar", "xz", "file", "setcap", "getcap", "mount", "nix-build"} {
		require.Contains(t, pkgs, tool)
	}
	require.Equal(t, "squashfs-tools-ng", pkgs["sqfsdiff"])
}

func TestNeed(t *testing.T) {
	// A program the list names but no machine has: fail, naming the package.
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "scripts"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scripts", "deps.txt"),
		[]byte("no-such-package: mkportable-no-such-tool\nsh-package: sh\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "pkg"), 0o755))
	t.Chdir(filepath.Join(dir, "pkg"))

	t.Setenv(SkipEnv, "")
	r := &recorder{TB: t}
	require.Empty(t, Need(r, "mkportable-no-such-tool"))
	require.Contains(t, r.fatal, "mkportable-no-such-tool is not installed")
	require.Contains(t, r.fatal, "apt-get install no-such-package")
	require.Empty(t, r.skip)

	t.Setenv(SkipEnv, "1")
	r = &recorder{TB: t}
	Need(r, "mkportable-no-such-tool")
	require.Empty(t, r.fatal)
	require.Contains(t, r.skip, "apt-get install no-such-package")

	// A program the list lacks fails even when skipping is allowed.
	r = &recorder{TB: t}
	Need(r, "ls")
	require.Contains(t, r.fatal, "ls is not in ")
	require.Empty(t, r.skip)

	// A listed program that is installed.
	r = &recorder{TB: t}
	p := Need(r, "sh")
	require.Empty(t, r.fatal)
	require.True(t, strings.HasSuffix(p, "/sh"), p)
}

func TestRanAppendsToLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "checks.log")
	t.Setenv(LogEnv, log)
	Ran(t, "unsquashfs", "-lls", "img")
	Ran(t, "go-diskfs")
	data, err := os.ReadFile(log)
	require.NoError(t, err)
	require.Equal(t, "unsquashfs\tTestRanAppendsToLog\ngo-diskfs\tTestRanAppendsToLog\n", string(data))
}
