// Package testtool finds the external programs tests check our output
// with. .ci/run installs every one of them, so a missing tool fails the
// test with the package to install, unless MKPORTABLE_SKIP_TOOLS=1 asks
// to skip such tests instead.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// SkipEnv is the environment variable that, set to 1, turns a missing
// tool into a skipped test instead of a failed one.
const SkipEnv = "MKPORTABLE_SKIP_TOOLS"

// Require returns the path of the program name, which the Debian package
// pkg provides. When it is not on PATH the test fails, naming the package,
// or is skipped when SkipEnv is 1.
func Require(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("%s is not installed (Debian package %s); skipped because %s=1", name, pkg, SkipEnv)
	}
	t.Fatalf("%s is not installed: apt-get install %s (.ci/run installs it), or set %s=1 to skip the tests that need it", name, pkg, SkipEnv)
	return ""
}

// RequireRoot skips the test unless it runs as root, saying why.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("not root: %s", why)
	}
}
