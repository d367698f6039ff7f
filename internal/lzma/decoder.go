package lzma

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A Decoder decodes raw LZMA2 data whose output the caller holds whole, as
// a squashfs block is: the output buffer is the dictionary, so a match is
// one copy inside it and nothing is buffered twice. It keeps its
// probability tables between calls, so one Decoder serves one goroutine.
//
// It refuses what liblzma and the kernel's xz decoder refuse: a first
// chunk without a dictionary reset, an LZMA chunk without properties after
// one, properties with lc+lp > 4, distances past the data decoded since
// the last dictionary reset or past the dictionary size, matches or
// packets that run past their chunk's size, and chunks whose range coder
// does not end exactly at their compressed size.
type Decoder struct {
	lc, lp, pb uint32
	m          model
	rc         rangeDecoder
	padded     []byte // the current chunk's input and inputPad zeros
}

// inputPad is more than one packet can read: the decoder checks that it
// is still inside the chunk only between packets.
const inputPad = 64

// rangeDecoder reads the bits of one LZMA chunk. Its methods are small
// enough to inline into the decoding loop.
type rangeDecoder struct {
	rng, code uint32
	ip        int
	in        []byte // the chunk's input, followed by inputPad zeros
}

// bit decodes one bit with probability *p; norm must follow it.
func (r *rangeDecoder) bit(p *prob) uint32 {
	v := uint32(*p)
	bound := (r.rng >> probBits) * v
	var b uint32
	if r.code >= bound {
		b = 1
	}
	if b == 0 {
		r.rng = bound
		v += (probOne - v) >> moveBits
	} else {
		r.rng -= bound
		r.code -= bound
		v -= v >> moveBits
	}
	*p = prob(v)
	return b
}

// norm shifts in a byte once the range is below 2^24, as the encoder
// shifts one out: the decoder reads a byte exactly where one was written.
func (r *rangeDecoder) norm() {
	if r.rng < topValue {
		r.rng <<= 8
		r.code = r.code<<8 | uint32(r.in[r.ip])
		r.ip++
	}
}

// bitMask decodes one bit with probability *p from the coder's range and
// code, and returns them updated and a mask of all ones when the bit is 0,
// all zeros when it is 1. No branch depends on the bit: the bits of a
// literal are what the CPU predicts worst, and a mispredicted branch costs
// more than computing both outcomes (a tenth of the reader's time on a
// Debian root).
func bitMask(p *prob, rng, code uint32) (uint32, uint32, uint32) {
	v := uint32(*p)
	bound := (rng >> probBits) * v
	zero := uint32((uint64(code) - uint64(bound)) >> 32) // the borrow of code - bound
	// A 0 moves v up by (probOne-v)>>moveBits, a 1 down by v>>moveBits;
	// with the offset, one arithmetic shift rounds both as they round.
	*p = prob(int32(v) - (int32(v)+int32(zero&^uint32(probOne-32)))>>moveBits)
	return bound&zero | (rng-bound)&^zero, code - bound&^zero, zero
}

// shiftIn is norm for bitMask's callers, without a branch.
func shiftIn(rng, code uint32, in []byte, ip int) (uint32, uint32, int) {
	var n uint32
	if rng < topValue {
		n = 1
	}
	sh := n * 8
	return rng << sh, code<<sh | uint32(in[ip])&-n, ip + int(n)
}

// tree decodes n bits most significant first. It and literal keep the
// coder in local variables, which the compiler holds in registers.
func (r *rangeDecoder) tree(probs []prob, n uint) uint32 {
	rng, code, ip, in := r.rng, r.code, r.ip, r.in
	m := uint32(1)
	for range n {
		p := &probs[m]
		v := uint32(*p)
		bound := (rng >> probBits) * v
		if code < bound {
			rng = bound
			*p = prob(v + (probOne-v)>>moveBits)
			m <<= 1
		} else {
			rng -= bound
			code -= bound
			*p = prob(v - v>>moveBits)
			m = m<<1 | 1
		}
		if rng < topValue {
			rng <<= 8
			code = code<<8 | uint32(in[ip])
			ip++
		}
	}
	r.rng, r.code, r.ip = rng, code, ip
	return m - 1<<n
}

// literal decodes a literal's 8 bits; after a match, match is the byte at
// the last distance, whose bits select the probabilities until one
// differs.
func (r *rangeDecoder) literal(probs *[0x300]prob, matched bool, match uint32) uint32 {
	rng, code, ip, in := r.rng, r.code, r.ip, r.in
	sym := uint32(1)
	if matched {
		for sym < 0x100 {
			mb := match >> 7 & 1
			match <<= 1
			p := &probs[(1+mb)<<8+sym]
			var zero uint32
			rng, code, zero = bitMask(p, rng, code)
			rng, code, ip = shiftIn(rng, code, in, ip)
			b := 1 + zero
			sym = sym<<1 | b
			if mb != b {
				break
			}
		}
	}
	for sym < 0x100 {
		var zero uint32
		rng, code, zero = bitMask(&probs[sym], rng, code)
		rng, code, ip = shiftIn(rng, code, in, ip)
		sym = sym<<1 + 1 + zero
	}
	r.rng, r.code, r.ip = rng, code, ip
	return sym
}

