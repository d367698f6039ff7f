package zstd

// Splitting a parsed stretch into blocks. Each block has its own Huffman
// and FSE tables, so cutting where the statistics of the literals, lengths
// and offsets change pays for the extra tables; libzstd's strongest levels
// do it (ZSTD_deriveBlockSplits). The splitter halves a stretch's
// sequences recursively, as libzstd does, but compares the sizes the
// entropy stage actually codes the halves and the whole in rather than
// estimates of them: that is exact, and the entropy stage is cheap beside
// the parse.

// splitter holds the cuts of one stretch, reused from stretch to stretch.
type splitter struct {
	minSeqs int   // the fewest sequences a part may have
	cuts    []int // sequence indexes where a new block starts
	// Per sequence i, the bytes of src and of literals before it.
	srcAt, litAt []int
	trial        []byte
}

// appendSplit appends the stretch src, coded by the parser as lits and
// seqs, as several compressed blocks where that is smaller than one block,
// last marking the frame's last one. It reports false, having appended
// nothing, when one block is as small: the caller then appends it as
// usual. Every block it writes is compressed, so the repeat offsets the
// parser assumed after each one hold.
func (e *blockEncoder) appendSplit(s *splitter, dst, src, lits []byte, seqs []Seq, last bool) ([]byte, bool) {
	if len(seqs) < 2*s.minSeqs || allSame(src) {
		return dst, false
	}
	s.srcAt, s.litAt = s.srcAt[:0], s.litAt[:0]
	srcAt, litAt := 0, 0
	for _, q := range seqs {
		s.srcAt, s.litAt = append(s.srcAt, srcAt), append(s.litAt, litAt)
		srcAt += int(q.LitLen + q.MatchLen)
		litAt += int(q.LitLen)
	}
	s.srcAt, s.litAt = append(s.srcAt, len(src)), append(s.litAt, len(lits))

	// part returns sequences a to b with their source and literals; the
	// last part takes the literals after the last sequence.
	part := func(a, b int) (psrc, plits []byte, pseqs []Seq) {
		return src[s.srcAt[a]:s.srcAt[b]], lits[s.litAt[a]:s.litAt[b]], seqs[a:b]
	}
	// size is what the part a to b codes in, header included, or more
	// than any sum of sizes when it does not code smaller than raw.
	size := func(a, b int) int {
		psrc, plits, pseqs := part(a, b)
		s.trial = e.encode(s.trial[:0], plits, pseqs)
		if len(s.trial) >= len(psrc) {
			return 2 * maxBlockSize
		}
		return blockHeaderSize + len(s.trial)
	}
	s.cuts = s.cuts[:0]
	var split func(a, b, whole int)
	split = func(a, b, whole int) {
		if b-a < 2*s.minSeqs {
			return
		}
		mid := (a + b) / 2
		left, right := size(a, mid), size(mid, b)
		if left+right >= whole {
			return
		}
		split(a, mid, left)
		s.cuts = append(s.cuts, mid)
		split(mid, b, right)
	}
	split(0, len(seqs), size(0, len(seqs)))
	if len(s.cuts) == 0 {
		return dst, false
	}

	s.cuts = append(s.cuts, len(seqs))
	a := 0
	for i, b := range s.cuts {
		psrc, plits, pseqs := part(a, b)
		if err := checkBlock(psrc, plits, pseqs); err != nil {
			panic(err)
		}
		e.body = e.encode(e.body[:0], plits, pseqs)
		if len(e.body) > maxBlockSize {
			// Unreachable: a part's trial coded it smaller than its
			// source, at most maxSplitBlock bytes. Coded again after the
			// parts before it, its literals cost at most the trial's and
			// a Huffman table's description more (their choice is by
			// exact size, and a fresh table codes them about as well as
			// any reused one), and a sequence table mode other than the
			// trial's is chosen only where its estimate is lower; an
			// estimate is within a bit a symbol of the bitstream, so the
			// sequences grow by at most 6 bits a sequence, a quarter of
			// the part's bytes: about 80 KiB in all.
			panic("zstd: a split block codes larger than a block may be")
		}
		e.commit(len(pseqs) > 0)
		dst = append(appendBlockHeader(dst, blockCompressed, len(e.body), last && i == len(s.cuts)-1), e.body...)
		a = b
	}
	return dst, true
}
