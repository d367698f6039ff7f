package zstd

import (
	"math"

	"github.com/mkportable/mkportable/internal/matchfind"
)

// The optimal parser. From a position with a match, it prices every way to
// code the stretch of input ahead (a literal, a repeat-offset match or a
// match the finder offers, of every length) as a shortest-path problem
// over the positions of a window, as libzstd's btopt and btultra do, then
// stores the cheapest path's sequences. What a match costs depends on the
// literals before it (their run's length code, and which repeat offsets the
// offset codes 1-3 name), so each position keeps the literal run and the
// repeat offsets of the cheapest path to it.

// optsSize bounds a window: a match that would reach past it is taken at
// once.
const optsSize = 1 << 12

// refreshInterval is how many bytes the parser codes between refreshes of
// its price tables from the statistics its choices update: often enough
// to follow the first block's statistics as they form, rare enough to cost
// little.
const refreshInterval = 1 << 10

// repOffsets are the three repeat offsets, most recent first.
type repOffsets [3]uint32

// frameStartReps are the repeat offsets a frame starts with (RFC 8878,
// 3.1.2.5).
var frameStartReps = repOffsets{1, 4, 8}

// code returns the Offset_Value that codes a match at offset off after
// litLen literals, a repeat code where one names off, and the repeat
// offsets after the match. After no literals, the codes 1-3 name the
// second and third offsets and the first minus one.
func (r repOffsets) code(off, litLen uint32) (offBase uint32, next repOffsets) {
	if litLen > 0 {
		switch off {
		case r[0]:
			return 1, r
		case r[1]:
			return 2, repOffsets{off, r[0], r[2]}
		case r[2]:
			return 3, repOffsets{off, r[0], r[1]}
		}
	} else {
		switch off {
		case r[1]:
			return 1, repOffsets{off, r[0], r[2]}
		case r[2]:
			return 2, repOffsets{off, r[0], r[1]}
		case r[0] - 1: // off > 0, so r[0] > 1
			return 3, repOffsets{off, r[0], r[1]}
		}
	}
	return off + 3, repOffsets{off, r[0], r[1]}
}

// candidate returns the offset repeat code i+1 names after litLen
// literals.
func (r repOffsets) candidate(i int, litLen uint32) uint32 {
	if litLen > 0 {
		return r[i]
	}
	if i < 2 {
		return r[i+1]
	}
	return r[0] - 1
}

// An optNode is the cheapest known way to reach a window position: its
// price (excluding the price of a literal length of zero, which every
// path pays once per sequence), the literals since the last match on it,
// and the match it ends with, if any. reps are the repeat offsets there,
// worked out once the node is final.
type optNode struct {
	price  int32
	litLen uint32
	mlen   uint32 // 0: reached by a literal
	off    uint32
	reps   repOffsets
}

// A repMatch is a match at one of the repeat offsets.
type repMatch struct {
	off uint32
	n   int
}

// A pathMatch is a match on the chosen path.
type pathMatch struct {
	start int
	n     uint32
	off   uint32
}

// optParser parses the blocks of one frame at a time. Its buffers are
// reused from block to block and frame to frame.
type optParser struct {
	mf        matchfind.BT4
	nice      int
	depth     int
	fast      bool // Options.Fast
	twoPass   bool // Options.TwoPass
	indexLen  int  // Options.IndexLen, all as MaxSrc; see skip
	blockSize int  // Options.BlockSize, 0 as maxBlockSize
	buf       []byte
	anchor    int // the first byte of the block not yet coded

	matches []matchfind.Match
	nodes   [optsSize]optNode
	lenEnd  int
	path    []pathMatch

	stats     stats
	prices    prices
	refreshed int // where the prices were last refreshed
	reps      repOffsets

	lits []byte
	seqs []Seq

	// With cached set (Options.Restart, which parses a block more than
	// once), the matches at every position of a block are found before it
	// is parsed: those at position cacheStart+i are
	// matchCache[cacheAt[i]:cacheAt[i+1]].
	cached     bool
	cacheStart int
	cacheAt    []int32
	matchCache []matchfind.Match
}

// startFrame starts parsing src, a frame's content.
func (p *optParser) startFrame(src []byte) {
	p.buf = src
	p.mf.Reset(src, p.nice, p.depth, maxBlockSize)
	p.reps = frameStartReps
	p.stats.init(src[:min(len(src), maxBlockSize)])
}

// parseBlock codes the block buf[start:end] of the frame as literals and
// sequences, in p.lits and p.seqs; the match finder must be at start.
// Statistics from an earlier block are scaled down first.
func (p *optParser) parseBlock(start, end int) {
	if p.stats.seeded {
		p.stats.rescale()
	}
	p.prices.update(&p.stats)
	p.refreshed = start
	p.lits, p.seqs = p.lits[:0], p.seqs[:0]
	p.anchor = start
	for pos := start; pos < end; {
		if pos-p.refreshed >= refreshInterval {
			p.prices.update(&p.stats)
			p.refreshed = pos
		}
		pos = p.window(pos, end)
	}
	p.lits = append(p.lits, p.buf[p.anchor:end]...)
	p.stats.addLits(p.buf[p.anchor:end])
}

