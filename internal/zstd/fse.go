package zstd

import (
	"math"
	"math/bits"
)

// FSE limits of the sequences section (RFC 8878, 3.1.1.3.2.1): the largest
// code of each symbol type and the largest accuracy log a decoder accepts
// for its table.
const (
	maxLLCode = 35
	maxMLCode = 52
	maxOFCode = 31
	maxLLLog  = 9
	maxMLLog  = 9
	maxOFLog  = 8

	fseMinLog       = 5 // Accuracy_Log is stored as log-5 in 4 bits
	fseMaxSymbols   = maxMLCode + 1
	fseMaxTableSize = 1 << maxLLLog
)

// fseTable is an FSE encoding table, built from a normalized distribution
// exactly as a decoder builds its decoding table from the same
// distribution, so the two walk the same state machine.
type fseTable struct {
	norm       [fseMaxSymbols]int16 // -1: "less than 1" probability, one cell
	nSym       int                  // symbols described: norm[:nSym]
	log        uint8
	stateTable [fseMaxTableSize]uint16
	symTT      [fseMaxSymbols]fseSymbolTransform
}

// fseSymbolTransform is what encoding one symbol needs (the tANS transform
// of FSE_buildCTable in libzstd's fse_compress.c): how many bits the current
// state sheds and where the next state is found.
type fseSymbolTransform struct {
	deltaFindState int32
	deltaNbBits    uint32
}

// build makes t the encoding table of norm (which sums to 1<<log, a -1
// counting as 1). It panics if norm does not, which only a bug here can
// cause: norm comes from normalize or from the predefined tables.
func (t *fseTable) build(norm []int16, log uint8) {
	if len(norm) > fseMaxSymbols || log < fseMinLog || log > maxLLLog {
		panic("zstd: fse table out of range")
	}
	t.nSym = len(norm)
	t.log = log
	copy(t.norm[:], norm)
	clear(t.norm[len(norm):])

	tableSize := 1 << log
	var cumul [fseMaxSymbols + 1]int
	var tableSymbol [fseMaxTableSize]uint8
	high := tableSize - 1
	// Low-probability symbols take the cells at the end of the table.
	for s, n := range norm {
		if n == -1 {
			cumul[s+1] = cumul[s] + 1
			tableSymbol[high] = uint8(s)
			high--
		} else {
			cumul[s+1] = cumul[s] + int(n)
		}
	}
	if cumul[len(norm)] != tableSize {
		panic("zstd: fse distribution does not sum to the table size")
	}
	// Spread the others with the format's fixed step, skipping those cells.
	step := tableSize>>1 + tableSize>>3 + 3
	mask := tableSize - 1
	pos := 0
	for s, n := range norm {
		for range max(int(n), 0) {
			tableSymbol[pos] = uint8(s)
			pos = (pos + step) & mask
			for pos > high {
				pos = (pos + step) & mask
			}
		}
	}
	if pos != 0 {
		panic("zstd: fse spread did not end at cell 0")
	}
	// States of each symbol, in cell order: the decoder numbers a symbol's
	// cells the same way when it assigns their baselines.
	next := cumul
	for u := range tableSize {
		s := tableSymbol[u]
		t.stateTable[next[s]] = uint16(tableSize + u)
		next[s]++
	}
	for s, n := range norm {
		switch {
		case n == 0:
			t.symTT[s] = fseSymbolTransform{}
		case n == -1 || n == 1:
			t.symTT[s] = fseSymbolTransform{
				deltaFindState: int32(cumul[s] - 1),
				deltaNbBits:    uint32(log)<<16 - uint32(tableSize),
			}
		default:
			maxBitsOut := uint32(log) - uint32(bits.Len32(uint32(n-1))-1)
			minStatePlus := uint32(n) << maxBitsOut
			t.symTT[s] = fseSymbolTransform{
				deltaFindState: int32(cumul[s] - int(n)),
				deltaNbBits:    maxBitsOut<<16 - minStatePlus,
			}
		}
	}
}

// covers reports whether t can code every symbol count holds.
func (t *fseTable) covers(count []uint32) bool {
	for s, c := range count {
		if c != 0 && (s >= t.nSym || t.norm[s] == 0) {
			return false
		}
	}
	return true
}

// cost estimates, in bits, coding the symbols of count with t: a symbol of
// probability n/2^log costs log-log2(n) bits, plus the final state. The
// caller checks covers first.
func (t *fseTable) cost(count []uint32) float64 {
	bitsTotal := float64(t.log)
	for s, c := range count {
		if c == 0 {
			continue
		}
		n := max(int(t.norm[s]), 1)
		bitsTotal += float64(c) * (float64(t.log) - math.Log2(float64(n)))
	}
	return bitsTotal
}

// fseState is one FSE encoder's state while a bitstream is written.
type fseState struct {
	t     *fseTable
	state uint32
}

// init starts the state on the last symbol to be coded (the first one the
// decoder reads), writing no bits (FSE_initCState2).
func (st *fseState) init(t *fseTable, sym uint8) {
	st.t = t
	tt := t.symTT[sym]
	nbBitsOut := (tt.deltaNbBits + 1<<15) >> 16
	value := nbBitsOut<<16 - tt.deltaNbBits
	st.state = uint32(t.stateTable[int32(value>>nbBitsOut)+tt.deltaFindState])
}

