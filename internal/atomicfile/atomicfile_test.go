package atomicfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestCommitAndAbort(t *testing.T) {
	for name, create := range map[string]func(string) (*File, error){"tmpfile": Create, "named": CreateNamed} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "x.raw")
			require.NoError(t, os.WriteFile(target, []byte("old"), 0o600))

			f, err := create(target)
			require.NoError(t, err)
			require.Equal(t, target, f.Target())
			_, err = f.WriteAt([]byte("new contents"), 0)
			require.NoError(t, err)
			got, err := os.ReadFile(target)
			require.NoError(t, err)
			require.Equal(t, "old", string(got), "the target changes only on Commit")
			require.NoError(t, f.Commit())
			f.Abort() // a no-op after Commit
			require.Error(t, f.Commit(), "a second Commit")

			got, err = os.ReadFile(target)
			require.NoError(t, err)
			require.Equal(t, "new contents", string(got))
			info, err := os.Stat(target)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(Mode), info.Mode().Perm())
			require.Equal(t, []string{"x.raw"}, names(t, dir))

			f, err = create(target)
			require.NoError(t, err)
			_, err = f.Write([]byte("discarded"))
			require.NoError(t, err)
			f.Abort()
			got, err = os.ReadFile(target)
			require.NoError(t, err)
			require.Equal(t, "new contents", string(got), "Abort leaves the target alone")
			require.Equal(t, []string{"x.raw"}, names(t, dir), "Abort leaves no temporary file")

			fresh := filepath.Join(dir, "fresh.raw")
			f, err = create(fresh)
			require.NoError(t, err)
			require.NoError(t, f.Commit())
			require.FileExists(t, fresh)
		})
	}
}

func TestCreateMissingDir(t *testing.T) {
	_, err := Create(filepath.Join(t.TempDir(), "no", "x.raw"))
	require.Error(t, err)
}

// TestRemoveStale: a named temporary file whose writer is gone is removed
// by the next Create of the same name; one of a running process, or of
// another name, is kept.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "x.raw")
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.Process.Pid // exited and reaped
	stale := filepath.Join(dir, tempPrefix(target)+strconv.Itoa(dead)+"-123")
	live := filepath.Join(dir, tempPrefix(target)+strconv.Itoa(os.Getpid())+"-456")
	other := filepath.Join(dir, tempPrefix(filepath.Join(dir, "y.raw"))+strconv.Itoa(dead)+"-789")
	for _, p := range []string{stale, live, other} {
		require.NoError(t, os.WriteFile(p, nil, 0o600))
	}
	f, err := Create(target)
	require.NoError(t, err)
	f.Abort()
	require.NoFileExists(t, stale)
	require.FileExists(t, live)
	require.FileExists(t, other)
}
