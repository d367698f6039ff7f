package lzma

import "github.com/mkportable/mkportable/internal/matchfind"

// LZMA2 wraps LZMA in chunks. Each chunk starts with a control byte:
//
//	0x00                end of data
//	0x01                uncompressed chunk, dictionary reset
//	0x02                uncompressed chunk, no reset
//	1rr uuuuu           LZMA chunk; rr: 0 nothing reset, 1 state reset,
//	                    2 state reset and new properties, 3 all of that and
//	                    a dictionary reset; uuuuu: bits 16-20 of size-1
//
// An uncompressed chunk is followed by its size-1 (16 bits, big endian)
// and the data, at most 64 KiB. An LZMA chunk is followed by the low 16
// bits of its uncompressed size-1, its compressed size-1 (16 bits), the
// properties byte when rr >= 2, and the range-coded data, which starts a
// new range coder; the model's state carries over unless reset. A chunk
// holds at most 2 MiB of data and 64 KiB of compressed bytes.

const (
	maxChunkPacked   = 1 << 16
	maxChunkUnpacked = 1 << 21
	// A chunk is closed at the end of a parse whose successor might not
	// fit; a parse covers at most optsSize bytes, which seldom take more
	// than this many coded bytes.
	chunkReserve = 8 << 10
	// The most bytes one packet can add to the range coder's output.
	packetReserve = 64
)

// An Encoder compresses independent buffers into raw LZMA2 data with an
// optimal (price-based) parse. It keeps its tables between calls, so one
// Encoder serves one goroutine; the output depends only on the input and
// the options.
type Encoder struct {
	opts    Options
	posMask uint32
	lpMask  uint32 // the position bits that select the literal coder
	lc      uint32
	buf     []byte
	mf      matchfind.BT4
	m       model
	rc      rangeEncoder
	coded   []byte // the range coder's output for the open chunk
	p       parser

	// Price tables, refreshed as the model drifts.
	posSlotPrices [numLenToPos][numPosSlots]uint32
	distPrices    [numLenToPos][numFullDists]uint32
	alignPrices   [alignSize]uint32
	matchCount    int // matches coded since distPrices were computed
	alignCount    int // align trees coded since alignPrices were computed

	// checkPacket, set only by tests, checks each packet against the input.
	checkPacket func(e *Encoder, pos int, pk packet)
}

// NewEncoder returns an Encoder with the given options.
func NewEncoder(opts Options) (*Encoder, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Encoder{opts: opts, posMask: 1<<opts.PB - 1, lpMask: 1<<opts.LP - 1, lc: uint32(opts.LC)}, nil
}

// AppendLZMA2 appends the LZMA2 encoding of src, ending with the end
// marker, to dst. The stream starts with a dictionary reset and refers to
// nothing before src, so a decoder needs a dictionary of len(src) bytes.
func (e *Encoder) AppendLZMA2(dst, src []byte) []byte {
	e.buf = src
	e.mf.Reset(src, e.opts.NiceLen, e.opts.Depth, maxMatchLen)
	e.resetState()
	e.p.reset()
	e.rc.reset(e.coded[:0])

	dictReset, newProps := true, true
	stateReset := true
	chunkStart := 0
	closeChunk := func(end int, mayStore bool) {
		dst, dictReset, newProps, stateReset = e.appendChunk(dst, src[chunkStart:end], mayStore, dictReset, newProps, stateReset)
		chunkStart = end
	}

	pos := 0
	for pos < len(src) {
		packets := e.p.optimize(e, pos)
		for _, pk := range packets {
			if e.rc.pending() > maxChunkPacked-packetReserve || pos+int(pk.len)-chunkStart > maxChunkUnpacked {
				closeChunk(pos, false)
			}
			e.encodePacket(pos, pk)
			pos += int(pk.len)
		}
		if e.rc.pending() > maxChunkPacked-chunkReserve || pos-chunkStart > maxChunkUnpacked-chunkReserve {
			closeChunk(pos, true)
			if stateReset {
				e.resetState()
			}
		}
	}
	if pos > chunkStart {
		closeChunk(pos, true)
	}
	e.coded = e.rc.out[:0]
	e.buf = nil
	return append(dst, 0x00)
}

// resetState puts the model back to its initial state, as a decoder does
// for a chunk with a state reset, and forgets the prices computed from it.
func (e *Encoder) resetState() {
	e.m.reset(e.opts.LC, e.opts.LP)
	e.matchCount, e.alignCount = numFullDists, alignSize

}

