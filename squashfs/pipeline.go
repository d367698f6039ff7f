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
	frag    *block     // fragment block being filled, if any
	tails   []fragTail // the tails in it
	nfrags  int
	// tailScore is the score of the file being read: a hash of its path,
	// which a change to its contents leaves alone.
	tailScore uint32

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

// Tails are packed into fragment blocks in walk order, and a block is cut
// where the content says, not where it happens to be full, so that a
// change to a few files changes a few fragment blocks and a Cache holds
// the others. When the next tail does not fit, the block ends after the
// tail, among those ending in its last quarter, with the highest score (a
// hash of the file's path): a file whose contents change, or whose tail
// grows or shrinks a little, moves no cut. Two packings that went apart
// (files added, removed or grown a lot) meet again where both pick the same
// best tail, which windows that overlap share: on the tails of a Debian
// root (1 MiB blocks, simulated), a file added or removed changes 1.2
// blocks on average, and a tail grown by a third of a block 6.7 (95% within
// 15). Blocks are about 82% full on average. Tails that ended their block
// outright wherever they fell ("anchors", one per two blocks of tails)
// bounded that to about 3 blocks, but cost the images 0.17% (GOROOT) to
// 0.27% (a Debian root) in size: more, emptier blocks, and context lost.

// fragTail is a tail in the fragment block being filled.
type fragTail struct {
	d     *fileData
	end   int    // offset in the block just past the tail
	score uint32 // a hash of the file's path
}

// addTail packs data, the tail of the file whose data is d, into the
// fragment block being filled.
func (p *pipeline) addTail(ctx context.Context, d *fileData, data []byte) error {
	bs := p.w.s.BlockSize
	// A cut leaves at most a quarter of a block behind; a long tail may
	// need a second.
	for p.frag != nil && len(p.frag.raw)+len(data) > bs {
		if err := p.cutFragment(ctx); err != nil {
			return err
		}
	}
	if p.frag == nil {
		b, err := p.newFragment(ctx)
		if err != nil {
			return err
		}
		p.frag = b
	}
	d.frag, d.tail = uint32(p.frag.frag), uint32(len(p.frag.raw))
	p.frag.raw = append(p.frag.raw, data...)
	p.tails = append(p.tails, fragTail{d: d, end: len(p.frag.raw), score: p.tailScore})
	return nil
}

func (p *pipeline) newFragment(ctx context.Context) (*block, error) {
	b, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	b.fragment, b.frag = true, p.nfrags
	p.nfrags++
	return b, nil
}

// cutFragment submits the fragment block being filled, up to the end of
// its best-scoring tail in its last quarter, and moves the tails after
// that into a new block.
func (p *pipeline) cutFragment(ctx context.Context) error {
	from := p.w.s.BlockSize - p.w.s.BlockSize/4
	cut := len(p.tails) - 1
	for i := len(p.tails) - 1; i >= 0 && p.tails[i].end >= from; i-- {
		if p.tails[i].score > p.tails[cut].score {
			cut = i
		}
	}
	full := p.frag
	end := p.tails[cut].end
	rest := p.tails[cut+1:]
	p.frag = nil
	if len(rest) > 0 {
		b, err := p.newFragment(ctx)
		if err != nil {
			return err
		}
		b.raw = append(b.raw, full.raw[end:]...)
		for i := range rest {
			t := &rest[i]
			t.d.frag, t.d.tail = uint32(b.frag), t.d.tail-uint32(end)
			t.end -= end
		}
		p.frag = b
	}
	full.raw = full.raw[:end]
	p.submit(full)
	p.tails = append(p.tails[:0], rest...)
	return nil
}

