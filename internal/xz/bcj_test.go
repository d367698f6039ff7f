package xz

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
)

func TestX86RoundTrip(t *testing.T) {
	tests := []dataset{
		{"empty", nil},
		{"4bytes", []byte{0xE8, 0, 0, 0}},
		{"5bytes", []byte{0xE8, 1, 0, 0, 0}},
		{"random1", randomBytes(10, 1)},
		{"random7", randomBytes(11, 7)},
		{"random1M", randomBytes(12, 1<<20)},
		{"branchy", branchyBytes(13, 1<<16)},
		{"elf", elfBinary(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := bytes.Clone(tt.data)
			EncodeX86(buf)
			DecodeX86(buf)
			require.True(t, bytes.Equal(tt.data, buf), "decode(encode(x)) != x")
		})
	}
}

func TestX86Examples(t *testing.T) {
	tests := []struct {
		name    string
		in, out []byte
	}{
		// CALL +0x10 at offset 0: target 0x15.
		{"call", []byte{0xE8, 0x10, 0, 0, 0}, []byte{0xE8, 0x15, 0, 0, 0}},
		// JMP -6 at offset 1: target 1+5-6 = 0.
		{"jmp-back", []byte{0x90, 0xE9, 0xFA, 0xFF, 0xFF, 0xFF}, []byte{0x90, 0xE9, 0, 0, 0, 0}},
		// Top byte neither 00 nor FF: unchanged.
		{"far", []byte{0xE8, 1, 2, 3, 4}, []byte{0xE8, 1, 2, 3, 4}},
		// Opcode in the last 4 bytes: unchanged.
		{"tail", []byte{0, 0xE8, 0, 0, 0}, []byte{0, 0xE8, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := bytes.Clone(tt.in)
			EncodeX86(buf)
			require.Equal(t, tt.out, buf)
			DecodeX86(buf)
			require.Equal(t, tt.in, buf)
		})
	}
}

func TestX86ChangesELF(t *testing.T) {
	elf := elfBinary(t)
	buf := bytes.Clone(elf)
	EncodeX86(buf)
	diff := 0
	for i := range buf {
		if buf[i] != elf[i] {
			diff++
		}
	}
	t.Logf("EncodeX86 changed %d of %d bytes", diff, len(elf))
	require.Greater(t, diff, 1000)
}

// TestX86MatchesXZ compares EncodeX86 with xz-utils' own x86 filter: a raw
// x86+LZMA2 stream decoded with LZMA2 alone yields the BCJ-encoded bytes.
func TestX86MatchesXZ(t *testing.T) {
	testtool.Need(t, "xz")
	tests := []dataset{
		{"random256K", randomBytes(20, 256<<10)},
		{"elf", elfBinary(t)[:1<<20]},
	}
	for i := range 8 {
		tests = append(tests, dataset{fmt.Sprintf("branchy%d", i), branchyBytes(uint64(100+i), 4096+i)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packed, _ := runXZ(t, tt.data, "--format=raw", "--x86", "--lzma2=preset=0", "-c")
			want, _ := runXZ(t, packed, "--format=raw", "--lzma2=preset=0", "-d", "-c")
			got := bytes.Clone(tt.data)
			EncodeX86(got)
			require.True(t, bytes.Equal(want, got), "EncodeX86 differs from xz --x86")
		})
	}
}

// TestX86HelpsCompression is a sanity check that filtering an amd64 binary
// makes it compress smaller.
func TestX86HelpsCompression(t *testing.T) {
	testtool.Need(t, "xz")
	if runtime.GOARCH != "amd64" {
		t.Skip("test binary is not x86 code")
	}
	elf := elfBinary(t)
	filtered := bytes.Clone(elf)
	EncodeX86(filtered)
	plain, _ := runXZ(t, elf, "--format=raw", "--lzma2=preset=1", "-c")
	bcj, _ := runXZ(t, filtered, "--format=raw", "--lzma2=preset=1", "-c")
	t.Logf("%d bytes: lzma2 %d, x86+lzma2 %d", len(elf), len(plain), len(bcj))
	require.Less(t, len(bcj), len(plain))
}

func FuzzX86(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xE8, 0x10, 0, 0, 0})
	f.Add([]byte{0xE8, 0xE8, 0xE9, 0, 0xFF, 0xE8, 0, 0, 0, 0xFF, 0})
	f.Add(branchyBytes(1, 64))
	f.Add(randomBytes(2, 256))
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := bytes.Clone(data)
		EncodeX86(buf)
		DecodeX86(buf)
		if !bytes.Equal(data, buf) {
			t.Fatalf("decode(encode(%x)) = %x", data, buf)
		}
	})
}
