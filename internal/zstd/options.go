package zstd

import "fmt"

// Options shape the search. The zero value is not valid; start from Level.
type Options struct {
	// NiceLen is the match length the parser takes without searching
	// further, and the longest match the finder reports otherwise: longer
	// searches more, compresses better, runs slower.
	NiceLen int
	// Depth is the most tree nodes the match finder visits per position.
	Depth int
	// IndexLen is how many positions of a match taken at once (one of
	// NiceLen bytes or more) the match finder indexes, from its second;
	// it passes over the rest, which later matches can still find at the
	// match's source. 0 indexes them all: slower, a little smaller.
	IndexLen int
	// Fast neither searches nor indexes a position that a literal
	// reaches about as cheaply as the position before (it is likely
	// inside a good match): faster, a little larger. libzstd's btopt
	// skips the search there too.
	Fast bool
	// TwoPass parses a frame's first block twice, the first time only to
	// learn its statistics, so that the second prices its choices well
	// from the start (libzstd's btultra2 does the same).
	TwoPass bool
}

const (
	minNiceLen = 8
	maxNiceLen = 1 << 12 // a window's length
	maxDepth   = 1 << 16
)

func (o Options) validate() error {
	switch {
	case o.NiceLen < minNiceLen || o.NiceLen > maxNiceLen:
		return fmt.Errorf("zstd: nice length %d: want %d..%d", o.NiceLen, minNiceLen, maxNiceLen)
	case o.Depth < 1 || o.Depth > maxDepth:
		return fmt.Errorf("zstd: search depth %d: want 1..%d", o.Depth, maxDepth)
	case o.IndexLen < 0:
		return fmt.Errorf("zstd: index length %d: want 0 (all) or more", o.IndexLen)
	}
	return nil
}

func newOptParser(o Options) *optParser {
	p := &optParser{nice: o.NiceLen, depth: o.Depth, fast: o.Fast, twoPass: o.TwoPass, indexLen: o.IndexLen}
	if p.indexLen == 0 {
		p.indexLen = MaxSrc
	}
	return p
}

// firstPass parses the frame's first block, buf[:end], only for its
// statistics, and starts the frame over.
func (p *optParser) firstPass(end int) {
	p.parseBlock(0, end)
	p.mf.Reset(p.buf, p.nice, p.depth, maxBlockSize)
	p.reps = frameStartReps
}

// The levels Level knows.
const (
	MinLevel     = 1
	DefaultLevel = 2
	MaxLevel     = 5
)

// Level returns the options of a level from MinLevel to MaxLevel; others
// are clamped. Measured figures are in Level's doc.
//
// (figures to come)
func Level(n int) Options {
	switch {
	case n <= MinLevel:
		return Options{NiceLen: 12, Depth: 4, IndexLen: 4, Fast: true}
	case n == DefaultLevel:
		return Options{NiceLen: 16, Depth: 4, IndexLen: 4, Fast: true}
	case n == 3:
		return Options{NiceLen: 32, Depth: 8, IndexLen: 8, Fast: true}
	case n == 4:
		return Options{NiceLen: 64, Depth: 32}
	}
	return Options{NiceLen: 128, Depth: 64, TwoPass: true}
}
