package lzma

import "math/bits"

// The LZMA probability model: what the encoder and the decoder both keep
// and update the same way, bit by bit.

const (
	numStates      = 12
	minMatchLen    = 2
	maxMatchLen    = 273
	lenLowSymbols  = 8
	lenMidSymbols  = 8
	lenHighSymbols = 256
	numLenToPos    = 4 // distance models depend on min(len-2, 3)
	numPosSlots    = 64
	startPosModel  = 4  // slots below this are the distance itself
	endPosModel    = 14 // slots from here code their low 4 bits with the align model
	numFullDists   = 1 << (endPosModel >> 1)
	alignBits      = 4
	alignSize      = 1 << alignBits
	maxPosStates   = 1 << 4
)

// state is the LZMA state machine: 0..6 after a literal, 7..11 after a
// match, rep or short rep; it selects the probabilities of the next
// packet's kind.
type state uint8

func (s state) isLiteral() bool { return s < 7 }

func (s state) afterLiteral() state {
	switch {
	case s < 4:
		return 0
	case s < 10:
		return s - 3
	}
	return s - 6
}

func (s state) afterMatch() state {
	if s < 7 {
		return 7
	}
	return 10
}

func (s state) afterRep() state {
	if s < 7 {
		return 8
	}
	return 11
}

func (s state) afterShortRep() state {
	if s < 7 {
		return 9
	}
	return 11
}

// lenModel codes a match length minus 2: 0..7 in low (by position state),
// 8..15 in mid, 16..271 in high.
type lenModel struct {
	choice  prob
	choice2 prob
	low     [maxPosStates][lenLowSymbols]prob
	mid     [maxPosStates][lenMidSymbols]prob
	high    [lenHighSymbols]prob

	// prices[posState][len-2], refreshed after counters[posState] uses.
	prices   [maxPosStates][maxMatchLen - minMatchLen + 1]uint32
	counters [maxPosStates]int
	stale    bool // some counter ran out
}

func (m *lenModel) reset() {
	m.choice, m.choice2 = probInit, probInit
	for i := range m.low {
		for j := range m.low[i] {
			m.low[i][j] = probInit
			m.mid[i][j] = probInit
		}
	}
	for i := range m.high {
		m.high[i] = probInit
	}
	for i := range m.counters {
		m.counters[i] = 0
	}
	m.stale = true
}

func (m *lenModel) encode(rc *rangeEncoder, l uint32, posState uint32) {
	l -= minMatchLen
	switch {
	case l < lenLowSymbols:
		rc.encodeBit(&m.choice, 0)
		encodeTree(rc, m.low[posState][:], 3, l)
	case l < lenLowSymbols+lenMidSymbols:
		rc.encodeBit(&m.choice, 1)
		rc.encodeBit(&m.choice2, 0)
		encodeTree(rc, m.mid[posState][:], 3, l-lenLowSymbols)
	default:
		rc.encodeBit(&m.choice, 1)
		rc.encodeBit(&m.choice2, 1)
		encodeTree(rc, m.high[:], 8, l-lenLowSymbols-lenMidSymbols)
	}
	if m.counters[posState]--; m.counters[posState] <= 0 {
		m.stale = true
	}
}

// updatePrices recomputes the length prices of posState when they have
// been used often enough to drift. limit is the longest length priced.
func (m *lenModel) updatePrices(posState uint32, limit int) {
	if m.counters[posState] > 0 {
		return
	}
	m.counters[posState] = limit - minMatchLen + 1
	p := &m.prices[posState]
	a := price0(m.choice)
	b := price1(m.choice) + price0(m.choice2)
	c := price1(m.choice) + price1(m.choice2)
	for l := 0; l <= limit-minMatchLen; l++ {
		switch {
		case l < lenLowSymbols:
			p[l] = a + priceTree(m.low[posState][:], 3, uint32(l))
		case l < lenLowSymbols+lenMidSymbols:
			p[l] = b + priceTree(m.mid[posState][:], 3, uint32(l-lenLowSymbols))
		default:
			p[l] = c + priceTree(m.high[:], 8, uint32(l-lenLowSymbols-lenMidSymbols))
		}
	}
}

func (m *lenModel) price(l, posState uint32) uint32 { return m.prices[posState][l-minMatchLen] }

// encodeTree codes the low n bits of v most significant first, each with
// the probability at the tree node its higher bits lead to.
func encodeTree(rc *rangeEncoder, probs []prob, n int, v uint32) {
	m := uint32(1)
	for i := n - 1; i >= 0; i-- {
		bit := (v >> uint(i)) & 1
		rc.encodeBit(&probs[m], bit)
		m = m<<1 | bit
	}
}

func priceTree(probs []prob, n int, v uint32) uint32 {
	price := uint32(0)
	m := uint32(1)
	for i := n - 1; i >= 0; i-- {
		bit := (v >> uint(i)) & 1
		price += priceBit(probs[m], bit)
		m = m<<1 | bit
	}
	return price
}

// encodeReverseTree codes the low n bits of v least significant first.
func encodeReverseTree(rc *rangeEncoder, probs []prob, n int, v uint32) {
	m := uint32(1)
	for i := 0; i < n; i++ {
		bit := v & 1
		v >>= 1
		rc.encodeBit(&probs[m], bit)
		m = m<<1 | bit
	}
}

func priceReverseTree(probs []prob, n int, v uint32) uint32 {
	price := uint32(0)
	m := uint32(1)
	for i := 0; i < n; i++ {
		bit := v & 1
		v >>= 1
		price += priceBit(probs[m], bit)
		m = m<<1 | bit
	}
	return price
}

// posSlot returns the slot of a distance value (distance - 1): the value
// itself below 4, else twice the index of its top bit plus the bit below.
func posSlot(dist uint32) uint32 {
	if dist < startPosModel {
		return dist
	}
	top := uint32(bits.Len32(dist) - 1)
	return top<<1 | (dist>>(top-1))&1
}
