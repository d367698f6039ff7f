package squashfs

// An assembler of images laid out by hand, record by record, with no checks:
// the way to make the images no writer would, for the hostile corpus. It
// writes from the format facts in format.go and the record encoder of
// meta.go, never from the Writer, so the corpus does not change when the
// Writer's layout does.

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// hnode is one inode of a hand-made image. Fields left zero get sensible
// values; every field can be set to what the format forbids.
type hnode struct {
	typ    uint16 // basic type
	ext    bool   // store the extended form
	perm   uint16
	uidIdx uint16
	gidIdx uint16
	mtime  uint32
	number uint32 // 0: numbered in layout order
	nlink  uint32 // 0: 1, or 2 for directories
	xattr  uint32 // 1 + the xattr id; 0 for none

	entries []hentry // directories, in the order stored
	dirSize *uint32  // directories: the stored size, else the listing's

	size    uint64   // regular files
	start   uint64   // absolute position of the first block
	frag    uint32   // fragment index; 0 means noIndex unless hasFrag
	hasFrag bool     //
	fragOff uint32   //
	blocks  []uint32 // size words

	target     string  // symlinks
	targetSize *uint32 // the stored target size, else len(target)
	rdev       uint32  // devices

	typeWord  *uint16 // the stored type word, else typ (or its extended twin)
	listingOf *hnode  // directories: share this directory's listing instead
}

type hentry struct {
	name string
	node *hnode
	typ  uint16 // the type the entry claims; 0: the node's
}

func hdir(perm uint16, entries ...hentry) *hnode {
	return &hnode{typ: inodeBasicDir, perm: perm, entries: entries}
}

func hfile(size uint64, blocks ...uint32) *hnode {
	return &hnode{typ: inodeBasicFile, perm: 0o644, size: size, blocks: blocks}
}

func hlink(target string) *hnode { return &hnode{typ: inodeBasicSymlink, perm: 0o777, target: target} }

func hent(name string, n *hnode) hentry { return hentry{name: name, node: n} }

// himage is the rest of a hand-made image around its tree.
type himage struct {
	root      *hnode
	blockSize int
	comp      Compressor // the superblock's compressor; metadata is compressed with it unless rawMeta
	rawMeta   bool       // store metadata uncompressed, which lets listings point at inodes laid out later
	data      []byte     // data and fragment blocks, stored right after the superblock
	ids       []uint32   // default: {0}
	frags     []fragEntry
	xattrs    []hxattr // the sets inodes point at with hnode.xattr
	xattrIDs  *uint32  // the xattr id count stored, else len(xattrs)
	patchSB   func(*superblock)
	patch     func([]byte) []byte // applied to the finished image
}

// hxattr is one xattr set: its key/value records as stored, and the count
// and size its id entry gives.
type hxattr struct {
	kv          []byte
	count, size uint32
}

// xrec encodes one key/value record; typ is the prefix id, or-ed with
// xattrOutOfLine when value holds a reference.
func xrec(typ uint16, name string, value []byte) le {
	return le(nil).u16(typ).u16(uint16(len(name))).str(name).u32(uint32(len(value))).str(string(value))
}

// xset makes a set of records, with their count and size.
func xset(recs ...le) hxattr {
	var kv le
	for _, r := range recs {
		kv = append(kv, r...)
	}
	return hxattr{kv: kv, count: uint32(len(recs)), size: uint32(len(kv))}
}

// dataAt is the absolute position of offset off in the data area.
func dataAt(off int) uint64 { return superblockSize + uint64(off) }

// layout is the state of one assembly.
type hlayout struct {
	im      *himage
	nodes   []*hnode
	index   map[*hnode]int
	refs    []uint64
	inodes  *metaWriter
	dirs    *metaWriter
	dirPos  map[*hnode][3]uint32 // block, offset, size of each listing
	emitted map[*hnode]bool
}

// rawRef is the reference of uncompressed offset off in a stream of raw
// metadata blocks: each block is 8 KiB behind a 2-byte header.
func rawRef(off uint64) uint64 {
	return (off/metadataBlockSize*(metadataBlockSize+2))<<16 | off%metadataBlockSize
}

