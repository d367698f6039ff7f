// Package testtool gives tests the programs they check this project's
// output with (unsquashfs, sqfsdiff, mksquashfs, xz, file, nix-build...)
// and counts those checks.
//
// A missing program fails the test with the Debian package that holds it,
// read from scripts/deps.txt, the one list of what the tests need (`make
// test` installs it through scripts/deps.sh), so a machine without the tools
// never passes by testing less. MKPORTABLE_SKIP_TOOLS=1 makes a missing
// program skip the test instead.
//
// Every check by a reader nobody here wrote (a program, the kernel, a
// library) is logged with t.Log and, when MKPORTABLE_CHECK_LOG names a
// file, appended to it as one line; `make test` sums that file up, so its
// output shows the checks ran.
package testtool

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SkipEnv is the environment variable that, set to 1, turns a missing
// program from a failure into a skip.
const SkipEnv = "MKPORTABLE_SKIP_TOOLS"

// LogEnv names the file every check is appended to.
const LogEnv = "MKPORTABLE_CHECK_LOG"

// sbinDirs hold programs (setcap, sfdisk, mount) a user's PATH may lack.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// Need returns the path of the program name. When it is missing, the test
// fails, naming the package to install, or skips under
// MKPORTABLE_SKIP_TOOLS=1. A program scripts/deps.txt does not list fails
// the test either way: the list must name everything the tests run.
func Need(t testing.TB, name string) string {
	t.Helper()
	pkg, err := packageOf(name)
	if err != nil {
		t.Fatalf("testtool: %v", err)
	}
	if p, err := lookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed: run `make test` as root, which installs it, "+
		"or apt-get install %s (scripts/deps.txt lists what the tests need)", name, pkg)
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("%s; %s=1 skips this test", msg, SkipEnv)
		return ""
	}
	t.Fatal(msg)
	return ""
}

// Command returns a command running the program name with args (see Need)
// and counts it as a check by that program.
func Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	p := Need(t, name)
	Ran(t, name, args...)
	return exec.Command(p, args...)
}

// Ran records one check by checker, an independent reader such as
// "go-diskfs" or "kernel", with what it was given.
func Ran(t testing.TB, checker string, args ...string) {
	t.Helper()
	t.Logf("check by %s %s", checker, strings.Join(args, " "))
	path := os.Getenv(LogEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("testtool: %s: %v", LogEnv, err)
	}
	defer f.Close()
	// One short write with O_APPEND: lines from test binaries running at
	// once do not interleave.
	if _, err := fmt.Fprintf(f, "%s\t%s\n", checker, t.Name()); err != nil {
		t.Fatalf("testtool: %s: %v", LogEnv, err)
	}
}

func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", err
}

// packageOf returns the package scripts/deps.txt lists name under.
func packageOf(name string) (string, error) {
	list, err := depsFile()
	if err != nil {
		return "", err
	}
	pkgs, err := parseDeps(list)
	if err != nil {
		return "", err
	}
	pkg, ok := pkgs[name]
	if !ok {
		return "", fmt.Errorf("%s is not in %s: add it with the package that holds it", name, list)
	}
	return pkg, nil
}

// depsFile finds scripts/deps.txt in the module root, above the test's
// working directory (its package's directory).
func depsFile() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "deps.txt"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// parseDeps reads "package: program..." lines into a map from program to
// package; blank lines and #-comments are skipped.
func parseDeps(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkgs := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pkg, tools, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(pkg) == "" || len(strings.Fields(tools)) == 0 {
			return nil, fmt.Errorf("%s:%d: want \"package: program...\"", file, n)
		}
		for _, tool := range strings.Fields(tools) {
			pkgs[tool] = strings.TrimSpace(pkg)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%s lists no programs", file)
	}
	return pkgs, nil
}

// Mount mounts the squashfs image img read-only with the kernel's own
// driver until the test ends, and returns the mount point; it counts as a
// check by the kernel. A loop mount needs root: without it the test skips.
func Mount(t testing.TB, img string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a loop mount needs root")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(Need(t, "mount"), "-t", "squashfs", "-o", "loop,ro", img, mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("mount %s: %v: %s", img, err, out)
	}
	Ran(t, "kernel", "mount", img)
	umount := Need(t, "umount")
	t.Cleanup(func() {
		if out, err := exec.Command(umount, mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// RequireRoot skips the test unless it runs as root, saying why it needs
// to. `make test` in CI runs as root, so these checks run there.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("not root: %s", why)
	}
}

// WriterAt is an in-memory io.WriterAt that grows to hold what is written
// at any offset, for tests of writers that seek: B is the image.
type WriterAt struct{ B []byte }

// WriteAt implements io.WriterAt.
func (w *WriterAt) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("testtool.WriterAt: negative offset")
	}
	if end := off + int64(len(p)); end > int64(len(w.B)) {
		w.B = append(w.B, make([]byte, end-int64(len(w.B)))...)
	}
	return copy(w.B[off:], p), nil
}
