package squashfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"sync/atomic"

	"github.com/mkportable/mkportable/internal/atomicfile"
)

// Write writes the image of t to dst, starting at offset 0, and returns what
// it stored. The bytes depend only on the tree and the options, not on
// Workers, the order the tree was built in, or the host: entries are laid
// out in byte order of their names, data blocks in that walk's order.
//
// File data is read and compressed on Workers goroutines while a single
// goroutine writes the results in order, so memory stays near
// 2 × Workers × BlockSize and the encoders' state, plus about 50 bytes a
// file and the compressed inode and directory tables (MemoryLimit
// estimates it all).
func Write(ctx context.Context, dst io.WriterAt, t *Tree, opts Options) (*Stats, error) {
	s, err := opts.settings()
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, dst: dst, tree: t, sizes: map[int64]sizeInfo{},
		hash: sha256.New(), ids: map[uint32]uint16{}, xattrIDs: map[string]uint32{},
		cache: newBlockCache(opts.Cache, s)}
	w.collect()
	if err := w.writeHeaderSpace(); err != nil {
		return nil, err
	}
	if err := w.writeData(ctx); err != nil {
		return nil, err
	}
	if err := w.writeMetadata(); err != nil {
		return nil, err
	}
	w.stats.CacheHits, w.stats.CacheMisses = int(w.cacheHits.Load()), int(w.cacheMisses.Load())
	return &w.stats, nil
}

// WriteFile writes the image of t to the file name, replacing it. The image
// appears under name only once it is complete and synced: on Linux it is
// written to an unnamed O_TMPFILE in name's directory and linked into
// place at the end, so a failed, cancelled or killed write leaves nothing
// behind. Where O_TMPFILE is not available it is written to a temporary
// file named ".NAME.mkportable-tmp-PID-N" and renamed into place; such a
// file left by a killed process is removed by the next WriteFile of the
// same name.
func WriteFile(ctx context.Context, name string, t *Tree, opts Options) (*Stats, error) {
	return writeFile(ctx, name, t, opts, atomicfile.Create)
}

// writeFile is WriteFile with the way the output is created as a
// parameter, so tests can exercise the named-file fallback.
func writeFile(ctx context.Context, name string, t *Tree, opts Options, create func(string) (*atomicfile.File, error)) (*Stats, error) {
	out, err := create(name)
	if err != nil {
		return nil, fmt.Errorf("create image: %w", err)
	}
	defer out.Abort()
	stats, err := Write(ctx, out, t, opts)
	if err != nil {
		return nil, err
	}
	if err := out.Commit(); err != nil {
		return nil, err
	}
	return stats, nil
}

// WriterAtSeeker adapts an io.WriteSeeker, such as a stream that can seek
// but lacks WriteAt, to the io.WriterAt that Write takes.
func WriterAtSeeker(ws io.WriteSeeker) io.WriterAt { return seekWriterAt{ws} }

type seekWriterAt struct{ ws io.WriteSeeker }

func (s seekWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if _, err := s.ws.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return s.ws.Write(p)
}

// The writer keeps no record per inode, only each stored file's data
// record (24 bytes) and dedup slot. Both passes, data then metadata,
// walk the tree in the same order (pre-order, names sorted), and the k-th
// regular file met in one is the k-th met in the other: the metadata pass
// takes each file's data record in turn, from files or, for a duplicate,
// from dups. Inodes are numbered in the order they are written, children
// before their directory, so a directory's number is known before its
// children are written (the count before it plus the inodes its subtree
// adds), and the export table is the inode references in writing order.
// Only directories and nodes with several names (Link) get records.

// dirInfo is what the writer knows of a directory.
type dirInfo struct {
	ents []entry // sorted, from the tree
	// inodes counts the inodes first met in the directory's subtree,
	// itself included.
	inodes uint32
	nlink  uint32
}

// linkInfo is what the writer knows of a node with several names.
type linkInfo struct {
	nlink   uint32
	number  uint32
	pos     uint64 // position in the inode table, once written
	stored  bool   // its data pass is done
	written bool   // its inode is written
}

// dupRef says the k-th regular file shares the data of files[data].
type dupRef struct {
	file, data int32
}