// appendChunk writes the chunk of data whose range-coded form is in e.rc,
// or data uncompressed when that is not smaller and mayStore allows it (the
// model then must be reset before the next LZMA chunk, since the decoder
// does not model stored data). It returns the reset flags the next chunk
// needs.
func (e *Encoder) appendChunk(dst, data []byte, mayStore, dictReset, newProps, stateReset bool) ([]byte, bool, bool, bool) {
	e.rc.flush()
	packed := e.rc.out
	if mayStore && len(packed) >= len(data) {
		for len(data) > 0 {
			n := min(len(data), maxChunkPacked)
			ctl := byte(0x02)
			if dictReset {
				ctl = 0x01
			}
			dst = append(dst, ctl, byte((n-1)>>8), byte(n-1))
			dst = append(dst, data[:n]...)
			data = data[n:]
			dictReset = false
		}
		e.rc.reset(packed[:0])
		return dst, false, newProps, true
	}
	u, p := len(data)-1, len(packed)-1
	ctl := byte(0x80) | byte(u>>16)
	switch {
	case dictReset:
		ctl |= 3 << 5
	case newProps:
		ctl |= 2 << 5
	case stateReset:
		ctl |= 1 << 5
	}
	dst = append(dst, ctl, byte(u>>8), byte(u), byte(p>>8), byte(p))
	if dictReset || newProps {
		dst = append(dst, e.opts.propsByte())
	}
	dst = append(dst, packed...)
	e.rc.reset(packed[:0])
	return dst, false, false, false
}

// A packet is one step of the parse: a literal, a short rep (one byte at
// the last distance), a rep match (len bytes at reps[dist]) or a match
// (len bytes at distance dist+1).
type packet struct {
	kind uint8
	len  uint32
	dist uint32
}

const (
	kindLiteral = iota
	kindShortRep
	kindRep
	kindMatch
)

func (e *Encoder) encodePacket(pos int, pk packet) {
	if e.checkPacket != nil {
		e.checkPacket(e, pos, pk)
	}
	m := &e.m
	ps := uint32(pos) & e.posMask
	switch pk.kind {
	case kindLiteral:
		e.rc.encodeBit(&m.isMatch[m.state][ps], 0)
		e.encodeLiteral(pos)
	case kindShortRep:
		e.rc.encodeBit(&m.isMatch[m.state][ps], 1)
		e.rc.encodeBit(&m.isRep[m.state], 1)
		e.rc.encodeBit(&m.isRepG0[m.state], 0)
		e.rc.encodeBit(&m.isRep0Long[m.state][ps], 0)
		m.state = m.state.afterShortRep()
	case kindRep:
		e.rc.encodeBit(&m.isMatch[m.state][ps], 1)
		e.rc.encodeBit(&m.isRep[m.state], 1)
		i := pk.dist
		if i == 0 {
			e.rc.encodeBit(&m.isRepG0[m.state], 0)
			e.rc.encodeBit(&m.isRep0Long[m.state][ps], 1)
		} else {
			e.rc.encodeBit(&m.isRepG0[m.state], 1)
			if i == 1 {
				e.rc.encodeBit(&m.isRepG1[m.state], 0)
			} else {
				e.rc.encodeBit(&m.isRepG1[m.state], 1)
				e.rc.encodeBit(&m.isRepG2[m.state], i-2)
			}
			d := m.reps[i]
			copy(m.reps[1:i+1], m.reps[:i])
			m.reps[0] = d
		}
		m.repLen.encode(&e.rc, pk.len, ps)
		m.state = m.state.afterRep()
	case kindMatch:
		e.rc.encodeBit(&m.isMatch[m.state][ps], 1)
		e.rc.encodeBit(&m.isRep[m.state], 0)
		m.matchLen.encode(&e.rc, pk.len, ps)
		e.encodeDistance(pk.dist, pk.len)
		m.reps = [4]uint32{pk.dist, m.reps[0], m.reps[1], m.reps[2]}
		m.state = m.state.afterMatch()
	}
}

func lenState(l uint32) uint32 { return min(l-minMatchLen, numLenToPos-1) }

func (e *Encoder) encodeDistance(dist, l uint32) {
	m := &e.m
	slot := posSlot(dist)
	encodeTree(&e.rc, m.posSlot[lenState(l)][:], 6, slot)
	e.matchCount++
	if slot < startPosModel {
		return
	}
	footer := int(slot>>1) - 1
	base := (2 | slot&1) << uint(footer)
	reduced := dist - base
	if slot < endPosModel {
		encodeReverseTree(&e.rc, m.posSpecial[base-slot:], footer, reduced)
		return
	}
	e.rc.encodeDirect(reduced>>alignBits, footer-alignBits)
	encodeReverseTree(&e.rc, m.align[:], alignBits, reduced&(alignSize-1))
	e.alignCount++
}

// litProbs returns the literal coder for the byte at pos.
func (e *Encoder) litProbs(pos int) *[0x300]prob {
	prev := uint32(0)
	if pos > 0 {
		prev = uint32(e.buf[pos-1])
	}
	i := (uint32(pos)&e.lpMask)<<(e.lc&7) | prev>>((8-e.lc)&15)
	return &e.m.literal[i]
}