// reverseTree decodes n bits least significant first.
func (r *rangeDecoder) reverseTree(probs []prob, n uint) uint32 {
	rng, code, ip, in := r.rng, r.code, r.ip, r.in
	m, v := uint32(1), uint32(0)
	for i := range n {
		var zero uint32
		rng, code, zero = bitMask(&probs[m], rng, code)
		rng, code, ip = shiftIn(rng, code, in, ip)
		m = m<<1 + 1 + zero
		v |= (1 + zero) << i
	}
	r.rng, r.code, r.ip = rng, code, ip
	return v
}

func (r *rangeDecoder) length(l *lenModel, posState uint32) uint32 {
	b := r.bit(&l.choice)
	r.norm()
	if b == 0 {
		return r.tree(l.low[posState][:], 3)
	}
	b = r.bit(&l.choice2)
	r.norm()
	if b == 0 {
		return lenLowSymbols + r.tree(l.mid[posState][:], 3)
	}
	return lenLowSymbols + lenMidSymbols + r.tree(l.high[:], 8)
}

// ErrCorrupt means LZMA2 data that does not decode.
var ErrCorrupt = errors.New("lzma: corrupt data")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// DecodeLZMA2 decodes the LZMA2 data at the start of src, up to and
// including its end marker, appends the output to dst, and returns it and
// the number of bytes of src used. The output may be at most limit bytes,
// and no distance may reach more than dictSize bytes back.
func (d *Decoder) DecodeLZMA2(dst, src []byte, limit, dictSize int) ([]byte, int, error) {
	start := len(dst)
	dictStart := start // the output since the last dictionary reset is the dictionary
	needDictReset, needProps := true, true
	p := 0
	for {
		if p >= len(src) {
			return nil, 0, corrupt("LZMA2 data ends without an end marker")
		}
		ctl := src[p]
		p++
		if ctl == 0x00 {
			return dst, p, nil
		}
		if ctl == 0x01 || ctl >= 0xE0 {
			needDictReset, needProps = false, true
			dictStart = len(dst)
		} else if needDictReset {
			return nil, 0, corrupt("first LZMA2 chunk %#02x does not reset the dictionary", ctl)
		}
		if ctl < 0x80 {
			if ctl > 0x02 {
				return nil, 0, corrupt("invalid LZMA2 control byte %#02x", ctl)
			}
			if p+2 > len(src) {
				return nil, 0, corrupt("truncated LZMA2 chunk header")
			}
			n := int(binary.BigEndian.Uint16(src[p:])) + 1
			p += 2
			if p+n > len(src) {
				return nil, 0, corrupt("uncompressed LZMA2 chunk of %d bytes, %d left", n, len(src)-p)
			}
			if len(dst)-start+n > limit {
				return nil, 0, corrupt("LZMA2 data decodes to more than %d bytes", limit)
			}
			dst = append(dst, src[p:p+n]...)
			p += n
			continue
		}
		hdr := 4
		if ctl >= 0xC0 {
			hdr = 5
		}
		if p+hdr > len(src) {
			return nil, 0, corrupt("truncated LZMA2 chunk header")
		}
		unpacked := int(ctl&0x1F)<<16 + int(binary.BigEndian.Uint16(src[p:])) + 1
		packed := int(binary.BigEndian.Uint16(src[p+2:])) + 1
		switch {
		case ctl >= 0xC0:
			if err := d.setProps(src[p+4]); err != nil {
				return nil, 0, err
			}
			needProps = false
			d.m.reset(int(d.lc), int(d.lp))
		case needProps:
			return nil, 0, corrupt("LZMA2 chunk %#02x without properties", ctl)
		case ctl >= 0xA0:
			d.m.reset(int(d.lc), int(d.lp))
		}
		p += hdr
		if p+packed > len(src) {
			return nil, 0, corrupt("LZMA chunk of %d bytes, %d left", packed, len(src)-p)
		}
		if len(dst)-start+unpacked > limit {
			return nil, 0, corrupt("LZMA2 data decodes to more than %d bytes", limit)
		}
		var err error
		if dst, err = d.decodeChunk(dst, src[p:p+packed], unpacked, dictStart, dictSize); err != nil {
			return nil, 0, err
		}
		p += packed
	}
}

// setProps reads the properties byte (pb*5 + lp)*9 + lc.
func (d *Decoder) setProps(b byte) error {
	if b >= 9*5*5 {
		return corrupt("LZMA properties byte %#02x", b)
	}
	lc, lp, pb := uint32(b%9), uint32(b/9%5), uint32(b/45)
	if lc+lp > 4 {
		return corrupt("LZMA properties lc=%d lp=%d: lc+lp > 4", lc, lp)
	}
	d.lc, d.lp, d.pb = lc, lp, pb
	return nil
}

