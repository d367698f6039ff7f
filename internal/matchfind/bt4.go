// Package matchfind finds the earlier occurrences of the bytes at each
// position of a buffer, for the optimal parsers of internal/lzma and
// internal/zstd: one match finder, whose cost dominates both encoders, kept
// and tuned in one place.
package matchfind

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// A Match is a candidate for a parser: Len bytes at distance Dist+1.
type Match struct {
	Len  uint32
	Dist uint32
}

// BT4 is a binary-tree match finder over 4-byte hashes (the
// format's "bt4"). Positions with equal 4-byte hashes form a binary search
// tree ordered by the bytes that follow, re-rooted at each new position,
// so a lookup walks only the candidates that share the longest prefixes.
// Two- and three-byte hash heads add the nearest short matches the tree
// does not give. The whole input is the dictionary: a block is compressed
// on its own, so no position ever slides out.
type BT4 struct {
	buf     []byte
	pos     int
	niceLen int
	depth   int
	maxLen  int

	// Heads hold position+1 of the latest position with the hash; 0 is
	// empty. hash2 and hash3 are exact for two and three bytes once the
	// first byte is known to match: their low 8 bits are the second byte
	// mixed with a function of the first, bits 8-15 of hash3 the third.
	hash2 []int32
	hash3 []int32
	hash4 []int32
	mask4 uint32
	// son[2p] and son[2p+1] are the left and right subtrees (position+1)
	// of the node for position p.
	son []int32
	// sink keeps touchNext's loads from being optimised away.
	sink int32
}

var crcTable = crc32.MakeTable(crc32.IEEE)

const (
	hash2Size = 1 << 10
	hash3Size = 1 << 16
)

// Reset starts over on buf, from its first position. A match that reaches
// niceLen ends the tree walk and is extended up to maxLen; depth bounds the
// tree nodes visited at each position.
func (mf *BT4) Reset(buf []byte, niceLen, depth, maxLen int) {
	mf.buf, mf.pos, mf.niceLen, mf.depth, mf.maxLen = buf, 0, niceLen, depth, maxLen
	// A hash4 table of about half the input's size, as liblzma sizes it
	// for its dictionary, keeps collisions rare at little memory.
	size4 := 1 << 16
	if n := len(buf); n > 1<<17 {
		size4 = 1 << (bits.Len(uint(n-1)) - 1)
	}
	mf.hash2 = clearInt32(mf.hash2, hash2Size)
	mf.hash3 = clearInt32(mf.hash3, hash3Size)
	mf.hash4 = clearInt32(mf.hash4, size4)
	mf.mask4 = uint32(size4 - 1)
	if cap(mf.son) < 2*len(buf) {
		mf.son = make([]int32, 2*len(buf))
	}
	mf.son = mf.son[:2*len(buf)]
}

func clearInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// hashes returns the three hash-table slots of the four bytes at p.
func (mf *BT4) hashes(p int) (h2, h3, h4 uint32) {
	v := binary.LittleEndian.Uint32(mf.buf[p:])
	t := crcTable[v&0xFF] ^ (v >> 8 & 0xFF)
	h2 = t & (hash2Size - 1)
	t ^= (v >> 16 & 0xFF) << 8
	h3 = t & (hash3Size - 1)
	h4 = (t ^ crcTable[v>>24]<<5) & mf.mask4
	return
}

// Find returns the matches at the next position, longest last, each
// longer than the one before, and moves on. The longest is extended
// beyond niceLen, up to maxLen, when it reaches niceLen.
func (mf *BT4) Find(out []Match) []Match {
	out = out[:0]
	cur := mf.pos
	mf.pos++
	avail := len(mf.buf) - cur
	if avail < 4 {
		return out
	}
	lenLimit := min(avail, mf.niceLen)
	h2, h3, h4 := mf.hashes(cur)
	p2, p3, p4 := mf.hash2[h2], mf.hash3[h3], mf.hash4[h4]
	mf.hash2[h2], mf.hash3[h3], mf.hash4[h4] = int32(cur+1), int32(cur+1), int32(cur+1)

	best := 0
	first := mf.buf[cur]
	var bestPos int
	if p2 != 0 && mf.buf[p2-1] == first {
		best, bestPos = 2, int(p2-1)
		out = append(out, Match{2, uint32(cur - bestPos - 1)})
	}
	if p3 != 0 && p3 != p2 && mf.buf[p3-1] == first {
		best, bestPos = 3, int(p3-1)
		out = append(out, Match{3, uint32(cur - bestPos - 1)})
	}
	if len(out) > 0 {
		best = best + CommonLen(mf.buf, bestPos+best, cur+best, lenLimit-best)
		out[len(out)-1].Len = uint32(best)
		if best >= lenLimit {
			mf.skipTree(cur, p4, lenLimit)
			if best == mf.niceLen {
				out = mf.extend(out, cur, avail)
			}
			return out
		}
	}
	best = max(best, 3)
	out = mf.treeFind(cur, p4, lenLimit, best, out)
	mf.touchNext(cur + 1)
	if n := len(out); n > 0 && int(out[n-1].Len) == mf.niceLen {
		out = mf.extend(out, cur, avail)
	}
	return out
}