// maxCachedMatches bounds the matches findAll keeps for a position, and so
// the cache's memory: a tree walk of Options.Depth nodes can give that
// many, each longer than the one before.
const maxCachedMatches = 16

// findAll finds the matches at every position of buf[start:end], the
// match finder's next, for find to return.
func (p *optParser) findAll(start, end int) {
	p.cacheStart = start
	p.cacheAt = append(p.cacheAt[:0], 0)
	p.matchCache = p.matchCache[:0]
	for at := start; at < end; {
		ms := p.mf.Find(p.matches[:0])
		p.matches = ms
		// The longest matches are the ones that pay; the shorter ones
		// a position has beyond them are rare outside crafted input.
		p.matchCache = append(p.matchCache, ms[max(0, len(ms)-maxCachedMatches):]...)
		p.cacheAt = append(p.cacheAt, int32(len(p.matchCache)))
		at++
		if k := len(ms); k > 0 && int(ms[k-1].Len) >= p.nice {
			// Every parse takes this match at once, as window does, and
			// searches none of the positions it covers: index them as
			// skip does, with no matches.
			n := min(int(ms[k-1].Len), end-at+1) - 1
			p.advance(n)
			for range n {
				p.cacheAt = append(p.cacheAt, int32(len(p.matchCache)))
			}
			at += n
		}
	}
}

// find returns the matches at at, the finder's next position, of at least
// minMatch bytes and clipped to the block's end.
func (p *optParser) find(at, end int) []matchfind.Match {
	var ms []matchfind.Match
	if p.cached {
		i := at - p.cacheStart
		ms = append(p.matches[:0], p.matchCache[p.cacheAt[i]:p.cacheAt[i+1]]...)
	} else {
		ms = p.mf.Find(p.matches[:0])
	}
	p.matches = ms
	limit := end - at
	if limit < minMatch {
		return nil
	}
	i := 0
	for i < len(ms) && ms[i].Len < minMatch {
		i++
	}
	ms = ms[i:]
	for j := range ms {
		if int(ms[j].Len) >= limit {
			ms[j].Len = uint32(limit)
			ms = ms[:j+1]
			break
		}
	}
	return ms
}

// repMatches returns the matches at the three repeat offsets at at after
// litLen literals, and the index of the longest.
func (p *optParser) repMatches(at, end int, r repOffsets, litLen uint32) (rm [3]repMatch, best int) {
	buf := p.buf
	avail := end - at
	if avail < minMatch {
		return rm, 0
	}
	for i := range rm {
		off := r.candidate(i, litLen)
		if off == 0 || int(off) > at {
			continue
		}
		from := at - int(off)
		if buf[from] != buf[at] || buf[from+1] != buf[at+1] || buf[from+2] != buf[at+2] {
			continue
		}
		rm[i] = repMatch{off, 3 + matchfind.CommonLen(buf, from+3, at+3, avail-3)}
		if rm[i].n > rm[best].n {
			best = i
		}
	}
	return rm, best
}

// window parses from pos, the finder's next position, and returns where
// it stopped: after a stretch it has coded as sequences and literals, or
// the literal run it extends.
func (p *optParser) window(pos, end int) int {
	matches := p.find(pos, end)
	litLen := uint32(pos - p.anchor)
	rm, best := p.repMatches(pos, end, p.reps, litLen)
	if off, n, ok := p.takeAtOnce(pos, end, 0, matches, rm[best]); ok {
		p.storeSeq(pos, uint32(n), off)
		p.skip(n - 1)
		return pos + n
	}
	if len(matches) == 0 && rm[best].n < minMatch {
		return pos + 1 // a literal
	}

	nodes := &p.nodes
	nodes[0] = optNode{litLen: litLen, reps: p.reps}
	p.lenEnd = 0
	p.relax(0, pos, matches, &rm)
	cur := 1
	for ; cur < p.lenEnd; cur++ {
		p.enter(cur)
		at := pos + cur
		nd := &nodes[cur]
		if p.fast && nodes[cur+1].price <= nd.price+bitPrice/2 {
			// A literal reaches the next position about as cheaply as
			// this one, which is likely inside a good match: neither
			// search nor index it. libzstd's btopt does not search it
			// either (but indexes it). Half a bit, libzstd's margin,
			// measured best: one bit made the output 0.7% larger.
			if !p.cached {
				p.mf.Pass(1)
			}
			continue
		}
		matches = p.find(at, end)
		rm, best = p.repMatches(at, end, nd.reps, nd.litLen)
		if off, n, ok := p.takeAtOnce(at, end, cur, matches, rm[best]); ok {
			p.storePath(pos, cur)
			p.storeSeq(at, uint32(n), off)
			p.skip(n - 1)
			return at + n
		}
		p.relax(cur, at, matches, &rm)
	}
	p.storePath(pos, cur)
	return pos + cur
}

