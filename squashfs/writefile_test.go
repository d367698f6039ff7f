package squashfs

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mkportable/mkportable/internal/atomicfile"
	"github.com/stretchr/testify/require"
)

// killChildEnv makes the test binary a child that starts writing an image
// and stops in the middle, for TestWriteFileKilled to kill.
const killChildEnv = "MKPORTABLE_TEST_KILL_CHILD"

// writeAndHang writes an image of several blocks to name and, once the
// first block is written, says so on stdout and waits to be killed.
func writeAndHang(name string, named bool) {
	tree := NewTree()
	for i := range 4 {
		data := strings.Repeat(string(rune('a'+i)), 256<<10)
		if err := tree.AddBytes("/f"+string(rune('0'+i)), Attr{Mode: 0o644}, []byte(data)); err != nil {
			panic(err)
		}
	}
	opts := Options{BlockSize: 128 << 10, Workers: 1, Progress: func(p Progress) {
		if p.BytesDone > 0 {
			os.Stdout.WriteString("writing\n")
			for { // killed here, in the middle of the image
				time.Sleep(time.Hour)
			}
		}
	}}
	create := atomicfile.Create
	if named {
		create = atomicfile.CreateNamed
	}
	writeFile(context.Background(), name, tree, opts, create)
}

// TestWriteFileKillChild is the child TestWriteFileKilled runs and kills;
// it does nothing in a normal run.
func TestWriteFileKillChild(t *testing.T) {
	spec := os.Getenv(killChildEnv)
	if spec == "" {
		return
	}
	name, mode, _ := strings.Cut(spec, ":")
	writeAndHang(name, mode == "named")
	t.Fatal("writeAndHang returned")
}

// TestWriteFileKilled SIGKILLs a process in the middle of WriteFile and
// finds nothing left in the output directory (issue 10); with the
// named-file fallback, the next WriteFile removes what the killed one
// left.
func TestWriteFileKilled(t *testing.T) {
	for _, mode := range []string{"tmpfile", "named"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "x_1.raw")
			cmd := exec.Command(os.Args[0], "-test.run=^TestWriteFileKillChild$")
			cmd.Env = append(os.Environ(), killChildEnv+"="+name+":"+mode)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			line, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "writing\n", line)
			require.NoError(t, cmd.Process.Kill())
			io.Copy(io.Discard, stdout)
			require.Error(t, cmd.Wait())

			left, err := os.ReadDir(dir)
			require.NoError(t, err)
			if mode == "tmpfile" {
				require.Empty(t, left, "a killed WriteFile left files behind")
				return
			}
			require.Len(t, left, 1, "the named fallback leaves its temporary file")
			require.True(t, strings.HasPrefix(left[0].Name(), ".x_1.raw.mkportable-tmp-"), left[0].Name())

			_, err = WriteFile(context.Background(), name, NewTree(), Options{})
			require.NoError(t, err)
			left, err = os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, left, 1)
			require.Equal(t, "x_1.raw", left[0].Name(), "the next WriteFile removes the stale temporary file")
		})
	}
}

// TestWriteFileReplaces: an existing image is replaced whole.
func TestWriteFileReplaces(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.raw")
	require.NoError(t, os.WriteFile(name, []byte("old"), 0o600))
	_, err := WriteFile(context.Background(), name, NewTree(), Options{})
	require.NoError(t, err)
	info, err := os.Stat(name)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), info.Mode().Perm())
	require.Greater(t, info.Size(), int64(3))
	left, err := os.ReadDir(filepath.Dir(name))
	require.NoError(t, err)
	require.Len(t, left, 1)
}
