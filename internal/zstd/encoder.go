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
}

// NewEncoder returns an encoder with options o.
func NewEncoder(o Options) (*Encoder, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Encoder{p: newOptParser(o), be: newBlockEncoder()}, nil
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
	if p.twoPass && len(src) > twoPassMin {
		p.firstPass(min(len(src), p.blockSize))
	}
	for start := 0; start < len(src); {
		end := min(start+p.blockSize, len(src))
		reps := p.reps
		p.parseBlock(start, end)
		var compressed bool
		dst, compressed = e.be.appendBlock(dst, src[start:end], p.lits, p.seqs, end == len(src))
		if !compressed {
			// A decoder keeps the repeat offsets of the last compressed
			// block.
			p.reps = reps
		}
		start = end
	}
	return dst, nil
}

// twoPassMin is the smallest input a first pass is worth its time on: a
// smaller one has too few sequences to learn from (libzstd's
// ZSTD_PREDEF_THRESHOLD).
const twoPassMin = 1 << 10
