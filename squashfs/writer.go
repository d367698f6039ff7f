package squashfs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/mkportable/mkportable/internal/atomicfile"
)

// Write writes the image of t to dst, starting at offset 0, and returns what
// it stored. The bytes depend only on the tree and the options, not on
// Workers, the order the tree was built in, or the host: entries are laid
// out in byte order of their names, data blocks in that walk's order.
//
// File data is read and compressed on Workers goroutines while a single
// goroutine writes the results in order, so memory stays near
// 2 × Workers × BlockSize plus the metadata of the tree.
func Write(ctx context.Context, dst io.WriterAt, t *Tree, opts Options) (*Stats, error) {
	s, err := opts.settings()
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, dst: dst, tree: t, inodes: map[*Node]*inode{}, sizeCount: map[int64]int{},
		sizeSeen: map[int64]bool{}, dedup: map[dedupKey]*inode{}, ids: map[uint32]uint16{}, xattrIDs: map[string]uint32{}}
	if err := w.collect(); err != nil {
		return nil, err
	}
	if err := w.writeHeaderSpace(); err != nil {
		return nil, err
	}
	if err := w.writeData(ctx); err != nil {
		return nil, err
	}
	if err := w.writeMetadata(); err != nil {
		return nil, err
	}
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

// inode is what the writer knows of one Node.
type inode struct {
	node    *Node
	path    string   // first path the node was found at, for errors
	names   []string // a directory's sorted entry names
	nlink   uint32
	number  uint32
	ref     uint64 // inode table reference, once written
	written bool
	data    *fileData // a regular file's stored data
}

// fileData is where a regular file's contents went. Duplicate files share
// one.
type fileData struct {
	start      uint64   // position of the first block
	sizes      []uint32 // on-disk size word of each block; 0 for a hole
	frag       uint32   // fragment index of the tail, or noIndex
	fragOffset uint32   // offset of the tail in the uncompressed fragment
	sparse     uint64   // bytes stored as holes, counted by the sink
	// tailHole says an all-zero tail is stored as a final hole block rather
	// than in a fragment, as mksquashfs stores it: zeros cost nothing.
	// Only the reading goroutine sets it, so it lives apart from sizes.
	tailHole uint32 // the tail's length, or 0
}

// blockSizes returns the on-disk size word of every block, the hole for a
// zero tail included.
func (d *fileData) blockSizes() []uint32 {
	if d.tailHole > 0 {
		return append(d.sizes[:len(d.sizes):len(d.sizes)], 0)
	}
	return d.sizes
}

// sparseBytes returns the bytes stored as holes.
func (d *fileData) sparseBytes() uint64 { return d.sparse + uint64(d.tailHole) }

// hasData reports whether any of the file's bytes are stored, in a block or
// a fragment.
func (d *fileData) hasData() bool {
	if d.frag != noIndex {
		return true
	}
	for _, s := range d.sizes {
		if s != 0 {
			return true
		}
	}
	return false
}

type dedupKey struct {
	size int64
	sum  [sha256.Size]byte
}

type writer struct {
	s    settings
	dst  io.WriterAt
	tree *Tree
	pos  uint64 // next byte of the image

	inodes map[*Node]*inode
	order  []*inode // every inode, in walk order (pre-order, names sorted)
	total  int64    // bytes of regular file data, hard links counted once

	// Deduplication: sizes shared by several files, and the files stored so
	// far by size and SHA-256.
	sizeCount map[int64]int
	sizeSeen  map[int64]bool
	dedup     map[dedupKey]*inode

	frags []fragEntry // written fragment blocks, in index order

	nextNumber uint32
	ids        map[uint32]uint16
	idList     []uint32
	xattrIDs   map[string]uint32 // encoded xattr set -> index
	xattrSets  [][]byte          // encoded xattr sets, by index
	flags      uint16
	stats      Stats
}

type fragEntry struct {
	start uint64
	size  uint32
}

// collect walks the tree once: it finds every inode, counts links, and
// notes which file sizes occur more than once.
func (w *writer) collect() error {
	root := &inode{node: w.tree.root, path: "/", nlink: 2}
	w.inodes[w.tree.root] = root
	w.order = append(w.order, root)
	return w.collectDir(root)
}

