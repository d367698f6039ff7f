package zstd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/mkportable/mkportable/internal/testtool"
)

// reps are a decoder's three repeat offsets; a frame starts with 1, 4, 8.
type reps [3]uint32

var initialReps = reps{1, 4, 8}

// resolve returns the offset offBase means after litLen literals and
// updates r as a decoder does (RFC 8878, 3.2.2).
func (r *reps) resolve(offBase, litLen uint32) uint32 {
	if offBase > 3 {
		off := offBase - 3
		*r = reps{off, r[0], r[1]}
		return off
	}
	idx := offBase - 1
	if litLen == 0 {
		idx++
	}
	var off uint32
	switch idx {
	case 0:
		return r[0]
	case 1:
		off = r[1]
		*r = reps{off, r[0], r[2]}
	case 2:
		off = r[2]
		*r = reps{off, r[0], r[1]}
	default:
		off = r[0] - 1
		*r = reps{off, r[0], r[1]}
	}
	return off
}

// offBaseFor returns the Offset_Value coding off after litLen literals,
// a repeat code when one fits.
func (r *reps) offBaseFor(off, litLen uint32) uint32 {
	if litLen > 0 {
		for i, o := range r {
			if o == off {
				return uint32(i) + 1
			}
		}
	} else {
		switch off {
		case r[1]:
			return 1
		case r[2]:
			return 2
		case r[0] - 1:
			return 3
		}
	}
	return off + 3
}

// execute appends to hist what lits and seqs decode to, as a decoder would
// (RFC 8878, 3.1.1.4 and 3.1.1.5), written from the spec apart from the
// parser's repOffsets.code: the reference the optimal parser, the test
// parser and synthetic blocks are checked with.
func execute(hist, lits []byte, seqs []Seq, r *reps) ([]byte, error) {
	for i, s := range seqs {
		if int(s.LitLen) > len(lits) {
			return nil, fmt.Errorf("seq %d: %d literals of %d", i, s.LitLen, len(lits))
		}
		if s.OffBase == 0 || s.MatchLen < minMatch {
			return nil, fmt.Errorf("seq %d: %+v is no sequence", i, s)
		}
		hist = append(hist, lits[:s.LitLen]...)
		lits = lits[s.LitLen:]
		off := r.resolve(s.OffBase, s.LitLen)
		if off == 0 || int(off) > len(hist) {
			return nil, fmt.Errorf("seq %d: offset %d at %d", i, off, len(hist))
		}
		for range s.MatchLen {
			hist = append(hist, hist[len(hist)-int(off)])
		}
	}
	return append(hist, lits...), nil
}

// testParser is a greedy hash-table matcher, the stand-in for the optimal
// parser: it gives the entropy stage realistic literals and sequences,
// offsets reaching back across blocks and repeat codes.
type testParser struct {
	table []int32 // hash of 4 bytes -> position+1
	shift uint    // 32 - log2(len(table))
	lits  []byte
	seqs  []Seq
}

func (p *testParser) hash4(b []byte) uint32 {
	return binary.LittleEndian.Uint32(b) * 2654435761 >> p.shift
}

