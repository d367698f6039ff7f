package lzma

import (
	"encoding/binary"
	"sync"

	"github.com/mkportable/mkportable/internal/matchfind"
)

// Incompressible reports, at a small fraction of the cost of encoding,
// whether b is data LZMA2 would store raw: already-compressed or random
// bytes. It errs only one way: it may call compressible data that turns
// out not to be, never the reverse, on every input TestIncompressibleAgrees
// holds and on the 1 MiB blocks of GOROOT's files and of 519 compressed
// files (.gz, .xz, .zip, .deb, .png...) that TestIncompressibleFiles
// measured.
//
// The argument: LZMA's adaptive range coder spends about 8.1 bits on a
// byte of random data (its probabilities, moved by 1/32 after each bit,
// never settle), so an LZMA2 chunk of about 64 KiB is smaller than its
// data only where some stretch of it has over 1.3% of redundancy. b is cut
// into segments of 16 to 32 KiB; for each, an upper estimate of that
// redundancy is the gain of an order-1 model with LZMA's own literal
// context (the top three bits of the byte before) over 8 bits a byte, the
// plug-in entropy with the Miller-Madow correction for its sampling bias,
// plus 8 bits for every byte of a repeated string the probe below finds,
// less 16 bits per string (an LZMA match costs more: 20 to 40 bits). b is
// incompressible when no segment reaches 0.4%, a third of what LZMA needs.
//
// Repeats are found at any distance by hashing every fourth position's
// next four bytes into a table of anchors and looking up every position:
// a repeat of 7 bytes or more contains an anchor and is found unless a
// later anchor took its slot; shorter ones are found often. The table is
// small (64 KiB, so it stays in cache) and keeps anchors of about the last
// 64 KiB, but a long repeat from further back needs only one anchor of its
// many to survive, and is then followed to its end. Near repeats
// missed that way are what text and code are made of, and those also
// skew the byte statistics far past the threshold.
//
// Inputs under 64 KiB are always called compressible: encoding them costs
// little, and their statistics say little.
func Incompressible(b []byte) bool {
	if len(b) < minEstimate {
		return false
	}
	e := estimators.Get().(*estimator)
	defer estimators.Put(e)
	return e.incompressible(b)
}

const (
	minEstimate = 64 << 10
	segment     = 16 << 10
	anchorBits  = 14
	anchorStep  = 4
	// Gains are in 1/65536 bits (fixed point), so the decision is the same
	// on every platform.
	fixedBits = 16
	// A segment is compressible at a gain over 10/1000 of its bits.
	gainPerMille = 10
	// matchCost is fewer bits than the cheapest LZMA match far away in
	// data without structure: a flag, a length, a distance slot and the
	// distance's low bits.
	matchCost = 24
)

var estimators = sync.Pool{New: func() any { return new(estimator) }}

type estimator struct {
	hist    [8][256]uint32
	anchors [1 << anchorBits]int32 // position+1 of the last anchor with the hash
}

func (e *estimator) incompressible(b []byte) bool {
	clear(e.anchors[:])
	nlogn := nLogNTable()
	for start := 0; start < len(b); {
		end := start + segment
		if len(b)-end < segment {
			end = len(b) // the short last piece joins this segment
		}
		gain := e.entropyGain(b, start, end, nlogn) + e.repeatGain(b, start, end)
		if gain*1000 > int64(gainPerMille)*int64(end-start)*8<<fixedBits {
			return false
		}
		start = end
	}
	return true
}

// entropyGain returns 8 bits a byte less the order-1 entropy of
// b[start:end], in fixed point, the larger of the gains with and without
// the context.
func (e *estimator) entropyGain(b []byte, start, end int, nlogn []uint64) int64 {
	clear(e.hist[:])
	prev := byte(0)
	if start > 0 {
		prev = b[start-1]
	}
	for _, c := range b[start:end] {
		e.hist[prev>>5][c]++
		prev = c
	}
	// Σ n·log2(N/n) over the bins of each context, plus the Miller-Madow
	// term (nonzero bins - 1)/(2 ln 2) bits per context.
	const mmTerm = uint64(1<<fixedBits) * 1000 / 1386 // 1/(2 ln 2) bits
	var order0 [256]uint32
	var bits1 uint64
	for ctx := range e.hist {
		total, nonzero := uint32(0), uint64(0)
		sum := uint64(0)
		for c, n := range e.hist[ctx] {
			if n != 0 {
				total += n
				nonzero++
				sum += nlogn[n]
				order0[c] += n
			}
		}
		if total > 0 {
			bits1 += nlogn[total] - sum + (nonzero-1)*mmTerm
		}
	}
	total, nonzero, sum := uint32(0), uint64(0), uint64(0)
	for _, n := range order0 {
		if n != 0 {
			total += n
			nonzero++
			sum += nlogn[n]
		}
	}
	bits0 := nlogn[total] - sum + (nonzero-1)*mmTerm
	raw := int64(end-start) * 8 << fixedBits
	return raw - int64(min(bits0, bits1))
}

// repeatGain finds repeated strings in b[start:end], each against anything
// before it in b, and returns what they could save: 8 bits a byte less 16
// per string, in fixed point.
func (e *estimator) repeatGain(b []byte, start, end int) int64 {
	gain := int64(0)
	limit := min(end, len(b)-4)
	for i := start; i < limit; {
		v := binary.LittleEndian.Uint32(b[i:])
		h := (v * 2654435761) >> (32 - anchorBits)
		cand := int(e.anchors[h]) - 1
		if i%anchorStep == 0 {
			e.anchors[h] = int32(i + 1)
		}
		if cand < 0 || cand >= i || binary.LittleEndian.Uint32(b[cand:]) != v {
			i++
			continue
		}
		// Extend both ways; back no further than this segment.
		back := 0
		for i-back > start && cand-back > 0 && b[i-back-1] == b[cand-back-1] {
			back++
		}
		n := 4 + matchfind.CommonLen(b, cand+4, i+4, len(b)-i-4)
		gain += int64(8*(back+n)-matchCost) << fixedBits
		for j := i + 1; j < i+n && j+4 <= len(b); j++ {
			if j%anchorStep == 0 {
				e.anchors[(binary.LittleEndian.Uint32(b[j:])*2654435761)>>(32-anchorBits)] = int32(j + 1)
			}
		}
		i += n
	}
	return gain
}

// nLogNTable holds n·log2(n) for n up to twice a segment, in 1/65536 bits,
// computed in integers (as priceTable is) so every platform agrees.
var nLogNTable = sync.OnceValue(func() []uint64 {
	t := make([]uint64, 2*segment+1)
	for n := 2; n < len(t); n++ {
		t[n] = uint64(n) * log2Fixed(uint64(n))
	}
	return t
})

// log2Fixed returns log2(v), v >= 1, with fixedBits fraction bits,
// rounded down.
func log2Fixed(v uint64) uint64 {
	ilog := uint64(63)
	for v>>ilog&1 == 0 {
		ilog--
	}
	// The mantissa in [1,2) with 62 fraction bits; square it once per
	// fraction bit, as the binary digits of log2 fall out.
	x := v << (62 - ilog)
	frac := uint64(0)
	for range fixedBits {
		hi := x >> 31 // 31 fraction bits
		x = hi * hi   // 62 fraction bits, in [1,4)
		frac <<= 1
		if x >= 2<<62 {
			x >>= 1
			frac |= 1
		}
	}
	return ilog<<fixedBits | frac
}
