package zstd

import "math/bits"

// Baselines and extra bits of the literal length and match length codes
// (RFC 8878, 3.1.1.3.2.1.1).
var (
	llBase = [maxLLCode + 1]uint32{
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024, 2048, 4096,
		8192, 16384, 32768, 65536,
	}
	llBits = [maxLLCode + 1]uint8{
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12,
		13, 14, 15, 16,
	}
	mlBase = [maxMLCode + 1]uint32{
		3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
		19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
		35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051,
		4099, 8195, 16387, 32771, 65539,
	}
	mlBits = [maxMLCode + 1]uint8{
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11,
		12, 13, 14, 15, 16,
	}
)

// The predefined distributions (RFC 8878, 3.1.1.3.2.2), used by
// Predefined_Mode.
var (
	llPredef = [...]int16{
		4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1,
		2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1,
		-1, -1, -1, -1,
	}
	mlPredef = [...]int16{
		1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1,
		-1, -1, -1, -1, -1,
	}
	ofPredef = [...]int16{
		1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1,
	}
)

const (
	llPredefLog = 6
	mlPredefLog = 6
	ofPredefLog = 5
)

// llCode returns the literal length code of litLen (at most 131071).
func llCode(litLen uint32) uint8 {
	switch {
	case litLen < 16:
		return uint8(litLen)
	case litLen >= 64:
		return uint8(bits.Len32(litLen) - 1 + 19)
	}
	c := uint8(16)
	for llBase[c+1] <= litLen {
		c++
	}
	return c
}

// mlCode returns the match length code of matchLen (3 to 131074).
func mlCode(matchLen uint32) uint8 {
	v := matchLen - minMatch
	switch {
	case v < 32:
		return uint8(v)
	case v >= 128:
		return uint8(bits.Len32(v) - 1 + 36)
	}
	c := uint8(32)
	for mlBase[c+1] <= matchLen {
		c++
	}
	return c
}

// ofCode returns the offset code of an Offset_Value: its extra bits are
// all of offBase but the top one.
func ofCode(offBase uint32) uint8 {
	return uint8(bits.Len32(offBase) - 1)
}

// Symbol_Compression_Modes (RFC 8878, 3.1.1.3.2.1).
const (
	modePredefined = 0
	modeRLE        = 1
	modeFSE        = 2
	modeRepeat     = 3
)

// symbolCoder chooses and holds the table of one symbol type (literal
// lengths, offsets or match lengths) across the blocks of a frame.
type symbolCoder struct {
	maxLog uint8
	predef *fseTable

	// cur is the table FSE_Compressed_Mode builds for the block being
	// coded; prev the one the decoder holds for Repeat_Mode, valid when
	// prevOK. commit swaps them when cur is written.
	cur, prev *fseTable
	prevOK    bool

	count [fseMaxSymbols]uint32
	norm  [fseMaxSymbols]int16

	// The choice for the block being coded, and where its description
	// starts in the block.
	descPos int
	mode    uint8
	rleSym  uint8
	table   *fseTable // the table the bitstream is coded with, nil for RLE
}

func newSymbolCoder(predef []int16, predefLog, maxLog uint8) symbolCoder {
	p := new(fseTable)
	p.build(predef, predefLog)
	return symbolCoder{maxLog: maxLog, predef: p, cur: new(fseTable), prev: new(fseTable)}
}

// choose picks the cheapest mode for codes and appends its table
// description (if any) to dst; scratch is a buffer it may grow, returned
// for reuse. The cost of each mode is the estimated bits of the codes'
// states plus its description: the extra bits are the same whatever the
// mode. FSE_Compressed_Mode is tried at every accuracy log from 5 to the
// type's maximum, as a small log has the cheaper description.
func (c *symbolCoder) choose(dst []byte, codes []uint8, scratch []byte, allowFSE bool) ([]byte, []byte) {
	c.descPos = len(dst)
	clear(c.count[:])
	maxSym := 0
	for _, s := range codes {
		c.count[s]++
		maxSym = max(maxSym, int(s))
	}
	count := c.count[:maxSym+1]
	total := uint32(len(codes))
	distinct := 0
	for _, n := range count {
		if n != 0 {
			distinct++
		}
	}

	bestMode, bestCost := uint8(modePredefined), 1e300
	if c.predef.covers(count) {
		bestCost = c.predef.cost(count)
	}
	if distinct == 1 && 8 < bestCost {
		bestMode, bestCost = modeRLE, 8
	}
	if c.prevOK && c.prev.covers(count) {
		if cost := c.prev.cost(count); cost < bestCost {
			bestMode, bestCost = modeRepeat, cost
		}
	}
	bestLog := uint8(0)
	if distinct > 1 && allowFSE {
		for log := uint8(fseMinLog); log <= c.maxLog; log++ {
			if 1<<log < distinct {
				continue
			}
			norm := c.norm[:len(count)]
			if !normalize(norm, count, total, log) {
				continue
			}
			c.cur.log, c.cur.nSym = log, len(norm)
			copy(c.cur.norm[:], norm)
			scratch = appendNCount(scratch[:0], norm, log)
			if cost := c.cur.cost(count) + 8*float64(len(scratch)); cost < bestCost {
				bestMode, bestCost, bestLog = modeFSE, cost, log
			}
			// A larger table costs more description than it saves
			// once the symbols are few.
			if 1<<log > 2*len(codes) {
				break
			}
		}
	}

	c.mode = bestMode
	switch bestMode {
	case modePredefined:
		c.table = c.predef
	case modeRLE:
		c.table = nil
		c.rleSym = uint8(maxSym)
		dst = append(dst, c.rleSym)
	case modeRepeat:
		c.table = c.prev
	case modeFSE:
		norm := c.norm[:len(count)]
		normalize(norm, count, total, bestLog)
		c.cur.build(norm, bestLog)
		dst = appendNCount(dst, norm, bestLog)
		c.table = c.cur
	}
	if bestMode == modePredefined && !c.predef.covers(count) {
		panic("zstd: no sequence table mode fits") // FSE always can
	}
	return dst, scratch
}

// commit records that the block coded with the last choice was written as
// a compressed block: its table becomes the one Repeat_Mode refers to.
// Only FSE tables are offered for repeat: repeating a predefined or RLE
// table saves nothing over choosing it again.
func (c *symbolCoder) commit() {
	switch c.mode {
	case modeFSE:
		c.cur, c.prev = c.prev, c.cur
		c.prevOK = true
	case modePredefined, modeRLE:
		c.prevOK = false
	}
}

// init, encode and flush drive the coder's state through the bitstream;
// RLE mode has no state and writes nothing.
func (c *symbolCoder) init(st *fseState, sym uint8) {
	if c.table != nil {
		st.init(c.table, sym)
	}
}

func (c *symbolCoder) encode(st *fseState, w *bitWriter, sym uint8) {
	if c.table != nil {
		st.encode(w, sym)
	}
}

func (c *symbolCoder) flush(st *fseState, w *bitWriter) {
	if c.table != nil {
		st.flush(w)
	}
}