func (n *hnode) record(l *hlayout) le {
	typ := n.typ
	// Only an extended inode has room for an xattr id, or for a listing
	// over 64 KiB.
	ext := n.ext || n.xattr != 0 || n.typ == inodeBasicDir && l.dirPos[n][2] > 0xFFFF
	if ext {
		typ += extOffset
	}
	if n.typeWord != nil {
		typ = *n.typeWord
	}
	nlink := n.nlink
	if nlink == 0 {
		nlink = 1
		if n.typ == inodeBasicDir {
			nlink = 2
		}
	}
	xattr := uint32(noIndex)
	if n.xattr != 0 {
		xattr = n.xattr - 1
	}
	rec := le(nil).u16(typ).u16(n.perm).u16(n.uidIdx).u16(n.gidIdx).u32(n.mtime).u32(n.number)
	switch n.typ {
	case inodeBasicDir:
		pos := l.dirPos[n]
		if !ext {
			return rec.u32(pos[0]).u32(nlink).u16(uint16(pos[2])).u16(uint16(pos[1])).u32(1)
		}
		return rec.u32(nlink).u32(pos[2]).u32(pos[0]).u32(1).u16(0).u16(uint16(pos[1])).u32(xattr)
	case inodeBasicFile:
		frag := uint32(noIndex)
		if n.hasFrag {
			frag = n.frag
		}
		if ext {
			rec = rec.u64(n.start).u64(n.size).u64(0).u32(nlink).u32(frag).u32(n.fragOff).u32(xattr)
		} else {
			rec = rec.u32(uint32(n.start)).u32(frag).u32(n.fragOff).u32(uint32(n.size))
		}
		for _, b := range n.blocks {
			rec = rec.u32(b)
		}
		return rec
	case inodeBasicSymlink:
		size := uint32(len(n.target))
		if n.targetSize != nil {
			size = *n.targetSize
		}
		rec = rec.u32(nlink).u32(size).str(n.target)
		if ext {
			rec = rec.u32(xattr)
		}
		return rec
	case inodeBasicBlock, inodeBasicChar:
		rec = rec.u32(nlink).u32(n.rdev)
	default:
		rec = rec.u32(nlink)
	}
	if ext {
		rec = rec.u32(xattr)
	}
	return rec
}

// listing encodes a directory's entries: one header per run of at most
// 256 entries whose inodes share an inode table block.
func (n *hnode) listing(l *hlayout) le {
	var out le
	header, count := -1, 0
	var block uint64
	var base uint32
	for _, e := range n.entries {
		ref := l.refs[l.index[e.node]]
		if header < 0 || count == maxDirEntriesPerHeader || ref>>16 != block {
			if header >= 0 {
				binary.LittleEndian.PutUint32(out[header:], uint32(count-1))
			}
			header, count, block, base = len(out), 0, ref>>16, e.node.number
			out = out.u32(0).u32(uint32(block)).u32(base)
		}
		typ := e.typ
		if typ == 0 {
			typ = e.node.typ
		}
		out = out.u16(uint16(ref)).u16(uint16(int16(int64(e.node.number) - int64(base)))).u16(typ).u16(uint16(len(e.name) - 1)).str(e.name)
		count++
	}
	if header >= 0 {
		binary.LittleEndian.PutUint32(out[header:], uint32(count-1))
	}
	return out
}

// collect lists every node reachable from n once, parents first.
func (l *hlayout) collect(n *hnode) {
	if _, ok := l.index[n]; ok {
		return
	}
	l.index[n] = len(l.nodes)
	l.nodes = append(l.nodes, n)
	for _, e := range n.entries {
		l.collect(e.node)
	}
}

