package lzma

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCompareLiblzma, with LZMA_COMPARE=DIR, cuts the files under DIR into
// 1 MiB chunks as squashfs does and prints our total against liblzma's
// preset 6 (through python3's lzma module). It measures, it does not gate.
func TestCompareLiblzma(t *testing.T) {
	dir := os.Getenv("LZMA_COMPARE")
	if dir == "" {
		t.Skip("set LZMA_COMPARE=DIR to compare with liblzma")
	}
	const chunk = 1 << 20
	var chunks [][]byte
	var tail []byte
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for len(data) >= chunk {
			chunks = append(chunks, data[:chunk])
			data = data[chunk:]
		}
		tail = append(tail, data...) // tails packed together, like fragments
		for len(tail) >= chunk {
			chunks = append(chunks, tail[:chunk])
			tail = tail[chunk:]
		}
		return nil
	})
	chunks = append(chunks, tail)
	tmp := t.TempDir()
	total := 0
	for i, c := range chunks {
		total += len(c)
		require.NoError(t, os.WriteFile(filepath.Join(tmp, strconv.Itoa(i)), c, 0o644))
	}
	enc, err := NewEncoder(Preset(6, false))
	require.NoError(t, err)
	start := time.Now()
	ours := 0
	var out []byte
	for _, c := range chunks {
		out = enc.AppendLZMA2(out[:0], c)
		ours += min(len(out), len(c))
	}
	ourTime := time.Since(start)
	script := `import lzma,os,sys,time
d=sys.argv[1]; t=time.time(); n=0
for f in os.listdir(d):
    b=open(os.path.join(d,f),'rb').read()
    c=lzma.compress(b, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1<<20}])
    n+=min(len(c),len(b))
print(n, time.time()-t)`
	res, err := exec.Command("python3", "-c", script, tmp).Output()
	require.NoError(t, err)
	f := strings.Fields(string(res))
	theirs, _ := strconv.Atoi(f[0])
	t.Logf("%d chunks, %d bytes: ours %d in %v, liblzma %d in %ss; size ratio %.4f",
		len(chunks), total, ours, ourTime.Round(time.Millisecond), theirs, f[1], float64(ours)/float64(theirs))
}
