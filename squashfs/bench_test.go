package squashfs

import (
	"context"
	"io"
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
