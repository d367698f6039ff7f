package zstd

// A Seq is one zstd sequence (RFC 8878, 3.1.1.3.2): LitLen literals copied
// from the block's literals, then MatchLen bytes copied from earlier output.
// OffBase is the format's Offset_Value: 1, 2 and 3 are repeat codes, whose
// meaning depends on whether LitLen is 0, and a larger value is an offset
// of OffBase-3 bytes. Literals after the last sequence are in the literals
// section but in no sequence.
type Seq struct {
	LitLen   uint32
	MatchLen uint32 // at least minMatch
	OffBase  uint32
}

const (
	minMatch = 3
	// maxBlockSize is Block_Maximum_Size: no block decodes to more.
	maxBlockSize = 128 << 10
)
