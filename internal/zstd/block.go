package zstd

import (
	"errors"
	"fmt"
)

// Block_Type (RFC 8878, 3.1.1.2).
const (
	blockRaw        = 0
	blockRLE        = 1
	blockCompressed = 2
)

// blockEncoder is the entropy stage: it codes the literals and sequences
// the parser chose for a block as the block's bytes. It keeps what a
// decoder keeps from block to block of a frame (the Huffman table and the
// three FSE tables, for Treeless literals and Repeat_Mode) and its scratch
// buffers, so coding allocates nothing once they have grown. A
// blockEncoder must not be copied; it is not safe for concurrent use.
type blockEncoder struct {
	lit        litEncoder
	ll, of, ml symbolCoder

	llCodes, ofCodes, mlCodes []uint8
	body                      []byte // the compressed candidate's content
	ncount                    []byte // scratch for table descriptions
	bw                        bitWriter
}

func newBlockEncoder() *blockEncoder {
	return &blockEncoder{
		ll: newSymbolCoder(llPredef[:], llPredefLog, maxLLLog),
		of: newSymbolCoder(ofPredef[:], ofPredefLog, maxOFLog),
		ml: newSymbolCoder(mlPredef[:], mlPredefLog, maxMLLog),
	}
}

// reset starts a frame: a decoder forgets the tables of previous frames.
func (e *blockEncoder) reset() {
	e.lit.reset()
	e.ll.prevOK, e.of.prevOK, e.ml.prevOK = false, false, false
}

// appendBlock appends to dst one block, header included, that decodes to
// src (at most maxBlockSize bytes), last marking the frame's last block.
// lits and seqs are the parser's coding of src: the sequences in order,
// then the literals after the last one. It writes them as a
// Compressed_Block unless src is one byte repeated (an RLE_Block) or a
// Raw_Block is not larger.
//
// compressed reports whether it wrote a Compressed_Block. When it did not,
// the caller must roll its repeat offsets back to what they were before
// the block: a decoder only updates them while executing a compressed
// block's sequences, and the next block's repeat codes must mean what the
// decoder will take them to mean. The tables kept for Treeless literals
// and Repeat_Mode likewise advance only on compressed blocks.
//
// appendBlock panics if lits and seqs do not add up to len(src) (see
// checkBlock, which a caller wanting an error runs first), or if a Seq has
// a MatchLen below minMatch or an OffBase of 0: only a broken parser gives
// such input. It does not check that offsets stay in the frame.
func (e *blockEncoder) appendBlock(dst, src, lits []byte, seqs []Seq, last bool) (out []byte, compressed bool) {
	if len(src) > maxBlockSize {
		panic(fmt.Sprintf("zstd: block of %d bytes", len(src)))
	}
	if len(src) > 0 && allSame(src) {
		return append(appendBlockHeader(dst, blockRLE, len(src), last), src[0]), false
	}
	if len(src) == 0 {
		return appendBlockHeader(dst, blockRaw, 0, last), false
	}
	if err := checkBlock(src, lits, seqs); err != nil {
		panic(err)
	}
	e.body = e.encode(e.body[:0], lits, seqs)
	if len(e.body) >= len(src) {
		return append(appendBlockHeader(dst, blockRaw, len(src), last), src...), false
	}
	e.commit(len(seqs) > 0)
	return append(appendBlockHeader(dst, blockCompressed, len(e.body), last), e.body...), true
}

// commit records that the block just encoded was written compressed: its
// tables are now the decoder's.
func (e *blockEncoder) commit(hasSeqs bool) {
	e.lit.commit()
	if hasSeqs {
		e.ll.commit()
		e.of.commit()
		e.ml.commit()
	}
}

// checkBlock reports whether lits and seqs can code a block of len(src)
// bytes: the lengths add up, every match is at least minMatch long and
// every OffBase is valid.
func checkBlock(src, lits []byte, seqs []Seq) error {
	var litSum, total uint64
	for i, s := range seqs {
		if s.MatchLen < minMatch || s.OffBase == 0 {
			return fmt.Errorf("zstd: sequence %d of %d: %+v", i, len(seqs), s)
		}
		litSum += uint64(s.LitLen)
		total += uint64(s.LitLen) + uint64(s.MatchLen)
	}
	if litSum > uint64(len(lits)) {
		return fmt.Errorf("zstd: sequences use %d literals of %d", litSum, len(lits))
	}
	total += uint64(len(lits)) - litSum
	if total != uint64(len(src)) {
		return fmt.Errorf("zstd: sequences and literals make %d bytes, the block has %d", total, len(src))
	}
	if len(src) > maxBlockSize {
		return errors.New("zstd: block larger than 128 KiB")
	}
	return nil
}