// encode codes sym: it writes the low bits of the state that the decoder
// reads to get back to the current state from sym's cell.
func (st *fseState) encode(w *bitWriter, sym uint8) {
	tt := st.t.symTT[sym]
	nb := (st.state + tt.deltaNbBits) >> 16
	w.addBits(uint64(st.state)&(1<<nb-1), uint(nb))
	st.state = uint32(st.t.stateTable[int32(st.state>>nb)+tt.deltaFindState])
}

// flush writes the final state, which the decoder reads as its initial one.
func (st *fseState) flush(w *bitWriter) {
	w.addBits(uint64(st.state)&(1<<st.t.log-1), uint(st.t.log))
}

// normalize sets norm[:len(count)] to a distribution of count summing to
// 1<<log with every present symbol at least 1, choosing the roundings that
// cost the fewest bits. It reports false when there are more symbols than
// cells. total is the sum of count. It never writes -1: a symbol of
// probability "less than 1" costs the same bits as one of 1 cell.
func normalize(norm []int16, count []uint32, total uint32, log uint8) bool {
	tableSize := 1 << log
	sum := 0
	for s, c := range count {
		if c == 0 {
			norm[s] = 0
			continue
		}
		n := int((uint64(c)<<log + uint64(total)/2) / uint64(total))
		n = max(n, 1)
		norm[s] = int16(n)
		sum += n
	}
	if sum == 0 {
		return false
	}
	// Greedy repair of the rounding: each step moves the one cell whose
	// move costs least, c*log2(n/(n-1)) to take, c*log2((n+1)/n) to give.
	for sum > tableSize {
		best, bestCost := -1, math.Inf(1)
		for s, c := range count {
			n := norm[s]
			if n <= 1 {
				continue
			}
			cost := float64(c) * math.Log2(float64(n)/float64(n-1))
			if cost < bestCost {
				best, bestCost = s, cost
			}
		}
		if best < 0 {
			return false
		}
		norm[best]--
		sum--
	}
	for sum < tableSize {
		best, bestGain := -1, -1.0
		for s, c := range count {
			n := norm[s]
			if n == 0 {
				continue
			}
			gain := float64(c) * math.Log2(float64(n+1)/float64(n))
			if gain > bestGain {
				best, bestGain = s, gain
			}
		}
		norm[best]++
		sum++
	}
	return true
}

// appendNCount appends the FSE table description of norm (RFC 8878,
// 4.1.1): the accuracy log, then each symbol's count+1 in a variable
// number of bits, runs of zero counts as 2-bit repeat flags. It stops after
// the last cell is spent: later symbols are implied zero.
func appendNCount(dst []byte, norm []int16, log uint8) []byte {
	var acc uint64
	var nacc uint
	put := func(v uint64, n uint) {
		acc |= v << nacc
		nacc += n
		for nacc >= 8 {
			dst = append(dst, byte(acc))
			acc >>= 8
			nacc -= 8
		}
	}
	put(uint64(log-fseMinLog), 4)
	tableSize := 1 << log
	remaining := tableSize + 1
	threshold := tableSize
	nbBits := uint(log) + 1
	prevZero := false
	for s := 0; s < len(norm) && remaining > 1; {
		if prevZero {
			start := s
			for norm[s] == 0 {
				s++ // a non-zero symbol follows: remaining > 1
			}
			for s >= start+24 {
				start += 24
				put(0xFFFF, 16)
			}
			for s >= start+3 {
				start += 3
				put(3, 2)
			}
			put(uint64(s-start), 2)
		}
		count := int(norm[s])
		s++
		limit := 2*threshold - 1 - remaining
		remaining -= max(count, -count)
		count++
		if count >= threshold {
			count += limit
		}
		n := nbBits
		if count < limit {
			n--
		}
		put(uint64(count), n)
		prevZero = count == 1
		for remaining < threshold {
			nbBits--
			threshold >>= 1
		}
	}
	if remaining != 1 {
		panic("zstd: fse distribution does not sum to the table size")
	}
	if nacc > 0 {
		dst = append(dst, byte(acc))
	}
	return dst
}

// bitWriter writes the backward bitstream of sequences (RFC 8878, 4.1):
// bits are added low first and the decoder reads them from the end.
type bitWriter struct {
	out []byte
	c   uint64
	n   uint
}

// addBits adds the n low bits of v (v must have no others). It flushes
// whole bytes first when they would not fit, so n may be up to 56: a
// 31-bit offset after two 16-bit lengths needs no care from the caller.
func (w *bitWriter) addBits(v uint64, n uint) {
	if w.n+n > 64 {
		w.flush()
	}
	w.c |= v << w.n
	w.n += n
}

func (w *bitWriter) flush() {
	nb := w.n >> 3
	var buf [8]byte
	for i := range nb {
		buf[i] = byte(w.c >> (8 * i))
	}
	w.out = append(w.out, buf[:nb]...)
	w.c >>= 8 * nb
	w.n &= 7
}

// close ends the stream with the 1 bit that marks where it starts for the
// decoder, and pads the last byte with zeros.
func (w *bitWriter) close() {
	w.addBits(1, 1)
	w.flush()
	if w.n > 0 {
		w.out = append(w.out, byte(w.c))
	}
	w.c, w.n = 0, 0
}
