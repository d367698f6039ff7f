package squashfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/mkportable/mkportable/internal/pathwalk"
	"github.com/mkportable/mkportable/internal/xz"
	"github.com/pierrec/lz4/v4"
)

// Reader reads a SquashFS 4.0 image, from this package or mksquashfs, as an
// fs.FS: Open, Stat and ReadFile follow symlinks inside the image (absolute
// targets start at the image's root and ".." never leaves it), while
// ReadLink and Lstat do not. Every length read from the image is bounded,
// so a corrupt image gives an error, not a panic or a huge allocation.
type Reader struct {
	r          io.ReaderAt
	size       int64
	sb         superblock
	flags      uint16
	compressor CompressorID
	ids        []uint32
	frags      []fragEntry

	mu   sync.Mutex
	meta map[uint64]metaBlock // decompressed metadata blocks by position
	dirs map[uint64][]rdirent // parsed listings by block<<16|offset
}

type metaBlock struct {
	data []byte
	next uint64 // position of the following block
}

// NewReader reads the superblock and tables of the image in r, size bytes.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	var b [superblockSize]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return nil, fmt.Errorf("squashfs: read superblock: %w", err)
	}
	u16 := func(o int) uint16 { return binary.LittleEndian.Uint16(b[o:]) }
	u32 := func(o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
	u64 := func(o int) uint64 { return binary.LittleEndian.Uint64(b[o:]) }
	if m := u32(0); m != superblockMagic {
		return nil, fmt.Errorf("squashfs: not a squashfs image (magic %#x)", m)
	}
	rd := &Reader{r: r, size: size, meta: map[uint64]metaBlock{}, dirs: map[uint64][]rdirent{}}
	sb := &rd.sb
	sb.inodeCount, sb.modTime, sb.blockSize, sb.fragCount = u32(4), u32(8), u32(12), u32(16)
	rd.compressor, sb.blockLog, rd.flags, sb.idCount = CompressorID(u16(20)), u16(22), u16(24), u16(26)
	if maj, min := u16(28), u16(30); maj != versionMajor || min != versionMinor {
		return nil, fmt.Errorf("squashfs: version %d.%d, want 4.0", maj, min)
	}
	sb.rootRef, sb.bytesUsed, sb.idTable, sb.xattrTable = u64(32), u64(40), u64(48), u64(56)
	sb.inodeTable, sb.dirTable, sb.fragTable, sb.exportTable = u64(64), u64(72), u64(80), u64(88)
	if sb.blockSize < MinBlockSize || sb.blockSize > MaxBlockSize || sb.blockSize != 1<<sb.blockLog {
		return nil, fmt.Errorf("squashfs: block size %d does not match block log %d", sb.blockSize, sb.blockLog)
	}
	if sb.bytesUsed > uint64(size) || sb.inodeTable > sb.dirTable || sb.dirTable > sb.bytesUsed {
		return nil, errors.New("squashfs: table offsets lie outside the image")
	}
	switch rd.compressor {
	case GZIP, XZ, ZSTD, LZ4:
	default:
		return nil, fmt.Errorf("squashfs: unsupported compressor %v", rd.compressor)
	}
	var err error
	if rd.ids, err = readTable(rd, sb.idTable, int(sb.idCount), idEntrySize, func(e []byte) uint32 {
		return binary.LittleEndian.Uint32(e)
	}); err != nil {
		return nil, fmt.Errorf("squashfs: id table: %w", err)
	}
	if sb.fragTable != noTable {
		if rd.frags, err = readTable(rd, sb.fragTable, int(sb.fragCount), fragmentEntrySize, func(e []byte) fragEntry {
			return fragEntry{start: binary.LittleEndian.Uint64(e), size: binary.LittleEndian.Uint32(e[8:])}
		}); err != nil {
			return nil, fmt.Errorf("squashfs: fragment table: %w", err)
		}
	}
	return rd, nil
}

// readTable reads a lookup table of count records: a list of u64 block
// positions at listAt, each block holding up to 8 KiB of records.
func readTable[T any](rd *Reader, listAt uint64, count, size int, decode func([]byte) T) ([]T, error) {
	if count < 0 || uint64(count)*uint64(size) > uint64(rd.size) {
		return nil, errors.New("table larger than the image")
	}
	nblocks := (count*size + metadataBlockSize - 1) / metadataBlockSize
	list := make([]byte, 8*nblocks)
	if _, err := rd.r.ReadAt(list, int64(listAt)); err != nil {
		return nil, err
	}
	var raw []byte
	for i := range nblocks {
		blk, err := rd.metaBlockAt(binary.LittleEndian.Uint64(list[8*i:]))
		if err != nil {
			return nil, err
		}
		raw = append(raw, blk.data...)
	}
	if len(raw) < count*size {
		return nil, errors.New("table shorter than its count")
	}
	out := make([]T, count)
	for i := range out {
		out[i] = decode(raw[i*size:])
	}
	return out, nil
}

