package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// asCLIEnv makes the test binary run as mkportable itself: TestMain calls
// main with the arguments after "--".
const asCLIEnv = "MKPORTABLE_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) != "" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"mkportable"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		return
	}
	os.Exit(m.Run())
}

// TestBuildKilled starts `mkportable build --verity` as a process of its
// own, signals it while it is writing the image, and finds nothing in the
// output directory (issue 10): SIGKILL gives the process no chance to
// clean up, so the outputs must not exist under their names before they
// are whole; SIGTERM cancels the build, which must exit non-zero.
func TestBuildKilled(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			flags, _ := storeFixture(t)
			storeDir := flags[7]
			bin := filepath.Join(storeDir, "11111111111111111111111111111111-web-server-20220227", "bin")
			// 48 MB of text from a 4096-word vocabulary: compressible, so
			// the encoder works on it for seconds, and no two blocks alike.
			rng := rand.New(rand.NewPCG(1, 2))
			words := make([]string, 4096)
			for i := range words {
				words[i] = fmt.Sprintf("w%x", rng.Uint64()%(1<<24))
			}
			var b strings.Builder
			for b.Len() < 48<<20 {
				b.WriteString(words[rng.IntN(len(words))])
				b.WriteByte(' ')
			}
			require.NoError(t, os.WriteFile(filepath.Join(bin, "data"), []byte(b.String()), 0o644))

			out := filepath.Join(t.TempDir(), "out")
			require.NoError(t, os.Mkdir(out, 0o755))
			cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--", "build", "-o", out, "--verity", "--jobs", "1"}, flags...)...)
			cmd.Env = append(os.Environ(), asCLIEnv+"=1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()

			// Wait until the process holds a file open in the output
			// directory: the image being written.
			writing := false
			for deadline := time.Now().Add(60 * time.Second); !writing && time.Now().Before(deadline); {
				select {
				case err := <-done:
					t.Fatalf("the build ended before it was signalled (%v): %s", err, stderr.String())
				case <-time.After(5 * time.Millisecond):
				}
				writing = holdsFileIn(cmd.Process.Pid, out)
			}
			require.True(t, writing, "the build never opened a file in %s", out)
			require.NoError(t, cmd.Process.Signal(sig))
			err := <-done
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the build was not stopped by %v", sig)
			if sig == syscall.SIGTERM {
				require.Equal(t, 1, exit.ExitCode(), "a cancelled build exits 1: %s", stderr.String())
				require.Contains(t, stderr.String(), "terminated signal received")
			}
			left, err := os.ReadDir(out)
			require.NoError(t, err)
			var names []string
			for _, e := range left {
				names = append(names, e.Name())
			}
			require.Empty(t, names, "a build stopped by %v left files behind", sig)
		})
	}
}

// holdsFileIn reports whether process pid has a file in dir open, as
// /proc/PID/fd shows it (an O_TMPFILE file reads "dir/#N (deleted)").
func holdsFileIn(pid int, dir string) bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") {
			return true
		}
	}
	return false
}