func (w *writer) collectDir(dir *inode) error {
	dir.names = dir.node.Names()
	for _, name := range dir.names {
		child := dir.node.entries[name]
		p := path.Join(dir.path, name)
		if ino, ok := w.inodes[child]; ok {
			if child.IsDir() {
				return fmt.Errorf("%s: a directory may appear only once (hard links to directories cannot be stored)", p)
			}
			ino.nlink++
			continue
		}
		ino := &inode{node: child, path: p, nlink: 1}
		w.inodes[child] = ino
		w.order = append(w.order, ino)
		switch child.mode.Type() {
		case fs.ModeDir:
			ino.nlink = 2
			dir.nlink++ // the child's ".." links back
			if err := w.collectDir(ino); err != nil {
				return err
			}
		case 0:
			w.total += child.size
			if child.size > 0 {
				w.sizeCount[child.size]++
			}
		}
	}
	return nil
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

// storeFile stores one regular file's contents through the pipeline p, or
// points it at an earlier file with the same contents.
func (w *writer) storeFile(ctx context.Context, p *pipeline, ino *inode) error {
	n := ino.node
	var want *[sha256.Size]byte
	dedup := !w.s.NoDedup && w.sizeCount[n.size] > 1
	if dedup && w.sizeSeen[n.size] {
		sum, err := hashFile(n)
		if err != nil {
			return err
		}
		if prev, ok := w.dedup[dedupKey{n.size, sum}]; ok {
			same, err := sameContents(n, prev.node)
			if err != nil {
				return fmt.Errorf("compare with %s: %w", prev.path, err)
			}
			if same {
				ino.data = prev.data
				w.stats.Duplicates++
				p.skipped.Add(n.size)
				return nil
			}
		}
		want = &sum
	}

	fd := &fileData{frag: noIndex}
	ino.data = fd
	bs := int64(w.s.BlockSize)
	nblocks, tail := n.size/bs, n.size%bs
	if tail > 0 && w.s.NoFragments {
		nblocks, tail = nblocks+1, 0
	}
	fd.sizes = make([]uint32, nblocks)

	rc, err := n.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	remaining := n.size
	for i := range nblocks {
		b, err := p.get(ctx)
		if err != nil {
			return err
		}
		b.raw = b.raw[:min(bs, remaining)]
		if err := readFull(rc, b.raw, n.size); err != nil {
			p.put(b)
			return err
		}
		remaining -= int64(len(b.raw))
		if dedup {
			h.Write(b.raw)
		}
		b.file, b.index = fd, int(i)
		p.submit(b)
	}
	if tail > 0 {
		frag, err := p.fragmentRoom(ctx, int(tail))
		if err != nil {
			return err
		}
		off := len(frag.raw)
		frag.raw = frag.raw[:off+int(tail)]
		if err := readFull(rc, frag.raw[off:], n.size); err != nil {
			return err
		}
		if dedup {
			h.Write(frag.raw[off:])
		}
		if allZero(frag.raw[off:]) {
			frag.raw = frag.raw[:off]
			fd.tailHole = uint32(tail)
		} else {
			fd.frag, fd.fragOffset = uint32(frag.frag), uint32(off)
		}
	}
	var probe [1]byte
	if k, err := io.ReadFull(rc, probe[:]); k > 0 {
		return fmt.Errorf("file grew beyond its size of %d bytes while being read", n.size)
	} else if err != io.EOF {
		return fmt.Errorf("read: %w", err)
	}
	if dedup {
		var sum [sha256.Size]byte
		h.Sum(sum[:0])
		if want != nil && sum != *want {
			return errors.New("file changed while being read")
		}
		w.dedup[dedupKey{n.size, sum}] = ino
		w.sizeSeen[n.size] = true
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

func hashFile(n *Node) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	rc, err := n.open()
	if err != nil {
		return sum, err
	}
	defer rc.Close()
	h := sha256.New()
	k, err := io.Copy(h, rc)
	if err != nil {
		return sum, fmt.Errorf("read: %w", err)
	}
	if k != n.size {
		return sum, fmt.Errorf("file has %d bytes, not its size of %d, while being read", k, n.size)
	}
	h.Sum(sum[:0])
	return sum, nil
}

// sameContents compares two files byte by byte: a matching size and hash
// make a duplicate likely, this makes it certain.
func sameContents(a, b *Node) (bool, error) {
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
	const chunk = 64 << 10
	bufA, bufB := make([]byte, chunk), make([]byte, chunk)
	for {
		na, errA := io.ReadFull(ra, bufA)
		nb, errB := io.ReadFull(rb, bufB)
		if na != nb || string(bufA[:na]) != string(bufB[:nb]) {
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