// fileData is where a regular file's contents went. Duplicate files share
// one. A million small files have a million of them: it is 24 bytes.
type fileData struct {
	start uint64 // position of the first block
	// The on-disk size word of each block, 0 for a hole, is
	// writer.blocks[first : first+count].
	first, count uint32
	frag         uint32 // fragment index of the tail, or noIndex
	// tail is, for a tail in a fragment, its offset in the uncompressed
	// fragment block; otherwise the length of an all-zero tail stored as
	// a final hole block rather than in a fragment, as mksquashfs stores
	// it (zeros cost nothing), or 0. Only the reading goroutine sets frag
	// and tail; the sink sets start and the block sizes.
	tail uint32
}

// fragOffset returns the offset of the tail in its fragment, 0 without one.
func (d *fileData) fragOffset() uint32 {
	if d.frag == noIndex {
		return 0
	}
	return d.tail
}

// tailHole returns the length of an all-zero tail stored as a hole.
func (d *fileData) tailHole() uint32 {
	if d.frag != noIndex {
		return 0
	}
	return d.tail
}

// blockSizes returns the on-disk size word of every block of d, the hole
// for a zero tail included.
func (w *writer) blockSizes(d *fileData) []uint32 {
	sizes := w.blocks[d.first : d.first+d.count : d.first+d.count]
	if d.tailHole() > 0 {
		return append(sizes, 0)
	}
	return sizes
}

// sparseBytes returns the bytes of d, a file of size bytes, stored as
// holes.
func (w *writer) sparseBytes(d *fileData, size int64) uint64 {
	bs := int64(w.s.BlockSize)
	sparse := uint64(d.tailHole())
	for i, s := range w.blocks[d.first : d.first+d.count] {
		if s == 0 {
			sparse += uint64(min(bs, size-int64(i)*bs))
		}
	}
	return sparse
}

// hasData reports whether any of d's bytes are stored, in a block or a
// fragment.
func (w *writer) hasData(d *fileData) bool {
	if d.frag != noIndex {
		return true
	}
	for _, s := range w.blocks[d.first : d.first+d.count] {
		if s != 0 {
			return true
		}
	}
	return false
}

// sizeInfo counts the files of one size, and says whether one was stored.
type sizeInfo struct {
	count  int32
	stored bool
}

type writer struct {
	s    settings
	dst  io.WriterAt
	tree *Tree
	pos  uint64 // next byte of the image

	dirs     []dirInfo       // every directory, in walk order
	dirIndex map[*Node]int32 // each directory's index in dirs
	// linked is the index in links of each node Link gave several names:
	// every other node is met once.
	linked map[*Node]int32
	links  []linkInfo
	inodes uint32 // how many the image has

	// files holds the data of every regular file but duplicates, in walk
	// order, and dups the duplicates'; files is allocated once at its
	// bound, so the pipeline may point into it.
	files []fileData
	dups  []dupRef
	// blocks holds the on-disk size words of every file's blocks, which
	// the sink fills in; fixed in size once collected. usedBlocks of them
	// are given out.
	blocks     []uint32
	usedBlocks int
	total      int64 // bytes of regular file data, hard links counted once

	// Walk cursors: regular files met, and, in the metadata pass, the
	// next of files and of dups to take and the last inode number given.
	fileCount  int32
	nextFile   int32
	nextDup    int32
	nextNumber uint32
	kids       []kidRef    // the entries of the directories being written
	exports    *metaWriter // the export table, as inodes are written

	// Deduplication: how many files have each size, and the files stored
	// so far by a 64-bit prefix of the SHA-256 of their contents. A prefix
	// shared by different contents only costs a comparison: every
	// candidate is compared byte by byte.
	sizes map[int64]sizeInfo
	dedup dedupTable
	hash  hash.Hash
	sum   []byte
	buf   []byte // scratch for reading whole files: hashing, comparing
	cmp   []byte
	probe [1]byte

	frags []fragEntry // written fragment blocks, in index order

	ids         map[uint32]uint16
	idList      []uint32
	xattrIDs    map[string]uint32 // encoded xattr set -> index
	xattrSets   [][]byte          // encoded xattr sets, by index
	flags       uint16
	stats       Stats
	cache       *blockCache // nil without a cache
	cacheHits   atomic.Int64
	cacheMisses atomic.Int64

	rec     le      // scratch for one inode record
	recFix  []fixup // fields of rec to fill in, at offsets from its start
	listing le      // scratch for one directory listing
}

