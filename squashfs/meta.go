package squashfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// metaWriter builds one stream of metadata blocks (the inode table, the
// directory table, a lookup table, xattr key/values): records are appended
// uncompressed and cut into 8 KiB blocks, each stored behind a u16 header
// with its on-disk size, compressed when that makes it smaller.
//
// A reference into a stream names the on-disk start of a block, which is
// known only once every block before it is compressed. So that blocks can
// be compressed on several goroutines while the records go on, a field that
// holds such a start is written as zeros and registered as a fixup; the
// goroutine that compresses the block fills it in first, waiting for the
// blocks it names, which were all cut earlier (a listing names inodes
// written before it, an inode its listing, an export entry its inode), so
// the blocks, taken in the order they were cut, never wait on a later one.
type metaWriter struct {
	coder *metaCoder // compresses blocks as they are cut; nil with a pool
	pool  *metaPool  // compresses blocks on its goroutines

	pending []byte  // uncompressed bytes not yet cut into a block
	fixups  []fixup // fields still to fill, in order of position
	nblocks int     // blocks cut; only the goroutine that writes uses it

	mu     sync.Mutex
	blocks []*metaBlock
	// starts[i] is the on-disk offset, from the stream's start, of block i,
	// for every block whose predecessors are all compressed.
	starts []uint64
	err    error // the first failure, once seen
}

// metaBlock is one metadata block on its way to disk.
type metaBlock struct {
	raw    []byte  // uncompressed, fixups not yet filled in
	pos    uint64  // uncompressed position of its first byte in the stream
	fixups []fixup // the fields that fall in it, wholly or partly
	stored []byte  // header and bytes to write, once done
	err    error
	done   chan struct{}
}

// fixupKind says what a fixup's field holds.
type fixupKind uint8

const (
	// fixStart is a u32: the on-disk start of the target's block.
	fixStart fixupKind = iota
	// fixRef is a u64: the target's block start shifted left by 16, or-ed
	// with the offset in that block.
	fixRef
)

// fixup is a field at position at of a stream that points at position pos
// of the stream target.
type fixup struct {
	at     uint64
	pos    uint64
	target *metaWriter
	kind   fixupKind
}

func (f fixup) width() uint64 {
	if f.kind == fixRef {
		return 8
	}
	return 4
}

// errMetaTooBig reports a field that cannot hold a block's start.
var errMetaTooBig = errors.New("metadata table over 4 GiB")

// metaCoder compresses metadata blocks on one goroutine.
type metaCoder struct {
	w   *writer // for the cache; nil for none
	enc Encoder
	h   *cacheHasher
	raw bool // store every block uncompressed

	scratch []byte
}

// store returns the header and bytes that store block.
func (c *metaCoder) store(block []byte) ([]byte, error) {
	header := uint16(len(block)) | metadataUncompressed
	body := block
	if !c.raw {
		var out []byte
		var raw bool
		var err error
		if c.w != nil {
			out, raw, err = c.w.encode(c.enc, c.h, metadataBlockSize, c.scratch[:0], block)
		} else {
			out, raw, err = compressBlock(c.enc, c.scratch[:0], block)
		}
		if err != nil {
			return nil, fmt.Errorf("compress metadata: %w", err)
		}
		c.scratch = out
		if !raw {
			header, body = uint16(len(out)), out
		}
	}
	stored := make([]byte, 2, 2+len(body))
	binary.LittleEndian.PutUint16(stored, header)
	return append(stored, body...), nil
}

// metaPool compresses the metadata blocks of every stream of one image on
// a few goroutines, in the order the blocks were cut.
type metaPool struct {
	jobs chan *metaJob
	free chan []byte // block buffers: their number bounds the blocks in flight
	wg   sync.WaitGroup
}

type metaJob struct {
	m *metaWriter
	b *metaBlock
}

// newMetaPool starts one goroutine for each coder.
func newMetaPool(coders []*metaCoder) *metaPool {
	inFlight := 4 * len(coders)
	p := &metaPool{jobs: make(chan *metaJob, inFlight), free: make(chan []byte, inFlight)}
	for range inFlight {
		p.free <- make([]byte, 0, metadataBlockSize)
	}
	for _, c := range coders {
		p.wg.Go(func() {
			for j := range p.jobs {
				buf := j.b.raw[:0]
				j.m.finish(c, j.b)
				p.free <- buf
			}
		})
	}
	return p
}

// close stops the goroutines once every block is done.
func (p *metaPool) close() {
	close(p.jobs)
	p.wg.Wait()
}

// pooledMetaWriter returns a metaWriter whose blocks pool compresses.
func pooledMetaWriter(p *metaPool) *metaWriter {
	return &metaWriter{pool: p, starts: []uint64{0}}
}

// newMetaWriter returns a metaWriter that compresses each block with enc as
// it is cut and uses no cache.
func newMetaWriter(enc Encoder, raw bool) *metaWriter {
	return &metaWriter{coder: &metaCoder{enc: enc, raw: raw}, starts: []uint64{0}}
}

// offset is the uncompressed position of the next byte in the stream.
func (m *metaWriter) offset() uint64 {
	return uint64(m.nblocks)*metadataBlockSize + uint64(len(m.pending))
}

