package zstd

import (
	"cmp"
	"fmt"
	"unsafe"

	"github.com/mkportable/mkportable/internal/matchfind"
)

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
	// BlockSize is the most bytes of input a block codes, up to 128 KiB
	// (0 means 128 KiB). Smaller blocks have their own Huffman and FSE
	// tables and prices, which follow content whose statistics change, as
	// machine code's do from section to section: on the GOROOT corpus
	// (see Level), 32 KiB blocks made level 5's output 0.5% smaller, 64
	// KiB level 1's 0.4%; 16 KiB blocks cost more in tables than they
	// gained. libzstd's strongest levels split blocks where the statistics
	// change instead.
	BlockSize int
	// TwoPass parses a frame's first block twice, the first time only to
	// learn its statistics, so that the second prices its choices well
	// from the start (libzstd's btultra2 does the same).
	TwoPass bool
	// SplitSeqs, when not 0, splits each parsed block of BlockSize (at
	// most 64 KiB) into smaller blocks where that codes smaller, halving
	// its sequences recursively down to parts of SplitSeqs sequences (see
	// appendSplit).
	SplitSeqs int
	// Restart parses every block after a frame's first twice, once with
	// the statistics of the blocks before (scaled down) and once with
	// fresh ones from the block's bytes, and keeps the parse that codes
	// smaller. Carried statistics price well where the content goes on as
	// before, but they can hold the parser to a habit, a repeat offset or
	// a literal run length that only looks cheap because it was chosen
	// so often; fresh ones break out of it. The matches at each position
	// are found once, before the parses.
	Restart bool
}

const (
	minNiceLen = 8
	maxNiceLen = 1 << 12 // a window's length
	maxDepth   = 1 << 16
	// minBlockSize keeps the tables' cost small beside a block's content.
	minBlockSize = 1 << 10
	// maxSplitBlock is the largest block a splitter takes: every part of
	// it then codes in well under maxBlockSize (see appendSplit).
	maxSplitBlock = maxBlockSize / 2
)

func (o Options) validate() error {
	switch {
	case o.NiceLen < minNiceLen || o.NiceLen > maxNiceLen:
		return fmt.Errorf("zstd: nice length %d: want %d..%d", o.NiceLen, minNiceLen, maxNiceLen)
	case o.Depth < 1 || o.Depth > maxDepth:
		return fmt.Errorf("zstd: search depth %d: want 1..%d", o.Depth, maxDepth)
	case o.BlockSize != 0 && (o.BlockSize < minBlockSize || o.BlockSize > maxBlockSize):
		return fmt.Errorf("zstd: block size %d: want 0 (128 KiB) or %d..%d", o.BlockSize, minBlockSize, maxBlockSize)
	case o.SplitSeqs < 0:
		return fmt.Errorf("zstd: split sequences %d: want 0 (no splitting) or more", o.SplitSeqs)
	case o.SplitSeqs > 0 && (o.BlockSize == 0 || o.BlockSize > maxSplitBlock):
		return fmt.Errorf("zstd: splitting blocks of %d bytes: want at most %d", cmp.Or(o.BlockSize, maxBlockSize), maxSplitBlock)
	case o.IndexLen < 0:
		return fmt.Errorf("zstd: index length %d: want 0 (all) or more", o.IndexLen)
	}
	return nil
}

// MatchCacheSize returns the most bytes the match cache of an encoder with
// options o holds (Restart keeps one; it is not counted in the 8 bytes a
// byte of input the match finder takes).
func (o Options) MatchCacheSize() int {
	if !o.Restart {
		return 0
	}
	bs := o.BlockSize
	if bs == 0 {
		bs = maxBlockSize
	}
	return bs * (maxCachedMatches*int(unsafe.Sizeof(matchfind.Match{})) + 4)
}

func newOptParser(o Options) *optParser {
	p := &optParser{nice: o.NiceLen, depth: o.Depth, fast: o.Fast, twoPass: o.TwoPass, indexLen: o.IndexLen, blockSize: o.BlockSize,
		cached: o.Restart}
	if p.indexLen == 0 {
		p.indexLen = MaxSrc
	}
	if p.blockSize == 0 {
		p.blockSize = maxBlockSize
	}
	return p
}

// beginBlock readies the parser for the block buf[start:end], before it
// is parsed: with the match cache (Options.Restart) it finds the block's
// matches, and at a frame's first block, with TwoPass and an input worth
// it, it makes the first pass.
func (p *optParser) beginBlock(start, end int) {
	if p.cached {
		p.findAll(start, end)
	}
	if start == 0 && p.twoPass && len(p.buf) > twoPassMin {
		p.firstPass(end)
	}
}

