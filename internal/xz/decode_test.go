package xz

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecode(t *testing.T) {
	elf := elfBinary(t)
	inputs := map[string][]byte{
		"empty":   {},
		"text":    textBytes(200 << 10),
		"random":  randomBytes(7, 100<<10),
		"elf":     elf,
		"branchy": branchyBytes(3, 300<<10),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			// Streams xz-utils writes: as mksquashfs's liblzma does (sizes in
			// the block header), with BCJ, with other checks, several blocks.
			for _, args := range [][]string{
				{"-6", "-C", "crc32"},
				{"--x86", "--lzma2=preset=6", "-C", "crc32"},
				{"-1", "-C", "crc64"},
				{"-0", "-C", "sha256", "--block-size=65536"},
				{"-0", "-C", "none"},
			} {
				stream, _ := runXZ(t, in, append([]string{"-c"}, args...)...)
				got, err := Decode(nil, stream, len(in))
				require.NoError(t, err, "%v", args)
				require.Equal(t, len(in), len(got), "%v", args)
				require.True(t, string(in) == string(got), "%v", args)
			}
			// Ours, with and without BCJ.
			for _, bcj := range []bool{false, true} {
				filtered := append([]byte(nil), in...)
				if bcj {
					EncodeX86(filtered)
				}
				stream := AppendStream(nil, AppendUncompressedLZMA2(nil, filtered), in, 1<<20, bcj)
				got, err := Decode([]byte("prefix"), stream, len(in))
				require.NoError(t, err)
				require.Equal(t, "prefix"+string(in), string(got))
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	in := textBytes(10 << 10)
	good := AppendStream(nil, AppendUncompressedLZMA2(nil, in), in, 1<<20, false)
	corrupt := func(i int) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= 0x40
		return b
	}
	tests := []struct {
		name  string
		src   []byte
		limit int
		want  string
	}{
		{"not xz", []byte("hello, world"), 100, "not an xz stream"},
		{"stream header", corrupt(7), len(in), "stream header CRC32"},
		{"block header", corrupt(14), len(in), "block header CRC32"},
		{"data", corrupt(30), len(in), "data CRC32 mismatch"},
		{"too long", good, len(in) - 1, "more than"},
		{"truncated", good[:len(good)/2], len(in), "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(nil, tt.src, tt.limit)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func FuzzDecode(f *testing.F) {
	in := textBytes(4 << 10)
	f.Add(AppendStream(nil, AppendUncompressedLZMA2(nil, in), in, 1<<20, false))
	filtered := append([]byte(nil), in...)
	EncodeX86(filtered)
	f.Add(AppendStream(nil, AppendUncompressedLZMA2(nil, filtered), in, 1<<20, true))
	f.Fuzz(func(t *testing.T, src []byte) {
		// Any input: an error or at most the limit, never a panic or a hang.
		out, err := Decode(nil, src, 1<<16)
		if err == nil {
			require.LessOrEqual(t, len(out), 1<<16)
		}
	})
}
