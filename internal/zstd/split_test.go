package zstd

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// compressWith codes src as one frame with o and checks that both
// decoders give src back.
func compressWith(t *testing.T, o Options, src []byte) []byte {
	t.Helper()
	e, err := NewEncoder(o)
	require.NoError(t, err)
	frame, err := e.Compress(nil, src)
	require.NoError(t, err)
	checkDecoders(t, newKlauspost(t), frame, src)
	return frame
}

// TestSplitCutsWhereStatisticsChange codes two kinds of content, one
// after the other, in one parse of a block: cutting where the kind changes
// gives each its own Huffman table, which pays for the extra table. The
// splitter must find that, and never make a frame larger.
func TestSplitCutsWhereStatisticsChange(t *testing.T) {
	// Other letters: other literal statistics.
	other := skewedBytes(2, 32<<10)
	for j, c := range other {
		other[j] = c + 0x40
	}
	mixed := append(skewedBytes(1, 32<<10), other...)
	whole := Options{NiceLen: 32, Depth: 8, BlockSize: 64 << 10}
	split := whole
	split.SplitSeqs = 64
	for _, tc := range []struct {
		name string
		src  []byte
		cuts bool
	}{
		{"two kinds", mixed, true},
		{"one kind", text(9, 64<<10), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := compressWith(t, whole, tc.src), compressWith(t, split, tc.src)
			na, nb := frameStats(t, a)["compressed"], frameStats(t, b)["compressed"]
			t.Logf("one block a 64 KiB: %d bytes in %d blocks; split: %d bytes in %d blocks", len(a), na, len(b), nb)
			require.LessOrEqual(t, len(b), len(a))
			if tc.cuts {
				require.Greater(t, nb, na)
				require.Less(t, len(b), len(a))
			}
		})
	}
}

// declarations is a generated Go file, as GOROOT/test/fixedbugs/bug385_64.go
// is: numbered declarations, one a line.
func declarations(n int) []byte {
	var b []byte
	for i := 1; len(b) < n; i++ {
		b = fmt.Appendf(b, "var z%d [1 << 17]byte\n", i)
	}
	return b[:n]
}

// TestRestartBreaksHabit codes the declarations with and without Restart.
// Carried from block to block, the statistics keep the parser coding each
// line's number as literals before a match ten lines back (zstd 1.5.4's
// level 19 codes 1 MiB of the file in 53,994 bytes, our parser without
// Restart in 69,402, with it in 28,621); fresh ones find the cheaper
// parse.
func TestRestartBreaksHabit(t *testing.T) {
	src := declarations(256 << 10)
	o := Options{NiceLen: 64, Depth: 16, TwoPass: true, BlockSize: 32 << 10}
	carried := compressWith(t, o, src)
	o.Restart = true
	restarted := compressWith(t, o, src)
	t.Logf("%d bytes: %d without Restart, %d with", len(src), len(carried), len(restarted))
	require.Less(t, 2*len(restarted), len(carried))
}
