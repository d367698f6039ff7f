package lzma

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
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
	for _, o := range []struct{ nice, depth int }{{24, 12}, {64, 24}, {64, 48}} {
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

// BenchmarkDecode decodes the benchmark's 1 MiB blocks, as the squashfs
// Reader does, into a reused buffer; MB/s is output per second, and
// cpu-MB/s the same per second of this process's CPU time, which machine
// load does not skew.
func BenchmarkDecode(b *testing.B) {
	chunks := benchInput(b)
	enc, err := NewEncoder(Preset(6, false))
	if err != nil {
		b.Fatal(err)
	}
	var streams [][]byte
	for _, c := range chunks {
		streams = append(streams, enc.AppendLZMA2(nil, c))
	}
	var d Decoder
	out := make([]byte, 0, 1<<20)
	b.SetBytes(int64(len(chunks)) << 20)
	cpu := processCPU()
	for b.Loop() {
		for _, s := range streams {
			if _, _, err := d.DecodeLZMA2(out[:0], s, 1<<20, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(chunks))/(processCPU()-cpu).Seconds(), "cpu-MB/s")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
