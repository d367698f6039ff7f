package zstd

import (
	"bytes"
	"testing"
)

// FuzzRoundTrip codes arbitrary input with the test parser in blocks of an
// arbitrary size (small ones give many blocks, so Treeless literals,
// Repeat_Mode and the rollback of repeat offsets over raw blocks) and
// requires klauspost/compress to decode it back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello hello hello hello"), uint16(0))
	f.Add(text(1, 5000), uint16(100))
	f.Add(concat(randomBytes(2, 300), make([]byte, 300), skewedBytes(3, 2000)), uint16(257))
	f.Add(bytes.Repeat([]byte("abcab"), 1000), uint16(7))
	e := newBlockEncoder()
	p := new(testParser)
	d := newKlauspost(f)
	f.Fuzz(func(t *testing.T, src []byte, bs uint16) {
		blockSize := maxBlockSize
		if bs != 0 {
			// At most 64 blocks: minimizing a long input in tiny blocks
			// would take the fuzzer minutes.
			blockSize = max(int(bs), len(src)/64)
		}
		frame, _ := encodeFrame(t, e, p, src, blockSize)
		got, err := d.DecodeAll(frame, nil)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !bytes.Equal(got, src) {
			t.Fatalf("decoded %d bytes differ from the %d coded", len(got), len(src))
		}
	})
}
