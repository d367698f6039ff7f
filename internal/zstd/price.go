package zstd

import (
	"math"
	"math/bits"
)

// The optimal parser prices every choice in 1/256 bits from symbol
// statistics, as libzstd's btopt and btultra do (lib/compress/zstd_opt.c):
// a symbol seen f times out of n costs log2(n/f) bits, which is what a
// Huffman or FSE table built from those counts spends on it, plus the
// extra bits of its code. The statistics start from the block's own bytes
// and fixed guesses, follow the sequences the parser chooses, and carry
// over, scaled down, to the next block of the frame.

const (
	priceShift = 8
	bitPrice   = 1 << priceShift // the price of one bit

	numLitLenCodes   = maxLLCode + 1
	numMatchLenCodes = maxMLCode + 1
	numOffCodes      = maxOFCode + 1

	// litFreqAdd is what a chosen literal adds to its byte's count, twice
	// what a sequence adds to its codes', as libzstd's ZSTD_LITFREQ_ADD:
	// the literals' statistics then outweigh the first block's histogram
	// sooner. (1 and 4 measured within 0.05% of 2.)
	litFreqAdd = 2
	// maxLitPrice bounds a literal's price at the Huffman code's 11-bit
	// limit, minLitPrice at one bit, the shortest Huffman code.
	maxLitPrice = 11 * bitPrice
	minLitPrice = bitPrice
)

// log2Frac holds 256*log2(1+i/256): the fraction of a weight.
var log2Frac = func() (t [256]int32) {
	for i := range t {
		t[i] = int32(math.Round(bitPrice * math.Log2(1+float64(i)/256)))
	}
	return t
}()

// weight returns about 256*log2(x+1); a price is weight(total) -
// weight(count).
func weight(x uint32) int32 {
	x++
	hb := bits.Len32(x) - 1
	var frac uint32
	if hb >= priceShift {
		frac = x>>(hb-priceShift) - bitPrice
	} else {
		frac = x<<(priceShift-hb) - bitPrice
	}
	return int32(hb)<<priceShift + log2Frac[frac]
}

// stats are the symbol counts the prices come from.
type stats struct {
	lit                      [256]uint32
	litLen                   [numLitLenCodes]uint32
	matchLen                 [numMatchLenCodes]uint32
	off                      [numOffCodes]uint32
	litSum, litLenSum, mlSum uint32
	offSum                   uint32
	seeded                   bool // the counts hold a parse's choices
}

