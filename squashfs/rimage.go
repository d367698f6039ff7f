package squashfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
)

// ErrFormat means the bytes are not a valid SquashFS 4.0 image: a size,
// count, offset or name in them breaks the format, or a block does not
// decode. Every such error of a Reader wraps it, with what was wrong and
// where; test with errors.Is.
var ErrFormat = errors.New("not a valid squashfs image")

// corrupt returns an error wrapping ErrFormat.
func corrupt(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrFormat)...)
}

// Bounds the Reader puts on what an image may ask of it, beyond those of
// the format itself.
const (
	// maxSymlink is the longest symlink target the kernel's squashfs reads
	// (PAGE_SIZE); it refuses longer ones as corrupt.
	maxSymlink = 4096
	// maxXattrValue and maxXattrName are Linux's XATTR_SIZE_MAX and
	// XATTR_NAME_MAX; maxXattrSet bounds one inode's whole set, which
	// FileInfo.Sys copies each time (ext4 keeps a set in one 4 KiB block).
	maxXattrValue = 64 << 10
	maxXattrName  = 255
	maxXattrSet   = 256 << 10

	// Cache sizes: decoded metadata blocks, parsed directory listings (in
	// bytes of listing), decoded data and fragment blocks, xattr sets.
	metaCacheBlocks  = 512
	inodeCacheSize   = 8192
	listCacheBytes   = 32 << 20
	dataCacheBlocks  = 4 // and one for each block read-ahead may run ahead
	fragCacheBlocks  = 8 // the same
	maxAheadDepth    = 16
	xattrCacheSets   = 256
	noParent         = ^uint64(0)
	maxDataBlockWord = dataUncompressed | (dataUncompressed - 1)
)

// image is what every view of one Reader shares: the image's tables, its
// caches and its decoders.
type image struct {
	r   io.ReaderAt
	end uint64 // bytes used: nothing of the image lies beyond
	sb  superblock
	bs  int // data block size
	dec *decoders

	ids      []uint32
	frags    []fragEntry
	xattrIDs []xattrID

	inodes, dirs, kv metaTable

	zeroOnce sync.Once
	zero     []byte // one block of zeros, read-only: holes are served from it
	raw      sync.Pool

	mu         sync.Mutex
	meta       *lru[uint64, []byte]   // decoded metadata blocks by position
	inodeCache *lru[uint64, *rinode]  // parsed inodes by ref
	lists      *lru[uint64, []dirent] // parsed listings by directory inode ref
	blocks     *lru[uint64, []byte]   // decoded data blocks by position
	fragsC     *lru[uint64, []byte]   // decoded fragment blocks by position
	xattrs     *lru[uint32, map[string][]byte]
	// flights are blocks being decoded; ahead holds a token for each
	// read-ahead goroutine, one per core (none with one core): the caller
	// mostly waits while they decode the blocks it will want next.
	// aheadQueue holds blocks to read ahead that found no token free, for
	// those goroutines to take before they stop; depth is how many blocks
	// read-ahead runs ahead of the reader, twice the cores (at most
	// maxAheadDepth), so that one is always queued for a core that frees.
	flights    map[uint64]*flight
	ahead      chan struct{}
	aheadQueue chan aheadJob
	depth      int
	// aheadRunning counts the read-ahead goroutines, for stopReadAhead to
	// wait for; aheadStopped, set by it under mu, keeps new ones from
	// starting and running ones from taking queued blocks.
	aheadRunning sync.WaitGroup
	aheadStopped bool
	// lastFrag is the fragment block asked for last, to tell a walk
	// through them in order.
	lastFrag uint32
	// opened holds the file opened last in each of the last walkDirs
	// directories, to tell a walk through a directory's files in order;
	// openedNext is the slot the next directory takes.
	opened     [walkDirs]opened
	openedNext int
	// parents records where each directory was found, to refuse a
	// directory listed twice (a loop, or a tree that shares a subtree).
	parents map[uint64]dirLink
	// listed holds the directories whose listing was parsed; listedBytes
	// is their total size, which cannot pass the directory table's.
	listed      map[uint64]bool
	listedBytes uint64
}

// dirLink is a directory's place: the inode ref of its parent and its name.
type dirLink struct {
	parent uint64
	name   string
}

type xattrID struct {
	ref         uint64
	count, size uint32
}

// metaTable is a stream of metadata blocks: the inode table, the
// directory table or the xattr key/value area.
type metaTable struct {
	name       string
	start, end uint64
	blocks     []uint64 // position of each block, ascending
}