// kidRef is where a directory entry's inode went: its uncompressed
// position in the inode table, and its number.
type kidRef struct {
	pos    uint64
	number uint32
}

type fragEntry struct {
	start uint64
	size  uint32
}

// collect walks the tree once: it finds every directory, counts inodes
// and links, and notes which file sizes occur more than once. A first
// pass counts, so that every table is allocated once at its size.
func (w *writer) collect() {
	var c treeCount
	c.count(w.tree.root, int64(w.s.BlockSize), w.s.NoFragments)
	w.dirs = make([]dirInfo, 0, c.dirs)
	w.dirIndex = make(map[*Node]int32, c.dirs)
	w.linked = make(map[*Node]int32, c.linked)
	w.files = make([]fileData, 0, c.files)
	w.blocks = make([]uint32, c.blocks)
	w.collectDir(w.tree.root)
	w.inodes = w.dirs[0].inodes
	if !w.s.NoDedup {
		candidates := 0
		for _, si := range w.sizes {
			if si.count > 1 {
				candidates += int(si.count)
			}
		}
		w.dedup = newDedupTable(candidates)
	}
}

// treeCount is an upper bound of the writer's tables: hard links count
// once for each name.
type treeCount struct {
	dirs, files, blocks, linked int
}

func (c *treeCount) count(n *Node, bs int64, noFragments bool) {
	if n.linked {
		c.linked++
	}
	switch n.mode.Type() {
	case fs.ModeDir:
		c.dirs++
		for _, e := range n.dir.list() {
			c.count(e.node, bs, noFragments)
		}
	case 0:
		c.files++
		c.blocks += int(n.size / bs)
		if noFragments && n.size%bs > 0 {
			c.blocks++
		}
	}
}

// collectDir records the directory n and everything under it, and returns
// its index in dirs.
func (w *writer) collectDir(n *Node) int32 {
	di := int32(len(w.dirs))
	w.dirIndex[n] = di
	w.dirs = append(w.dirs, dirInfo{ents: n.dir.list(), nlink: 2})
	inodes := uint32(1)
	for _, e := range w.dirs[di].ents {
		child := e.node
		if child.linked {
			if li, ok := w.linked[child]; ok {
				w.links[li].nlink++
				continue
			}
			w.linked[child] = int32(len(w.links))
			w.links = append(w.links, linkInfo{nlink: 1})
		}
		switch child.mode.Type() {
		case fs.ModeDir:
			w.dirs[di].nlink++ // the child's ".." links back
			inodes += w.dirs[w.collectDir(child)].inodes
			continue
		case 0:
			w.total += child.size
			if child.size > 0 {
				si := w.sizes[child.size]
				si.count++
				w.sizes[child.size] = si
			}
		}
		inodes++
	}
	w.dirs[di].inodes = inodes
	return di
}

// pathOf returns the first path, in walk order, of the node n: for error
// messages, so the writer keeps no path per inode.
func (w *writer) pathOf(n *Node) string {
	if n == w.tree.root {
		return "/"
	}
	var find func(dir *Node, p string) (string, bool)
	find = func(dir *Node, p string) (string, bool) {
		for _, e := range w.dirs[w.dirIndex[dir]].ents {
			child := path.Join(p, e.name)
			if e.node == n {
				return child, true
			}
			if e.node.IsDir() {
				if found, ok := find(e.node, child); ok {
					return found, true
				}
			}
		}
		return "", false
	}
	p, _ := find(w.tree.root, "/")
	return p
}

// writeHeaderSpace leaves room for the superblock, written last, and
// stores the compressor options when the compressor has any.
func (w *writer) writeHeaderSpace() error {
	w.pos = superblockSize
	opts := w.s.Compressor.Options(w.s.BlockSize)
	if opts == nil {
		return nil
	}
	w.flags |= flagCompressorOptions
	// Compressor options are one metadata block, always stored raw.
	block := le(nil).u16(uint16(len(opts)) | metadataUncompressed)
	return w.writeAt(append(block, opts...))
}