// touchNext loads the hash heads of position p, which the next find
// needs, so that their cache misses overlap with the parser's work on this
// position instead of stalling the next lookup. Go has no prefetch
// instruction; a load whose value is kept does the same.
func (mf *BT4) touchNext(p int) {
	if p+4 > len(mf.buf) {
		return
	}
	_, h3, h4 := mf.hashes(p)
	mf.sink += mf.hash3[h3] + mf.hash4[h4]
}

// extend lengthens a longest match that stopped at niceLen.
func (mf *BT4) extend(out []Match, cur, avail int) []Match {
	if len(out) == 0 {
		return out
	}
	m := &out[len(out)-1]
	if int(m.Len) == mf.niceLen {
		limit := min(avail, mf.maxLen)
		l := int(m.Len)
		from := cur - int(m.Dist) - 1
		m.Len = uint32(l + CommonLen(mf.buf, from+l, cur+l, limit-l))
	}
	return out
}

// Skip inserts the next n positions into the tree without collecting
// matches: the parser has chosen a match that covers them.
func (mf *BT4) Skip(n int) {
	for ; n > 0; n-- {
		cur := mf.pos
		mf.pos++
		avail := len(mf.buf) - cur
		if avail < 4 {
			continue
		}
		h2, h3, h4 := mf.hashes(cur)
		p4 := mf.hash4[h4]
		mf.hash2[h2], mf.hash3[h3], mf.hash4[h4] = int32(cur+1), int32(cur+1), int32(cur+1)
		mf.skipTree(cur, p4, min(avail, mf.niceLen))
	}
}

// Pass moves past the next n positions without indexing them: no later
// Find will offer them. A parser passes over the middle of a long match,
// whose bytes it can still find at the match's source, to spare the tree
// walks of indexing every position.
func (mf *BT4) Pass(n int) {
	mf.pos += n
}

// treeFind walks the tree from the previous position with cur's hash,
// collecting matches longer than best, and re-roots the tree at cur: every
// visited node goes to cur's left subtree if its bytes sort below cur's,
// else to the right. len0 and len1 are the prefixes known to be shared
// with everything still to visit on each side.
func (mf *BT4) treeFind(cur int, next int32, lenLimit, best int, out []Match) []Match {
	buf, son := mf.buf, mf.son
	// Each match is longer than the one before and at most lenLimit, so
	// lenLimit-best more fit: room made here keeps the walk free of calls,
	// which would spill its variables on every step.
	n := len(out)
	if room := lenLimit - best; room > 0 && cap(out)-n < room {
		out = append(out[:n:n], make([]Match, room)...)
	}
	out = out[:cap(out)]
	ptr0, ptr1 := 2*cur+1, 2*cur
	len0, len1 := 0, 0
	for depth := mf.depth; ; depth-- {
		if next == 0 || depth == 0 {
			son[ptr0], son[ptr1] = 0, 0
			return out[:n]
		}
		m := int(next - 1)
		pair := 2 * m
		// Both subtrees are loaded before the comparison that picks one,
		// so the load of the next node does not wait for the branch.
		left, right := son[pair], son[pair+1]
		l := min(len0, len1)
		if buf[m+l] == buf[cur+l] {
			l++
			l += CommonLen(buf, m+l, cur+l, lenLimit-l)
			if l > best {
				best = l
				out[n] = Match{uint32(l), uint32(cur - m - 1)}
				n++
			}
			if l >= lenLimit {
				// A full match: cur takes over the node's subtrees.
				son[ptr1], son[ptr0] = left, right
				return out[:n]
			}
		}
		if buf[m+l] < buf[cur+l] {
			son[ptr1] = next
			ptr1 = pair + 1
			next = right
			len1 = l
		} else {
			son[ptr0] = next
			ptr0 = pair
			next = left
			len0 = l
		}
	}
}

// skipTree is treeFind without the matches: asked for none longer than
// lenLimit, it collects none.
func (mf *BT4) skipTree(cur int, next int32, lenLimit int) {
	mf.treeFind(cur, next, lenLimit, lenLimit, nil)
}

// CommonLen returns how many of the limit bytes from a and b are equal
// (a < b), eight at a time. It is small enough to be inlined, which
// matters: the parsers and the tree walk call it at every position.
func CommonLen(buf []byte, a, b, limit int) int {
	n := 0
	for n+8 <= limit {
		if x := binary.LittleEndian.Uint64(buf[a+n:]) ^ binary.LittleEndian.Uint64(buf[b+n:]); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < limit && buf[a+n] == buf[b+n] {
		n++
	}
	return n
}
