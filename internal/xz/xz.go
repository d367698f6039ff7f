// Package xz wraps a raw LZMA2 stream into a single-block .xz stream and
// implements the x86 BCJ (branch/call/jump) filter.
//
// The produced streams follow "The .xz File Format" (tukaani.org,
// xz-file-format.txt, version 1.x) and stay inside the subset that the Linux
// kernel's xz decoder (lib/xz, used by squashfs) accepts: one stream, one
// block, CRC32 check, a filter chain of at most BCJ x86 followed by LZMA2,
// and no Compressed/Uncompressed Size fields in the block header. xz-utils
// accepts them as well.
//
// Layout of a stream written by AppendStream (all multi-byte integers in
// headers are little endian, "VLI" is the .xz variable-length integer:
// 7 bits per byte, least significant group first, 0x80 = more bytes follow):
//
//	Stream Header  (12 bytes)  FD 37 7A 58 5A 00 | flags 00 01 | CRC32(flags)
//	Block Header   (12 bytes)  size byte | block flags | filter flags... |
//	                           zero padding to 4n-4 bytes | CRC32(header)
//	Compressed Data            the caller's LZMA2 chunks, 0x00 end marker
//	Block Padding  (0-3 bytes) zeros up to a multiple of 4
//	Check          (4 bytes)   CRC32 of the uncompressed data
//	Index                      00 | VLI count=1 | VLI unpadded | VLI uncomp |
//	                           zero padding to 4n | CRC32(index)
//	Stream Footer  (12 bytes)  CRC32(backward size, flags) | backward size |
//	                           flags 00 01 | 59 5A ("YZ")
package xz

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
)

// On-disk constants of the .xz format.
const (
	// headerMagic starts every stream: 0xFD, '7', 'z', 'X', 'Z', 0x00.
	headerMagic = "\xfd7zXZ\x00"
	// footerMagic ends every stream: 'Y', 'Z'.
	footerMagic = "YZ"

	// checkCRC32 is the Check type ID for CRC32 (4 check bytes, IEEE
	// polynomial), stored in the low nibble of the second stream flags byte.
	checkCRC32 = 0x01
	// checkSize is the size in bytes of the CRC32 check field.
	checkSize = 4

	// filterX86 is the Filter ID of the x86 BCJ filter. With no start
	// offset it has no properties (Size of Properties = 0).
	filterX86 = 0x04
	// filterLZMA2 is the Filter ID of LZMA2; its single property byte
	// encodes the dictionary size (see DictSizeByte).
	filterLZMA2 = 0x21

	// streamHeaderSize and streamFooterSize are both fixed at 12 bytes.
	streamHeaderSize = 12
	streamFooterSize = 12
)

// dictSizeFromByte decodes an LZMA2 dictionary-size property byte b <= 40.
func dictSizeFromByte(b byte) uint64 {
	if b >= 40 {
		return 1<<32 - 1
	}
	return uint64(2|b&1) << (b/2 + 11)
}

// DictSizeByte returns the LZMA2 dictionary-size property byte for the smallest
// LZMA2 dictionary size >= size (size = (2 | b&1) << (b/2 + 11); 40 means 4 GiB-1).
//
// The representable sizes are 4 KiB (b = 0), 6 KiB (b = 1), 8 KiB (b = 2),
// 12 KiB, ..., 2 GiB (b = 38), 3 GiB (b = 39) and 4 GiB - 1 (b = 40). Sizes
// <= 4 KiB (including zero and negative values) give 0; sizes above 3 GiB
// give 40.
//
// Note for squashfs: the kernel allocates the dictionary from the size in
// the squashfs xz compression options and rejects blocks whose LZMA2
// dictionary is larger, so use a size that is exactly representable
// (2^n or 2^n + 2^(n-1)) and the same one in both places.
func DictSizeByte(size int) byte {
	if size <= 0 {
		return 0
	}
	want := uint64(size)
	for b := byte(0); b < 40; b++ {
		if want <= dictSizeFromByte(b) {
			return b
		}
	}
	return 40
}

// appendVLI appends x as a .xz variable-length integer: 7 bits per byte,
// least significant group first, bit 0x80 set on every byte but the last.
func appendVLI(dst []byte, x uint64) []byte {
	for x >= 0x80 {
		dst = append(dst, byte(x)|0x80)
		x >>= 7
	}
	return append(dst, byte(x))
}

// vliLen returns the number of bytes appendVLI writes for x.
func vliLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// pad4 returns the number of zero bytes needed to round n up to a multiple of 4.
func pad4(n int) int {
	return (4 - n&3) & 3
}

// appendCRC32 appends the little-endian CRC32 (IEEE) of dst[from:].
func appendCRC32(dst []byte, from int) []byte {
	return binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[from:]))
}

// blockHeaderSize returns the encoded size of the block header written by
// AppendStream: 1 size byte, 1 flags byte, the filter flags, the CRC32,
// rounded up to a multiple of 4. It is 12 with or without BCJ.
func blockHeaderSize(bcjX86 bool) int {
	n := 1 + 1 + 3 // size byte, block flags, LZMA2 filter flags (ID, size 1, prop)
	if bcjX86 {
		n += 2 // x86 filter flags (ID, size 0)
	}
	n += checkSize
	return n + pad4(n)
}

