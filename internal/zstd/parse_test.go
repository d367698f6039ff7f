package zstd

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRepOffsetsCode(t *testing.T) {
	r := repOffsets{10, 20, 30}
	for _, tc := range []struct {
		name    string
		r       repOffsets
		off     uint32
		litLen  uint32
		offBase uint32
		next    repOffsets
	}{
		{"new offset after literals", r, 40, 5, 43, repOffsets{40, 10, 20}},
		{"new offset after no literals", r, 40, 0, 43, repOffsets{40, 10, 20}},
		{"rep0 after literals keeps the history", r, 10, 1, 1, r},
		{"rep1 after literals swaps", r, 20, 1, 2, repOffsets{20, 10, 30}},
		{"rep2 after literals rotates", r, 30, 1, 3, repOffsets{30, 10, 20}},
		{"rep0 after no literals is a new offset", r, 10, 0, 13, repOffsets{10, 10, 20}},
		{"code 1 after no literals is rep1", r, 20, 0, 1, repOffsets{20, 10, 30}},
		{"code 2 after no literals is rep2", r, 30, 0, 2, repOffsets{30, 10, 20}},
		{"code 3 after no literals is rep0-1", r, 9, 0, 3, repOffsets{9, 10, 20}},
		{"rep0-1 after literals is a new offset", r, 9, 2, 12, repOffsets{9, 10, 20}},
		{"rep0-1 of 1 does not exist", repOffsets{1, 4, 8}, 1, 0, 4, repOffsets{1, 1, 4}},
		{"initial rep1 after no literals", frameStartReps, 4, 0, 1, repOffsets{4, 1, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offBase, next := tc.r.code(tc.off, tc.litLen)
			require.Equal(t, tc.offBase, offBase)
			require.Equal(t, tc.next, next)

			// The decoder's rules give back the offset and the history.
			hist := bytes.Repeat([]byte{'x'}, 64)
			lits := bytes.Repeat([]byte{'y'}, int(tc.litLen))
			got := reps(tc.r)
			out, err := execute(hist, lits, []Seq{{tc.litLen, minMatch, offBase}}, &got)
			require.NoError(t, err)
			require.Equal(t, reps(next), got)
			n := len(out)
			require.Equal(t, out[n-minMatch-int(tc.off):n-int(tc.off)], out[n-minMatch:])
		})
	}
}

// TestRepOffsetsCodeRandom checks code against the decoder's rules on
// random histories that often repeat values, where the rules interact.
func TestRepOffsetsCodeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		r := repOffsets{1 + rng.Uint32N(5), 1 + rng.Uint32N(5), 1 + rng.Uint32N(5)}
		off, litLen := 1+rng.Uint32N(6), rng.Uint32N(2)
		offBase, next := r.code(off, litLen)
		got := reps(r)
		// Offsets count back from the end of 64 distinct bytes.
		hist := make([]byte, 64)
		for i := range hist {
			hist[i] = byte(i)
		}
		out, err := execute(hist, make([]byte, litLen), []Seq{{litLen, minMatch, offBase}}, &got)
		require.NoError(t, err)
		require.Equal(t, reps(next), got, "reps %v off %d litLen %d", r, off, litLen)
		n := len(out)
		require.Equal(t, out[n-minMatch-int(off)], out[n-minMatch], "reps %v off %d litLen %d", r, off, litLen)
	}
}

// testOptions are fast options for tests.
var testOptions = Options{NiceLen: 32, Depth: 8}

