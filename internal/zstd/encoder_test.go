package zstd

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

func TestNewEncoderValidates(t *testing.T) {
	for _, tc := range []struct {
		o   Options
		err string
	}{
		{Options{NiceLen: 7, Depth: 8}, "zstd: nice length 7: want 8..4096"},
		{Options{NiceLen: 4097, Depth: 8}, "zstd: nice length 4097: want 8..4096"},
		{Options{NiceLen: 32, Depth: 0}, "zstd: search depth 0: want 1..65536"},
		{Options{NiceLen: 32, Depth: 8, BlockSize: 1000}, "zstd: block size 1000: want 0 (128 KiB) or 1024..131072"},
		{Options{NiceLen: 32, Depth: 8, BlockSize: maxBlockSize + 1}, "zstd: block size 131073: want 0 (128 KiB) or 1024..131072"},
		{Options{NiceLen: 32, Depth: 8, IndexLen: -1}, "zstd: index length -1: want 0 (all) or more"},
		{Options{NiceLen: 32, Depth: 8, SplitSeqs: -1}, "zstd: split sequences -1: want 0 (no splitting) or more"},
		{Options{NiceLen: 32, Depth: 8, SplitSeqs: 64}, "zstd: splitting blocks of 131072 bytes: want at most 65536"},
		{Options{NiceLen: 32, Depth: 8, SplitSeqs: 64, BlockSize: 65537}, "zstd: splitting blocks of 65537 bytes: want at most 65536"},
		{Options{}, "zstd: nice length 0: want 8..4096"},
	} {
		_, err := NewEncoder(tc.o)
		require.EqualError(t, err, tc.err)
	}
	for l := MinLevel - 1; l <= MaxLevel+1; l++ {
		_, err := NewEncoder(Level(l))
		require.NoError(t, err, "level %d", l)
	}
}

func TestCompressTooLarge(t *testing.T) {
	e, err := NewEncoder(testOptions)
	require.NoError(t, err)
	dst := []byte("keep")
	out, err := e.Compress(dst, make([]byte, MaxSrc+1))
	require.EqualError(t, err, "zstd: 1048577 bytes to compress: want at most 1048576")
	require.Equal(t, dst, out)
}

func TestCompressRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	// Text, then the same text again after a random block: the second
	// copy's matches reach back over a raw block, whose repeat offsets
	// the decoder never sees.
	text := gorootSample(t, 256<<10)[:100<<10]
	mixed := append(append(append([]byte{}, text...), random[:maxBlockSize]...), text...)
	d := newKlauspost(t)
	for _, tc := range []struct {
		name string
		src  []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"short", []byte("hello, hello, hello world")},
		{"zeros", make([]byte, 300<<10)},
		{"random", random},
		{"text, random block, text", mixed},
		{"goroot", gorootSample(t, MaxSrc)},
	} {
		for l := MinLevel; l <= MaxLevel; l++ {
			t.Run(fmt.Sprintf("%s/level=%d", tc.name, l), func(t *testing.T) {
				e, err := NewEncoder(Level(l))
				require.NoError(t, err)
				frame, err := e.Compress(nil, tc.src)
				require.NoError(t, err)
				checkDecoders(t, d, frame, tc.src)
				// The encoder is reused: a second frame is the same.
				again, err := e.Compress([]byte("prefix"), tc.src)
				require.NoError(t, err)
				require.Equal(t, frame, again[len("prefix"):])
			})
		}
	}
}

// TestCompressRawBlockRollsRepsBack checks the frame where a block between
// two compressed ones is raw: the third block's repeat codes must be
// those of the first, which only a rollback gives.
func TestCompressRawBlockRollsRepsBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var src []byte
	for len(src) < maxBlockSize {
		src = fmt.Appendf(src, "rec %d:%d;", rng.IntN(50), rng.IntN(50))
	}
	src = src[:maxBlockSize]
	noise := make([]byte, maxBlockSize)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	src = append(append(src, noise...), src...)
	e, err := NewEncoder(testOptions)
	require.NoError(t, err)
	frame, err := e.Compress(nil, src)
	require.NoError(t, err)
	st := frameStats(t, frame)
	require.Equal(t, 1, st["raw"], "%v", st)
	require.Equal(t, 2, st["compressed"], "%v", st)
	checkDecoders(t, newKlauspost(t), frame, src)
}

// TestCompressAllocates checks that a warm encoder allocates nothing.
func TestCompressAllocates(t *testing.T) {
	src := gorootSample(t, 300<<10)
	for _, l := range []int{MinLevel, MaxLevel} {
		e, err := NewEncoder(Level(l))
		require.NoError(t, err)
		dst, err := e.Compress(nil, src)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(2, func() {
			dst, err = e.Compress(dst[:0], src)
		})
		require.NoError(t, err)
		require.Zero(t, allocs, "level %d", l)
	}
}

func FuzzCompress(f *testing.F) {
	f.Add([]byte("abcabcabcabcabd"), uint8(0))
	f.Add(bytes.Repeat([]byte("xyzzy12"), 100), uint8(2))
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	require.NoError(f, err)
	defer d.Close()
	encs := map[int]*Encoder{}
	for l := MinLevel; l <= MaxLevel; l++ {
		encs[l], err = NewEncoder(Level(l))
		require.NoError(f, err)
	}
	f.Fuzz(func(t *testing.T, src []byte, level uint8) {
		l := MinLevel + int(level)%(MaxLevel-MinLevel+1)
		e, ok := encs[l]
		if !ok {
			e, err = NewEncoder(Level(l))
			require.NoError(t, err)
			encs[l] = e
		}
		frame, err := e.Compress(nil, src)
		require.NoError(t, err)
		got, err := d.DecodeAll(frame, nil)
		require.NoError(t, err)
		require.True(t, bytes.Equal(src, got), "level %d: %d bytes back, want %d", l, len(got), len(src))
	})
}

// benchInput is 4 MiB of the Go toolchain's own files, compiled code and
// Go source, in 1 MiB chunks: squashfs blocks.
func benchInput(b *testing.B) [][]byte {
	var data []byte
	for _, p := range []string{"pkg/tool/" + runtime.GOOS + "_" + runtime.GOARCH + "/vet", "src/net/http/server.go", "src/runtime/proc.go", "pkg/tool/" + runtime.GOOS + "_" + runtime.GOARCH + "/asm"} {
		d, err := os.ReadFile(filepath.Join(runtime.GOROOT(), p))
		if err != nil {
			b.Skip(err)
		}
		data = append(data, d...)
	}
	var chunks [][]byte
	for len(data) >= MaxSrc && len(chunks) < 4 {
		chunks = append(chunks, data[:MaxSrc])
		data = data[MaxSrc:]
	}
	return chunks
}

func BenchmarkCompress(b *testing.B) {
	chunks := benchInput(b)
	for l := MinLevel; l <= MaxLevel; l++ {
		b.Run(fmt.Sprintf("level=%d", l), func(b *testing.B) {
			e, err := NewEncoder(Level(l))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(chunks)) * MaxSrc)
			var out []byte
			size := 0
			for b.Loop() {
				size = 0
				for _, c := range chunks {
					out, _ = e.Compress(out[:0], c)
					size += len(out)
				}
			}
			b.ReportMetric(float64(size)/float64(len(chunks)*MaxSrc), "ratio")
		})
	}
}