// metaBlockAt returns the decompressed metadata block whose header is at pos.
func (rd *Reader) metaBlockAt(pos uint64) (metaBlock, error) {
	rd.mu.Lock()
	blk, ok := rd.meta[pos]
	rd.mu.Unlock()
	if ok {
		return blk, nil
	}
	var h [2]byte
	if _, err := rd.r.ReadAt(h[:], int64(pos)); err != nil {
		return blk, fmt.Errorf("metadata block at %d: %w", pos, err)
	}
	hdr := binary.LittleEndian.Uint16(h[:])
	n := int(hdr &^ metadataUncompressed)
	if n == 0 || n > metadataBlockSize {
		return blk, fmt.Errorf("metadata block at %d: bad size %d", pos, n)
	}
	buf := make([]byte, n)
	if _, err := rd.r.ReadAt(buf, int64(pos)+2); err != nil {
		return blk, fmt.Errorf("metadata block at %d: %w", pos, err)
	}
	if hdr&metadataUncompressed == 0 {
		var err error
		if buf, err = rd.decompress(buf, metadataBlockSize); err != nil {
			return blk, fmt.Errorf("metadata block at %d: %w", pos, err)
		}
	}
	blk = metaBlock{data: buf, next: pos + 2 + uint64(n)}
	rd.mu.Lock()
	rd.meta[pos] = blk
	rd.mu.Unlock()
	return blk, nil
}

// decompress decodes one block of at most limit bytes.
func (rd *Reader) decompress(src []byte, limit int) ([]byte, error) {
	var out []byte
	var err error
	switch rd.compressor {
	case GZIP:
		var zr io.ReadCloser
		if zr, err = zlib.NewReader(bytes.NewReader(src)); err == nil {
			out, err = io.ReadAll(io.LimitReader(zr, int64(limit)+1))
		}
	case XZ:
		out, err = xz.Decode(nil, src, limit)
	case ZSTD:
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1)); err == nil {
			out, err = d.DecodeAll(src, nil)
			d.Close()
		}
	case LZ4:
		out = make([]byte, limit)
		var n int
		n, err = lz4.UncompressBlock(src, out)
		out = out[:max(n, 0)]
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", rd.compressor, err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%v: block decodes to more than %d bytes", rd.compressor, limit)
	}
	return out, nil
}

// metaRead reads n bytes of a metadata stream that starts at table, from
// the block at table+block, offset bytes in, and returns the position after.
func (rd *Reader) metaRead(table, block uint64, offset, n int) ([]byte, uint64, int, error) {
	if n < 0 || n > 1<<26 {
		return nil, 0, 0, fmt.Errorf("metadata read of %d bytes", n)
	}
	out := make([]byte, 0, n)
	pos := table + block
	for len(out) < n {
		blk, err := rd.metaBlockAt(pos)
		if err != nil {
			return nil, 0, 0, err
		}
		if offset > len(blk.data) {
			return nil, 0, 0, errors.New("metadata offset past its block")
		}
		take := min(n-len(out), len(blk.data)-offset)
		out = append(out, blk.data[offset:offset+take]...)
		offset += take
		if offset == len(blk.data) && len(out) < n {
			pos, offset = blk.next, 0
		}
	}
	return out, pos - table, offset, nil
}

// rinode is a parsed inode.
type rinode struct {
	typ           uint16
	mode          fs.FileMode
	uid, gid      uint32
	mtime         uint32
	nlink         uint32
	size          uint64
	target        string
	start         uint64
	frag, fragOff uint32
	blocks        []uint32
	dirBlock      uint32
	dirOffset     uint16
	major, minor  uint32
}