// parseFrame parses src as a frame in blocks of blockSize with p and
// checks that the literals and sequences rebuild it; it returns how often
// each kind of offset code was used.
func parseFrame(t testing.TB, p *optParser, src []byte, blockSize int) map[string]int {
	t.Helper()
	p.startFrame(src)
	var out []byte
	r := initialReps
	kinds := map[string]int{}
	for start := 0; start < len(src); start += blockSize {
		end := min(start+blockSize, len(src))
		p.beginBlock(start, end)
		p.parseBlock(start, end)
		for _, s := range p.seqs {
			kinds[seqKind(s)]++
		}
		var err error
		out, err = execute(out, p.lits, p.seqs, &r)
		require.NoError(t, err, "block at %d", start)
		require.Equal(t, r, reps(p.reps), "block at %d", start)
		require.Len(t, out, end, "block at %d", start)
	}
	if !bytes.Equal(src, out) {
		i := 0
		for src[i] == out[i] {
			i++
		}
		t.Fatalf("first wrong byte at %d", i)
	}
	return kinds
}

func seqKind(s Seq) string {
	if s.OffBase > 3 {
		return "offset"
	}
	if s.LitLen == 0 {
		return fmt.Sprintf("rep%d after no literals", s.OffBase)
	}
	return fmt.Sprintf("rep%d", s.OffBase)
}

func gorootSample(t testing.TB, n int) []byte {
	return concat(gorootFile(t, "src/net/http/server.go", n/2), gorootBinary(t, n/2))
}

func TestParseRebuilds(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	// Text from a small vocabulary: many short matches at varied offsets.
	words := []string{"the ", "zstd ", "block ", "offset ", "repeat ", "a ", "literal ", "\n", "match "}
	var text []byte
	for len(text) < 300<<10 {
		text = append(text, words[rng.IntN(len(words))]...)
	}
	// Records with fields that change: the repeat offsets' home ground.
	var records []byte
	for i := 0; len(records) < 200<<10; i++ {
		records = fmt.Appendf(records, "id=%06d name=%s size=%d\x00", i, words[i%len(words)], rng.IntN(100))
	}
	zeros := make([]byte, 300<<10)
	tiny := []byte("abcabcabcabc")
	for _, tc := range []struct {
		name string
		src  []byte
	}{
		{"empty", nil},
		{"one byte", []byte{7}},
		{"tiny", tiny},
		{"random", random},
		{"text", text},
		{"records", records},
		{"zeros", zeros},
		{"goroot", gorootSample(t, 600<<10)},
	} {
		for _, o := range []Options{testOptions, {NiceLen: 16, Depth: 4, IndexLen: 2, Fast: true}, {NiceLen: 64, Depth: 16, TwoPass: true},
			{NiceLen: 24, Depth: 8, TwoPass: true, Restart: true}} {
			for _, bs := range []int{maxBlockSize, 1000} {
				t.Run(fmt.Sprintf("%s/nice=%d,fast=%v,cached=%v,block=%d", tc.name, o.NiceLen, o.Fast, o.Restart, bs), func(t *testing.T) {
					parseFrame(t, newOptParser(o), tc.src, bs)
				})
			}
		}
	}
}

// TestParseUsesEveryRepeatCode checks that the parser finds every kind of
// offset code on real input, so the rebuild tests cover each rule.
func TestParseUsesEveryRepeatCode(t *testing.T) {
	kinds := parseFrame(t, newOptParser(testOptions), gorootSample(t, 600<<10), maxBlockSize)
	for _, k := range []string{"offset", "rep1", "rep2", "rep3", "rep1 after no literals", "rep2 after no literals", "rep3 after no literals"} {
		require.Positive(t, kinds[k], "%s: %v", k, kinds)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("abcabcabcabcabd"), uint16(0))
	f.Add(bytes.Repeat([]byte("xyzzy12"), 100), uint16(17))
	// Parsers are reused, as an Encoder reuses its parser.
	ps := []*optParser{
		newOptParser(testOptions),
		newOptParser(Options{NiceLen: 8, Depth: 2, IndexLen: 1, Fast: true, TwoPass: true}),
		newOptParser(Options{NiceLen: 8, Depth: 4, IndexLen: 2, TwoPass: true, Restart: true}),
	}
	f.Fuzz(func(t *testing.T, src []byte, bs uint16) {
		for _, p := range ps {
			parseFrame(t, p, src, max(int(bs), 1))
		}
	})
}
