package lzma

import (
	"encoding/binary"

	"github.com/mkportable/mkportable/internal/matchfind"
)

// The optimal parser, as in LZMA's normal mode: from the current position
// it prices every way to code the next stretch of input (literals, short
// reps, rep matches, matches of every length the match finder offers, and
// the pairs "match or rep, one literal, rep0" that often follow a
// mismatch) as a shortest-path problem over positions, then codes the
// cheapest path. Prices are in 1/16 bits from the model's current
// probabilities; the model is not updated while a path is searched.

// optsSize bounds how far one parse looks ahead.
const optsSize = 1 << 12

const infinity = 1 << 30

// A node is the cheapest known way to reach a position of the window: its
// price and its last edge, from position prev: a packet and, for a
// combined edge, the packets that follow it up to the node. The state and
// reps the decoder will have there are worked out from the edge once the
// node is final (see enter), not at every relaxation.
type node struct {
	price uint32
	prev  int32
	pk    packet
	combo combo
}

// combo says what follows a node's packet on its edge.
type combo uint8

const (
	single         combo = iota
	thenRep0             // the packet (a literal), then rep0 up to the node
	thenLitAndRep0       // the packet, a literal, then rep0 up to the node
)

type parser struct {
	opts    [optsSize + 2*maxMatchLen + 8]node
	matches []matchfind.Match
	// pending holds the matches already found at the position the next
	// parse starts from: a parse stops at a position whose longest match
	// reaches the nice length and leaves that match to the next one.
	pending    []matchfind.Match
	hasPending bool
	out        []packet
	lenEnd     int // the furthest window position an edge reaches
	// The state and reps at each final window position.
	states [optsSize]state
	reps   [optsSize][4]uint32
}

func (p *parser) reset() {
	p.hasPending = false
}

// findAt returns the matches at pos, the match finder's next position.
func (p *parser) findAt(e *Encoder) []matchfind.Match {
	if p.hasPending {
		p.hasPending = false
		p.matches, p.pending = p.pending, p.matches
		return p.matches
	}
	p.matches = e.mf.Find(p.matches)
	return p.matches
}

// optimize returns the packets that code the input from pos on, at least
// one byte of it.
func (p *parser) optimize(e *Encoder, pos int) []packet {
	e.updatePrices()
	buf := e.buf
	m := &e.m
	nice := uint32(e.opts.NiceLen)
	p.out = p.out[:0]

	matches := p.findAt(e)
	avail := uint32(min(len(buf)-pos, maxMatchLen))
	if avail < minMatchLen {
		return append(p.out, packet{kindLiteral, 1, 0})
	}

	// A long enough rep or match is taken at once.
	var repLens [4]uint32
	best := 0
	for i, r := range m.reps {
		if int(r) < pos {
			repLens[i] = uint32(matchfind.CommonLen(buf, pos-int(r)-1, pos, int(avail)))
			if repLens[i] > repLens[best] {
				best = i
			}
		}
	}
	if repLens[best] >= nice {
		e.mf.Skip(int(repLens[best]) - 1)
		return append(p.out, packet{kindRep, repLens[best], uint32(best)})
	}
	mainLen := uint32(0)
	if len(matches) > 0 {
		mainLen = matches[len(matches)-1].Len
	}
	if mainLen >= nice {
		e.mf.Skip(int(mainLen) - 1)
		return append(p.out, packet{kindMatch, mainLen, matches[len(matches)-1].Dist})
	}
	if mainLen < minMatchLen && repLens[best] < minMatchLen &&
		(int(m.reps[0]) >= pos || buf[pos] != buf[pos-int(m.reps[0])-1]) {
		return append(p.out, packet{kindLiteral, 1, 0})
	}

	p.opts[0] = node{}
	p.states[0], p.reps[0] = m.state, m.reps
	p.lenEnd = 0

	cur := 0
	for {
		if cur > 0 {
			if cur >= p.lenEnd || cur >= optsSize-1 {
				break
			}
			matches = p.findAt(e)
			if n := len(matches); n > 0 && matches[n-1].Len >= nice {
				// Leave the long match to the next parse.
				p.pending, p.matches = p.matches, p.pending
				p.hasPending = true
				break
			}
		}
		p.relaxFrom(e, cur, pos, matches)
		cur++
	}
	return p.backtrack(cur)
}