// inodeAt parses the inode at reference ref.
func (rd *Reader) inodeAt(ref uint64) (*rinode, error) {
	table := rd.sb.inodeTable
	block, off := ref>>16, int(ref&0xffff)
	read := func(n int) ([]byte, error) {
		b, nb, no, err := rd.metaRead(table, block, off, n)
		block, off = nb, no
		return b, err
	}
	h, err := read(16)
	if err != nil {
		return nil, fmt.Errorf("inode %#x: %w", ref, err)
	}
	in := &rinode{typ: binary.LittleEndian.Uint16(h), mtime: binary.LittleEndian.Uint32(h[8:])}
	perm := binary.LittleEndian.Uint16(h[2:])
	in.mode = fs.FileMode(perm & 0o777)
	if perm&0o4000 != 0 {
		in.mode |= fs.ModeSetuid
	}
	if perm&0o2000 != 0 {
		in.mode |= fs.ModeSetgid
	}
	if perm&0o1000 != 0 {
		in.mode |= fs.ModeSticky
	}
	if u, g := int(binary.LittleEndian.Uint16(h[4:])), int(binary.LittleEndian.Uint16(h[6:])); u < len(rd.ids) && g < len(rd.ids) {
		in.uid, in.gid = rd.ids[u], rd.ids[g]
	}
	le32 := func(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	switch in.typ {
	case inodeBasicDir, inodeExtDir:
		in.mode |= fs.ModeDir
		if in.typ == inodeBasicDir {
			b, err := read(16)
			if err != nil {
				return nil, err
			}
			in.dirBlock, in.nlink = le32(b, 0), le32(b, 1)
			in.size = uint64(binary.LittleEndian.Uint16(b[8:]))
			in.dirOffset = binary.LittleEndian.Uint16(b[10:])
		} else {
			b, err := read(24)
			if err != nil {
				return nil, err
			}
			in.nlink, in.size, in.dirBlock = le32(b, 0), uint64(le32(b, 1)), le32(b, 2)
			in.dirOffset = binary.LittleEndian.Uint16(b[18:])
		}
	case inodeBasicFile, inodeExtFile:
		var fragIdx uint32
		if in.typ == inodeBasicFile {
			b, err := read(16)
			if err != nil {
				return nil, err
			}
			in.start, fragIdx, in.fragOff, in.size, in.nlink = uint64(le32(b, 0)), le32(b, 1), le32(b, 2), uint64(le32(b, 3)), 1
		} else {
			b, err := read(40)
			if err != nil {
				return nil, err
			}
			in.start, in.size = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
			in.nlink, fragIdx, in.fragOff = le32(b, 6), le32(b, 7), le32(b, 8)
		}
		in.frag = fragIdx
		bs := uint64(rd.sb.blockSize)
		n := in.size / bs
		if fragIdx == noIndex && in.size%bs != 0 {
			n++
		}
		if n*4 > uint64(rd.size) {
			return nil, fmt.Errorf("inode %#x: %d blocks cannot fit the image", ref, n)
		}
		b, err := read(int(4 * n))
		if err != nil {
			return nil, err
		}
		in.blocks = make([]uint32, n)
		for i := range in.blocks {
			in.blocks[i] = le32(b, i)
		}
	case inodeBasicSymlink, inodeExtSymlink:
		in.mode |= fs.ModeSymlink
		b, err := read(8)
		if err != nil {
			return nil, err
		}
		in.nlink, in.size = le32(b, 0), uint64(le32(b, 1))
		if in.size > 1<<16 {
			return nil, fmt.Errorf("inode %#x: symlink target of %d bytes", ref, in.size)
		}
		t, err := read(int(in.size))
		if err != nil {
			return nil, err
		}
		in.target = string(t)
	case inodeBasicBlock, inodeBasicChar, inodeExtBlock, inodeExtChar:
		in.mode |= fs.ModeDevice
		if in.typ == inodeBasicChar || in.typ == inodeExtChar {
			in.mode |= fs.ModeCharDevice
		}
		b, err := read(8)
		if err != nil {
			return nil, err
		}
		in.nlink = le32(b, 0)
		in.major, in.minor = decodeDevice(le32(b, 1))
	case inodeBasicFIFO, inodeExtFIFO, inodeBasicSocket, inodeExtSocket:
		if in.typ == inodeBasicFIFO || in.typ == inodeExtFIFO {
			in.mode |= fs.ModeNamedPipe
		} else {
			in.mode |= fs.ModeSocket
		}
		b, err := read(4)
		if err != nil {
			return nil, err
		}
		in.nlink = le32(b, 0)
	default:
		return nil, fmt.Errorf("inode %#x: unknown type %d", ref, in.typ)
	}
	return in, nil
}

type rdirent struct {
	name string
	ref  uint64
}

// readDir returns a directory inode's entries in stored (sorted) order.
func (rd *Reader) readDir(in *rinode) ([]rdirent, error) {
	if in.size <= 3 {
		return nil, nil
	}
	key := uint64(in.dirBlock)<<16 | uint64(in.dirOffset)
	rd.mu.Lock()
	cached, ok := rd.dirs[key]
	rd.mu.Unlock()
	if ok {
		return cached, nil
	}
	b, _, _, err := rd.metaRead(rd.sb.dirTable, uint64(in.dirBlock), int(in.dirOffset), int(in.size-3))
	if err != nil {
		return nil, fmt.Errorf("directory listing: %w", err)
	}
	var out []rdirent
	for len(b) > 0 {
		if len(b) < dirHeaderSize {
			return nil, errors.New("directory listing: truncated header")
		}
		count, start := binary.LittleEndian.Uint32(b)+1, binary.LittleEndian.Uint32(b[4:])
		b = b[dirHeaderSize:]
		if count > maxDirEntriesPerHeader {
			return nil, fmt.Errorf("directory listing: %d entries after one header", count)
		}
		for range count {
			if len(b) < dirEntrySize {
				return nil, errors.New("directory listing: truncated entry")
			}
			off := binary.LittleEndian.Uint16(b)
			n := int(binary.LittleEndian.Uint16(b[6:])) + 1
			if len(b) < dirEntrySize+n || n > maxNameLen {
				return nil, errors.New("directory listing: bad name")
			}
			out = append(out, rdirent{name: string(b[dirEntrySize : dirEntrySize+n]), ref: uint64(start)<<16 | uint64(off)})
			b = b[dirEntrySize+n:]
		}
	}
	rd.mu.Lock()
	rd.dirs[key] = out
	rd.mu.Unlock()
	return out, nil
}

// inodeWalker walks a Reader's inodes for pathwalk.Resolve.
type inodeWalker struct{ rd *Reader }

func (w inodeWalker) Child(dir *rinode, name string) (*rinode, error) {
	ents, err := w.rd.readDir(dir)
	if err != nil {
		return nil, err
	}
	i, found := slices.BinarySearchFunc(ents, name, func(e rdirent, t string) int { return strings.Compare(e.name, t) })
	if !found {
		return nil, fs.ErrNotExist
	}
	return w.rd.inodeAt(ents[i].ref)
}

func (inodeWalker) IsDir(in *rinode) bool { return in.mode.IsDir() }

func (inodeWalker) Link(in *rinode) (string, bool, error) {
	return in.target, in.mode.Type() == fs.ModeSymlink, nil
}

// lookup walks name from the root with pathwalk.Resolve; follow says
// whether a final symlink is followed. Intermediate symlinks always are.
func (rd *Reader) lookup(op, name string, follow bool) (*rinode, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	root, err := rd.inodeAt(rd.sb.rootRef)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	in, _, err := pathwalk.Resolve[*rinode](inodeWalker{rd}, root, op, name, follow)
	return in, err
}

// ResolvesAsMounted marks a Reader as resolving names as the kernel does
// with the image mounted at / (see pathwalk.AsMounted).
func (rd *Reader) ResolvesAsMounted() {}

// Open opens the named file, following symlinks.
func (rd *Reader) Open(name string) (fs.File, error) {
	in, err := rd.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	return &rfile{rd: rd, in: in, name: path.Base(name)}, nil
}

// Stat returns the FileInfo of name, following symlinks.
func (rd *Reader) Stat(name string) (fs.FileInfo, error) {
	in, err := rd.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return rinfo{in, path.Base(name)}, nil
}

// Lstat returns the FileInfo of name without following a final symlink.
func (rd *Reader) Lstat(name string) (fs.FileInfo, error) {
	in, err := rd.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return rinfo{in, path.Base(name)}, nil
}

// ReadLink returns a symlink's target.
func (rd *Reader) ReadLink(name string) (string, error) {
	in, err := rd.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if in.mode.Type() != fs.ModeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return in.target, nil
}

// ReadDir lists a directory, following symlinks to it.
func (rd *Reader) ReadDir(name string) ([]fs.DirEntry, error) {
	in, err := rd.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !in.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: ErrNotDir}
	}
	ents, err := rd.readDir(in)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, 0, len(ents))
	for _, e := range ents {
		child, err := rd.inodeAt(e.ref)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
		out = append(out, fs.FileInfoToDirEntry(rinfo{child, e.name}))
	}
	return out, nil
}

