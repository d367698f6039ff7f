package xz

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
	ulxz "github.com/ulikunitz/xz"
)

func TestDictSizeByte(t *testing.T) {
	tests := []struct {
		size int
		want byte
	}{
		{-1, 0},
		{0, 0},
		{1, 0},
		{4096, 0}, // b = 0: 2 << 11 = 4 KiB
		{4097, 1}, // b = 1: 3 << 11 = 6 KiB
		{6144, 1},
		{6145, 2},
		{8192, 2},
		{8193, 3},
		{64 << 10, 8},
		{1 << 20, 16},
		{1<<20 + 1, 17},
		{3 << 19, 17},
		{3<<19 + 1, 18},
		{8 << 20, 22},
		{64 << 20, 28}, // xz -9
		{1 << 30, 36},
		{2 << 30, 38},
		{3 << 30, 39},
		{3<<30 + 1, 40},
		{1<<32 - 1, 40},
		{1 << 40, 40},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			got := DictSizeByte(tt.size)
			require.Equal(t, tt.want, got)
			if tt.size > 0 && got < 40 {
				// Smallest representable size >= tt.size.
				require.GreaterOrEqual(t, dictSizeFromByte(got), uint64(tt.size))
				if got > 0 {
					require.Less(t, dictSizeFromByte(got-1), uint64(tt.size))
				}
			}
		})
	}
	// Every representable size maps to its own byte.
	for b := range byte(40) {
		require.Equal(t, b, DictSizeByte(int(dictSizeFromByte(b))), "b=%d", b)
	}
}

func TestAppendUncompressedLZMA2(t *testing.T) {
	tests := []struct {
		n      int
		chunks []int
	}{
		{0, nil},
		{1, []int{1}},
		{65535, []int{65535}},
		{65536, []int{65536}},
		{65537, []int{65536, 1}},
		{3*65536 + 5, []int{65536, 65536, 65536, 5}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			raw := randomBytes(uint64(tt.n), tt.n)
			prefix := []byte("prefix")
			out := AppendUncompressedLZMA2(bytes.Clone(prefix), raw)
			require.Equal(t, prefix, out[:len(prefix)])
			p := out[len(prefix):]
			off := 0
			for i, n := range tt.chunks {
				want := byte(0x02)
				if i == 0 {
					want = 0x01
				}
				require.Equal(t, want, p[0], "control byte of chunk %d", i)
				require.Equal(t, n-1, int(binary.BigEndian.Uint16(p[1:3])))
				require.Equal(t, raw[off:off+n], p[3:3+n])
				off += n
				p = p[3+n:]
			}
			require.Equal(t, []byte{0x00}, p, "end marker")
		})
	}
}

// TestAppendStreamLayout checks the fixed on-disk fields of a stream.
func TestAppendStreamLayout(t *testing.T) {
	for _, bcj := range []bool{false, true} {
		t.Run(fmt.Sprintf("bcj=%v", bcj), func(t *testing.T) {
			raw := []byte("hello, xz")
			lz := AppendUncompressedLZMA2(nil, raw) // 13 bytes
			s := AppendStream([]byte("pre"), lz, raw, 1<<20, bcj)
			require.Equal(t, "pre", string(s[:3]))
			s = s[3:]
			require.Zero(t, len(s)%4)

			// Stream header.
			require.Equal(t, []byte{0xFD, '7', 'z', 'X', 'Z', 0x00, 0x00, 0x01}, s[:8])
			require.Equal(t, crc32.ChecksumIEEE(s[6:8]), binary.LittleEndian.Uint32(s[8:12]))

			// Block header: 12 bytes, size byte 2.
			bh := s[12:24]
			require.Equal(t, byte(2), bh[0])
			if bcj {
				require.Equal(t, []byte{0x01, 0x04, 0x00, 0x21, 0x01, 16, 0x00}, bh[1:8])
			} else {
				require.Equal(t, []byte{0x00, 0x21, 0x01, 16, 0x00, 0x00, 0x00}, bh[1:8])
			}
			require.Equal(t, crc32.ChecksumIEEE(bh[:8]), binary.LittleEndian.Uint32(bh[8:]))

			// Data, 3 bytes of block padding, check of raw.
			p := s[24:]
			require.Equal(t, lz, p[:len(lz)])
			require.Equal(t, []byte{0, 0, 0}, p[13:16])
			require.Equal(t, crc32.ChecksumIEEE(raw), binary.LittleEndian.Uint32(p[16:20]))

			// Index: 00, 1 record, unpadded = 12+13+4 = 29, uncompressed 9,
			// no padding needed (4 bytes), CRC32.
			idx := p[20:28]
			require.Equal(t, []byte{0x00, 0x01, 29, 9}, idx[:4])
			require.Equal(t, crc32.ChecksumIEEE(idx[:4]), binary.LittleEndian.Uint32(idx[4:]))

			// Footer: backward size = 8/4 - 1 = 1.
			f := p[28:]
			require.Len(t, f, 12)
			require.Equal(t, []byte{1, 0, 0, 0, 0x00, 0x01, 'Y', 'Z'}, f[4:])
			require.Equal(t, crc32.ChecksumIEEE(f[4:10]), binary.LittleEndian.Uint32(f[:4]))
		})
	}
}

