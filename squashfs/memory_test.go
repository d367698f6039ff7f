package squashfs

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// filesTree returns a tree of n empty files, 100 to a directory.
func filesTree(t *testing.T, n int) *Tree {
	tree := NewTree()
	for i := range n {
		if i%100 == 0 {
			require.NoError(t, tree.Mkdir(fmt.Sprintf("d%04d", i/100), Attr{Mode: 0o755}))
		}
		require.NoError(t, tree.AddBytes(fmt.Sprintf("d%04d/f%06d", i/100, i), Attr{Mode: 0o644}, nil))
	}
	return tree
}

func TestMemoryLimit(t *testing.T) {
	small, big := filesTree(t, 1000), filesTree(t, 3000)
	xz := Options{Compressor: XZCompressor{}, Workers: 2}
	limit := func(tree *Tree, opts Options) int64 {
		l, err := MemoryLimit(tree, opts)
		require.NoError(t, err)
		return l
	}

	// Each file adds at least its node, entry and writer records, and
	// not much more.
	perFile := (limit(big, xz) - limit(small, xz)) / 2000
	require.GreaterOrEqual(t, perFile, int64(entryMem+fileMem), "bytes a file")
	require.Less(t, perFile, int64(400), "bytes a file")

	// The fixed part follows the workers, the block size and the encoder.
	for _, tc := range []struct {
		name          string
		more, less    Options
		atLeastBlocks int64 // of the bigger block size
	}{
		{"workers", Options{Compressor: XZCompressor{}, Workers: 4}, xz, 2 * 12},
		{"block size", Options{Compressor: XZCompressor{}, Workers: 2, BlockSize: 1 << 20}, Options{Compressor: XZCompressor{}, Workers: 2, BlockSize: 128 << 10}, 2 * 12},
		{"xz over gzip", xz, Options{Compressor: GzipCompressor{Level: 9}, Workers: 2}, 2 * 10},
		{"klauspost zstd over xz", Options{Compressor: ZstdCompressor{Level: 12}, Workers: 2}, xz, 2 * 20},
		{"zstd over gzip", Options{Compressor: ZstdCompressor{}, Workers: 2}, Options{Compressor: GzipCompressor{Level: 9}, Workers: 2}, 2 * 8},
		{"gzip over none", Options{Compressor: GzipCompressor{Level: 9}, Workers: 2}, Options{Compressor: NoCompression{}, Workers: 2}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			more, less := limit(small, tc.more), limit(small, tc.less)
			require.Greater(t, more, less)
			require.GreaterOrEqual(t, more-less, tc.atLeastBlocks*(1<<20)*3/4, "difference")
		})
	}

	_, err := MemoryLimit(small, Options{BlockSize: 3})
	require.Error(t, err, "options Write refuses")
}

// TestMemoryLimitCoversTree checks the estimate of a loaded tree against
// the heap it really holds. The tree is big enough (about 2.5 MB) that the
// runtime's own churn, some tens of KB, stays well inside the estimate's
// margin.
func TestMemoryLimitCoversTree(t *testing.T) {
	dir := t.TempDir()
	writeSmallFiles(t, dir, 20000)
	empty := settledMemStats(t)
	tree, err := TreeFromDir(dir, LoadOptions{})
	require.NoError(t, err)
	loaded := settledMemStats(t)
	c := countMemory(tree, 1<<20)
	held := int64(loaded.HeapAlloc) - int64(empty.HeapAlloc)
	require.GreaterOrEqual(t, c.tree, held, "estimate %d B, held %d B", c.tree, held)
	require.Less(t, c.tree, 2*held, "estimate %d B, held %d B", c.tree, held)
}

// settledMemStats collects garbage until the heap has not shrunk for
// three collections 20 ms apart and returns the memory statistics.
// Earlier tests leave memory that one collection does not free: a used
// sync.Pool survives it in the pools' victim cache, and a Reader without
// Close (NewReader) may still be reading ahead for some milliseconds.
// Freed between the two snapshots of TestMemoryLimitCoversTree, such
// megabytes once made a 2.4 MB tree look like 205,808 bytes in CI.
func settledMemStats(t *testing.T) runtime.MemStats {
	m := memStats()
	quiet := 0
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		next := memStats()
		if next.HeapAlloc+4<<10 < m.HeapAlloc {
			quiet = 0
		} else if quiet++; quiet == 3 {
			return next
		}
		m = next
	}
	t.Fatalf("the heap kept shrinking for two seconds: %d bytes", m.HeapAlloc)
	return m
}
