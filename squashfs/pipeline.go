package squashfs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// The data pipeline. One goroutine (the caller of writeData) reads files in
// walk order into blocks and hands each block both to the workers, which
// compress them in any order, and to the sink, which waits for each block
// in turn and writes it at the next position. Order on disk is thus the
// order of submission, whatever the number of workers or their timing.
// A fixed pool of blocks bounds memory: reading waits for a free block.

// block is one data block or fragment block on its way to disk.
type block struct {
	raw  []byte // uncompressed contents
	out  []byte // compressed contents, from a worker
	done chan struct{}

	fragment bool
	frag     int       // fragment index, for a fragment block
	file     *fileData // the file, for a data block
	index    int       // the block's index in the file

	// Set by the worker.
	err    error
	hole   bool   // all zeros: stored as a hole
	stored []byte // bytes to write: raw or out
	size   uint32 // on-disk size word
}

type pipeline struct {
	w       *writer
	pool    chan *block
	work    chan *block
	ordered chan *block
	frag    *block // fragment block being filled, if any
	nfrags  int

	skipped atomic.Int64 // bytes of duplicate files, for progress
}

// get returns a free block, waiting for one.
func (p *pipeline) get(ctx context.Context) (*block, error) {
	select {
	case b := <-p.pool:
		b.raw, b.out, b.stored = b.raw[:0], b.out[:0], nil
		b.fragment, b.file, b.err, b.hole = false, nil, nil, false
		b.done = make(chan struct{})
		return b, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// put returns a block that was never submitted.
func (p *pipeline) put(b *block) { p.pool <- b }

// submit queues b for compression and for writing in order. Neither send
// blocks for long: at most len(pool) blocks are ever in flight.
func (p *pipeline) submit(b *block) {
	p.work <- b
	p.ordered <- b
}

// fragmentRoom returns the fragment block being filled, first submitting it
// and starting a new one when n more bytes would not fit. Tails are packed
// in walk order, as mksquashfs packs them.
func (p *pipeline) fragmentRoom(ctx context.Context, n int) (*block, error) {
	if p.frag != nil && len(p.frag.raw)+n > p.w.s.BlockSize {
		p.submit(p.frag)
		p.frag = nil
	}
	if p.frag == nil {
		b, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		b.fragment, b.frag = true, p.nfrags
		p.nfrags++
		p.frag = b
	}
	return p.frag, nil
}

// writeData stores the contents of every regular file.
func (w *writer) writeData(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	workers := w.s.Workers
	encoders := make([]Encoder, workers)
	for i := range encoders {
		enc, err := w.s.Compressor.NewEncoder(w.s.BlockSize)
		if err != nil {
			return err
		}
		encoders[i] = enc
	}
	// Two blocks per worker keep every worker busy while the reader fills
	// the next; one more is the fragment block being filled.
	inFlight := 2*workers + 1
	p := &pipeline{w: w, pool: make(chan *block, inFlight), work: make(chan *block, inFlight), ordered: make(chan *block, inFlight)}
	for range inFlight {
		p.pool <- &block{raw: make([]byte, 0, w.s.BlockSize), out: make([]byte, 0, w.s.BlockSize+w.s.BlockSize/8)}
	}

	var wg sync.WaitGroup
	for _, enc := range encoders {
		wg.Go(func() {
			for b := range p.work {
				w.compress(enc, b)
				close(b.done)
			}
		})
	}
	sinkErr := make(chan error, 1)
	go func() { sinkErr <- w.sink(p, cancel) }()

	err := w.produce(ctx, p)
	close(p.work)
	close(p.ordered)
	wg.Wait()
	if serr := <-sinkErr; serr != nil {
		return serr // the first failure; produce saw only the cancellation
	}
	if err != nil {
		return err
	}
	w.stats.Fragments = len(w.frags)
	w.stats.BytesIn = w.total - p.skipped.Load()
	counted := map[*fileData]bool{} // duplicates share their data
	for _, ino := range w.order {
		if d := ino.data; d != nil && !counted[d] {
			counted[d] = true
			w.stats.SparseBytes += int64(d.tailHole)
		}
	}
	return nil
}

// produce reads every regular file, in walk order, into the pipeline.
func (w *writer) produce(ctx context.Context, p *pipeline) error {
	for _, ino := range w.order {
		if ino.node.mode.Type() != 0 {
			continue
		}
		w.stats.Files++
		if ino.node.size == 0 {
			ino.data = &fileData{frag: noIndex}
			continue
		}
		if err := w.storeFile(ctx, p, ino); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("%s: %w", ino.path, err)
		}
	}
	if p.frag != nil {
		p.submit(p.frag)
		p.frag = nil
	}
	return nil
}

// compress fills in how b is stored: as a hole, compressed, or raw when
// compression does not make it smaller.
func (w *writer) compress(enc Encoder, b *block) {
	if !b.fragment && allZero(b.raw) {
		b.hole = true
		return
	}
	b.stored, b.size = b.raw, uint32(len(b.raw))|dataUncompressed
	if w.s.rawData {
		return
	}
	out, err := enc.Compress(b.out[:0], b.raw)
	if errors.Is(err, ErrIncompressible) {
		return
	}
	if err != nil {
		b.err = fmt.Errorf("compress: %w", err)
		return
	}
	b.out = out
	if len(out) < len(b.raw) {
		b.stored, b.size = out, uint32(len(out))
	}
}

// sink writes blocks in submission order. After a failure it keeps
// draining, so nothing upstream blocks, and returns the first error.
func (w *writer) sink(p *pipeline, cancel context.CancelCauseFunc) error {
	var first error
	var done int64
	for b := range p.ordered {
		<-b.done
		if first == nil {
			first = b.err
			if first == nil {
				first = w.place(b)
			}
			if first != nil {
				cancel(first)
			}
		}
		done += int64(len(b.raw))
		p.pool <- b
		if w.s.Progress != nil && first == nil {
			w.s.Progress(Progress{BytesDone: done + p.skipped.Load(), BytesTotal: w.total, BytesWritten: int64(w.pos)})
		}
	}
	return first
}

// place writes one finished block at the next position and records where
// it went.
func (w *writer) place(b *block) error {
	if b.fragment {
		w.frags = append(w.frags, fragEntry{start: w.pos, size: b.size})
		return w.writeAt(b.stored)
	}
	if b.index == 0 {
		b.file.start = w.pos
	}
	if b.hole {
		b.file.sizes[b.index] = 0
		b.file.sparse += uint64(len(b.raw))
		w.stats.SparseBytes += int64(len(b.raw))
		return nil
	}
	b.file.sizes[b.index] = b.size
	return w.writeAt(b.stored)
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