// decodeChunk decodes one LZMA chunk of unpacked bytes from in, appending
// to out, whose bytes from dictStart on are the dictionary.
func (d *Decoder) decodeChunk(out, in []byte, unpacked, dictStart, dictSize int) ([]byte, error) {
	if len(in) < 5 || in[0] != 0 {
		return nil, corrupt("LZMA chunk does not start a range coder")
	}
	d.padded = append(append(d.padded[:0], in...), make([]byte, inputPad)...)
	rc := &d.rc
	*rc = rangeDecoder{rng: 0xFFFFFFFF, code: binary.BigEndian.Uint32(in[1:]), ip: 5, in: d.padded}
	pos := len(out)
	end := pos + unpacked
	if cap(out) < end {
		grown := make([]byte, pos, max(end, 2*cap(out)))
		copy(grown, out)
		out = grown
	}
	buf := out[:end]
	m := &d.m
	state, rep0, rep1, rep2, rep3 := m.state, m.reps[0], m.reps[1], m.reps[2], m.reps[3]
	posMask, lpMask, lc := uint32(1)<<d.pb-1, uint32(1)<<d.lp-1, d.lc
	for pos < end {
		if rc.ip > len(in) {
			return nil, corrupt("LZMA chunk reads past its %d bytes", len(in))
		}
		n := uint32(pos - dictStart) // bytes in the dictionary
		posState := n & posMask
		b := rc.bit(&m.isMatch[state][posState])
		rc.norm()
		if b == 0 {
			prev := uint32(0)
			if n > 0 {
				prev = uint32(buf[pos-1])
			}
			probs := &m.literal[(n&lpMask)<<lc+prev>>(8-lc)]
			var match uint32
			matched := !state.isLiteral()
			if matched {
				match = uint32(buf[pos-int(rep0)-1])
			}
			buf[pos] = byte(rc.literal(probs, matched, match))
			pos++
			state = state.afterLiteral()
			continue
		}
		var length uint32
		b = rc.bit(&m.isRep[state])
		rc.norm()
		if b == 0 {
			length = rc.length(&m.matchLen, posState)
			lenState := min(length, numLenToPos-1)
			slot := rc.tree(m.posSlot[lenState][:], 6)
			dist := slot
			if slot >= startPosModel {
				direct := uint(slot>>1) - 1
				dist = (2 | slot&1) << direct
				if slot < endPosModel {
					dist += rc.reverseTree(m.posSpecial[dist-slot:], direct)
				} else {
					// The middle bits are coded with probability one half.
					var mid uint32
					for range direct - alignBits {
						rc.rng >>= 1
						rc.code -= rc.rng
						t := 0 - rc.code>>31 // all ones when the bit is 0
						rc.code += rc.rng & t
						mid = mid<<1 + t + 1
						rc.norm()
					}
					dist += mid<<alignBits + rc.reverseTree(m.align[:], alignBits)
				}
			}
			rep3, rep2, rep1, rep0 = rep2, rep1, rep0, dist
			state = state.afterMatch()
		} else {
			if n == 0 {
				return nil, corrupt("repeated match before any data")
			}
			b = rc.bit(&m.isRepG0[state])
			rc.norm()
			if b == 0 {
				b = rc.bit(&m.isRep0Long[state][posState])
				rc.norm()
				if b == 0 {
					state = state.afterShortRep()
					buf[pos] = buf[pos-int(rep0)-1]
					pos++
					continue
				}
			} else {
				var dist uint32
				b = rc.bit(&m.isRepG1[state])
				rc.norm()
				if b == 0 {
					dist = rep1
				} else {
					b = rc.bit(&m.isRepG2[state])
					rc.norm()
					if b == 0 {
						dist = rep2
					} else {
						dist, rep3 = rep3, rep2
					}
					rep2 = rep1
				}
				rep1, rep0 = rep0, dist
			}
			length = rc.length(&m.repLen, posState)
			state = state.afterRep()
		}
		length += minMatchLen
		if rep0 >= n || int(rep0) >= dictSize {
			return nil, corrupt("distance %d with %d bytes in a %d-byte dictionary", rep0+1, n, dictSize)
		}
		if int(length) > end-pos {
			return nil, corrupt("match of %d bytes past the chunk's end", length)
		}
		// Copy the match; when it overlaps itself, each copy doubles what
		// the next can take.
		src, stop := pos-int(rep0)-1, pos+int(length)
		for pos < stop {
			pos += copy(buf[pos:stop], buf[src:pos])
		}
	}
	if rc.ip != len(in) || rc.code != 0 {
		return nil, corrupt("LZMA chunk ends at %d of its %d bytes", rc.ip, len(in))
	}
	m.state, m.reps = state, [4]uint32{rep0, rep1, rep2, rep3}
	return buf, nil
}
