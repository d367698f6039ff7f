package zstd

import (
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

func TestLengthCodes(t *testing.T) {
	// A sequence's literals leave room for its match: LitLen < maxBlockSize.
	for v := uint32(0); v < maxBlockSize; v++ {
		if c := llCode(v); v < llBase[c] || v >= llBase[c]+1<<llBits[c] {
			t.Fatalf("LL %d: code %d", v, c)
		}
	}
	for v := uint32(minMatch); v <= maxBlockSize; v++ {
		if c := mlCode(v); v < mlBase[c] || v >= mlBase[c]+1<<mlBits[c] {
			t.Fatalf("ML %d: code %d", v, c)
		}
	}
	require.Equal(t, uint8(maxLLCode), llCode(maxBlockSize-minMatch))
	require.Equal(t, uint8(maxMLCode), mlCode(maxBlockSize))
	require.Equal(t, uint8(0), ofCode(1))
	require.Equal(t, uint8(20), ofCode(1<<20+3))
	require.Equal(t, uint8(maxOFCode), ofCode(1<<31))
}

func TestFrameHeader(t *testing.T) {
	tests := []struct {
		size    uint64
		fcsSize int
	}{
		{0, 1}, {255, 1}, {256, 2}, {65791, 2}, {65792, 4}, {1 << 20, 4}, {1<<32 - 1, 4}, {1 << 32, 8},
	}
	for _, tc := range tests {
		b := appendFrameHeader([]byte("x"), int(tc.size))
		require.Equal(t, byte('x'), b[0])
		var h zstd.Header
		require.NoError(t, h.Decode(append(b[1:], 1, 0, 0)), "size %d", tc.size) // + an empty last raw block
		require.True(t, h.SingleSegment)
		require.True(t, h.HasFCS)
		require.Equal(t, tc.size, h.FrameContentSize)
		require.Equal(t, 4+1+tc.fcsSize, h.HeaderSize, "size %d", tc.size)
		require.Equal(t, uint32(0), h.DictionaryID)
		require.False(t, h.HasCheckSum)
	}
}

func TestNormalize(t *testing.T) {
	r := rng(1)
	var norm [fseMaxSymbols]int16
	for range 2000 {
		n := 2 + r.intn(fseMaxSymbols-1)
		count := make([]uint32, n)
		var total uint32
		for i := range count {
			if r.intn(3) != 0 {
				count[i] = uint32(r.intn(1 << uint(r.intn(16))))
			}
			total += count[i]
		}
		if total == 0 {
			continue
		}
		for log := uint8(fseMinLog); log <= maxMLLog; log++ {
			ok := normalize(norm[:n], count, total, log)
			present := 0
			for _, c := range count {
				if c != 0 {
					present++
				}
			}
			require.Equal(t, present <= 1<<log, ok)
			if !ok {
				continue
			}
			sum := 0
			for i, c := range count {
				require.Equal(t, c != 0, norm[i] > 0, "symbol %d", i)
				sum += int(norm[i])
			}
			require.Equal(t, 1<<log, sum)
			var tbl fseTable
			tbl.build(norm[:n], log) // panics on a bad spread
			require.NotEmpty(t, appendNCount(nil, norm[:n], log))
		}
	}
}

// TestSteadyStateAllocs checks that a reused blockEncoder allocates
// nothing once its buffers have grown.
func TestSteadyStateAllocs(t *testing.T) {
	src := text(1, maxBlockSize)
	p := new(testParser)
	lits, seqs := p.parse(src, 0, len(src), initialReps)
	e := newBlockEncoder()
	dst := make([]byte, 0, 2*maxBlockSize)
	for range 3 {
		e.reset()
		e.appendBlock(dst[:0], src, lits, seqs, true)
	}
	allocs := testing.AllocsPerRun(20, func() {
		e.reset()
		_, compressed := e.appendBlock(dst[:0], src, lits, seqs, false)
		require.True(t, compressed)
		e.appendBlock(dst[:0], src, lits, seqs, true) // Treeless, Repeat_Mode
	})
	require.Zero(t, allocs)
}

// TestGorootSizes logs what a few GOROOT files code to with the test
// parser, beside klauspost/compress's best level, to show the entropy
// stage is sane; the greedy test parser, not this stage, makes most of the
// difference.
func TestGorootSizes(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithWindowSize(1<<20))
	require.NoError(t, err)
	defer enc.Close()
	e := newBlockEncoder()
	p := new(testParser)
	for _, f := range []string{"src/fmt/print.go", "src/net/http/server.go", "src/runtime/proc.go", "bin/gofmt"} {
		src := gorootFile(t, f, 1<<20)
		frame, _ := encodeFrame(t, e, p, src, maxBlockSize)
		best := enc.EncodeAll(src, nil)
		t.Logf("%-24s %8d -> %7d (%.1f%%), klauspost best %7d (%.1f%%)", f, len(src), len(frame),
			100*float64(len(frame))/float64(len(src)), len(best), 100*float64(len(best))/float64(len(src)))
		require.Less(t, len(frame), len(src))
	}
}
