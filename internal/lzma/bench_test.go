package lzma

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchInput is 4 MiB of the Go toolchain's own files: compiled code and
// Go source, what the squashfs benchmark compresses.
func benchInput(b *testing.B) [][]byte {
	var data []byte
	for _, p := range []string{"pkg/tool/linux_amd64/vet", "src/net/http/server.go", "src/runtime/proc.go", "pkg/tool/linux_amd64/asm"} {
		d, err := os.ReadFile(filepath.Join(goroot(b), p))
		if err != nil {
			b.Skip(err)
		}
		data = append(data, d...)
	}
	var chunks [][]byte
	for len(data) >= 1<<20 && len(chunks) < 4 {
		chunks = append(chunks, data[:1<<20])
		data = data[1<<20:]
	}
	return chunks
}

func BenchmarkEncode(b *testing.B) {
	for _, o := range []struct{ nice, depth int }{{24, 12}, {32, 16}, {64, 48}} {
		opts := Preset(6, false)
		opts.NiceLen, opts.Depth = o.nice, o.depth
		b.Run(fmt.Sprintf("nice=%d,depth=%d", o.nice, o.depth), func(b *testing.B) { benchEncode(b, opts) })
	}
}

func benchEncode(b *testing.B, opts Options) {
	chunks := benchInput(b)
	enc, err := NewEncoder(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(chunks)) << 20)
	var out []byte
	size := 0
	for b.Loop() {
		size = 0
		for _, c := range chunks {
			out = enc.AppendLZMA2(out[:0], c)
			size += len(out)
		}
	}
	b.ReportMetric(float64(size)/float64(len(chunks)<<20), "ratio")
}

// BenchmarkIncompressible is the estimate on 1 MiB of random bytes (the
// whole block is read) and of the toolchain (it stops at the first
// segment): the price every block pays before the encoder.
func BenchmarkIncompressible(b *testing.B) {
	random := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for name, data := range map[string][]byte{"random": random, "toolchain": benchInput(b)[0]} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				Incompressible(data)
			}
		})
	}
}
