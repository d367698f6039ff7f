package zstd

import "encoding/binary"

// frameMagic is Magic_Number, written little-endian (RFC 8878, 3.1.1).
const frameMagic = 0xFD2FB528

// appendFrameHeader appends the header of a single-segment frame of
// contentSize bytes: no window descriptor (the window is the whole
// content, so matches may reach back to the frame's first byte), no
// dictionary, no checksum (squashfs has none to check it against), and
// Frame_Content_Size in the smallest field that holds it. The 2-byte field
// stores the size minus 256, so it covers 256 to 65791.
func appendFrameHeader(dst []byte, contentSize int) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, frameMagic)
	const singleSegment = 1 << 5
	v := uint64(contentSize)
	switch {
	case v < 256:
		return append(dst, singleSegment, byte(v))
	case v < 256+1<<16:
		v -= 256
		return append(dst, 1<<6|singleSegment, byte(v), byte(v>>8))
	case v < 1<<32:
		return binary.LittleEndian.AppendUint32(append(dst, 2<<6|singleSegment), uint32(v))
	}
	return binary.LittleEndian.AppendUint64(append(dst, 3<<6|singleSegment), v)
}