// next returns where block k's successor starts.
func (t *metaTable) next(k int) uint64 {
	if k+1 < len(t.blocks) {
		return t.blocks[k+1]
	}
	return t.end
}

// readAt reads len(p) bytes at off, which must lie inside the image.
func (img *image) readAt(p []byte, off uint64, what string) error {
	if off > img.end || uint64(len(p)) > img.end-off {
		return corrupt("%s at %d..%d lies past the image's end at %d", what, off, off+uint64(len(p)), img.end)
	}
	n, err := img.r.ReadAt(p, int64(off))
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %s at %d: %w", what, off, err)
}

func openImage(r io.ReaderAt, size int64) (*image, error) {
	var b [superblockSize]byte
	if size < superblockSize {
		return nil, corrupt("%d bytes are too short for a superblock", size)
	}
	img := &image{r: r, end: uint64(size)}
	if err := img.readAt(b[:], 0, "superblock"); err != nil {
		return nil, err
	}
	u16 := func(o int) uint16 { return binary.LittleEndian.Uint16(b[o:]) }
	u32 := func(o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
	u64 := func(o int) uint64 { return binary.LittleEndian.Uint64(b[o:]) }
	if m := u32(0); m != superblockMagic {
		return nil, corrupt("magic %#x", m)
	}
	sb := &img.sb
	sb.inodeCount, sb.modTime, sb.blockSize, sb.fragCount = u32(4), u32(8), u32(12), u32(16)
	sb.compressor, sb.blockLog, sb.flags, sb.idCount = CompressorID(u16(20)), u16(22), u16(24), u16(26)
	if maj, min := u16(28), u16(30); maj != versionMajor || min != versionMinor {
		return nil, corrupt("version %d.%d, want 4.0", maj, min)
	}
	sb.rootRef, sb.bytesUsed, sb.idTable, sb.xattrTable = u64(32), u64(40), u64(48), u64(56)
	sb.inodeTable, sb.dirTable, sb.fragTable, sb.exportTable = u64(64), u64(72), u64(80), u64(88)
	if sb.blockSize < MinBlockSize || sb.blockSize > MaxBlockSize || sb.blockLog > 20 || sb.blockSize != 1<<sb.blockLog {
		return nil, corrupt("block size %d does not match block log %d", sb.blockSize, sb.blockLog)
	}
	img.bs = int(sb.blockSize)
	if sb.bytesUsed < superblockSize || sb.bytesUsed > img.end {
		return nil, corrupt("superblock says %d bytes are used, the image has %d", sb.bytesUsed, img.end)
	}
	img.end = sb.bytesUsed
	var err error
	if img.dec, err = newDecoders(sb.compressor, img.bs); err != nil {
		return nil, fmt.Errorf("superblock: %w", err)
	}

	// The tables follow the data in a fixed order: inodes, directories,
	// then the lookup tables, each a list of block positions after its
	// blocks.
	dataStart := uint64(superblockSize)
	if sb.flags&flagCompressorOptions != 0 {
		var h [2]byte
		if err := img.readAt(h[:], superblockSize, "compressor options"); err != nil {
			return nil, err
		}
		dataStart += 2 + uint64(binary.LittleEndian.Uint16(h[:])&^metadataUncompressed)
	}
	if sb.inodeTable < dataStart || sb.inodeTable > sb.dirTable || sb.dirTable > img.end {
		return nil, corrupt("inode table at %d and directory table at %d are out of order in %d bytes", sb.inodeTable, sb.dirTable, img.end)
	}
	if sb.idCount == 0 {
		return nil, corrupt("no uids or gids: every inode needs an owner")
	}
	// dirEnd, where the directory table ends, is the first thing found
	// after it.
	dirEnd := img.end
	after := func(what string, pos uint64) error {
		if pos < sb.dirTable || pos > img.end {
			return corrupt("%s at %d lies outside %d..%d, after the directory table", what, pos, sb.dirTable, img.end)
		}
		dirEnd = min(dirEnd, pos)
		return nil
	}
	firstBlock := func(what string, listAt uint64, count, size uint64) error {
		if err := after(what+" list", listAt); err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		var p [8]byte
		if err := img.readAt(p[:], listAt, what+" list"); err != nil {
			return err
		}
		return after(what, binary.LittleEndian.Uint64(p[:]))
	}
	if err := firstBlock("id table", sb.idTable, uint64(sb.idCount), idEntrySize); err != nil {
		return nil, err
	}
	if sb.fragTable != noTable {
		if err := firstBlock("fragment table", sb.fragTable, uint64(sb.fragCount), fragmentEntrySize); err != nil {
			return nil, err
		}
	} else if sb.fragCount != 0 {
		return nil, corrupt("%d fragments but no fragment table", sb.fragCount)
	}
	if sb.exportTable != noTable {
		if err := firstBlock("export table", sb.exportTable, uint64(sb.inodeCount), exportEntrySize); err != nil {
			return nil, err
		}
	}
	var xhdr [16]byte
	if sb.xattrTable != noTable {
		if err := img.readAt(xhdr[:], sb.xattrTable, "xattr table header"); err != nil {
			return nil, err
		}
		if err := after("xattr table", sb.xattrTable); err != nil {
			return nil, err
		}
		if err := after("xattr key/value area", binary.LittleEndian.Uint64(xhdr[:])); err != nil {
			return nil, err
		}
	}

	if img.inodes, err = img.scanTable("inode table", sb.inodeTable, sb.dirTable); err != nil {
		return nil, err
	}
	if img.dirs, err = img.scanTable("directory table", sb.dirTable, dirEnd); err != nil {
		return nil, err
	}
	img.meta = newLRU[uint64, []byte](metaCacheBlocks)
	img.inodeCache = newLRU[uint64, *rinode](inodeCacheSize)
	img.lists = newLRU[uint64, []dirent](listCacheBytes)
	img.flights = map[uint64]*flight{}
	if n := runtime.GOMAXPROCS(0); n > 1 {
		img.depth = min(2*n, maxAheadDepth)
		img.ahead = make(chan struct{}, n)
		img.aheadQueue = make(chan aheadJob, img.depth)
	}
	img.blocks = newLRU[uint64, []byte](dataCacheBlocks + img.depth)
	img.fragsC = newLRU[uint64, []byte](fragCacheBlocks + img.depth)
	img.lastFrag = noIndex // so that fragment 0 starts a walk in order
	img.xattrs = newLRU[uint32, map[string][]byte](xattrCacheSets)
	img.parents = map[uint64]dirLink{sb.rootRef: {parent: noParent}}
	img.listed = map[uint64]bool{}
	img.raw.New = func() any { b := make([]byte, img.bs); return &b }

	ids, err := img.readTable("id table", sb.idTable, uint64(sb.idCount), idEntrySize)
	if err != nil {
		return nil, err
	}
	img.ids = make([]uint32, sb.idCount)
	for i := range img.ids {
		img.ids[i] = binary.LittleEndian.Uint32(ids[4*i:])
	}
	if sb.fragTable != noTable {
		tab, err := img.readTable("fragment table", sb.fragTable, uint64(sb.fragCount), fragmentEntrySize)
		if err != nil {
			return nil, err
		}
		img.frags = make([]fragEntry, sb.fragCount)
		for i := range img.frags {
			e := tab[fragmentEntrySize*i:]
			img.frags[i] = fragEntry{start: binary.LittleEndian.Uint64(e), size: binary.LittleEndian.Uint32(e[8:])}
			// An empty entry is harmless as long as no file uses it (this
			// package's writer leaves one when every tail in a fragment
			// block turned out to be zeros).
			if _, _, err := img.dataExtent(img.frags[i].start, img.frags[i].size); err != nil {
				return nil, fmt.Errorf("fragment %d: %w", i, err)
			}
		}
	}
	if sb.xattrTable != noTable {
		if err := img.readXattrTable(xhdr[:]); err != nil {
			return nil, err
		}
	}
	root, err := img.inode(sb.rootRef)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if root.typ != inodeBasicDir {
		return nil, corrupt("the root inode %#x is not a directory", sb.rootRef)
	}
	return img, nil
}

// scanTable finds the metadata blocks that fill start..end, from their
// headers alone.
func (img *image) scanTable(name string, start, end uint64) (metaTable, error) {
	t := metaTable{name: name, start: start, end: end}
	for pos := start; pos < end; {
		n, err := img.metaHeader(name, pos, end)
		if err != nil {
			return t, err
		}
		t.blocks = append(t.blocks, pos)
		pos += 2 + n
	}
	return t, nil
}

// metaHeader reads the header of the metadata block at pos and returns its
// stored length, checking the block ends by end.
func (img *image) metaHeader(what string, pos, end uint64) (uint64, error) {
	var h [2]byte
	if pos+2 > end {
		return 0, corrupt("%s: block header at %d past the table's end at %d", what, pos, end)
	}
	if err := img.readAt(h[:], pos, what); err != nil {
		return 0, err
	}
	n := uint64(binary.LittleEndian.Uint16(h[:]) &^ metadataUncompressed)
	if n == 0 || n > metadataBlockSize || pos+2+n > end {
		return 0, corrupt("%s: metadata block at %d of %d bytes does not fit before %d", what, pos, n, end)
	}
	return n, nil
}

// decodeMeta reads and decodes the metadata block stored at pos..next.
func (img *image) decodeMeta(what string, pos, next uint64) ([]byte, error) {
	buf := make([]byte, next-pos)
	if err := img.readAt(buf, pos, what); err != nil {
		return nil, err
	}
	hdr := binary.LittleEndian.Uint16(buf)
	data := buf[2:]
	if hdr&metadataUncompressed == 0 {
		var err error
		if data, err = img.dec.decode(nil, data, metadataBlockSize); err != nil {
			return nil, fmt.Errorf("%s: metadata block at %d: %w", what, pos, err)
		}
	}
	if len(data) == 0 {
		return nil, corrupt("%s: metadata block at %d is empty", what, pos)
	}
	return data, nil
}

// metaBlock returns block k of table t, decoded, from the cache when it
// is there.
func (img *image) metaBlock(t *metaTable, k int) ([]byte, error) {
	pos := t.blocks[k]
	img.mu.Lock()
	data, ok := img.meta.get(pos)
	img.mu.Unlock()
	if ok {
		return data, nil
	}
	data, err := img.decodeMeta(t.name, pos, t.next(k))
	if err != nil {
		return nil, err
	}
	img.mu.Lock()
	img.meta.add(pos, data, 1)
	img.mu.Unlock()
	return data, nil
}

// readTable reads a lookup table of count records of size bytes: its
// blocks, each 8 KiB but the last, are listed at listAt and lie before it.
func (img *image) readTable(name string, listAt, count, size uint64) ([]byte, error) {
	total := count * size
	nblocks := (total + metadataBlockSize - 1) / metadataBlockSize
	if listAt > img.end || nblocks > (img.end-listAt)/8 {
		return nil, corrupt("%s: %d entries need a list of %d blocks, which does not fit the image", name, count, nblocks)
	}
	list := make([]byte, 8*nblocks)
	if err := img.readAt(list, listAt, name+" list"); err != nil {
		return nil, err
	}
	// The buffer grows with the blocks actually decoded, not with the
	// count, which the list only bounds.
	out := make([]byte, 0, min(total, metadataBlockSize))
	for i := range nblocks {
		pos := binary.LittleEndian.Uint64(list[8*i:])
		if pos < img.sb.dirTable || pos >= listAt {
			return nil, corrupt("%s: block %d at %d lies outside %d..%d", name, i, pos, img.sb.dirTable, listAt)
		}
		n, err := img.metaHeader(name, pos, listAt)
		if err != nil {
			return nil, err
		}
		data, err := img.decodeMeta(name, pos, pos+2+n)
		if err != nil {
			return nil, err
		}
		want := min(total-uint64(len(out)), metadataBlockSize)
		if uint64(len(data)) != want {
			return nil, corrupt("%s: block %d at %d holds %d bytes, want %d", name, i, pos, len(data), want)
		}
		out = append(out, data...)
	}
	return out, nil
}

// readXattrTable reads the xattr id table, whose 16-byte header hdr gives
// the start of the key/value area and the number of ids.
func (img *image) readXattrTable(hdr []byte) error {
	kvStart := binary.LittleEndian.Uint64(hdr)
	count := uint64(binary.LittleEndian.Uint32(hdr[8:]))
	listAt := img.sb.xattrTable + 16
	// The key/value area ends where the id table's first block starts.
	kvEnd := img.sb.xattrTable
	if count > 0 {
		var p [8]byte
		if err := img.readAt(p[:], listAt, "xattr id list"); err != nil {
			return err
		}
		kvEnd = binary.LittleEndian.Uint64(p[:])
	}
	if kvStart > kvEnd || kvEnd > img.sb.xattrTable {
		return corrupt("xattr table: key/value area %d..%d out of order before %d", kvStart, kvEnd, img.sb.xattrTable)
	}
	var err error
	if img.kv, err = img.scanTable("xattr key/value area", kvStart, kvEnd); err != nil {
		return err
	}
	tab, err := img.readTable("xattr id table", listAt, count, xattrIDEntrySize)
	if err != nil {
		return err
	}
	img.xattrIDs = make([]xattrID, count)
	for i := range img.xattrIDs {
		e := tab[xattrIDEntrySize*i:]
		img.xattrIDs[i] = xattrID{ref: binary.LittleEndian.Uint64(e), count: binary.LittleEndian.Uint32(e[8:]), size: binary.LittleEndian.Uint32(e[12:])}
	}
	return nil
}

// dataExtent checks a data or fragment block's size word and that the
// block lies in the data area, and returns its stored length and whether
// it is compressed.
func (img *image) dataExtent(pos uint64, word uint32) (n uint64, compressed bool, err error) {
	if word > maxDataBlockWord {
		return 0, false, corrupt("block size word %#x has unknown bits", word)
	}
	n = uint64(word &^ dataUncompressed)
	if n > uint64(img.bs) {
		return 0, false, corrupt("block at %d of %d bytes is larger than the block size %d", pos, n, img.bs)
	}
	if n > 0 && (pos < superblockSize || pos > img.sb.inodeTable || n > img.sb.inodeTable-pos) {
		return 0, false, corrupt("block at %d..%d lies outside the data area %d..%d", pos, pos+n, superblockSize, img.sb.inodeTable)
	}
	return n, word&dataUncompressed == 0, nil
}

// metaCursor reads a metadata stream from a reference onward.
type metaCursor struct {
	img     *image
	t       *metaTable
	k       int    // current block
	off     int    // offset in it
	blk     []byte // block k, once loaded
	scratch []byte
}

// cursor starts reading table t at ref: the position of a block relative
// to the table's start, shifted left 16, or-ed with an offset in it.
func (img *image) cursor(t *metaTable, ref uint64) (*metaCursor, error) {
	off := int(ref & 0xFFFF)
	pos := t.start + ref>>16
	k, found := slices.BinarySearch(t.blocks, pos)
	if !found || off >= metadataBlockSize {
		return nil, corrupt("%s reference %#x: no metadata block starts at %d", t.name, ref, pos)
	}
	return &metaCursor{img: img, t: t, k: k, off: off}, nil
}

func (c *metaCursor) load() error {
	if c.blk != nil {
		return nil
	}
	var err error
	if c.blk, err = c.img.metaBlock(c.t, c.k); err != nil {
		return err
	}
	if c.off > len(c.blk) {
		return corrupt("%s: offset %d past the end of the %d-byte block at %d", c.t.name, c.off, len(c.blk), c.t.blocks[c.k])
	}
	return nil
}

// advance moves to the start of the next block.
func (c *metaCursor) advance() error {
	if c.k+1 >= len(c.t.blocks) {
		return corrupt("%s: a record runs past the table's end at %d", c.t.name, c.t.end)
	}
	c.k, c.off, c.blk = c.k+1, 0, nil
	return c.load()
}

// next returns the next n bytes: a slice of the cached block when they lie
// in one, else a copy. It is valid until the next call.
func (c *metaCursor) next(n int) ([]byte, error) {
	if err := c.load(); err != nil {
		return nil, err
	}
	if c.off == len(c.blk) && n > 0 {
		if err := c.advance(); err != nil {
			return nil, err
		}
	}
	if c.off+n <= len(c.blk) {
		b := c.blk[c.off : c.off+n]
		c.off += n
		return b, nil
	}
	c.scratch = c.scratch[:0]
	for len(c.scratch) < n {
		if c.off == len(c.blk) {
			if err := c.advance(); err != nil {
				return nil, err
			}
		}
		take := min(n-len(c.scratch), len(c.blk)-c.off)
		c.scratch = append(c.scratch, c.blk[c.off:c.off+take]...)
		c.off += take
	}
	return c.scratch, nil
}

// room is the most bytes left in the table from the cursor on, were every
// block full.
func (c *metaCursor) room() uint64 {
	return uint64(len(c.t.blocks)-c.k)*metadataBlockSize - uint64(c.off)
}

// pos returns where the cursor is, to start another cursor there.
func (c *metaCursor) pos() metaPos { return metaPos{k: c.k, off: c.off} }

type metaPos struct{ k, off int }

func (img *image) cursorAt(t *metaTable, p metaPos) *metaCursor {
	return &metaCursor{img: img, t: t, k: p.k, off: p.off}
}