// relaxFrom prices every edge that leaves window position cur (absolute
// position pos+cur).
func (p *parser) relaxFrom(e *Encoder, cur, pos int, matches []matchfind.Match) {
	if cur > 0 {
		p.enter(cur)
	}
	buf := e.buf
	m := &e.m
	s, reps, base := p.states[cur], p.reps[cur], p.opts[cur].price
	at := pos + cur
	ps := uint32(at) & e.posMask
	nice := e.opts.NiceLen
	// The longest edge must end inside the window.
	availFull := min(len(buf)-at, maxMatchLen, optsSize-1-cur)
	avail := min(availFull, nice)

	curByte := buf[at]
	rep0Valid := int(reps[0]) < at
	matchByte := byte(0)
	if rep0Valid {
		matchByte = buf[at-int(reps[0])-1]
	}

	// A literal.
	litPrice := base + price0(m.isMatch[s][ps]) + e.literalPrice(at, s, curByte, matchByte)
	litState := s.afterLiteral()
	p.grow(cur + 1)
	litBest := litPrice < p.opts[cur+1].price
	if litBest {
		p.opts[cur+1] = node{litPrice, int32(cur), packet{kindLiteral, 1, 0}, single}
	}

	matchBase := base + price1(m.isMatch[s][ps])
	// A short rep: the byte at the last distance.
	if rep0Valid && matchByte == curByte {
		p.relax(cur+1, matchBase+e.shortRepPrice(s, ps), cur, packet{kindShortRep, 1, 0}, single)
	}
	if availFull < minMatchLen {
		return
	}

	// A literal, then rep0. Tried only where the literal is not already
	// the best way to the next position, as liblzma does: most of the
	// gain at a fraction of the searches.
	if !litBest && rep0Valid && matchByte != curByte && availFull > minMatchLen {
		if l2 := repLen(buf, at+1-int(reps[0])-1, at+1, min(availFull-1, nice)); l2 >= minMatchLen {
			ps2 := uint32(at+1) & e.posMask
			price := litPrice + price1(m.isMatch[litState][ps2]) + e.repPrice(0, litState, ps2) + m.repLen.price(uint32(l2), ps2)
			p.relax(cur+1+l2, price, cur, packet{kindLiteral, 1, 0}, thenRep0)
		}
	}

	// Rep matches of every length, each followed by a literal and rep0.
	startLen := uint32(minMatchLen)
	head := binary.LittleEndian.Uint16(buf[at:])
	for i := uint32(0); i < 4; i++ {
		r := int(reps[i])
		if r >= at || binary.LittleEndian.Uint16(buf[at-r-1:]) != head {
			continue
		}
		l := uint32(2 + matchfind.CommonLen(buf, at-r+1, at+2, avail-2))
		repBase := matchBase + e.repPrice(i, s, ps)
		repState := s.afterRep()
		p.grow(cur + int(l))
		lp := &m.repLen.prices[ps]
		for k := l; k >= minMatchLen; k-- {
			if price := repBase + lp[k-minMatchLen]; price < p.opts[cur+int(k)].price {
				p.opts[cur+int(k)] = node{price, int32(cur), packet{kindRep, k, i}, single}
			}
		}
		if i == 0 {
			startLen = l + 1
		}
		// The rep, a literal, rep0 again.
		if rest := availFull - int(l) - 1; rest >= minMatchLen {
			if l2 := repLen(buf, at+int(l)+1-r-1, at+int(l)+1, min(rest, nice)); l2 >= minMatchLen {
				a := at + int(l)
				st := repState.afterLiteral()
				ps1, ps2 := uint32(a)&e.posMask, uint32(a+1)&e.posMask
				price := repBase + m.repLen.price(l, ps) + price0(m.isMatch[repState][ps1]) +
					price1(m.isMatch[st][ps2]) + e.repPrice(0, st, ps2) + m.repLen.price(uint32(l2), ps2)
				// The literal's price last, only if the rest can win.
				if t := cur + int(l) + 1 + l2; p.cheaper(t, price) {
					price += e.literalPrice(a, repState, buf[a], buf[a-r-1])
					p.relax(t, price, cur, packet{kindRep, l, i}, thenLitAndRep0)
				}
			}
		}
	}

	// Matches of every length from startLen, each at the nearest distance
	// the finder offers for it, and the longest of each distance followed
	// by a literal and rep0.
	if len(matches) == 0 {
		return
	}
	mainLen := min(matches[len(matches)-1].Len, uint32(availFull))
	if mainLen < startLen {
		return
	}
	normalBase := matchBase + price0(m.isRep[s])
	matchState := s.afterMatch()
	j := 0
	for matches[j].Len < startLen {
		j++
	}
	p.grow(cur + int(mainLen))
	lp := &m.matchLen.prices[ps]
	d := matches[j].Dist
	distLong := e.distPrice(d, numLenToPos+minMatchLen) // for every length from 5
	for l := startLen; l <= mainLen; l++ {
		dp := distLong
		if l < numLenToPos+minMatchLen {
			dp = e.distPrice(d, l)
		}
		price := normalBase + lp[l-minMatchLen] + dp
		if nd := &p.opts[cur+int(l)]; price < nd.price {
			*nd = node{price, int32(cur), packet{kindMatch, l, d}, single}
		}
		if l == matches[j].Len || l == mainLen {
			if rest := availFull - int(l) - 1; rest >= minMatchLen {
				if l2 := repLen(buf, at+int(l)+1-int(d)-1, at+int(l)+1, min(rest, nice)); l2 >= minMatchLen {
					a := at + int(l)
					st := matchState.afterLiteral()
					ps1, ps2 := uint32(a)&e.posMask, uint32(a+1)&e.posMask
					price += price0(m.isMatch[matchState][ps1]) +
						price1(m.isMatch[st][ps2]) + e.repPrice(0, st, ps2) + m.repLen.price(uint32(l2), ps2)
					if t := cur + int(l) + 1 + l2; p.cheaper(t, price) {
						price += e.literalPrice(a, matchState, buf[a], buf[a-int(d)-1])
						p.relax(t, price, cur, packet{kindMatch, l, d}, thenLitAndRep0)
					}
				}
			}
			j++
			if j == len(matches) {
				break
			}
			d = matches[j].Dist
			distLong = e.distPrice(d, numLenToPos+minMatchLen)
		}
	}
}