// bytes assembles the image.
func (im *himage) bytes() []byte {
	if im.blockSize == 0 {
		im.blockSize = 128 << 10
	}
	if im.comp == nil {
		im.comp = ZstdCompressor{Level: 6}
	}
	if im.ids == nil {
		im.ids = []uint32{0}
	}
	enc, err := im.comp.NewEncoder(metadataBlockSize)
	if err != nil {
		panic(err)
	}
	l := &hlayout{im: im, index: map[*hnode]int{}, dirPos: map[*hnode][3]uint32{}, emitted: map[*hnode]bool{},
		inodes: newMetaWriter(enc, im.rawMeta), dirs: newMetaWriter(enc, im.rawMeta)}
	l.collect(im.root)
	for i, n := range l.nodes {
		if n.number == 0 {
			n.number = uint32(i + 1)
		}
	}
	l.refs = make([]uint64, len(l.nodes))
	if im.rawMeta {
		// Raw blocks make every reference computable in advance, so a
		// listing may point anywhere, even at its own directory.
		// A directory's record grows when its listing passes 64 KiB, which
		// moves what follows: lay out until the sizes settle.
		lens := make([]int, len(l.nodes))
		for settled := false; !settled; {
			var off uint64
			for i, n := range l.nodes {
				l.refs[i] = rawRef(off)
				lens[i] = len(n.record(l))
				off += uint64(lens[i])
			}
			l.dirs = newMetaWriter(enc, true)
			for _, n := range l.nodes {
				if n.typ == inodeBasicDir && n.listingOf == nil {
					l.placeListing(n)
				}
			}
			for _, n := range l.nodes {
				if n.listingOf != nil {
					l.dirPos[n] = l.dirPos[n.listingOf]
				}
			}
			settled = true
			for i, n := range l.nodes {
				settled = settled && len(n.record(l)) == lens[i]
			}
		}
		for _, n := range l.nodes {
			must(l.inodes.write(n.record(l)))
		}
	} else {
		l.emit(im.root)
	}
	must(l.inodes.flush())
	must(l.dirs.flush())

	out := make(le, superblockSize)
	out = append(out, im.data...)
	sb := superblock{compressor: im.comp.ID(), blockSize: uint32(im.blockSize), inodeCount: uint32(len(l.nodes)),
		modTime: DefaultEpoch, fragCount: uint32(len(im.frags)), idCount: uint16(len(im.ids)),
		rootRef: l.refs[0], exportTable: noTable, xattrTable: noTable, fragTable: noTable}
	for sb.blockLog = 0; 1<<sb.blockLog < im.blockSize; sb.blockLog++ {
	}
	sb.flags = flagNoXattrs
	if im.rawMeta {
		sb.flags |= flagUncompressedInodes
	}
	sb.inodeTable = uint64(len(out))
	out = append(out, l.inodes.bytes()...)
	sb.dirTable = uint64(len(out))
	out = append(out, l.dirs.bytes()...)
	if len(im.frags) > 0 {
		var tab le
		for _, f := range im.frags {
			tab = tab.u64(f.start).u32(f.size).u32(0)
		}
		out, sb.fragTable = appendTable(out, enc, im.rawMeta, tab)
	}
	var ids le
	for _, id := range im.ids {
		ids = ids.u32(id)
	}
	out, sb.idTable = appendTable(out, enc, im.rawMeta, ids)
	if len(im.xattrs) > 0 {
		// The key/value records, the id table's blocks, then its header
		// and list.
		kv := newMetaWriter(enc, im.rawMeta)
		var tab le
		for _, x := range im.xattrs {
			tab = tab.u64(mustU64(kv.ref(kv.offset()))).u32(x.count).u32(x.size)
			must(kv.write(x.kv))
		}
		must(kv.flush())
		kvStart := uint64(len(out))
		out = append(out, kv.bytes()...)
		m := newMetaWriter(enc, im.rawMeta)
		must(m.write(tab))
		must(m.flush())
		tabStart := uint64(len(out))
		out = append(out, m.bytes()...)
		count := uint32(len(im.xattrs))
		if im.xattrIDs != nil {
			count = *im.xattrIDs
		}
		sb.xattrTable = uint64(len(out))
		out = out.u64(kvStart).u32(count).u32(0)
		for _, b := range m.blockStarts() {
			out = out.u64(tabStart + b)
		}
		sb.flags &^= flagNoXattrs
	}
	sb.bytesUsed = uint64(len(out))
	if im.patchSB != nil {
		im.patchSB(&sb)
	}
	copy(out, sb.encode())
	if pad := len(out) % deviceBlockSize; pad != 0 {
		out = append(out, make([]byte, deviceBlockSize-pad)...)
	}
	if im.patch != nil {
		out = im.patch(out)
	}
	return out
}

// placeListing writes a directory's listing and notes where it went.
func (l *hlayout) placeListing(n *hnode) {
	start := l.dirs.offset()
	list := n.listing(l)
	must(l.dirs.write(list))
	size := uint32(len(list)) + 3
	if n.dirSize != nil {
		size = *n.dirSize
	}
	l.dirPos[n] = [3]uint32{uint32(mustU64(l.dirs.blockStart(start))), uint32(start % metadataBlockSize), size}
}

// emit writes a subtree children first, as a compressed stream needs: a
// listing must know its children's references, a directory its listing's.
func (l *hlayout) emit(n *hnode) {
	if l.emitted[n] {
		return
	}
	l.emitted[n] = true
	for _, e := range n.entries {
		if e.node.typ == inodeBasicDir {
			l.emit(e.node)
		} else if !l.emitted[e.node] {
			l.emitted[e.node] = true
			l.put(e.node)
		}
	}
	if n.typ == inodeBasicDir {
		for _, e := range n.entries {
			if !l.emitted[e.node] {
				panic(fmt.Sprintf("entry %q leads back up: a loop needs rawMeta", e.name))
			}
		}
		l.placeListing(n)
	}
	l.put(n)
}

func (l *hlayout) put(n *hnode) {
	l.refs[l.index[n]] = mustU64(l.inodes.ref(l.inodes.offset()))
	must(l.inodes.write(n.record(l)))
}

// appendTable appends a lookup table's blocks and then their list, and
// returns the list's position.
func appendTable(out le, enc Encoder, raw bool, records []byte) (le, uint64) {
	m := newMetaWriter(enc, raw)
	must(m.write(records))
	must(m.flush())
	start := uint64(len(out))
	out = append(out, m.bytes()...)
	at := uint64(len(out))
	for _, s := range m.blockStarts() {
		out = out.u64(start + s)
	}
	return out, at
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func mustU64(v uint64, err error) uint64 {
	must(err)
	return v
}

// chain returns n nested directories, each holding the next as "a", the
// last holding leaf; it returns the outermost.
func chain(depth int, leaf ...hentry) *hnode {
	d := hdir(0o755, leaf...)
	for range depth - 1 {
		d = hdir(0o755, hent("a", d))
	}
	return d
}

// sorted returns entries in byte order of names, as a valid listing has.
func sorted(es ...hentry) []hentry {
	slices.SortFunc(es, func(a, b hentry) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return es
}