// Starting guesses for the length and offset codes of a frame's first
// block, libzstd's: short literal runs, and offsets coded as repeats or
// a few hundred bytes back (ZSTD_rescaleFreqs).
var (
	initLitLenFreq = [numLitLenCodes]uint32{4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	initOffFreq = [numOffCodes]uint32{6, 2, 1, 1, 2, 3, 4, 4, 4, 3, 2, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
)

// init sets the statistics for a frame's first block, src: its bytes'
// histogram for the literals, scaled down so that the chosen literals soon
// outweigh it, and the fixed guesses for the rest.
func (s *stats) init(src []byte) {
	var h [256]uint32
	for _, b := range src {
		h[b]++
	}
	s.litSum = 0
	for i, c := range h {
		if c > 0 {
			c = 1 + c>>8
		}
		s.lit[i] = c
		s.litSum += c
	}
	s.litLen, s.litLenSum = initLitLenFreq, sum(initLitLenFreq[:])
	for i := range s.matchLen {
		s.matchLen[i] = 1
	}
	s.mlSum = numMatchLenCodes
	s.off, s.offSum = initOffFreq, sum(initOffFreq[:])
	s.seeded = false
}

func sum(t []uint32) (n uint32) {
	for _, x := range t {
		n += x
	}
	return n
}

// rescale scales the counts of the blocks before down for the next one:
// they predict it, but its own sequences should soon dominate.
func (s *stats) rescale() {
	s.litSum = scaleCounts(s.lit[:], 12)
	s.litLenSum = scaleCounts(s.litLen[:], 11)
	s.mlSum = scaleCounts(s.matchLen[:], 11)
	s.offSum = scaleCounts(s.off[:], 11)
}

// scaleCounts divides t by a power of two that brings its sum to about
// 2^logTarget, keeping every count at least 1, and returns the new sum.
func scaleCounts(t []uint32, logTarget uint) uint32 {
	total := sum(t)
	factor := total >> logTarget
	if factor <= 1 {
		return total
	}
	shift := uint(bits.Len32(factor) - 1)
	total = 0
	for i, x := range t {
		t[i] = 1 + x>>shift
		total += t[i]
	}
	return total
}

// addSeq counts a chosen sequence and its literals.
func (s *stats) addSeq(lits []byte, matchLen, offBase uint32) {
	for _, b := range lits {
		s.lit[b] += litFreqAdd
	}
	s.litSum += litFreqAdd * uint32(len(lits))
	s.litLen[llCode(uint32(len(lits)))]++
	s.litLenSum++
	s.matchLen[mlCode(matchLen)]++
	s.mlSum++
	s.off[ofCode(offBase)]++
	s.offSum++
	s.seeded = true
}

// addLits counts literals that end a block, in no sequence.
func (s *stats) addLits(lits []byte) {
	for _, b := range lits {
		s.lit[b] += litFreqAdd
	}
	s.litSum += litFreqAdd * uint32(len(lits))
	s.seeded = true
}

// Tables of the prices, refreshed from stats now and then: computing a
// price from counts at every use would cost more than the search.
const (
	litLenTable   = 64
	matchLenTable = 256 // match lengths minus minMatch
)

type prices struct {
	lit      [256]int32
	litLen   [litLenTable]int32   // by literal length
	matchLen [matchLenTable]int32 // by match length - minMatch
	off      [numOffCodes]int32   // by offset code, with its extra bits
	// Code prices with their extra bits, for the lengths beyond the tables.
	litLenCode   [numLitLenCodes]int32
	matchLenCode [numMatchLenCodes]int32
}

func (p *prices) update(s *stats) {
	w := weight(s.litSum)
	for i, f := range s.lit {
		p.lit[i] = min(max(w-weight(f), minLitPrice), maxLitPrice)
	}
	w = weight(s.litLenSum)
	for c, f := range s.litLen {
		p.litLenCode[c] = w - weight(f) + int32(llBits[c])<<priceShift
	}
	for n := range p.litLen {
		p.litLen[n] = p.litLenCode[llCode(uint32(n))]
	}
	w = weight(s.mlSum)
	for c, f := range s.matchLen {
		p.matchLenCode[c] = w - weight(f) + int32(mlBits[c])<<priceShift
	}
	for n := range p.matchLen {
		p.matchLen[n] = p.matchLenCode[mlCode(uint32(n)+minMatch)]
	}
	w = weight(s.offSum)
	for c, f := range s.off {
		p.off[c] = w - weight(f) + int32(c)<<priceShift
	}
}

// litLenPrice returns the price of coding a literal length of n.
func (p *prices) litLenPrice(n uint32) int32 {
	if n < litLenTable {
		return p.litLen[n]
	}
	if n >= maxBlockSize {
		// Only a block of nothing but literals has this many, coded as
		// no sequence: a bit more than the longest coded run.
		return p.litLenCode[llCode(maxBlockSize-1)] + bitPrice
	}
	return p.litLenCode[llCode(n)]
}

// matchLenPrice returns the price of coding a match of n bytes.
func (p *prices) matchLenPrice(n uint32) int32 {
	if n-minMatch < matchLenTable {
		return p.matchLen[n-minMatch]
	}
	return p.matchLenCode[mlCode(n)]
}

// offPrice returns the price of coding offBase.
func (p *prices) offPrice(offBase uint32) int32 { return p.off[ofCode(offBase)] }