// ReadFile returns the contents of a regular file, following symlinks.
func (rd *Reader) ReadFile(name string) ([]byte, error) {
	f, err := rd.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// block returns the uncompressed data of block i of a file.
func (rd *Reader) block(in *rinode, i int) ([]byte, error) {
	bs := int(rd.sb.blockSize)
	want := bs
	if rest := int64(in.size) - int64(i)*int64(bs); rest < int64(bs) {
		want = int(rest)
	}
	if i < len(in.blocks) {
		pos := in.start
		for _, s := range in.blocks[:i] {
			pos += uint64(s &^ dataUncompressed)
		}
		s := in.blocks[i]
		n := int(s &^ dataUncompressed)
		if n == 0 {
			return make([]byte, want), nil
		}
		if n > bs {
			return nil, fmt.Errorf("block of %d bytes", n)
		}
		raw := make([]byte, n)
		if _, err := rd.r.ReadAt(raw, int64(pos)); err != nil {
			return nil, err
		}
		if s&dataUncompressed == 0 {
			var err error
			if raw, err = rd.decompress(raw, bs); err != nil {
				return nil, err
			}
		}
		if len(raw) < want {
			raw = append(raw, make([]byte, want-len(raw))...)
		}
		return raw[:want], nil
	}
	if int(in.frag) >= len(rd.frags) {
		return nil, fmt.Errorf("fragment %d of %d", in.frag, len(rd.frags))
	}
	fe := rd.frags[in.frag]
	n := int(fe.size &^ dataUncompressed)
	if n > bs {
		return nil, fmt.Errorf("fragment block of %d bytes", n)
	}
	raw := make([]byte, n)
	if _, err := rd.r.ReadAt(raw, int64(fe.start)); err != nil {
		return nil, err
	}
	if fe.size&dataUncompressed == 0 {
		var err error
		if raw, err = rd.decompress(raw, bs); err != nil {
			return nil, err
		}
	}
	end := int(in.fragOff) + want
	if end > len(raw) {
		return nil, errors.New("tail past its fragment block")
	}
	return raw[in.fragOff:end], nil
}

// rfile is an open file or directory of a Reader.
type rfile struct {
	rd   *Reader
	in   *rinode
	name string
	off  int64
	buf  []byte // the current block
	bi   int    // its index
	dir  []fs.DirEntry
}

func (f *rfile) Stat() (fs.FileInfo, error) { return rinfo{f.in, f.name}, nil }
func (f *rfile) Close() error               { return nil }

func (f *rfile) Read(p []byte) (int, error) {
	if !f.in.mode.IsRegular() {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if f.off >= int64(f.in.size) {
		return 0, io.EOF
	}
	bs := int64(f.rd.sb.blockSize)
	i := int(f.off / bs)
	if f.buf == nil || f.bi != i {
		b, err := f.rd.block(f.in, i)
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
		f.buf, f.bi = b, i
	}
	n := copy(p, f.buf[f.off-int64(i)*bs:])
	f.off += int64(n)
	return n, nil
}

// ReadDir implements fs.ReadDirFile.
func (f *rfile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.in.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.name, Err: ErrNotDir}
	}
	if f.dir == nil {
		ents, err := f.rd.readDir(f.in)
		if err != nil {
			return nil, err
		}
		f.dir = []fs.DirEntry{}
		for _, e := range ents {
			child, err := f.rd.inodeAt(e.ref)
			if err != nil {
				return nil, err
			}
			f.dir = append(f.dir, fs.FileInfoToDirEntry(rinfo{child, e.name}))
		}
	}
	if n <= 0 {
		out := f.dir
		f.dir = []fs.DirEntry{}
		return out, nil
	}
	if len(f.dir) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(f.dir))
	out := f.dir[:n]
	f.dir = f.dir[n:]
	return out, nil
}