func (w *writer) writeAt(b []byte) error {
	if _, err := w.dst.WriteAt(b, int64(w.pos)); err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	w.pos += uint64(len(b))
	return nil
}

// storeFile stores the contents of the regular file n through the
// pipeline p, or points it at an earlier file with the same contents, and
// returns the index in files of its data. Each file is read once, except
// a file of whole blocks whose size another file has: its blocks go to
// disk as they are read, so it is hashed first to find out whether it is
// a duplicate.
func (w *writer) storeFile(ctx context.Context, p *pipeline, n *Node) (int32, error) {
	bs := int64(w.s.BlockSize)
	nblocks, tail := n.size/bs, n.size%bs
	if tail > 0 && w.s.NoFragments {
		nblocks, tail = nblocks+1, 0
	}
	si := w.sizes[n.size]
	dedup := !w.s.NoDedup && si.count > 1
	var want uint64
	hashed := false
	if dedup && nblocks > 0 && si.stored {
		key, err := w.hashFile(n)
		if err != nil {
			return 0, err
		}
		if di, same, err := w.duplicate(n, key, nil); same || err != nil {
			if same {
				p.skipped.Add(n.size)
			}
			return di, err
		}
		want, hashed = key, true
	}

	rc, err := n.open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if nblocks == 0 {
		// The whole file is its tail: read it once, then either find it is
		// a duplicate or pack it.
		w.buf = grow(w.buf, int(tail))
		data := w.buf[:tail]
		if err := readFull(rc, data, n.size); err != nil {
			return 0, err
		}
		if err := w.atEnd(rc, n.size); err != nil {
			return 0, err
		}
		var key uint64
		if dedup {
			key = w.hashBytes(data)
			if di, same, err := w.duplicate(n, key, data); same || err != nil {
				if same {
					p.skipped.Add(n.size)
				}
				return di, err
			}
		}
		di, d := w.newFileData(0)
		if err := w.packTail(ctx, p, d, data); err != nil {
			return 0, err
		}
		if dedup {
			w.remember(n, di, key)
		}
		return di, nil
	}

	di, d := w.newFileData(int(nblocks))
	if dedup {
		w.hash.Reset()
	}
	remaining := n.size
	for k := range nblocks {
		b, err := p.get(ctx)
		if err != nil {
			return 0, err
		}
		b.raw = b.raw[:min(bs, remaining)]
		if err := readFull(rc, b.raw, n.size); err != nil {
			p.put(b)
			return 0, err
		}
		remaining -= int64(len(b.raw))
		if dedup {
			w.hash.Write(b.raw)
		}
		b.file, b.index = d, int(k)
		p.submit(b)
	}
	if tail > 0 {
		w.buf = grow(w.buf, int(tail))
		data := w.buf[:tail]
		if err := readFull(rc, data, n.size); err != nil {
			return 0, err
		}
		if dedup {
			w.hash.Write(data)
		}
		if err := w.packTail(ctx, p, d, data); err != nil {
			return 0, err
		}
	}
	if err := w.atEnd(rc, n.size); err != nil {
		return 0, err
	}
	if dedup {
		w.sum = w.hash.Sum(w.sum[:0])
		key := binary.LittleEndian.Uint64(w.sum)
		if hashed && key != want {
			return 0, errors.New("file changed while being read")
		}
		w.remember(n, di, key)
	}
	return di, nil
}

// newFileData adds the data of a file of nblocks blocks to files.
func (w *writer) newFileData(nblocks int) (int32, *fileData) {
	w.files = append(w.files, fileData{first: uint32(w.usedBlocks), count: uint32(nblocks), frag: noIndex})
	w.usedBlocks += nblocks
	return int32(len(w.files) - 1), &w.files[len(w.files)-1]
}

// packTail puts a file's tail into a fragment block, or stores an all-zero
// tail as a hole.
func (w *writer) packTail(ctx context.Context, p *pipeline, d *fileData, data []byte) error {
	if allZero(data) {
		d.tail = uint32(len(data))
		return nil
	}
	return p.addTail(ctx, d, data)
}