type dataset struct {
	name string
	data []byte
}

func roundTripDatasets(t *testing.T) []dataset {
	return []dataset{
		{"empty", nil},
		{"1byte", []byte{0xE8}},
		{"text100K", textBytes(100 << 10)},
		{"random200K", randomBytes(1, 200<<10)},
		{"65536", randomBytes(2, 65536)},
		{"65537", randomBytes(3, 65537)},
		{"zeros1M", make([]byte, 1<<20)},
		{"branchy", branchyBytes(4, 50000)},
		{"elf", elfBinary(t)},
	}
}

// TestRoundTrip builds streams from uncompressed LZMA2 chunks, with and
// without the x86 BCJ filter, and decodes them with xz-utils and (without
// BCJ) with github.com/ulikunitz/xz.
func TestRoundTrip(t *testing.T) {
	testtool.Need(t, "xz")
	dir := t.TempDir()
	for _, ds := range roundTripDatasets(t) {
		for _, bcj := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bcj=%v", ds.name, bcj), func(t *testing.T) {
				payload := ds.data
				if bcj {
					payload = bytes.Clone(ds.data)
					EncodeX86(payload)
				}
				lz := AppendUncompressedLZMA2(nil, payload)
				stream := AppendStream(nil, lz, ds.data, 1<<20, bcj)
				require.Zero(t, len(stream)%4)

				out, _ := runXZ(t, stream, "-d", "-c")
				require.True(t, bytes.Equal(ds.data, out), "xz -d output differs from input")

				_, stderr := runXZ(t, stream, "-t", "-v")
				lower := strings.ToLower(stderr)
				require.NotContains(t, lower, "warning")
				require.NotContains(t, lower, "error")

				// xz --list parses the index and the block header.
				file := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".xz")
				require.NoError(t, os.WriteFile(file, stream, 0o600))
				list, _ := runXZ(t, nil, "--robot", "--list", "-vv", file)
				wantFilters := "--lzma2=dict=1MiB"
				if bcj {
					wantFilters = "--x86 " + wantFilters
				}
				var block string
				for line := range strings.Lines(string(list)) {
					if strings.HasPrefix(line, "block\t") {
						require.Empty(t, block, "more than one block")
						block = line
					}
				}
				require.Contains(t, block, "\tCRC32\t")
				require.True(t, strings.HasSuffix(strings.TrimSpace(block), "\t"+wantFilters), "block line %q", block)

				if !bcj {
					r, err := ulxz.NewReader(bytes.NewReader(stream))
					require.NoError(t, err)
					got, err := io.ReadAll(r)
					require.NoError(t, err)
					require.True(t, bytes.Equal(ds.data, got), "ulikunitz/xz output differs from input")
				}
			})
		}
	}
}

// TestAppendStreamWithXZLZMA2 wraps LZMA2 data produced by xz-utils itself
// (compressed chunks) and checks that the result decodes.
func TestAppendStreamWithXZLZMA2(t *testing.T) {
	testtool.Need(t, "xz")
	for _, ds := range []dataset{
		{"text100K", textBytes(100 << 10)},
		{"elf", elfBinary(t)[:1<<20]},
	} {
		for _, bcj := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bcj=%v", ds.name, bcj), func(t *testing.T) {
				args := []string{"--format=raw", "--lzma2=preset=1,dict=256KiB", "-c"}
				if bcj {
					// xz applies BCJ itself; the raw output is the LZMA2 data.
					args = []string{"--format=raw", "--x86", "--lzma2=preset=1,dict=256KiB", "-c"}
				}
				lz, _ := runXZ(t, ds.data, args...)
				// The raw stream with a BCJ filter is still only LZMA2 chunks.
				stream := AppendStream(nil, lz, ds.data, 256<<10, bcj)
				out, _ := runXZ(t, stream, "-d", "-c")
				require.True(t, bytes.Equal(ds.data, out))
			})
		}
	}
}

func TestAppendStreamAllocs(t *testing.T) {
	raw := randomBytes(9, 100<<10)
	lz := AppendUncompressedLZMA2(nil, raw)
	buf := make([]byte, 0, len(lz)+1024)
	allocs := testing.AllocsPerRun(10, func() {
		_ = AppendStream(buf[:0], lz, raw, 1<<20, true)
	})
	require.Zero(t, allocs)
	allocs = testing.AllocsPerRun(10, func() {
		_ = AppendUncompressedLZMA2(buf[:0], raw[:1000])
	})
	require.Zero(t, allocs)
}
