package xz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/mkportable/mkportable/internal/lzma"
)

// Decode decodes the first .xz stream in src, at most limit bytes of it,
// and appends them to dst, with a Decoder of its own.
func Decode(dst, src []byte, limit int) ([]byte, error) {
	var d Decoder
	return d.Decode(dst, src, limit)
}

// A Decoder decodes .xz streams; it keeps the LZMA2 decoder's tables
// between calls. It is not safe for concurrent use: keep one per goroutine.
type Decoder struct {
	lz lzma.Decoder
}

// Decode decodes the first .xz stream in src, at most limit bytes of it,
// and appends them to dst. It reads what squashfs writers put in blocks:
// streams of one or more blocks whose filter chain is LZMA2, optionally
// after the x86 BCJ filter (mksquashfs -Xbcj x86, and ours), with any
// check type (CRC32 is verified, others are skipped). LZMA2 is decoded by
// internal/lzma's Decoder straight into dst, which is the dictionary.
func (d *Decoder) Decode(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < streamHeaderSize || string(src[:6]) != headerMagic {
		return nil, errors.New("xz: not an xz stream")
	}
	flags := src[6:8]
	if binary.LittleEndian.Uint32(src[8:12]) != crc32.ChecksumIEEE(flags) {
		return nil, errors.New("xz: stream header CRC32 mismatch")
	}
	if flags[0] != 0 || flags[1] > 0x0F {
		return nil, fmt.Errorf("xz: unsupported stream flags %#02x %#02x", flags[0], flags[1])
	}
	check := flags[1]
	checkLen := 0 // the check's size: 4 bytes for ids 1-3 (CRC32 is 1), 8 for 4-6, ...
	if check != 0 {
		checkLen = 4 << ((check - 1) / 3)
	}
	pos := streamHeaderSize
	start := len(dst)
	for {
		if pos >= len(src) {
			return nil, io.ErrUnexpectedEOF
		}
		if src[pos] == 0x00 { // the index: every block is read
			return dst, nil
		}
		hdrLen := (int(src[pos]) + 1) * 4
		if pos+hdrLen > len(src) {
			return nil, io.ErrUnexpectedEOF
		}
		hdr := src[pos : pos+hdrLen]
		if binary.LittleEndian.Uint32(hdr[hdrLen-4:]) != crc32.ChecksumIEEE(hdr[:hdrLen-4]) {
			return nil, errors.New("xz: block header CRC32 mismatch")
		}
		bcj, dictSize, err := parseBlockHeader(hdr[:hdrLen-4])
		if err != nil {
			return nil, err
		}
		pos += hdrLen
		blockStart := len(dst)
		var n int
		dst, n, err = d.lz.DecodeLZMA2(dst, src[pos:], limit-(blockStart-start), dictSize)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		if bcj {
			DecodeX86(dst[blockStart:])
		}
		pos += n
		for pos%4 != 0 {
			if pos >= len(src) || src[pos] != 0 {
				return nil, errors.New("xz: bad block padding")
			}
			pos++
		}
		if pos+checkLen > len(src) {
			return nil, io.ErrUnexpectedEOF
		}
		if check == checkCRC32 && binary.LittleEndian.Uint32(src[pos:]) != crc32.ChecksumIEEE(dst[blockStart:]) {
			return nil, errors.New("xz: data CRC32 mismatch")
		}
		pos += checkLen
	}
}

// parseBlockHeader reads a block header without its CRC32 and returns
// whether the chain starts with x86 BCJ and LZMA2's dictionary size.
func parseBlockHeader(h []byte) (bcj bool, dictSize int, err error) {
	bad := func(what string) (bool, int, error) { return false, 0, fmt.Errorf("xz: block header: %s", what) }
	flags := h[1]
	if flags&0x3C != 0 {
		return bad("reserved flags set")
	}
	nFilters := int(flags&0x03) + 1
	p := 2
	vli := func() (uint64, bool) {
		var x uint64
		for i := 0; i < 9 && p < len(h); i++ {
			b := h[p]
			p++
			x |= uint64(b&0x7F) << (7 * i)
			if b&0x80 == 0 {
				return x, true
			}
		}
		return 0, false
	}
	if flags&0x40 != 0 { // compressed size
		if _, ok := vli(); !ok {
			return bad("compressed size")
		}
	}
	if flags&0x80 != 0 { // uncompressed size
		if _, ok := vli(); !ok {
			return bad("uncompressed size")
		}
	}
	for i := 0; i < nFilters; i++ {
		id, ok := vli()
		if !ok {
			return bad("filter id")
		}
		size, ok := vli()
		if !ok || uint64(len(h)-p) < size {
			return bad("filter properties")
		}
		props := h[p : p+int(size)]
		p += int(size)
		last := i == nFilters-1
		switch {
		case id == filterX86 && !last && i == 0:
			if len(props) == 4 && binary.LittleEndian.Uint32(props) != 0 || len(props) != 0 && len(props) != 4 {
				return bad("x86 filter with a start offset")
			}
			bcj = true
		case id == filterLZMA2 && last:
			if len(props) != 1 || props[0] > 40 {
				return bad("LZMA2 properties")
			}
			d := dictSizeFromByte(props[0])
			dictSize = int(min(d, 1<<31))
		default:
			return bad(fmt.Sprintf("unsupported filter chain (filter %#x at %d)", id, i))
		}
	}
	for ; p < len(h); p++ {
		if h[p] != 0 {
			return bad("non-zero padding")
		}
	}
	if dictSize == 0 {
		return bad("no LZMA2 filter")
	}
	return bcj, dictSize, nil
}