// duplicate looks for a stored file with the contents of the file n,
// whose hash prefix is key and, when already read, whose bytes are data;
// when it finds one, it returns the index in files of its data.
func (w *writer) duplicate(n *Node, key uint64, data []byte) (int32, bool, error) {
	pn, di, ok := w.dedup.get(key)
	if !ok || pn.size != n.size {
		return 0, false, nil
	}
	var same bool
	var err error
	if data != nil {
		same, err = w.sameAs(pn, data)
	} else {
		same, err = w.sameContents(n, pn)
	}
	if err != nil {
		return 0, false, fmt.Errorf("compare with %s: %w", w.pathOf(pn), err)
	}
	if same {
		w.stats.Duplicates++
		return di, true, nil
	}
	return 0, false, nil
}

// remember records the file n, stored with its data at files[di], as a
// candidate for later duplicates.
func (w *writer) remember(n *Node, di int32, key uint64) {
	w.dedup.add(key, n, di)
	si := w.sizes[n.size]
	si.stored = true
	w.sizes[n.size] = si
}

// atEnd checks that r has nothing left: more means the file grew.
func (w *writer) atEnd(r io.Reader, size int64) error {
	if k, err := io.ReadFull(r, w.probe[:]); k > 0 {
		return fmt.Errorf("file grew beyond its size of %d bytes while being read", size)
	} else if err != io.EOF {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// readFull fills b from r; running short means the file shrank.
func readFull(r io.Reader, b []byte, size int64) error {
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("file shrank below its size of %d bytes while being read", size)
		}
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// grow returns b with room for n bytes.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b
}

// hashBytes returns the dedup key of contents already read.
func (w *writer) hashBytes(data []byte) uint64 {
	w.hash.Reset()
	w.hash.Write(data)
	w.sum = w.hash.Sum(w.sum[:0])
	return binary.LittleEndian.Uint64(w.sum)
}

// hashFile reads n through and returns its dedup key.
func (w *writer) hashFile(n *Node) (uint64, error) {
	rc, err := n.open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	w.hash.Reset()
	w.buf = grow(w.buf, readChunk)
	k, err := io.CopyBuffer(hashWriter{w.hash}, rc, w.buf[:readChunk])
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	if k != n.size {
		return 0, fmt.Errorf("file has %d bytes, not its size of %d, while being read", k, n.size)
	}
	w.sum = w.hash.Sum(w.sum[:0])
	return binary.LittleEndian.Uint64(w.sum), nil
}

// hashWriter hides the hash's other methods, so io.CopyBuffer uses the
// buffer it is given.
type hashWriter struct{ h hash.Hash }

func (h hashWriter) Write(p []byte) (int, error) { return h.h.Write(p) }

// readChunk is how much of a file is read at once to hash or compare it.
const readChunk = 64 << 10

// sameAs reports whether the file n holds exactly data.
func (w *writer) sameAs(n *Node, data []byte) (bool, error) {
	rc, err := n.open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	w.cmp = grow(w.cmp, len(data)+1)
	k, err := io.ReadFull(rc, w.cmp[:len(data)+1])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false, err
	}
	return k == len(data) && bytes.Equal(w.cmp[:k], data), nil
}

// sameContents compares two files byte by byte: a matching size and hash
// make a duplicate likely, this makes it certain.
func (w *writer) sameContents(a, b *Node) (bool, error) {
	ra, err := a.open()
	if err != nil {
		return false, err
	}
	defer ra.Close()
	rb, err := b.open()
	if err != nil {
		return false, err
	}
	defer rb.Close()
	w.buf = grow(w.buf, readChunk)
	w.cmp = grow(w.cmp, readChunk)
	bufA, bufB := w.buf[:readChunk], w.cmp[:readChunk]
	for {
		na, errA := io.ReadFull(ra, bufA)
		nb, errB := io.ReadFull(rb, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		endA := errors.Is(errA, io.EOF) || errors.Is(errA, io.ErrUnexpectedEOF)
		endB := errors.Is(errB, io.EOF) || errors.Is(errB, io.ErrUnexpectedEOF)
		switch {
		case errA != nil && !endA:
			return false, errA
		case errB != nil && !endB:
			return false, errB
		case endA || endB:
			return endA == endB, nil
		}
	}
}