// takeAtOnce reports whether the longest match at at (window position
// cur), a repeat or one the finder found, is to be coded without a search:
// it reaches the nice length, the window's end or the block's.
func (p *optParser) takeAtOnce(at, end, cur int, matches []matchfind.Match, rep repMatch) (off uint32, n int, ok bool) {
	n, off = rep.n, rep.off
	if k := len(matches); k > 0 && int(matches[k-1].Len) > n {
		n, off = int(matches[k-1].Len), matches[k-1].Dist+1
	}
	if n < minMatch {
		return 0, 0, false
	}
	return off, n, n >= p.nice || cur+n >= optsSize-1 || at+n == end
}

// relax prices every edge that leaves window position cur (at in the
// buffer) and records those that are the cheapest way to their end yet.
func (p *optParser) relax(cur, at int, matches []matchfind.Match, rm *[3]repMatch) {
	nodes := &p.nodes
	pr := &p.prices
	nd := &nodes[cur]

	// A literal.
	l := nd.litLen
	price := nd.price + pr.lit[p.buf[at]] + pr.litLenPrice(l+1) - pr.litLenPrice(l)
	p.grow(cur + 1)
	if price < nodes[cur+1].price {
		nodes[cur+1] = optNode{price: price, litLen: l + 1}
	}

	// Repeat matches of every length.
	base := nd.price + pr.litLen[0]
	longestRep := minMatch - 1
	for i := range rm {
		r := rm[i]
		if r.n < minMatch {
			continue
		}
		rb := base + pr.off[ofCode(uint32(i+1))]
		p.grow(cur + r.n)
		for k := minMatch; k <= r.n; k++ {
			if price := rb + pr.matchLenPrice(uint32(k)); price < nodes[cur+k].price {
				nodes[cur+k] = optNode{price: price, mlen: uint32(k), off: r.off}
			}
		}
		longestRep = max(longestRep, r.n)
	}

	// Matches of every length longer than the longest repeat, each at the
	// nearest offset the finder gives for it.
	if len(matches) == 0 {
		return
	}
	p.grow(cur + int(matches[len(matches)-1].Len))
	k := uint32(longestRep + 1)
	for _, m := range matches {
		if m.Len < k {
			continue
		}
		off := m.Dist + 1
		mb := base + pr.offPrice(off+3)
		for ; k <= m.Len; k++ {
			if price := mb + pr.matchLenPrice(k); price < nodes[cur+int(k)].price {
				nodes[cur+int(k)] = optNode{price: price, mlen: k, off: off}
			}
		}
	}
}

// grow makes the window reach t, positions not reached yet being
// infinitely expensive.
func (p *optParser) grow(t int) {
	for p.lenEnd < t {
		p.lenEnd++
		p.nodes[p.lenEnd].price = math.MaxInt32
	}
}

// enter works out the repeat offsets at the final window position cur.
func (p *optParser) enter(cur int) {
	nd := &p.nodes[cur]
	if nd.mlen == 0 {
		nd.reps = p.nodes[cur-1].reps
		return
	}
	from := &p.nodes[cur-int(nd.mlen)]
	_, nd.reps = from.reps.code(nd.off, from.litLen)
}

// storePath stores the sequences of the cheapest path from the window's
// start, pos, to window position end. Literals after its last match are
// left to the next window.
func (p *optParser) storePath(pos, end int) {
	nodes := &p.nodes
	p.path = p.path[:0]
	t := end
	if nodes[t].mlen == 0 {
		t -= int(nodes[t].litLen)
	}
	for t > 0 {
		nd := &nodes[t]
		s := t - int(nd.mlen)
		p.path = append(p.path, pathMatch{pos + s, nd.mlen, nd.off})
		t = s - int(nodes[s].litLen)
	}
	for i := len(p.path) - 1; i >= 0; i-- {
		m := p.path[i]
		p.storeSeq(m.start, m.n, m.off)
	}
}

// storeSeq codes the literals from the anchor to start and the match of n
// bytes at offset off there.
func (p *optParser) storeSeq(start int, n, off uint32) {
	lits := p.buf[p.anchor:start]
	litLen := uint32(len(lits))
	offBase, reps := p.reps.code(off, litLen)
	p.reps = reps
	p.lits = append(p.lits, lits...)
	p.seqs = append(p.seqs, Seq{LitLen: litLen, MatchLen: n, OffBase: offBase})
	p.stats.addSeq(lits, n, offBase)
	p.anchor = start + int(n)
}

// skip moves the match finder past the n positions from at, inside a
// match taken at once: it indexes the first few, where other matches
// often start, and passes over the rest, whose bytes later positions can
// still find at the match's source.
func (p *optParser) skip(n int) {
	if !p.cached { // else findAll did
		p.advance(n)
	}
}

// advance indexes the first few of the match finder's next n positions
// and passes over the rest.
func (p *optParser) advance(n int) {
	k := min(n, p.indexLen)
	p.mf.Skip(k)
	p.mf.Pass(n - k)
}
