package lzma

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
	ulzma "github.com/ulikunitz/xz/lzma"
)

// decodeLZMA2 decodes raw LZMA2 data with ulikunitz/xz, a decoder nobody
// here wrote.
func decodeLZMA2(t testing.TB, data []byte, dictCap int) []byte {
	t.Helper()
	r, err := ulzma.Reader2Config{DictCap: max(dictCap, ulzma.MinDictCap)}.NewReader2(bytes.NewReader(data))
	require.NoError(t, err)
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return out
}

// decodeXZ decodes raw LZMA2 data with xz-utils (liblzma's decoder); the
// .xz container around it is internal/xz's to test.
func decodeXZ(t testing.TB, raw []byte, dictSize int) []byte {
	t.Helper()
	cmd := testtool.Command(t, "xz", "-d", "-c", "--format=raw", fmt.Sprintf("--lzma2=dict=%d", max(dictSize, 4096)))
	stream := raw
	cmd.Stdin = bytes.NewReader(stream)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	return out
}

// testInputs are the kinds of data squashfs blocks hold.
func testInputs(t testing.TB) map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var text bytes.Buffer
	words := []string{"squashfs", "portable", "service", "systemd", "the", "of", "image", "unit", "\n", "; "}
	for text.Len() < 700<<10 {
		text.WriteString(words[rng.IntN(len(words))])
		text.WriteByte(' ')
	}
	mixed := append(append(append([]byte{}, text.Bytes()[:100<<10]...), random[:150<<10]...), text.Bytes()[:200<<10]...)
	inputs := map[string][]byte{
		"empty":  {},
		"one":    {'x'},
		"two":    {'x', 'y'},
		"five":   []byte("aaaaa"),
		"zeros":  make([]byte, 1<<20),
		"random": random,
		"text":   text.Bytes()[:1<<19],
		"mixed":  mixed,
		"period": bytes.Repeat([]byte("abcdefghij0123"), 40000),
	}
	self, err := os.ReadFile(filepath.Join(goroot(t), "bin", "gofmt"))
	if err == nil {
		inputs["elf"] = self[:min(len(self), 1<<20)]
	}
	src, err := os.ReadFile(filepath.Join(goroot(t), "src", "net", "http", "server.go"))
	if err == nil {
		inputs["go-source"] = src
	}
	return inputs
}

func TestRoundTrip(t *testing.T) {
	for name, in := range testInputs(t) {
		t.Run(name, func(t *testing.T) {
			enc, err := NewEncoder(Preset(6, false))
			require.NoError(t, err)
			checkPackets(enc)
			raw := enc.AppendLZMA2(nil, in)
			require.Equal(t, in, nonNil(decodeLZMA2(t, raw, len(in))), "ulikunitz/xz")
			require.Equal(t, in, nonNil(decodeXZ(t, raw, len(in))), "xz -d")
			// The encoder keeps tables between calls; the output must not
			// depend on what it encoded before.
			again := enc.AppendLZMA2(nil, in)
			require.Equal(t, raw, again)
			t.Logf("%s: %d -> %d", name, len(in), len(raw))
		})
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// TestSizes covers the edges a block can have: tiny inputs, powers of two
// around the 64 KiB chunk and 1 MiB block limits, on compressible and
// incompressible data, through both decoders.
func TestSizes(t *testing.T) {
	inputs := testInputs(t)
	sources := map[string][]byte{"text": inputs["text"], "random": inputs["random"], "mixed": bytes.Repeat(inputs["mixed"], 3)}
	sizes := []int{0, 1, 2, 3, 4, 5, 8, 31, 255, 256, 4095, 4096, 65535, 65536, 65537, 131072 + 3, 300 << 10}
	enc, err := NewEncoder(Preset(6, false))
	require.NoError(t, err)
	checkPackets(enc)
	for name, src := range sources {
		for _, n := range append(sizes, min(len(src), 1<<20)-1, min(len(src), 1<<20)) {
			if n > len(src) {
				continue
			}
			in := src[:n]
			raw := enc.AppendLZMA2(nil, in)
			require.Equal(t, in, nonNil(decodeLZMA2(t, raw, max(n, 1))), "%s[:%d]", name, n)
			if n == 65537 || n == 1<<20 {
				require.Equal(t, in, nonNil(decodeXZ(t, raw, 1<<20)), "%s[:%d] xz -d", name, n)
			}
		}
	}
}

// TestIncompressibleChunksAreStored checks that data the model cannot
// shrink goes into uncompressed chunks, as liblzma does, so random data
// grows by only the chunk headers.
func TestIncompressibleChunksAreStored(t *testing.T) {
	random := testInputs(t)["random"]
	enc, err := NewEncoder(Preset(6, false))
	require.NoError(t, err)
	raw := enc.AppendLZMA2(nil, random)
	overhead := len(raw) - len(random)
	require.LessOrEqual(t, overhead, 3*(len(random)>>16+1)+1+16, "random data grew by %d bytes", overhead)
	require.Equal(t, random, decodeLZMA2(t, raw, len(random)))
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{
		{LC: 4, LP: 1, PB: 2, NiceLen: 64, Depth: 10},
		{LC: 3, LP: 0, PB: 5, NiceLen: 64, Depth: 10},
		{LC: 3, LP: 0, PB: 2, NiceLen: 4, Depth: 10},
		{LC: 3, LP: 0, PB: 2, NiceLen: 64, Depth: 0},
	} {
		_, err := NewEncoder(o)
		require.Error(t, err, "%+v", o)
	}
	// Other literal and position settings still give streams others read.
	in := testInputs(t)["go-source"]
	for _, o := range []Options{
		{LC: 0, LP: 2, PB: 0, NiceLen: 8, Depth: 1},
		{LC: 4, LP: 0, PB: 4, NiceLen: maxMatchLen, Depth: 200},
		Preset(0, false), Preset(9, true),
	} {
		enc, err := NewEncoder(o)
		require.NoError(t, err)
		raw := enc.AppendLZMA2(nil, in)
		require.Equal(t, in, decodeLZMA2(t, raw, len(in)), "%+v", o)
	}
}

func FuzzEncode(f *testing.F) {
	f.Add([]byte("hello hello hello, portable world"), uint8(6))
	f.Add(bytes.Repeat([]byte{0, 1, 2, 3, 0, 1, 2, 4}, 1000), uint8(0))
	enc := map[uint8]*Encoder{}
	f.Fuzz(func(t *testing.T, in []byte, level uint8) {
		level %= 10
		if enc[level] == nil {
			e, err := NewEncoder(Preset(int(level), level == 9))
			require.NoError(t, err)
			enc[level] = checkPackets(e)
		}
		raw := enc[level].AppendLZMA2(nil, in)
		require.Equal(t, nonNil(in), nonNil(decodeLZMA2(t, raw, max(len(in), 1))))
	})
}

// goroot is the Go toolchain's root, whose binaries and sources are test
// inputs: machine code and text as squashfs blocks hold them.
func goroot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out))
}
