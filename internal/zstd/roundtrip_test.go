package zstd

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// gorootFile reads up to max bytes of a file of the Go installation, real
// source and machine code to compress.
func gorootFile(t testing.TB, rel string, max int) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runtime.GOROOT(), rel))
	require.NoError(t, err)
	return b[:min(len(b), max)]
}

func gorootBinary(t testing.TB, max int) []byte {
	t.Helper()
	return gorootFile(t, filepath.Join("pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "compile"), max)
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestRoundTripParsed(t *testing.T) {
	const mib = 1 << 20
	prefix := randomBytes(7, 20000)
	tests := []struct {
		name      string
		src       []byte
		blockSize int
		want      []string // frameStats keys that must be present
		// the least longest literal run, match and offset to reach
		minLL, minML, minOff uint32
	}{
		{name: "empty", src: nil, want: []string{"raw"}},
		{name: "one byte", src: []byte{'x'}, want: []string{"rle"}},
		{name: "zeros 1 MiB", src: make([]byte, mib), want: []string{"rle"}},
		{name: "random", src: randomBytes(1, 300000), want: []string{"raw"}},
		{name: "text", src: text(2, 200000), want: []string{"compressed", "lit-huffman", "lit-streams-1"}},
		{name: "text small blocks", src: text(3, 300000), blockSize: 3000,
			want: []string{"lit-treeless", "ll-repeat", "of-repeat", "ml-repeat", "lit-streams-1"}},
		{name: "tiny blocks", src: text(4, 20000), blockSize: 40,
			want: []string{"ll-predefined", "nbseq-1"}},
		{name: "go source", src: gorootFile(t, "src/net/http/server.go", mib), want: []string{"ll-fse", "of-fse", "ml-fse", "lit-streams-4"}},
		{name: "go binary", src: gorootBinary(t, mib)},
		{name: "mixed 1 MiB", src: concat(
			text(5, 200000), randomBytes(6, 100000), make([]byte, 150000),
			gorootFile(t, "src/fmt/print.go", 300000), text(5, 200000),
			gorootFile(t, "src/runtime/proc.go", mib), text(13, mib))[:mib],
			want: []string{"compressed", "lit-raw"}},
		// A literal run of more than 65536 bytes (LL code 35) then a
		// match of the rest of the block.
		{name: "long literals", src: concat(randomBytes(8, 100000), make([]byte, 31072)), minLL: 65536},
		// One match of more than 65536 bytes (ML code 52) per block.
		{name: "long matches", src: concat(randomBytes(9, 1000), text(10, 400000)[:1000],
			bytesRepeat(text(11, 2000), 200)), minML: 65536},
		// The end of the frame copies its start: offsets near 1 MiB.
		{name: "far offsets", src: concat(prefix, text(12, mib-2*len(prefix)), prefix), minOff: mib - 2*20000},
	}
	e := newBlockEncoder()
	p := new(testParser)
	d := newKlauspost(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bs := tc.blockSize
			if bs == 0 {
				bs = maxBlockSize
			}
			frame, fb := encodeFrame(t, e, p, tc.src, bs)
			require.GreaterOrEqual(t, fb.maxLL, tc.minLL)
			require.GreaterOrEqual(t, fb.maxML, tc.minML)
			require.GreaterOrEqual(t, fb.maxOff, tc.minOff)
			checkDecoders(t, d, frame, tc.src)
			st := frameStats(t, frame)
			t.Logf("%d -> %d bytes, %v", len(tc.src), len(frame), st)
			for _, k := range tc.want {
				require.Contains(t, st, k)
			}
		})
	}
}

func bytesRepeat(b []byte, n int) []byte {
	var out []byte
	for range n {
		out = append(out, b...)
	}
	return out
}

// TestRoundTripSynthetic codes blocks made from chosen sequences, to reach
// the format's boundaries a parser rarely hits: Number_of_Sequences around
// its 1, 2 and 3-byte forms, and literals sections around their
// Size_Format limits, raw and Huffman-coded.
func TestRoundTripSynthetic(t *testing.T) {
	type block struct {
		lits []byte
		seqs []Seq
	}
	// manySeqs makes n sequences of 3 or 4 bytes over few offsets, every
	// 8th after one literal: compressible, so the block is written
	// compressed.
	manySeqs := func(n int) block {
		r := rng(uint64(n))
		var b block
		b.lits = []byte("abcdefghijklmnop")
		b.seqs = append(b.seqs, Seq{LitLen: 16, MatchLen: 100, OffBase: 16 + 3})
		for i := 1; i < n; i++ {
			s := Seq{MatchLen: 3 + uint32(r.intn(2)), OffBase: 3 + 1 + uint32(r.intn(8))}
			if i%8 == 0 {
				s.LitLen = 1
				b.lits = append(b.lits, byte('a'+r.intn(16)))
			}
			if r.intn(4) == 0 {
				s.OffBase = 1 + uint32(r.intn(3)) // a repeat code
				if s.LitLen == 0 {
					s.OffBase = 1 + uint32(r.intn(2)) // not rep0-1, which may be 0
				}
			}
			b.seqs = append(b.seqs, s)
		}
		return b
	}
	// litsThenMatch makes a block of lits then one long match of the
	// literals' first byte, so the block compresses whatever lits do.
	litsThenMatch := func(lits []byte) block {
		return block{lits: lits, seqs: []Seq{{LitLen: uint32(len(lits)), MatchLen: 3000, OffBase: 1 + 3}}}
	}
	type synthCase struct {
		name string
		b    block
		want []string
	}
	var tests []synthCase
	for _, n := range []int{1, 127, 128, 0x7EFF, 0x7F00, 0x7F01, 35000} {
		want := "nbseq-1"
		if n >= 0x7F00 {
			want = "nbseq-3"
		} else if n >= 128 {
			want = "nbseq-2"
		}
		tests = append(tests, synthCase{name: "seqs " + strconv.Itoa(n), b: manySeqs(n), want: []string{want}})
	}
	for _, n := range []int{31, 32, 1023, 1024, 4095, 4096, 16383, 16384, 65535, 65536, 120000} {
		tests = append(tests,
			synthCase{name: "raw lits " + strconv.Itoa(n), b: litsThenMatch(randomBytes(uint64(n), n)), want: []string{"lit-raw"}},
			synthCase{name: "huffman lits " + strconv.Itoa(n), b: litsThenMatch(skewedBytes(uint64(n), n)), want: []string{"lit-huffman"}},
			synthCase{name: "lits only " + strconv.Itoa(n), b: block{lits: skewedBytes(uint64(n), n)}, want: []string{"seq-none"}},
		)
	}
	e := newBlockEncoder()
	d := newKlauspost(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fb := newFrameBuilder(t, e)
			blk := fb.add(tc.b.lits, tc.b.seqs, true)
			frame := fb.frame()
			require.Equal(t, 1, fb.compressed, "block of %d bytes written in %d", len(fb.hist), len(blk))
			checkDecoders(t, d, frame, fb.hist)
			st := frameStats(t, frame)
			t.Logf("%d -> %d bytes, %v", len(fb.hist), len(frame), st)
			for _, k := range tc.want {
				require.Contains(t, st, k)
			}
		})
	}
}
