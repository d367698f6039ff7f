package lzma

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
	ulzma "github.com/ulikunitz/xz/lzma"
)

// Our encoder's streams, with every kind of input and the literal and
// position settings LZMA2 allows, decode to their input; one Decoder
// decodes them all, one after another, appending to what it decoded.
func TestDecoderRoundTrip(t *testing.T) {
	var d Decoder
	inputs := testInputs(t)
	for _, o := range []Options{
		Preset(6, false), Preset(0, false), Preset(9, true),
		{LC: 0, LP: 2, PB: 0, NiceLen: 8, Depth: 1},
		{LC: 4, LP: 0, PB: 4, NiceLen: 32, Depth: 20},
		{LC: 1, LP: 3, PB: 3, NiceLen: 16, Depth: 8},
	} {
		enc, err := NewEncoder(o)
		require.NoError(t, err)
		for name, in := range inputs {
			raw := enc.AppendLZMA2(nil, in)
			prefix := []byte("earlier output")
			got, n, err := d.DecodeLZMA2(bytes.Clone(prefix), append(raw, "trailing"...), len(in), max(len(in), 1))
			require.NoError(t, err, "%s %+v", name, o)
			require.Equal(t, len(raw), n, "%s: bytes used", name)
			require.True(t, bytes.Equal(append(prefix, in...), got), "%s %+v: output differs", name, o)
		}
	}
}

// Raw LZMA2 from xz-utils (liblzma's encoder, several chunk kinds and
// property settings) decodes to its input.
func TestDecoderReadsLiblzma(t *testing.T) {
	var d Decoder
	for name, in := range testInputs(t) {
		for _, filter := range []string{"preset=6", "preset=0", "preset=9e,lc=0,lp=4,pb=0", "preset=1,lc=4,pb=4", "preset=6,dict=64KiB"} {
			cmd := testtool.Command(t, "xz", "--format=raw", "--lzma2="+filter, "-c")
			cmd.Stdin = bytes.NewReader(in)
			raw, err := cmd.Output()
			require.NoError(t, err, filter)
			got, n, err := d.DecodeLZMA2(nil, raw, len(in), 1<<30)
			require.NoError(t, err, "%s %s", name, filter)
			require.Equal(t, len(raw), n)
			require.True(t, bytes.Equal(in, got), "%s %s: output differs", name, filter)
		}
	}
}

func TestDecoderErrors(t *testing.T) {
	enc, err := NewEncoder(Preset(6, false))
	require.NoError(t, err)
	text := testInputs(t)["text"][:100<<10]
	good := enc.AppendLZMA2(nil, text)
	require.GreaterOrEqual(t, good[0], byte(0xE0), "the encoder's first chunk resets everything")
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name  string
		src   []byte
		limit int
		dict  int
		want  string
	}{
		{"empty", nil, 1 << 20, 1 << 20, "without an end marker"},
		{"no end marker", good[:len(good)-1], 1 << 20, 1 << 20, "without an end marker"},
		{"no dictionary reset", edit(func(b []byte) []byte { b[0] = 0x80 | b[0]&0x1F; return b }), 1 << 20, 1 << 20, "does not reset the dictionary"},
		{"no properties", []byte{0x01, 0x00, 0x00, 'x', 0x80, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0}, 1 << 20, 1 << 20, "without properties"},
		{"control byte", []byte{0x01, 0x00, 0x00, 'x', 0x03}, 1 << 20, 1 << 20, "control byte"},
		{"lc+lp > 4", edit(func(b []byte) []byte { b[5] = (0*5+1)*9 + 4; return b }), 1 << 20, 1 << 20, "lc+lp > 4"},
		{"properties byte", edit(func(b []byte) []byte { b[5] = 225; return b }), 1 << 20, 1 << 20, "properties byte"},
		{"over the limit", good, len(text) - 1, 1 << 20, "more than"},
		{"small dictionary", good, 1 << 20, 64, "dictionary"},
		{"truncated chunk", good[:100], 1 << 20, 1 << 20, "left"},
		{"range coder start", edit(func(b []byte) []byte { b[6] = 1; return b }), 1 << 20, 1 << 20, "range coder"},
		{"garbage in a chunk", edit(func(b []byte) []byte { b[200] ^= 0x55; return b }), 1 << 20, 1 << 20, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			_, _, err := d.DecodeLZMA2(nil, tc.src, tc.limit, tc.dict)
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// FuzzDecoder decodes any input with limits, and checks it against
// ulikunitz/xz's decoder wherever both accept it.
func FuzzDecoder(f *testing.F) {
	for _, o := range []Options{Preset(6, false), {LC: 0, LP: 2, PB: 0, NiceLen: 8, Depth: 1}} {
		enc, err := NewEncoder(o)
		require.NoError(f, err)
		for _, in := range []string{"", "a", "hello hello hello, portable world", "abcabcabcabcabcabcabcabcabcabcabcabcxyzabcabc"} {
			f.Add(enc.AppendLZMA2(nil, []byte(in)))
		}
		f.Add(enc.AppendLZMA2(nil, bytes.Repeat([]byte{0, 1, 2, 3, 0, 1, 2, 4}, 40)))
	}
	f.Add([]byte{0x01, 0x00, 0x02, 'a', 'b', 'c', 0x02, 0x00, 0x00, 'd', 0x00})
	const limit = 1 << 16
	var d Decoder
	f.Fuzz(func(t *testing.T, src []byte) {
		ours, n, err := d.DecodeLZMA2(nil, src, limit, limit)
		if err != nil {
			require.True(t, errors.Is(err, ErrCorrupt), "an error that is not ErrCorrupt: %v", err)
			return
		}
		require.LessOrEqual(t, len(ours), limit)
		r, err := ulzma.Reader2Config{DictCap: limit}.NewReader2(bytes.NewReader(src[:n]))
		require.NoError(t, err)
		theirs, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err == nil {
			require.True(t, bytes.Equal(nonNil(ours), nonNil(theirs)), "ulikunitz/xz decodes %x otherwise", src)
		}
	})
}
