package zstd

import (
	"github.com/klauspost/compress/huff0"
)

// Literals_Block_Type (RFC 8878, 3.1.1.3.1.1).
const (
	litRaw        = 0
	litRLE        = 1
	litCompressed = 2
	litTreeless   = 3
)

// maxSingleStream is the most literals (and compressed bytes) one Huffman
// stream may hold: Size_Format 00, the only single-stream form, has 10-bit
// sizes.
const maxSingleStream = 1023

// litEncoder codes literals sections. Its huff0 scratches hold the Huffman
// table state: fresh builds a new table each block, prev holds the table
// the decoder has (the last one written in a compressed block), which
// Treeless literals reuse.
type litEncoder struct {
	fresh, prev huff0.Scratch
	prevOK      bool
	newTable    bool // the last encode chose a new table: commit keeps it
}

// reset forgets the previous table, as a decoder does at a new frame.
func (e *litEncoder) reset() {
	e.prevOK = false
	e.newTable = false
}

// commit records that the last section encoded was written in a compressed
// block, so its new table (if it had one) is now the decoder's.
func (e *litEncoder) commit() {
	if e.newTable {
		e.prev.TransferCTable(&e.fresh)
		e.prevOK = true
	}
}

// encode appends the literals section of lits to dst, the smallest of raw,
// RLE, Huffman with a new table and Treeless.
func (e *litEncoder) encode(dst, lits []byte) []byte {
	e.newTable = false
	n := len(lits)
	if n == 0 {
		return appendLitHeader(dst, litRaw, n)
	}
	if n > 1 && allSame(lits) {
		return append(appendLitHeader(dst, litRLE, n), lits[0])
	}
	best := litHeaderSize(n) + n
	single := n <= maxSingleStream
	compress := huff0.Compress4X
	if single {
		compress = huff0.Compress1X
	}

	var freshOut, prevOut []byte
	e.fresh.Reuse = huff0.ReusePolicyNone
	if out, _, err := compress(lits, &e.fresh); err == nil {
		if sz := compHeaderSize(n, len(out), single) + len(out); sz < best {
			best, freshOut = sz, out
		}
	}
	if e.prevOK {
		e.prev.Reuse = huff0.ReusePolicyMust
		if out, _, err := compress(lits, &e.prev); err == nil {
			if sz := compHeaderSize(n, len(out), single) + len(out); sz <= best {
				best, prevOut, freshOut = sz, out, nil
			}
		}
	}
	switch {
	case prevOut != nil:
		dst = appendCompHeader(dst, litTreeless, n, len(prevOut), single)
		return append(dst, prevOut...)
	case freshOut != nil:
		e.newTable = true
		dst = appendCompHeader(dst, litCompressed, n, len(freshOut), single)
		return append(dst, freshOut...)
	}
	return append(appendLitHeader(dst, litRaw, n), lits...)
}

func allSame(b []byte) bool {
	for _, c := range b {
		if c != b[0] {
			return false
		}
	}
	return true
}

// litHeaderSize is the size of a raw or RLE literals header: 5, 12 or 20
// bits of Regenerated_Size.
func litHeaderSize(n int) int {
	switch {
	case n <= 31:
		return 1
	case n <= 4095:
		return 2
	}
	return 3
}

func appendLitHeader(dst []byte, typ, n int) []byte {
	switch litHeaderSize(n) {
	case 1:
		return append(dst, byte(typ|n<<3))
	case 2:
		v := typ | 1<<2 | n<<4
		return append(dst, byte(v), byte(v>>8))
	}
	v := typ | 3<<2 | n<<4
	return append(dst, byte(v), byte(v>>8), byte(v>>16))
}

// compSizeFormat returns a compressed literals header's Size_Format and
// size in bytes: 1 stream with 10-bit sizes, or 4 streams with 10, 14 or
// 18-bit sizes, the smallest that holds both sizes.
func compSizeFormat(regen, comp int, single bool) (format, size int) {
	m := max(regen, comp)
	switch {
	case single:
		return 0, 3
	case m <= 1023:
		return 1, 3
	case m <= 16383:
		return 2, 4
	}
	return 3, 5
}

func compHeaderSize(regen, comp int, single bool) int {
	_, size := compSizeFormat(regen, comp, single)
	return size
}

func appendCompHeader(dst []byte, typ, regen, comp int, single bool) []byte {
	format, size := compSizeFormat(regen, comp, single)
	sizeBits := [...]uint{10, 10, 14, 18}[format]
	v := uint64(typ) | uint64(format)<<2 | uint64(regen)<<4 | uint64(comp)<<(4+sizeBits)
	for i := range size {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}
