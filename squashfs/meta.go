package squashfs

import (
	"encoding/binary"
	"fmt"
)

// metaWriter builds one stream of metadata blocks (the inode table, the
// directory table, a lookup table, xattr key/values) in memory: records are
// appended uncompressed and cut into 8 KiB blocks, each stored behind a u16
// header with its on-disk size, compressed when that makes it smaller.
type metaWriter struct {
	w   *writer
	enc Encoder
	h   *cacheHasher
	raw bool // store every block uncompressed

	pending     []byte   // uncompressed bytes not yet cut into a block
	out         []byte   // finished blocks, headers included
	blockStarts []uint64 // offset in out of each finished block
	scratch     []byte
}

func (w *writer) newMetaWriter(enc Encoder) *metaWriter {
	return &metaWriter{w: w, enc: enc, h: w.metaHasher, raw: w.s.rawData}
}

// newMetaWriter returns a metaWriter that belongs to no image writer, so
// it uses no cache.
func newMetaWriter(enc Encoder, raw bool) *metaWriter {
	return &metaWriter{enc: enc, raw: raw}
}

// offset is the uncompressed position of the next byte in the stream.
func (m *metaWriter) offset() uint64 {
	return uint64(len(m.blockStarts))*metadataBlockSize + uint64(len(m.pending))
}

// blockStart returns the on-disk offset, relative to the stream's start, of
// the block holding uncompressed position off. It is known as soon as every
// block before it is finished, which is all the writer ever asks for.
func (m *metaWriter) blockStart(off uint64) uint64 {
	k := off / metadataBlockSize
	if k < uint64(len(m.blockStarts)) {
		return m.blockStarts[k]
	}
	return uint64(len(m.out))
}

// ref returns the reference to uncompressed position off: the block's
// on-disk offset shifted left by 16, or-ed with the offset inside it.
func (m *metaWriter) ref(off uint64) uint64 {
	return m.blockStart(off)<<16 | off%metadataBlockSize
}

// write appends b to the stream. Pending bytes never pass one block, so a
// big table costs no copy of itself and no quadratic shifting.
func (m *metaWriter) write(b []byte) error {
	for len(b) > 0 {
		k := min(len(b), metadataBlockSize-len(m.pending))
		m.pending = append(m.pending, b[:k]...)
		b = b[k:]
		if len(m.pending) == metadataBlockSize {
			if err := m.cut(metadataBlockSize); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush finishes the last, partial block.
func (m *metaWriter) flush() error {
	if len(m.pending) == 0 {
		return nil
	}
	return m.cut(len(m.pending))
}

func (m *metaWriter) cut(n int) error {
	block := m.pending[:n]
	m.blockStarts = append(m.blockStarts, uint64(len(m.out)))
	stored, header := block, uint16(n)|metadataUncompressed
	if !m.raw {
		var out []byte
		var raw bool
		var err error
		if m.w != nil {
			out, raw, err = m.w.encode(m.enc, m.h, metadataBlockSize, m.scratch[:0], block)
		} else {
			out, raw, err = compressBlock(m.enc, m.scratch[:0], block)
		}
		if err != nil {
			return fmt.Errorf("compress metadata: %w", err)
		}
		m.scratch = out
		if !raw {
			stored, header = out, uint16(len(out))
		}
	}
	m.out = binary.LittleEndian.AppendUint16(m.out, header)
	m.out = append(m.out, stored...)
	m.pending = append(m.pending[:0], m.pending[n:]...)
	return nil
}

// le is a small append-only little-endian encoder for on-disk records.
type le []byte

func (b le) u16(v uint16) le { return binary.LittleEndian.AppendUint16(b, v) }
func (b le) u32(v uint32) le { return binary.LittleEndian.AppendUint32(b, v) }
func (b le) u64(v uint64) le { return binary.LittleEndian.AppendUint64(b, v) }
func (b le) str(s string) le { return append(b, s...) }