// parse codes src[start:end] (src holds the frame so far) with repeat
// offsets r, which it does not change.
func (p *testParser) parse(src []byte, start, end int, r reps) ([]byte, []Seq) {
	p.lits, p.seqs = p.lits[:0], p.seqs[:0]
	if start == 0 {
		// A table no larger than the input keeps small inputs (fuzzing)
		// fast.
		log := min(max(bits.Len(uint(len(src))), 8), 16)
		if cap(p.table) < 1<<log {
			p.table = make([]int32, 1<<16)
		}
		p.table = p.table[:1<<log]
		clear(p.table)
		p.shift = uint(32 - log)
	}
	matchLen := func(a, b int) int {
		n := 0
		for b+n < end && src[a+n] == src[b+n] {
			n++
		}
		return n
	}
	litStart := start
	for pos := start; pos+4 <= end; {
		litLen := uint32(pos - litStart)
		bestLen, bestOff := 0, 0
		// Repeat offsets first: they are cheap to code.
		for _, o := range r {
			if int(o) <= pos && int(o) > 0 {
				if n := matchLen(pos-int(o), pos); n >= minMatch && n > bestLen {
					bestLen, bestOff = n, int(o)
				}
			}
		}
		h := p.hash4(src[pos:])
		if c := int(p.table[h]) - 1; c >= 0 && c < pos {
			if n := matchLen(c, pos); n >= 4 && n > bestLen+1 {
				bestLen, bestOff = n, pos-c
			}
		}
		p.table[h] = int32(pos + 1)
		if bestLen < minMatch {
			pos++
			continue
		}
		ob := r.offBaseFor(uint32(bestOff), litLen)
		r.resolve(ob, litLen)
		p.seqs = append(p.seqs, Seq{LitLen: litLen, MatchLen: uint32(bestLen), OffBase: ob})
		p.lits = append(p.lits, src[litStart:pos]...)
		for i := pos + 1; i < pos+bestLen && i+4 <= end; i += 3 {
			p.table[p.hash4(src[i:])] = int32(i + 1)
		}
		pos += bestLen
		litStart = pos
	}
	p.lits = append(p.lits, src[litStart:end]...)
	return p.lits, p.seqs
}

// frameBuilder writes a frame block by block the way the real encoder
// will: it keeps the decoder's repeat offsets, advancing them only over
// blocks written compressed.
type frameBuilder struct {
	t    testing.TB
	e    *blockEncoder
	body []byte
	hist []byte
	reps reps
	// compressed counts the blocks written compressed.
	compressed int
	// The longest literal run, match and offset of the compressed blocks.
	maxLL, maxML, maxOff uint32
}

func newFrameBuilder(t testing.TB, e *blockEncoder) *frameBuilder {
	e.reset()
	return &frameBuilder{t: t, e: e, reps: initialReps}
}

// add writes the block that lits and seqs code, checking first with
// execute that they decode to it, and returns the block's bytes.
func (b *frameBuilder) add(lits []byte, seqs []Seq, last bool) []byte {
	b.t.Helper()
	r := b.reps
	start := len(b.hist)
	hist, err := execute(b.hist, lits, seqs, &r)
	require.NoError(b.t, err)
	b.hist = hist
	require.NoError(b.t, checkBlock(hist[start:], lits, seqs))
	n := len(b.body)
	var compressed bool
	b.body, compressed = b.e.appendBlock(b.body, hist[start:], lits, seqs, last)
	if compressed {
		r := b.reps
		for _, s := range seqs {
			b.maxLL = max(b.maxLL, s.LitLen)
			b.maxML = max(b.maxML, s.MatchLen)
			b.maxOff = max(b.maxOff, r.resolve(s.OffBase, s.LitLen))
		}
		b.reps = r
		b.compressed++
	}
	return b.body[n:]
}

func (b *frameBuilder) frame() []byte {
	return append(appendFrameHeader(nil, len(b.hist)), b.body...)
}

// encodeFrame codes src as one frame of blocks of blockSize bytes with the
// test parser.
func encodeFrame(t testing.TB, e *blockEncoder, p *testParser, src []byte, blockSize int) ([]byte, *frameBuilder) {
	t.Helper()
	b := newFrameBuilder(t, e)
	if len(src) == 0 {
		b.add(nil, nil, true)
	}
	for start := 0; start < len(src); start += blockSize {
		end := min(start+blockSize, len(src))
		lits, seqs := p.parse(src, start, end, b.reps)
		b.add(lits, seqs, end == len(src))
	}
	require.True(t, bytes.Equal(src, b.hist), "the test parser's sequences do not decode to its input")
	return b.frame(), b
}

func newKlauspost(t testing.TB) *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	require.NoError(t, err)
	t.Cleanup(d.Close)
	return d
}