// rinfo is the fs.FileInfo of an inode.
type rinfo struct {
	in   *rinode
	name string
}

func (i rinfo) Name() string       { return i.name }
func (i rinfo) Size() int64        { return int64(i.in.size) }
func (i rinfo) Mode() fs.FileMode  { return i.in.mode }
func (i rinfo) ModTime() time.Time { return time.Unix(int64(i.in.mtime), 0) }
func (i rinfo) IsDir() bool        { return i.in.mode.IsDir() }

// Sys returns the inode's owner, links and device numbers.
func (i rinfo) Sys() any {
	return &InodeInfo{UID: i.in.uid, GID: i.in.gid, Nlink: i.in.nlink, Major: i.in.major, Minor: i.in.minor}
}

// InodeInfo is what FileInfo.Sys returns for a Reader's and a Tree's FS.
type InodeInfo struct {
	UID, GID     uint32
	Nlink        uint32 // a Reader's only
	Major, Minor uint32 // devices only
	// Xattrs are the inode's extended attributes by full name.
	Xattrs map[string][]byte
}

// OpenReader opens the image file name; Close the result when done.
func OpenReader(name string) (*ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	rd, err := NewReader(f, info.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	return &ReadCloser{Reader: rd, f: f}, nil
}

// ReadCloser is a Reader of a file it closes.
type ReadCloser struct {
	*Reader
	f *os.File
}

// Close closes the image file.
func (rc *ReadCloser) Close() error { return rc.f.Close() }