// flushFragment submits the last fragment block.
func (p *pipeline) flushFragment() {
	if p.frag != nil {
		p.submit(p.frag)
		p.frag = nil
	}
	p.tails = p.tails[:0]
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
			h := newCacheHasher()
			for b := range p.work {
				w.compress(enc, h, b)
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
	for i := range w.files { // duplicates share their data: each once
		w.stats.SparseBytes += int64(w.files[i].tailHole())
	}
	return nil
}

// produce reads every regular file, in walk order, into the pipeline.
func (w *writer) produce(ctx context.Context, p *pipeline) error {
	if err := w.produceDir(ctx, p, w.tree.root, pathHashSeed); err != nil {
		return err
	}
	p.flushFragment()
	return nil
}

// produceDir reads the files under the directory dir, whose path hashes
// to h. The k-th regular file it meets gets the k-th data record: a new
// one in files, or one in dups naming a stored file's.
func (w *writer) produceDir(ctx context.Context, p *pipeline, dir *Node, h uint64) error {
	for _, e := range w.dirs[w.dirIndex[dir]].ents {
		n := e.node
		ch := pathHash(h, e.name)
		switch {
		case n.IsDir():
			if err := w.produceDir(ctx, p, n, ch); err != nil {
				return err
			}
			continue
		case n.mode.Type() != 0:
			continue
		case n.linked:
			li := &w.links[w.linked[n]]
			if li.stored {
				continue // a hard link to a file stored already
			}
			li.stored = true
		}
		w.stats.Files++
		if n.size == 0 {
			w.newFileData(0)
			w.fileCount++
			continue
		}
		p.tailScore = uint32(mix64(ch) >> 32)
		before := int32(len(w.files))
		di, err := w.storeFile(ctx, p, n)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("%s: %w", w.pathOf(n), err)
		}
		if di < before {
			w.dups = append(w.dups, dupRef{file: w.fileCount, data: di})
		}
		w.fileCount++
	}
	return nil
}

// pathHash extends the FNV-1a hash h of a directory's path by one name.
func pathHash(h uint64, name string) uint64 {
	h = (h ^ '/') * 1099511628211
	for i := range len(name) {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return h
}

const pathHashSeed = 14695981039346656037

// mix64 spreads every bit of h over all of its bits (MurmurHash3's
// finalizer): FNV's top bits barely depend on a name's last bytes.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

// compress fills in how b is stored: as a hole, compressed, or raw when
// compression does not make it smaller.
func (w *writer) compress(enc Encoder, h *cacheHasher, b *block) {
	if !b.fragment && allZero(b.raw) {
		b.hole = true
		return
	}
	b.stored, b.size = b.raw, uint32(len(b.raw))|dataUncompressed
	if w.s.rawData {
		return
	}
	out, raw, err := w.encode(enc, h, w.s.BlockSize, b.out[:0], b.raw)
	if err != nil {
		b.err = fmt.Errorf("compress: %w", err)
		return
	}
	b.out = out
	if !raw {
		b.stored, b.size = out, uint32(len(out))
	}
}

// encode compresses src with enc, an encoder for blocks of encSize bytes,
// through the cache when there is one. It returns the compressed bytes
// appended to dst, or raw true when src is stored as it is because
// compressing does not make it smaller.
func (w *writer) encode(enc Encoder, h *cacheHasher, encSize int, dst, src []byte) (out []byte, raw bool, err error) {
	var key CacheKey
	if w.cache != nil {
		key = w.cache.key(h, encSize, src)
		if out, raw, ok := w.cache.get(h, key, dst, len(src)); ok {
			w.cacheHits.Add(1)
			return out, raw, nil
		}
		w.cacheMisses.Add(1)
	}
	out, raw, err = compressBlock(enc, dst, src)
	if err != nil {
		return dst, false, err
	}
	if w.cache != nil {
		w.cache.put(h, key, out[len(dst):], raw)
	}
	return out, raw, nil
}

// compressBlock compresses src with enc: the compressed bytes appended to
// dst, or raw true when src is stored as it is because compressing does
// not make it smaller.
func compressBlock(enc Encoder, dst, src []byte) (out []byte, raw bool, err error) {
	out, err = enc.Compress(dst, src)
	switch {
	case errors.Is(err, ErrIncompressible):
		return dst, true, nil
	case err != nil:
		return dst, false, err
	case len(out)-len(dst) >= len(src):
		return dst, true, nil
	}
	return out, false, nil
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
	at := b.file.first + uint32(b.index)
	if b.hole {
		w.blocks[at] = 0
		w.stats.SparseBytes += int64(len(b.raw))
		return nil
	}
	w.blocks[at] = b.size
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