// checkDecoders decodes frame with klauspost/compress and with libzstd's
// zstd command and requires both to give want.
func checkDecoders(t *testing.T, d *zstd.Decoder, frame, want []byte) {
	t.Helper()
	got, err := d.DecodeAll(frame, nil)
	require.NoError(t, err, "klauspost")
	require.True(t, bytes.Equal(want, got), "klauspost decodes %d bytes, want %d", len(got), len(want))

	cmd := testtool.Command(t, "zstd", "-q", "-d", "-c")
	cmd.Stdin = bytes.NewReader(frame)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err = cmd.Output()
	require.NoError(t, err, "zstd -d: %s", stderr.String())
	require.True(t, bytes.Equal(want, got), "zstd -d decodes %d bytes, want %d", len(got), len(want))
}

// frameStats walks a frame's blocks and counts their kinds: block types,
// literals section types and sequence table modes, so tests can require
// the paths they mean to take were taken.
func frameStats(t testing.TB, frame []byte) map[string]int {
	t.Helper()
	var h zstd.Header
	require.NoError(t, h.Decode(frame))
	st := map[string]int{}
	p := frame[h.HeaderSize:]
	for {
		require.GreaterOrEqual(t, len(p), 3)
		v := int(p[0]) | int(p[1])<<8 | int(p[2])<<16
		typ, size, last := v>>1&3, v>>3, v&1 == 1
		p = p[3:]
		switch typ {
		case blockRaw:
			st["raw"]++
		case blockRLE:
			st["rle"]++
			size = 1
		case blockCompressed:
			st["compressed"]++
			blockStats(t, p[:size], st)
		}
		p = p[size:]
		if last {
			break
		}
	}
	require.Empty(t, p)
	return st
}

func blockStats(t testing.TB, b []byte, st map[string]int) {
	lt, sf := int(b[0]&3), int(b[0]>>2&3)
	st["lit-"+[]string{"raw", "rle", "huffman", "treeless"}[lt]]++
	var hdr, size int
	if lt <= litRLE {
		hdr = [...]int{1, 2, 1, 3}[sf]
		size = int(b[0]) >> 3
		if sf&1 == 1 {
			v := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
			size = v >> 4 & (1<<(8*hdr-4) - 1)
		}
		if lt == litRLE {
			size = 1
		}
	} else {
		hdr = [...]int{3, 3, 4, 5}[sf]
		st[fmt.Sprintf("lit-streams-%d", map[bool]int{true: 1, false: 4}[sf == 0])]++
		var v uint64
		for i := range hdr {
			v |= uint64(b[i]) << (8 * i)
		}
		sizeBits := [...]uint{10, 10, 14, 18}[sf]
		size = int(v >> (4 + sizeBits) & (1<<sizeBits - 1))
	}
	s := b[hdr+size:]
	n := int(s[0])
	switch {
	case n == 0:
		st["seq-none"]++
		return
	case n < 128:
		st["nbseq-1"]++
		s = s[1:]
	case n < 255:
		st["nbseq-2"]++
		s = s[2:]
	default:
		st["nbseq-3"]++
		s = s[3:]
	}
	names := []string{"predefined", "rle", "fse", "repeat"}
	st["ll-"+names[s[0]>>6]]++
	st["of-"+names[s[0]>>4&3]]++
	st["ml-"+names[s[0]>>2&3]]++
}

// Inputs the tests share.

// rng is a small deterministic generator (splitmix64) for test data.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9E3779B97F4A7C15
	z := uint64(*r)
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func randomBytes(seed uint64, n int) []byte {
	r := rng(seed)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.next())
	}
	return b
}

// skewedBytes are literals Huffman codes well but no matcher shortens:
// symbols of geometric frequency.
func skewedBytes(seed uint64, n int) []byte {
	r := rng(seed)
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(bits.TrailingZeros64(r.next()|1<<20))
	}
	return b
}

var words = []string{"the", "squashfs", "portable", "service", "image", "block",
	"zstd", "frame", "literal", "sequence", "offset", "match", "table", "of",
	"and", "a", "systemd", "unit", "root", "file", "system", "kernel", "reads"}

// text is word salad: it has the matches and literal statistics of text.
func text(seed uint64, n int) []byte {
	r := rng(seed)
	var b []byte
	for len(b) < n {
		b = append(b, words[r.intn(len(words))]...)
		if r.intn(12) == 0 {
			b = append(b, ".\n"...)
		} else {
			b = append(b, ' ')
		}
	}
	return b[:n]
}