// blockHeaderSize is Block_Header's size.
const blockHeaderSize = 3

func appendBlockHeader(dst []byte, typ, size int, last bool) []byte {
	v := typ<<1 | size<<3
	if last {
		v |= 1
	}
	return append(dst, byte(v), byte(v>>8), byte(v>>16))
}

// encode appends the content of a Compressed_Block: the literals section,
// then the sequences section.
func (e *blockEncoder) encode(dst, lits []byte, seqs []Seq) []byte {
	dst = e.lit.encode(dst, lits)
	n := len(seqs)
	if n == 0 {
		return append(dst, 0)
	}
	e.llCodes, e.ofCodes, e.mlCodes = e.llCodes[:0], e.ofCodes[:0], e.mlCodes[:0]
	for _, s := range seqs {
		e.llCodes = append(e.llCodes, llCode(s.LitLen))
		e.ofCodes = append(e.ofCodes, ofCode(s.OffBase))
		e.mlCodes = append(e.mlCodes, mlCode(s.MatchLen))
	}
	// klauspost/compress's decoder (v1.20.4) reads an FSE table
	// description only when at least 4 bytes of the block are left from its
	// start; libzstd has no such need. A tiny sequences section that breaks
	// this is coded again without FSE_Compressed_Mode for that type (at
	// most once per type).
	seqStart := len(dst)
	allowLL, allowOF, allowML := true, true, true
	for {
		dst = dst[:seqStart]
		switch {
		case n < 0x80:
			dst = append(dst, byte(n))
		case n < 0x7F00:
			dst = append(dst, byte(n>>8)|0x80, byte(n))
		default:
			dst = append(dst, 0xFF, byte(n-0x7F00), byte((n-0x7F00)>>8))
		}
		modes := len(dst)
		dst = append(dst, 0)
		dst, e.ncount = e.ll.choose(dst, e.llCodes, e.ncount, allowLL)
		dst, e.ncount = e.of.choose(dst, e.ofCodes, e.ncount, allowOF)
		dst, e.ncount = e.ml.choose(dst, e.mlCodes, e.ncount, allowML)
		dst[modes] = e.ll.mode<<6 | e.of.mode<<4 | e.ml.mode<<2

		e.bw.out = dst
		dst = e.encodeSeqs(seqs)
		e.bw.out = nil
		short := func(c *symbolCoder) bool { return c.mode == modeFSE && len(dst)-c.descPos < 4 }
		switch {
		case short(&e.ll):
			allowLL = false
		case short(&e.of):
			allowOF = false
		case short(&e.ml):
			allowML = false
		default:
			return dst
		}
	}
}

// encodeSeqs writes the sequences bitstream onto e.bw.out and returns it.
// The decoder reads it backwards: the three initial states (LL, OF, ML),
// then for each sequence the offset, match length and literal length extra
// bits and the LL, ML and OF state updates. So the last sequence is
// written first, each one's state updates before its extra bits, and the
// states last.
func (e *blockEncoder) encodeSeqs(seqs []Seq) []byte {
	w := &e.bw
	llc, ofc, mlc := e.llCodes, e.ofCodes, e.mlCodes
	var llS, ofS, mlS fseState
	last := len(seqs) - 1
	e.ml.init(&mlS, mlc[last])
	e.of.init(&ofS, ofc[last])
	e.ll.init(&llS, llc[last])
	for i := last; i >= 0; i-- {
		if i != last {
			e.of.encode(&ofS, w, ofc[i])
			e.ml.encode(&mlS, w, mlc[i])
			e.ll.encode(&llS, w, llc[i])
		}
		s := seqs[i]
		w.addBits(uint64(s.LitLen-llBase[llc[i]]), uint(llBits[llc[i]]))
		w.addBits(uint64(s.MatchLen-mlBase[mlc[i]]), uint(mlBits[mlc[i]]))
		w.addBits(uint64(s.OffBase)&(1<<ofc[i]-1), uint(ofc[i]))
	}
	e.ml.flush(&mlS, w)
	e.of.flush(&ofS, w)
	e.ll.flush(&llS, w)
	w.close()
	return w.out
}
