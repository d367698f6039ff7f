package squashfs

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkWrite images GOROOT/src/net (about 4 MB of Go source) with each
// compressor; MB/s is input bytes per second. `make bench` compares the
// whole GOROOT with mksquashfs.
func BenchmarkWrite(b *testing.B) {
	src := filepath.Join(goroot(b), "src", "net")
	if _, err := os.Stat(src); err != nil {
		b.Skipf("no Go sources at %s", src)
	}
	for _, name := range []string{"xz", "gzip", "zstd", "lz4", "none"} {
		b.Run(name, func(b *testing.B) {
			c, err := NewCompressor(name)
			require.NoError(b, err)
			tree, err := TreeFromDir(src, LoadOptions{})
			require.NoError(b, err)
			var stats *Stats
			for b.Loop() {
				stats, err = Write(context.Background(), discardAt{}, tree, Options{Compressor: c})
				require.NoError(b, err)
			}
			b.SetBytes(stats.BytesIn)
			b.ReportMetric(float64(stats.ImageSize)/float64(stats.BytesIn), "out/in")
		})
	}
}

// discardAt is an io.WriterAt that keeps nothing.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

var _ io.WriterAt = discardAt{}

// BenchmarkWriteSmallFiles writes 20,000 files of 1 to 1,000 bytes, half
// of them sharing a size with another (so they are hashed for dedup),
// stored raw: the writer's cost per file, apart from compression. The
// allocations per op divided by 20,000 are what each file costs.
func BenchmarkWriteSmallFiles(b *testing.B) {
	tree := NewTree()
	rng := rand.New(rand.NewPCG(1, 2))
	for d := range 20 {
		require.NoError(b, tree.Mkdir(fmt.Sprintf("d%d", d), Attr{Mode: 0o755}))
		for f := range 1000 {
			data := make([]byte, 1+rng.IntN(1000))
			for i := range data {
				data[i] = byte('a' + rng.IntN(26))
			}
			require.NoError(b, tree.AddBytes(fmt.Sprintf("d%d/f%d", d, f), Attr{Mode: 0o644}, data))
		}
	}
	for b.Loop() {
		_, err := Write(context.Background(), discardAt{}, tree, Options{Compressor: NoCompression{}, Workers: 2})
		require.NoError(b, err)
	}
	b.ReportMetric(20000*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}