// encodeLiteral codes the byte at pos. After a match the decoder knows the
// byte at the last distance (the match byte), and the literal is coded
// with probabilities chosen by its bits for as long as they agree.
func (e *Encoder) encodeLiteral(pos int) {
	m := &e.m
	probs := e.litProbs(pos)
	sym := uint32(e.buf[pos]) | 0x100
	if m.state.isLiteral() {
		for sym < 0x10000 {
			e.rc.encodeBit(&probs[sym>>8], (sym>>7)&1)
			sym <<= 1
		}
	} else {
		matchByte := uint32(e.buf[pos-int(m.reps[0])-1])
		offs := uint32(0x100)
		for sym < 0x10000 {
			matchByte <<= 1
			bit := (sym >> 7) & 1
			e.rc.encodeBit(&probs[offs+(matchByte&offs)+sym>>8], bit)
			sym <<= 1
			offs &^= matchByte ^ sym
		}
	}
	m.state = m.state.afterLiteral()
}

// literalPrice is the cost of coding cur at pos in state s, matchByte being
// the byte at the last distance.
func (e *Encoder) literalPrice(pos int, s state, cur, matchByte byte) uint32 {
	probs := e.litProbs(pos)
	sym := uint32(cur) | 0x100
	price := uint32(0)
	if s.isLiteral() {
		for sym < 0x10000 {
			price += priceBit(probs[sym>>8], (sym>>7)&1)
			sym <<= 1
		}
		return price
	}
	mb := uint32(matchByte)
	offs := uint32(0x100)
	for sym < 0x10000 {
		mb <<= 1
		price += priceBit(probs[offs+(mb&offs)+sym>>8], (sym>>7)&1)
		sym <<= 1
		offs &^= mb ^ sym
	}
	return price
}

// shortRepPrice is the cost of a short rep after the match flag.
func (e *Encoder) shortRepPrice(s state, ps uint32) uint32 {
	return price1(e.m.isRep[s]) + price0(e.m.isRepG0[s]) + price0(e.m.isRep0Long[s][ps])
}

// repPrice is the cost of choosing rep i for a match of two or more bytes,
// after the match flag; the length is priced apart.
func (e *Encoder) repPrice(i uint32, s state, ps uint32) uint32 {
	m := &e.m
	price := price1(m.isRep[s])
	if i == 0 {
		return price + price0(m.isRepG0[s]) + price1(m.isRep0Long[s][ps])
	}
	price += price1(m.isRepG0[s])
	if i == 1 {
		return price + price0(m.isRepG1[s])
	}
	return price + price1(m.isRepG1[s]) + priceBit(m.isRepG2[s], i-2)
}

// distPrice is the cost of a match distance for a match of length l.
func (e *Encoder) distPrice(dist, l uint32) uint32 {
	ls := lenState(l)
	if dist < numFullDists {
		return e.distPrices[ls][dist]
	}
	return e.posSlotPrices[ls][posSlot(dist)] + e.alignPrices[dist&(alignSize-1)]
}

// updatePrices refreshes the price tables that drifted since they were
// computed: liblzma's schedule, every 128 distances, 16 aligns, and each
// length table after as many uses as it has lengths.
func (e *Encoder) updatePrices() {
	m := &e.m
	if e.matchCount >= numFullDists {
		e.matchCount = 0
		for ls := range numLenToPos {
			sp := &e.posSlotPrices[ls]
			for slot := uint32(0); slot < numPosSlots; slot++ {
				sp[slot] = priceTree(m.posSlot[ls][:], 6, slot)
				if slot >= endPosModel {
					sp[slot] += (slot>>1 - 1 - alignBits) << priceBits
				}
			}
			dp := &e.distPrices[ls]
			for d := uint32(0); d < numFullDists; d++ {
				slot := posSlot(d)
				dp[d] = sp[slot]
				if slot >= startPosModel {
					footer := int(slot>>1) - 1
					base := (2 | slot&1) << uint(footer)
					dp[d] += priceReverseTree(m.posSpecial[base-slot:], footer, d-base)
				}
			}
		}
	}
	if e.alignCount >= alignSize {
		e.alignCount = 0
		for i := uint32(0); i < alignSize; i++ {
			e.alignPrices[i] = priceReverseTree(m.align[:], alignBits, i)
		}
	}
	for _, lm := range []*lenModel{&m.matchLen, &m.repLen} {
		if lm.stale {
			lm.stale = false
			for ps := uint32(0); ps <= e.posMask; ps++ {
				lm.updatePrices(ps, e.opts.NiceLen)
			}
		}
	}
}
