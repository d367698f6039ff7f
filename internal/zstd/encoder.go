package zstd

import "fmt"

// MaxSrc is the most bytes Compress takes: squashfs's largest block. The
// match finder's memory grows with the input (8 bytes of tree a byte), and
// a frame is one window, which a decoder must hold whole.
const MaxSrc = 1 << 20

// An Encoder writes zstd frames. It keeps its match finder, parser and
// entropy stage between calls, so compressing allocates nothing once they
// have grown. It is not safe for concurrent use.
type Encoder struct {
	p  *optParser
	be *blockEncoder
	sp *splitter // nil unless Options.SplitSeqs

	// parseBest's other parse, and the scratch its sizes are coded in.
	altLits  []byte
	altSeqs  []Seq
	altStats stats
	altReps  repOffsets
	trial    []byte
}

// NewEncoder returns an encoder with options o.
func NewEncoder(o Options) (*Encoder, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	e := &Encoder{p: newOptParser(o), be: newBlockEncoder()}
	if o.SplitSeqs > 0 {
		e.sp = &splitter{minSeqs: o.SplitSeqs}
	}
	return e, nil
}

// Compress appends to dst one frame that decodes to src: a single-segment
// frame with its content size and no checksum, in blocks of up to
// Options.BlockSize. Matches reach back across blocks to the frame's
// start; the statistics the parser prices with carry over from block to
// block.
func (e *Encoder) Compress(dst, src []byte) ([]byte, error) {
	if len(src) > MaxSrc {
		return dst, fmt.Errorf("zstd: %d bytes to compress: want at most %d", len(src), MaxSrc)
	}
	dst = appendFrameHeader(dst, len(src))
	e.be.reset()
	if len(src) == 0 {
		dst, _ = e.be.appendBlock(dst, nil, nil, nil, true)
		return dst, nil
	}
	p := e.p
	p.startFrame(src)
	for start := 0; start < len(src); {
		end := min(start+p.blockSize, len(src))
		reps := p.reps
		p.beginBlock(start, end)
		if start > 0 && p.cached { // Options.Restart
			e.parseBest(start, end)
		} else {
			p.parseBlock(start, end)
		}
		var compressed, split bool
		if e.sp != nil {
			dst, split = e.be.appendSplit(e.sp, dst, src[start:end], p.lits, p.seqs, end == len(src))
		}
		if !split {
			dst, compressed = e.be.appendBlock(dst, src[start:end], p.lits, p.seqs, end == len(src))
		}
		if !split && !compressed {
			// A decoder keeps the repeat offsets of the last compressed
			// block.
			p.reps = reps
		}
		start = end
	}
	return dst, nil
}

// parseBest parses the block src[start:end] twice, with the statistics of
// the blocks before and with fresh ones, and keeps the parse the entropy
// stage codes smaller, with its statistics and repeat offsets.
func (e *Encoder) parseBest(start, end int) {
	p := e.p
	reps, stats := p.reps, p.stats
	p.parseBlock(start, end)
	carried := len(e.be.encode(e.trial[:0], p.lits, p.seqs))
	e.altLits, p.lits = p.lits, e.altLits
	e.altSeqs, p.seqs = p.seqs, e.altSeqs
	e.altStats, e.altReps = p.stats, p.reps

	p.reps, p.stats = reps, stats
	p.stats.init(p.buf[start:end])
	p.parseBlock(start, end)
	e.trial = e.be.encode(e.trial[:0], p.lits, p.seqs)
	if carried <= len(e.trial) {
		p.lits, e.altLits = e.altLits, p.lits
		p.seqs, e.altSeqs = e.altSeqs, p.seqs
		p.stats, p.reps = e.altStats, e.altReps
	}
}

// twoPassMin is the smallest input a first pass is worth its time on: a
// smaller one has too few sequences to learn from (libzstd's
// ZSTD_PREDEF_THRESHOLD).
const twoPassMin = 1 << 10
