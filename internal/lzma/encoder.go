package lzma

import "fmt"

// Options are the LZMA parameters that shape the stream. The zero value is
// not valid; start from Preset.
type Options struct {
	// LC is the number of high bits of the previous byte that select the
	// literal coder, LP the low bits of the position that do; LC+LP <= 4.
	LC, LP int
	// PB is the number of low position bits that select the match and
	// length probabilities; at most 4.
	PB int
	// NiceLen is the match length the parser takes without looking
	// further: longer searches more, compresses better, runs slower.
	NiceLen int
	// Depth is the most tree nodes the match finder visits per position.
	Depth int
}

// Preset returns the options of xz's preset level (0..9) in liblzma's
// normal mode with the bt4 match finder; extreme is xz's -e. Levels 0 to 3,
// which liblzma serves with a faster greedy mode, get the parser of level 4.
func Preset(level int, extreme bool) Options {
	o := Options{LC: 3, LP: 0, PB: 2, NiceLen: 64}
	switch {
	case level <= 4:
		o.NiceLen = 16
	case level == 5:
		o.NiceLen = 32
	}
	o.Depth = 16 + o.NiceLen/2 // liblzma's automatic depth for bt4
	if extreme {
		o.NiceLen, o.Depth = maxMatchLen, 512
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.LC < 0 || o.LP < 0 || o.LC+o.LP > 4:
		return fmt.Errorf("lzma: lc=%d lp=%d: want lc+lp <= 4", o.LC, o.LP)
	case o.PB < 0 || o.PB > 4:
		return fmt.Errorf("lzma: pb=%d: want 0..4", o.PB)
	case o.NiceLen < 8 || o.NiceLen > maxMatchLen:
		return fmt.Errorf("lzma: nice length %d: want 8..%d", o.NiceLen, maxMatchLen)
	case o.Depth < 1:
		return fmt.Errorf("lzma: depth %d: want at least 1", o.Depth)
	}
	return nil
}

// propsByte is the LZMA properties byte: (pb*5 + lp)*9 + lc.
func (o Options) propsByte() byte { return byte((o.PB*5+o.LP)*9 + o.LC) }

// model is the encoder's copy of everything the decoder keeps: the
// probabilities, the state and the last four distances (reps).
type model struct {
	state state
	reps  [4]uint32

	isMatch    [numStates][maxPosStates]prob
	isRep      [numStates]prob
	isRepG0    [numStates]prob
	isRepG1    [numStates]prob
	isRepG2    [numStates]prob
	isRep0Long [numStates][maxPosStates]prob
	literal    [][0x300]prob
	posSlot    [numLenToPos][numPosSlots]prob
	// posSpecial holds the reverse trees of slots 4..13; the tree of a
	// slot with base distance b starts at b-slot (index 0 is unused).
	posSpecial [1 + numFullDists - endPosModel]prob
	align      [alignSize]prob
	matchLen   lenModel
	repLen     lenModel
}

func (m *model) reset(lc, lp int) {
	m.state = 0
	m.reps = [4]uint32{}
	fill := func(ps []prob) {
		for i := range ps {
			ps[i] = probInit
		}
	}
	for i := range m.isMatch {
		fill(m.isMatch[i][:])
		fill(m.isRep0Long[i][:])
	}
	fill(m.isRep[:])
	fill(m.isRepG0[:])
	fill(m.isRepG1[:])
	fill(m.isRepG2[:])
	n := 1 << (lc + lp)
	if cap(m.literal) < n {
		m.literal = make([][0x300]prob, n)
	}
	m.literal = m.literal[:n]
	for i := range m.literal {
		fill(m.literal[i][:])
	}
	for i := range m.posSlot {
		fill(m.posSlot[i][:])
	}
	fill(m.posSpecial[:])
	fill(m.align[:])
	m.matchLen.reset()
	m.repLen.reset()
}