// blockStart returns the on-disk offset, relative to the stream's start, of
// the block holding uncompressed position off, waiting for the blocks
// before it, which must all have been cut. It fails when one of them did.
func (m *metaWriter) blockStart(off uint64) (uint64, error) {
	k := int(off / metadataBlockSize)
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.starts) <= k && m.err == nil {
		i := len(m.starts) - 1
		b := m.blocks[i]
		m.mu.Unlock()
		<-b.done
		m.mu.Lock()
		switch {
		case len(m.starts) > i+1: // another goroutine got there first
		case b.err != nil:
			m.err = b.err
		default:
			m.starts = append(m.starts, m.starts[i]+uint64(len(b.stored)))
		}
	}
	if m.err != nil {
		return 0, m.err
	}
	return m.starts[k], nil
}

// ref returns the reference to uncompressed position off: the block's
// on-disk offset shifted left by 16, or-ed with the offset inside it.
func (m *metaWriter) ref(off uint64) (uint64, error) {
	start, err := m.blockStart(off)
	return start<<16 | off%metadataBlockSize, err
}

// fix registers the field of the given kind at position at, not yet
// written, as pointing at position pos of target.
func (m *metaWriter) fix(at uint64, kind fixupKind, target *metaWriter, pos uint64) {
	m.fixups = append(m.fixups, fixup{at: at, pos: pos, target: target, kind: kind})
}

// write appends b to the stream. Pending bytes never pass one block, so a
// big table costs no copy of itself and no quadratic shifting.
func (m *metaWriter) write(b []byte) error {
	for len(b) > 0 {
		k := min(len(b), metadataBlockSize-len(m.pending))
		m.pending = append(m.pending, b[:k]...)
		b = b[k:]
		if len(m.pending) == metadataBlockSize {
			if err := m.cut(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush finishes the last, partial block and waits for every block.
func (m *metaWriter) flush() error {
	if len(m.pending) > 0 {
		if err := m.cut(); err != nil {
			return err
		}
	}
	_, err := m.blockStart(uint64(m.nblocks) * metadataBlockSize)
	return err
}

// cut hands the pending bytes on as a block.
func (m *metaWriter) cut() error {
	b := &metaBlock{pos: uint64(m.nblocks) * metadataBlockSize, done: make(chan struct{})}
	end := b.pos + uint64(len(m.pending))
	n := 0
	for n < len(m.fixups) && m.fixups[n].at < end {
		n++
	}
	b.fixups = m.fixups[:n:n]
	// A field that runs on into the next block is filled in there too.
	var rest []fixup
	if n > 0 && m.fixups[n-1].at+m.fixups[n-1].width() > end {
		rest = append(rest, m.fixups[n-1])
	}
	m.fixups = append(rest, m.fixups[n:]...)
	m.nblocks++
	m.mu.Lock()
	m.blocks = append(m.blocks, b)
	m.mu.Unlock()

	if m.pool == nil {
		b.raw = m.pending
		m.finish(m.coder, b)
		m.pending = m.pending[:0]
		return b.err
	}
	b.raw = append(<-m.pool.free, m.pending...)
	m.pending = m.pending[:0]
	m.pool.jobs <- &metaJob{m: m, b: b}
	return nil
}

// finish fills in block b's fields and compresses it. It keeps neither
// the block's buffer nor its fixups.
func (m *metaWriter) finish(c *metaCoder, b *metaBlock) {
	defer func() {
		b.raw, b.fixups = nil, nil
		close(b.done)
	}()
	var field [8]byte
	for _, f := range b.fixups {
		start, err := f.target.blockStart(f.pos)
		if err != nil {
			b.err = err
			return
		}
		if f.kind == fixRef {
			binary.LittleEndian.PutUint64(field[:], start<<16|f.pos%metadataBlockSize)
		} else {
			if start > 0xFFFFFFFF {
				b.err = errMetaTooBig
				return
			}
			binary.LittleEndian.PutUint32(field[:], uint32(start))
		}
		// The part of the field that falls in this block.
		for i := range f.width() {
			if at := f.at + i; at >= b.pos && at < b.pos+uint64(len(b.raw)) {
				b.raw[at-b.pos] = field[i]
			}
		}
	}
	b.stored, b.err = c.store(b.raw)
}

// bytes returns the stream as stored, after flush.
func (m *metaWriter) bytes() []byte {
	out := make([]byte, 0, m.starts[len(m.starts)-1])
	for _, b := range m.blocks {
		out = append(out, b.stored...)
	}
	return out
}

// blockStarts returns the on-disk offset of each block, after flush.
func (m *metaWriter) blockStarts() []uint64 {
	return m.starts[:len(m.blocks)]
}

// le is a small append-only little-endian encoder for on-disk records.
type le []byte

func (b le) u16(v uint16) le { return binary.LittleEndian.AppendUint16(b, v) }
func (b le) u32(v uint32) le { return binary.LittleEndian.AppendUint32(b, v) }
func (b le) u64(v uint64) le { return binary.LittleEndian.AppendUint64(b, v) }
func (b le) str(s string) le { return append(b, s...) }
