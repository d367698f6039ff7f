package xz

import (
	"encoding/binary"
	"math/bits"
)

// The x86 BCJ filter (.xz Filter ID 0x04, no properties = start offset 0).
//
// x86 code is full of CALL rel32 (opcode E8) and JMP rel32 (E9) instructions
// whose 32-bit little-endian operand is relative to the address of the next
// instruction (opcode position + 5). Calls to one function from many places
// therefore have different operands. The encoder replaces such a relative
// operand by the absolute target (operand + position + 5), so repeated calls
// become repeated byte strings that LZMA2 compresses better; the decoder
// subtracts again.
//
// Only operands whose most significant byte is 0x00 or 0xFF (|rel| < 16 MiB)
// are converted. The result keeps 25 bits sign-extended from bit 24, so its
// top byte is again 0x00 or 0xFF and the decoder makes the same decisions as
// the encoder. The last 4 bytes of the data are never the start of a
// converted instruction (no room for an operand).
//
// False positives are limited with a 3-bit history ("mask") of E8/E9 bytes
// among the 3 bytes before the current position that were left unconverted;
// bit k set means the byte at position i-1-k was one. Such a byte's own
// operand would overlap the current operand:
//   - with two or more such bytes the current E8/E9 is left unconverted;
//   - with one such byte at i-n (n = 1..3), whose would-be top byte lies at
//     i+4-n, the current E8/E9 is left unconverted if that byte is 0x00/0xFF;
//   - otherwise, after conversion that same byte of the new value must not be
//     0x00/0xFF either: while it is, the low 32-8n bits of the value are
//     inverted and the conversion is repeated.
// Every left-unconverted E8/E9 is recorded in the history.

// isMSByte reports whether b is a plausible top byte of a rel32 operand.
func isMSByte(b byte) bool {
	return b == 0x00 || b == 0xFF
}

// x86Code runs the x86 BCJ filter over the whole of buf in place, with
// start offset 0. encode selects relative->absolute (true) or the inverse.
func x86Code(buf []byte, encode bool) {
	if len(buf) < 5 {
		return
	}
	var mask uint32 // history of unconverted E8/E9 bytes, see above
	prev := -4      // position of the last E8/E9 seen; -4 = none nearby
	end := len(buf) - 4
	for i := 0; i < end; i++ {
		if buf[i]&0xFE != 0xE8 { // neither E8 nor E9
			continue
		}
		if d := i - prev; d > 3 {
			mask = 0
		} else {
			mask = (mask << (d - 1)) & 7
			if mask != 0 {
				n := bits.Len32(mask) // distance back to the oldest recorded byte
				if mask&(mask-1) != 0 || isMSByte(buf[i+4-n]) {
					prev = i
					mask = mask<<1 | 1
					continue
				}
			}
		}
		prev = i
		if !isMSByte(buf[i+4]) {
			mask = mask<<1 | 1
			continue
		}

		src := binary.LittleEndian.Uint32(buf[i+1:])
		next := uint32(i + 5) // address of the next instruction, mod 2^32
		var v uint32
		for {
			if encode {
				v = src + next
			} else {
				v = src - next
			}
			if mask == 0 {
				break
			}
			shift := 32 - 8*uint(bits.Len32(mask)) // bit offset of byte i+4-n within v
			if !isMSByte(byte(v >> (shift - 8))) {
				break
			}
			src = v ^ (1<<shift - 1)
		}
		// Keep 25 bits, sign-extend bit 24 into bits 25..31.
		v = uint32(int32(v<<7) >> 7)
		binary.LittleEndian.PutUint32(buf[i+1:], v)
		i += 4
	}
}

// EncodeX86 applies the x86 BCJ filter's encoding to buf in place, as if buf starts
// at stream offset 0 (start offset 0): E8/E9 call/jump relative addresses become absolute.
//
// The whole buffer is filtered in one pass, which gives the same bytes as a
// streaming encoder (xz --x86) produces for the complete input.
func EncodeX86(buf []byte) { x86Code(buf, true) }

// DecodeX86 undoes EncodeX86 in place.
func DecodeX86(buf []byte) { x86Code(buf, false) }