// AppendStream appends to dst one complete .xz stream holding a single block:
// stream header (magic, stream flags with check type CRC32 = 0x01, CRC32 of the flags),
// block header (block flags: number of filters; NO compressed/uncompressed size fields;
// filter flags: optionally the x86 BCJ filter (id 0x04, no properties) first when bcjX86
// is true, then LZMA2 (id 0x21, one property byte = DictSizeByte(dictSize)); padding to a multiple of 4; CRC32),
// lzma2 (the raw LZMA2 chunk data, ending with its 0x00 end marker, supplied by the caller),
// block padding to a multiple of 4, the CRC32 of the ORIGINAL uncompressed data `raw`
// (before any BCJ), the index (one record: unpadded size, uncompressed size), and the stream footer.
//
// When bcjX86 is true, lzma2 must encode EncodeX86 applied to a copy of raw;
// decoders undo the BCJ filter before verifying the check. AppendStream does
// not validate lzma2. dst grows at most once.
func AppendStream(dst, lzma2 []byte, raw []byte, dictSize int, bcjX86 bool) []byte {
	hdrSize := blockHeaderSize(bcjX86)
	// Unpadded Size: block header + compressed data + check, without the
	// block padding (xz-file-format 4.3.1).
	unpadded := uint64(hdrSize + len(lzma2) + checkSize)
	uncompressed := uint64(len(raw))
	indexLen := 1 + vliLen(1) + vliLen(unpadded) + vliLen(uncompressed)
	indexSize := indexLen + pad4(indexLen) + 4

	total := streamHeaderSize + hdrSize + len(lzma2) + pad4(len(lzma2)) +
		checkSize + indexSize + streamFooterSize
	dst = slices.Grow(dst, total)

	// Stream Header: magic, Stream Flags (first byte reserved = 0, second
	// byte = check type), CRC32 of the two Stream Flags bytes.
	dst = append(dst, headerMagic...)
	flagsAt := len(dst)
	dst = append(dst, 0x00, checkCRC32)
	dst = appendCRC32(dst, flagsAt)

	// Block Header. The first byte is the real header size / 4 - 1 (the
	// value 0x00 would mean Index Indicator instead).
	hdrAt := len(dst)
	dst = append(dst, byte(hdrSize/4-1))
	// Block Flags: bits 0-1 = number of filters - 1; bits 2-5 reserved (0);
	// bit 6 = Compressed Size present, bit 7 = Uncompressed Size present,
	// both left clear.
	if bcjX86 {
		dst = append(dst, 0x01)
		// Filter Flags: VLI Filter ID, VLI Size of Properties (0).
		dst = append(dst, filterX86, 0x00)
	} else {
		dst = append(dst, 0x00)
	}
	// Filter Flags for LZMA2: ID 0x21, Size of Properties 1, the dictionary
	// size byte (bits 6-7 reserved, must be 0).
	dst = append(dst, filterLZMA2, 0x01, DictSizeByte(dictSize))
	// Header Padding: zeros so that header size (incl. CRC32) is hdrSize.
	for len(dst)-hdrAt < hdrSize-4 {
		dst = append(dst, 0x00)
	}
	// CRC32 over the block header from the size byte through the padding.
	dst = appendCRC32(dst, hdrAt)

	// Compressed Data, then Block Padding (zeros) so that block header +
	// compressed data is a multiple of 4 (hdrSize already is).
	dst = append(dst, lzma2...)
	for range pad4(len(lzma2)) {
		dst = append(dst, 0x00)
	}
	// Check: CRC32 of the uncompressed data (after undoing all filters).
	dst = binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(raw))

	// Index: Index Indicator 0x00, Number of Records, one record (Unpadded
	// Size, Uncompressed Size), Index Padding to a multiple of 4, CRC32 of
	// everything from the indicator through the padding.
	indexAt := len(dst)
	dst = append(dst, 0x00)
	dst = appendVLI(dst, 1)
	dst = appendVLI(dst, unpadded)
	dst = appendVLI(dst, uncompressed)
	for range pad4(len(dst) - indexAt) {
		dst = append(dst, 0x00)
	}
	dst = appendCRC32(dst, indexAt)

	// Stream Footer: CRC32 of (Backward Size, Stream Flags), Backward Size
	// = index size / 4 - 1 (uint32 LE), Stream Flags identical to the
	// header's, footer magic "YZ".
	footAt := len(dst)
	dst = append(dst, 0, 0, 0, 0) // CRC32 placeholder
	dst = binary.LittleEndian.AppendUint32(dst, uint32(indexSize/4-1))
	dst = append(dst, 0x00, checkCRC32)
	binary.LittleEndian.PutUint32(dst[footAt:], crc32.ChecksumIEEE(dst[footAt+4:]))
	dst = append(dst, footerMagic...)
	return dst
}

// maxUncompressedChunk is the largest payload of one LZMA2 uncompressed
// chunk: the size field holds size-1 in 16 bits.
const maxUncompressedChunk = 1 << 16

// AppendUncompressedLZMA2 appends raw as LZMA2 "uncompressed" chunks (control byte 0x01 for
// the first chunk = dictionary reset, 0x02 after; big-endian 16-bit size-1; at most 64 KiB each)
// and the 0x00 end marker. An empty raw gives just the end marker. Useful for tests and as a
// fallback for incompressible data.
//
// Each chunk is the control byte, the 16-bit big-endian value size-1 and
// size bytes of data, so the output is len(raw) + 3*ceil(len(raw)/64Ki) + 1
// bytes. dst grows at most once.
func AppendUncompressedLZMA2(dst, raw []byte) []byte {
	chunks := (len(raw) + maxUncompressedChunk - 1) / maxUncompressedChunk
	dst = slices.Grow(dst, len(raw)+3*chunks+1)
	control := byte(0x01) // uncompressed chunk, dictionary reset
	for len(raw) > 0 {
		n := min(len(raw), maxUncompressedChunk)
		dst = append(dst, control)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n-1))
		dst = append(dst, raw[:n]...)
		raw = raw[n:]
		control = 0x02 // uncompressed chunk, no dictionary reset
	}
	return append(dst, 0x00) // end of LZMA2 stream
}
