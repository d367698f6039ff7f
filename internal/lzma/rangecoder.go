package lzma

// The range coder of the LZMA format. Every bit is coded with an adaptive
// probability: an 11-bit estimate (0..2048) that the bit is 0, moved by
// 1/32 of the distance to its target after each bit. The encoder keeps a
// 33-bit low end and a 32-bit range; a carry out of low propagates into
// bytes not yet written, which is why one byte (cache) and a run of 0xFF
// bytes (cacheSize) are held back.

const (
	probBits  = 11
	probOne   = 1 << probBits // probabilities are in 1/2048ths
	probInit  = probOne / 2
	moveBits  = 5
	topValue  = 1 << 24 // the range is renormalised below this
	priceBits = 4       // prices are in 1/16ths of a bit
)

// prob is the adaptive probability that the next bit is 0.
type prob uint16

type rangeEncoder struct {
	out       []byte
	low       uint64
	rng       uint32
	cache     byte
	cacheSize int
}

func (rc *rangeEncoder) reset(out []byte) {
	*rc = rangeEncoder{out: out, rng: 0xFFFFFFFF, cacheSize: 1}
}

// shiftLow moves the top byte of low out, resolving a pending carry.
func (rc *rangeEncoder) shiftLow() {
	if uint32(rc.low) < 0xFF000000 || rc.low >= 1<<32 {
		carry := byte(rc.low >> 32)
		b := rc.cache
		for {
			rc.out = append(rc.out, b+carry)
			b = 0xFF
			if rc.cacheSize--; rc.cacheSize == 0 {
				break
			}
		}
		rc.cache = byte(rc.low >> 24)
	}
	rc.cacheSize++
	rc.low = (rc.low & 0x00FFFFFF) << 8
}

func (rc *rangeEncoder) encodeBit(p *prob, bit uint32) {
	bound := (rc.rng >> probBits) * uint32(*p)
	if bit == 0 {
		rc.rng = bound
		*p += (probOne - *p) >> moveBits
	} else {
		rc.low += uint64(bound)
		rc.rng -= bound
		*p -= *p >> moveBits
	}
	if rc.rng < topValue {
		rc.normalize()
	}
}

// normalize shifts a byte out once the range is below 2^24; one shift is
// always enough after a bit, as the range never drops below 2^13 in one.
func (rc *rangeEncoder) normalize() {
	rc.rng <<= 8
	rc.shiftLow()
}

// encodeDirect writes the low n bits of v, most significant first, each
// with probability one half.
func (rc *rangeEncoder) encodeDirect(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		rc.rng >>= 1
		if (v>>uint(i))&1 != 0 {
			rc.low += uint64(rc.rng)
		}
		for rc.rng < topValue {
			rc.rng <<= 8
			rc.shiftLow()
		}
	}
}

// flush writes out everything low still holds; the decoder needs these
// bytes to finish.
func (rc *rangeEncoder) flush() {
	for i := 0; i < 5; i++ {
		rc.shiftLow()
	}
}

// pending is the number of bytes the stream will have once flushed.
func (rc *rangeEncoder) pending() int { return len(rc.out) + rc.cacheSize + 4 }

// priceTable[p>>(probBits-7)] is the cost, in 1/16 bits, of coding a bit
// whose probability is p/2048: -log2(p/2048) * 16, computed in integers so
// every platform prices, and so parses, the same.
var priceTable = func() (t [probOne >> priceShiftBits]uint32) {
	for i := range t {
		w := uint64(i)<<priceShiftBits + 1<<(priceShiftBits-1) // the middle of the bucket
		// 16*log2(w): the integer part from the top bit, 4 fraction bits by
		// squaring the mantissa.
		ilog := 63
		for w>>uint(ilog)&1 == 0 {
			ilog--
		}
		x := w << uint(32-ilog) // mantissa in [1,2) with 32 fraction bits
		frac := uint32(0)
		for j := 0; j < priceBits; j++ {
			x = (x >> 16) * (x >> 16) // square, keeping 32 fraction bits
			frac <<= 1
			if x >= 2<<32 {
				x >>= 1
				frac |= 1
			}
		}
		t[i] = probBits<<priceBits - (uint32(ilog)<<priceBits | frac)
	}
	return t
}()

// priceShiftBits buckets probabilities for priceTable.
const priceShiftBits = 4

// The price of a 1 bit is looked up at p^2047 rather than 2048-p: the
// same bucket but one at the edges, and no branch on the bit.
func price0(p prob) uint32 { return priceTable[(uint32(p)&(probOne-1))>>priceShiftBits] }
func price1(p prob) uint32 { return priceTable[(uint32(p)^(probOne-1))>>priceShiftBits] }
func priceBit(p prob, bit uint32) uint32 {
	return priceTable[((uint32(p)^(-bit&(probOne-1)))&(probOne-1))>>priceShiftBits]
}
