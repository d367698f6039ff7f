package lzma

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// estimateInputs are blocks on both sides of the line: random and
// compressed data, and the mixtures and near-misses an estimate gets
// wrong first.
func estimateInputs(t testing.TB) map[string][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	alphabet := func(n, k int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(k))
		}
		return b
	}
	inputs := testInputs(t)
	out := map[string][]byte{}
	for name, b := range inputs {
		out[name] = b
	}
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(inputs["text"])
	w.Write(inputs["go-source"])
	w.Write(inputs["elf"])
	w.Close()
	out["gzip"] = gz.Bytes()
	out["random-1M"] = random(1 << 20)
	half := random(512 << 10)
	out["random-twice"] = append(append([]byte{}, half...), half...)
	for _, k := range []int{255, 252, 248, 240, 236, 232, 228, 224} {
		out[fmt.Sprintf("alphabet-%d", k)] = alphabet(1<<20, k)
	}
	for _, frac := range []int{1, 2, 3, 4, 8} {
		b := random(1 << 20)
		text := inputs["text"]
		// frac% of each 64 KiB stretch is text.
		for at := 0; at+64<<10 <= len(b); at += 64 << 10 {
			copy(b[at+1000:], text[at%len(text):][:(64<<10)*frac/100])
		}
		out[fmt.Sprintf("random-text-%d%%", frac)] = b
	}
	for _, l := range []int{6, 8, 16, 64} {
		// Random records of l bytes, each appearing twice.
		b := random(1 << 20)
		for at := 0; at+2*l <= len(b); at += 2 * l {
			src := rng.IntN(at + 1)
			copy(b[at:at+l], b[src:])
		}
		out[fmt.Sprintf("repeats-%d", l)] = b
	}
	// Little-endian counters and floats: flat-looking, full of structure.
	ints := make([]byte, 1<<20)
	for i := 0; i+8 <= len(ints); i += 8 {
		binary.LittleEndian.PutUint64(ints[i:], rng.Uint64()>>20)
	}
	out["uint44"] = ints
	return out
}

// TestIncompressibleAgrees checks the estimate against the encoder: every
// input called incompressible must come out of LZMA2 no smaller than it
// went in, so skipping the encoder changes no image.
func TestIncompressibleAgrees(t *testing.T) {
	enc, err := NewEncoder(Preset(6, false))
	require.NoError(t, err)
	for name, b := range estimateInputs(t) {
		skip := Incompressible(b)
		out := enc.AppendLZMA2(nil, b)
		gain := 0.0
		if len(b) >= minEstimate {
			gain = new(estimator).maxGain(b)
		}
		t.Logf("%-18s %8d -> %8d (%.4f) gain %5.1f‰ incompressible=%v", name, len(b), len(out), float64(len(out))/float64(max(len(b), 1)), gain, skip)
		if skip {
			require.GreaterOrEqual(t, len(out), len(b), "%s: called incompressible, but LZMA2 shrinks it", name)
		}
	}
}

// TestIncompressibleRecognises checks the estimate does its job: random
// and compressed data are recognised.
func TestIncompressibleRecognises(t *testing.T) {
	inputs := estimateInputs(t)
	for _, name := range []string{"random", "random-1M", "alphabet-255", "alphabet-252"} {
		require.True(t, Incompressible(inputs[name]), name)
	}
	for _, name := range []string{"text", "zeros", "elf", "random-twice", "uint44", "repeats-16"} {
		if b, ok := inputs[name]; ok {
			require.False(t, Incompressible(b), name)
		}
	}
}

// TestIncompressibleFiles, with LZMA_FILES=LIST (a file naming one file a
// line), compares the estimate with the encoder on every 1 MiB block of
// those files, as squashfs cuts them, and counts the blocks it calls wrong:
// a measurement on real data.
func TestIncompressibleFiles(t *testing.T) {
	list := os.Getenv("LZMA_FILES")
	if list == "" {
		t.Skip("set LZMA_FILES=LIST")
	}
	names, err := os.ReadFile(list)
	require.NoError(t, err)
	enc, err := NewEncoder(Options{LC: 3, PB: 2, NiceLen: 24, Depth: 12})
	require.NoError(t, err)
	var blocks, big, skipped, wrong int
	for _, name := range strings.Split(strings.TrimSpace(string(names)), "\n") {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for len(data) > 0 {
			b := data[:min(len(data), 1<<20)]
			data = data[len(b):]
			blocks++
			if len(b) >= minEstimate {
				big++
			}
			if !Incompressible(b) {
				continue
			}
			skipped++
			if out := enc.AppendLZMA2(nil, b); len(out) < len(b) {
				wrong++
				t.Errorf("%s: block of %d bytes called incompressible, LZMA2 gives %d", name, len(b), len(out))
			}
		}
	}
	t.Logf("%d blocks, %d of 64 KiB or more, %d called incompressible, %d of those wrongly", blocks, big, skipped, wrong)
}

// maxGain returns the largest gain of a segment of b, in per mille of its
// bits: the margin TestIncompressibleAgrees reports.
func (e *estimator) maxGain(b []byte) float64 {
	clear(e.anchors[:])
	nlogn := nLogNTable()
	best := 0.0
	for start := 0; start < len(b); {
		end := start + segment
		if len(b)-end < segment {
			end = len(b)
		}
		gain := e.entropyGain(b, start, end, nlogn) + e.repeatGain(b, start, end)
		best = max(best, float64(gain)*1000/float64(int64(end-start)*8<<fixedBits))
		start = end
	}
	return best
}