// firstPass parses the frame's first block, buf[:end], only for its
// statistics, and starts the frame over.
func (p *optParser) firstPass(end int) {
	p.parseBlock(0, end)
	if !p.cached {
		p.mf.Reset(p.buf, p.nice, p.depth, maxBlockSize)
	}
	p.reps = frameStartReps
}

// The levels Level knows. The default is the fastest: it is smaller than
// libzstd's level 15 in less time, which is what squashfs images made with
// mksquashfs -comp zstd -Xcompression-level 15 are compared with.
const (
	MinLevel     = 1
	DefaultLevel = 1
	MaxLevel     = 5
)

// Level returns the options of a level from MinLevel to MaxLevel; others
// are clamped.
//
// Measured on 64 MiB of the Go 1.26 toolchain (a tar of GOROOT/src cut at
// 48 MiB, then of GOROOT/pkg/tool cut at 16 MiB) split into 1 MiB chunks,
// each compressed as one frame, as squashfs compresses its blocks, against
// zstd 1.5.4's command on each chunk (-q --single-thread --no-check; a
// 1 MiB file gets the parameters mksquashfs's ZSTD_compressCCtx gets for a
// 1 MiB block) and klauspost/compress's SpeedBestCompression. CPU seconds
// are the least of three interleaved runs on a shared two-core machine,
// user+sys for zstd; `go run scripts/zstdlevels.go DIR 3` measures ours
// and klauspost's (levels 1 to 4 and zstd -15 at load 1.3 to 2.9 on
// 2026-11-26 before noon; level 5, zstd -19 and klauspost at 13:56 to 14:01,
// load 3.8 falling to 1.1, level 5's CPU on a build that kept every match
// of a position, 167 bytes larger output, before maxCachedMatches):
//
//	level       nice, depth, index, block              bytes       CPU s
//	1 (default) 16, 4, 4, 64 KiB, fast                 18,069,749   6.90
//	2           20, 6, 4, 64 KiB, fast                 17,802,155   7.81
//	3           32, 8, 8, 64 KiB, fast                 17,551,784   7.59
//	4           64, 32, all, 32 KiB                    17,001,173  18.42
//	5           256, 128, all, 64 KiB split to 64      16,859,644  28.75
//	            sequences, 2 passes, restart
//	zstd -15    btlazy2                                18,249,061   7.11
//	zstd -19    btultra2                               16,897,335  22.98
//	klauspost   SpeedBestCompression                   18,408,840   3.71
//
// The runs' CPU times moved by up to 45% with the machine's other load;
// within a run, level 1 took 0.81 to 0.97 of zstd -15's time (0.73 to
// 0.89 in an earlier run with 128 KiB blocks, 0.6% larger than zstd -15),
// and is 1.0% smaller. Level 5 is 0.22% smaller than zstd -19 in 1.25
// times its CPU (zstd -19 took 22.98 to 27.39 s in that run). Before
// splitting and Restart it wrote 16,972,827 bytes in fixed 32 KiB blocks,
// 0.45% larger than zstd -19, in 1.17 times its CPU (23.91 and 20.45 s
// in an earlier run). Splitting made that 16,903,976 (the most on machine
// code, whose statistics change from section to section), a deeper search
// (nice 256, depth 128 instead of 128, 64) 16,894,082, and Restart the
// rest (the most on generated files: GOROOT/test/fixedbugs/bug385_64.go's
// first 1 MiB codes in 69,402 bytes without it, 28,621 with it, 53,994
// with zstd -19).
func Level(n int) Options {
	switch {
	case n <= MinLevel:
		return Options{NiceLen: 16, Depth: 4, IndexLen: 4, Fast: true, BlockSize: 64 << 10}
	case n == 2:
		return Options{NiceLen: 20, Depth: 6, IndexLen: 4, Fast: true, BlockSize: 64 << 10}
	case n == 3:
		return Options{NiceLen: 32, Depth: 8, IndexLen: 8, Fast: true, BlockSize: 64 << 10}
	case n == 4:
		return Options{NiceLen: 64, Depth: 32, BlockSize: 32 << 10}
	}
	return Options{NiceLen: 256, Depth: 128, TwoPass: true, BlockSize: 64 << 10, SplitSeqs: 64, Restart: true}
}