// repLen is commonLen for the rep0 of a combined edge, limit >= 2: most
// such tries fail on the first two bytes, which one load compares.
func repLen(buf []byte, a, b, limit int) int {
	if binary.LittleEndian.Uint16(buf[a:]) != binary.LittleEndian.Uint16(buf[b:]) {
		return 0
	}
	return 2 + matchfind.CommonLen(buf, a+2, b+2, limit-2)
}

// relax records the edge from prev to window position t if it is the
// cheapest way there yet, growing the window to t.
func (p *parser) relax(t int, price uint32, prev int, pk packet, combo combo) {
	p.grow(t)
	if nd := &p.opts[t]; price < nd.price {
		*nd = node{price, int32(prev), pk, combo}
	}
}

// cheaper reports whether price beats the best way to t known so far.
func (p *parser) cheaper(t int, price uint32) bool {
	p.grow(t)
	return price < p.opts[t].price
}

// grow makes the window reach t, positions not reached yet being
// infinitely expensive.
func (p *parser) grow(t int) {
	for p.lenEnd < t {
		p.lenEnd++
		p.opts[p.lenEnd].price = infinity
	}
}

// enter works out the state and reps at the final window position cur
// from those where its edge starts.
func (p *parser) enter(cur int) {
	nd := &p.opts[cur]
	s, reps := p.states[nd.prev], p.reps[nd.prev]
	switch pk := nd.pk; pk.kind {
	case kindLiteral:
		s = s.afterLiteral()
	case kindShortRep:
		s = s.afterShortRep()
	case kindRep:
		if i := pk.dist; i > 0 {
			d := reps[i]
			copy(reps[1:i+1], reps[:i])
			reps[0] = d
		}
		s = s.afterRep()
	case kindMatch:
		reps = [4]uint32{pk.dist, reps[0], reps[1], reps[2]}
		s = s.afterMatch()
	}
	switch nd.combo {
	case thenRep0:
		s = s.afterRep()
	case thenLitAndRep0:
		s = s.afterLiteral().afterRep()
	}
	p.states[cur], p.reps[cur] = s, reps
}

// backtrack returns the packets of the cheapest path to window position
// end, first to last.
func (p *parser) backtrack(end int) []packet {
	out := p.out[:0]
	for t := end; t > 0; {
		nd := &p.opts[t]
		switch end := int(nd.prev) + int(nd.pk.len); nd.combo {
		case thenRep0:
			out = append(out, packet{kindRep, uint32(t - end), 0})
		case thenLitAndRep0:
			out = append(out, packet{kindRep, uint32(t - end - 1), 0}, packet{kindLiteral, 1, 0})
		}
		out = append(out, nd.pk)
		t = int(nd.prev)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	p.out = out
	return out
}
