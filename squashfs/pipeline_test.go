package squashfs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// packedTree is a tree of small files in 8 directories, whose tails fill
// several dozen fragment blocks of 64 KiB; extra, when not empty, is one
// more file, in the middle of the walk.
func packedTree(t *testing.T, extra string) *Tree {
	t.Helper()
	tree := NewTree()
	rng := rand.New(rand.NewPCG(3, 3))
	for d := range 8 {
		require.NoError(t, tree.Mkdir(fmt.Sprintf("d%d", d), Attr{Mode: 0o755}))
	}
	for i := range 800 {
		data := make([]byte, 200+rng.IntN(6000))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		require.NoError(t, tree.AddBytes(fmt.Sprintf("d%d/f%03d", i%8, i), Attr{Mode: 0o644}, data))
	}
	if extra != "" {
		require.NoError(t, tree.AddBytes(extra, Attr{Mode: 0o644}, bytes.Repeat([]byte("added "), 2000)))
	}
	return tree
}

// fragmentBlocks writes tree and returns the SHA-256 of each of the
// image's fragment blocks and each one's length.
func fragmentBlocks(t *testing.T, tree *Tree, bs int) (sums map[[32]byte]bool, lens []int) {
	t.Helper()
	var img memImage
	_, err := Write(t.Context(), &img, tree, Options{Compressor: GzipCompressor{Level: 1}, BlockSize: bs, Workers: 2})
	require.NoError(t, err)
	rd, err := NewReader(bytes.NewReader(img.B), int64(len(img.B)))
	require.NoError(t, err)
	sums = map[[32]byte]bool{}
	for i := range rd.img.frags {
		b, err := rd.img.fragment(uint32(i))
		require.NoError(t, err)
		sums[sha256.Sum256(b)] = true
		lens = append(lens, len(b))
	}
	return sums, lens
}

// TestFragmentPacking: fragment blocks are cut in their last quarter (all
// but the last are at least three quarters full), and a file added in the
// middle of the walk changes the block it lands in and a few after it,
// not every block after it as packing each block full would.
func TestFragmentPacking(t *testing.T) {
	const bs = 64 << 10
	before, lens := fragmentBlocks(t, packedTree(t, ""), bs)
	require.Greater(t, len(lens), 30)
	for i, n := range lens[:len(lens)-1] {
		require.GreaterOrEqual(t, n, bs-bs/4, "fragment block %d of %d", i, len(lens))
		require.LessOrEqual(t, n, bs)
	}
	after, _ := fragmentBlocks(t, packedTree(t, "d3/f400-added"), bs)
	changed := 0
	for sum := range after {
		if !before[sum] {
			changed++
		}
	}
	t.Logf("%d fragment blocks; a file added changes %d", len(lens), changed)
	require.LessOrEqual(t, changed, 4)
}
