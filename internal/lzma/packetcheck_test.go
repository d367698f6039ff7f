package lzma

import "fmt"

// checkPackets makes enc verify every packet against its input: a parser
// bug then shows up at its position rather than as a corrupt stream.
func checkPackets(enc *Encoder) *Encoder {
	enc.checkPacket = verifyPacket
	return enc
}

func verifyPacket(e *Encoder, pos int, pk packet) {
	var d int
	switch pk.kind {
	case kindLiteral:
		return
	case kindShortRep:
		d = int(e.m.reps[0]) + 1
	case kindRep:
		if pk.len < minMatchLen {
			panic(fmt.Sprintf("pos %d: rep packet %+v shorter than 2", pos, pk))
		}
		d = int(e.m.reps[pk.dist]) + 1
	case kindMatch:
		d = int(pk.dist) + 1
	}
	if d > pos {
		panic(fmt.Sprintf("pos %d: packet %+v distance %d beyond start; reps %v", pos, pk, d, e.m.reps))
	}
	for k := 0; k < int(pk.len); k++ {
		if e.buf[pos+k] != e.buf[pos+k-d] {
			panic(fmt.Sprintf("pos %d: packet %+v mismatch at %d; reps %v", pos, pk, k, e.m.reps))
		}
	}
}
