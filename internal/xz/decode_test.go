package xz

import (
	"bytes"
	"io"
	"testing"

	"github.com/mkportable/mkportable/internal/lzma"
	ulxz "github.com/ulikunitz/xz"

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
		{"truncated", good[:len(good)/2], len(in), "left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(nil, tt.src, tt.limit)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// Streams of our LZMA2 encoder in our .xz container, with and without BCJ,
// decode alike with xz-utils, ulikunitz/xz's reader and Decode.
func TestEncoderStreams(t *testing.T) {
	enc, err := lzma.NewEncoder(lzma.Preset(6, false))
	require.NoError(t, err)
	for name, in := range map[string][]byte{"text": textBytes(300 << 10), "elf": elfBinary(t)[:1<<20], "one": {'x'}} {
		for _, bcj := range []bool{false, true} {
			filtered := bytes.Clone(in)
			if bcj {
				EncodeX86(filtered)
			}
			stream := AppendStream(nil, enc.AppendLZMA2(nil, filtered), in, 1<<20, bcj)
			if !bcj { // xz-utils decodes BCJ too, but our x86 filter has tests of its own
				out, _ := runXZ(t, stream, "-d", "-c")
				require.True(t, bytes.Equal(in, out), "%s: xz -d", name)
			}
			r, err := ulxz.NewReader(bytes.NewReader(stream))
			require.NoError(t, err)
			if !bcj {
				got, err := io.ReadAll(r)
				require.NoError(t, err)
				require.True(t, bytes.Equal(in, got), "%s: ulikunitz/xz", name)
			}
			got, err := Decode(nil, stream, len(in))
			require.NoError(t, err)
			require.True(t, bytes.Equal(in, got), "%s bcj=%v: Decode", name, bcj)
		}
	}
}

// FuzzDecode decodes any input with a limit: an error or at most the
// limit, never a panic or a hang. The seeds are small streams of every
// shape squashfs blocks have, so each execution is quick and the fuzzer
// spends its time mutating, not minimizing kilobytes.
func FuzzDecode(f *testing.F) {
	enc, err := lzma.NewEncoder(lzma.Preset(6, false))
	require.NoError(f, err)
	for _, in := range [][]byte{[]byte("hello hello hello, squashfs"), textBytes(300), branchyBytes(5, 200)} {
		f.Add(AppendStream(nil, enc.AppendLZMA2(nil, in), in, 4096, false))
		filtered := bytes.Clone(in)
		EncodeX86(filtered)
		f.Add(AppendStream(nil, enc.AppendLZMA2(nil, filtered), in, 4096, true))
		f.Add(AppendStream(nil, AppendUncompressedLZMA2(nil, in), in, 4096, false))
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := d.Decode(nil, src, 1<<16)
		if err == nil {
			require.LessOrEqual(t, len(out), 1<<16)
		}
	})
}
