package squashfs

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"slices"
)

// writeMetadata writes everything after the data: the inode and directory
// tables, the lookup tables, the padding, and finally the superblock.
func (w *writer) writeMetadata() error {
	coders := make([]*metaCoder, w.s.Workers)
	for i := range coders {
		enc, err := w.s.Compressor.NewEncoder(metadataBlockSize)
		if err != nil {
			return err
		}
		coders[i] = &metaCoder{w: w, enc: enc, h: newCacheHasher(), raw: w.s.rawData}
	}
	pool := newMetaPool(coders)
	defer pool.close()
	raw := w.s.rawData
	inodes, dirs := pooledMetaWriter(pool), pooledMetaWriter(pool)
	if !w.s.NoExport {
		w.exports = pooledMetaWriter(pool)
	}

	// Inodes are numbered and written children first, so that a directory's
	// listing can point at inodes already placed, and its own inode at the
	// listing. The root comes last and takes the highest number.
	count := w.inodes
	root, err := w.writeDir(inodes, dirs, w.tree.root, count+1)
	if err != nil {
		return err
	}
	if err := inodes.flush(); err != nil {
		return err
	}
	if err := dirs.flush(); err != nil {
		return err
	}

	var sb superblock
	sb.inodeCount = count
	if sb.rootRef, err = inodes.ref(root.pos); err != nil {
		return err
	}
	sb.inodeTable = w.pos
	if err := w.writeStream(inodes); err != nil {
		return err
	}
	sb.dirTable = w.pos
	if err := w.writeStream(dirs); err != nil {
		return err
	}

	sb.fragTable = noTable
	if len(w.frags) > 0 {
		var tab le
		for _, f := range w.frags {
			tab = tab.u64(f.start).u32(f.size).u32(0)
		}
		if sb.fragTable, err = w.writeTable(pool, tab, nil); err != nil {
			return fmt.Errorf("fragment table: %w", err)
		}
	}

	sb.exportTable = noTable
	if !w.s.NoExport {
		if sb.exportTable, err = w.placeTable(w.exports, nil); err != nil {
			return fmt.Errorf("export table: %w", err)
		}
		w.flags |= flagExportable
	}

	var ids le
	for _, id := range w.idList {
		ids = ids.u32(id)
	}
	if sb.idTable, err = w.writeTable(pool, ids, nil); err != nil {
		return fmt.Errorf("id table: %w", err)
	}

	sb.xattrTable = noTable
	if len(w.xattrSets) > 0 {
		if sb.xattrTable, err = w.writeXattrs(pool); err != nil {
			return fmt.Errorf("xattr table: %w", err)
		}
	} else {
		w.flags |= flagNoXattrs
	}

	sb.bytesUsed = w.pos
	if pad := (deviceBlockSize - w.pos%deviceBlockSize) % deviceBlockSize; pad > 0 {
		if err := w.writeAt(make([]byte, pad)); err != nil {
			return err
		}
	}
	w.stats.ImageSize = int64(w.pos)
	w.stats.Inodes = int(count)

	if !w.s.NoDedup {
		w.flags |= flagDuplicates
	}
	if w.s.NoFragments {
		w.flags |= flagNoFragments
	}
	if raw {
		w.flags |= flagUncompressedInodes | flagUncompressedData | flagUncompressedFragments |
			flagUncompressedXattrs | flagUncompressedIDs
	}
	sb.modTime = w.s.modTime
	sb.blockSize = uint32(w.s.BlockSize)
	sb.blockLog = w.s.blockLog
	sb.fragCount = uint32(len(w.frags))
	sb.compressor = w.s.Compressor.ID()
	sb.flags = w.flags
	sb.idCount = uint16(len(w.idList))
	if _, err := w.dst.WriteAt(sb.encode(), 0); err != nil {
		return fmt.Errorf("write superblock: %w", err)
	}
	return nil
}

type superblock struct {
	inodeCount, modTime, blockSize, fragCount uint32
	compressor                                CompressorID
	blockLog, flags, idCount                  uint16
	rootRef, bytesUsed                        uint64
	idTable, xattrTable, inodeTable, dirTable uint64
	fragTable, exportTable                    uint64
}

func (sb *superblock) encode() []byte {
	b := make(le, 0, superblockSize).
		u32(superblockMagic).u32(sb.inodeCount).u32(sb.modTime).u32(sb.blockSize).u32(sb.fragCount).
		u16(uint16(sb.compressor)).u16(sb.blockLog).u16(sb.flags).u16(sb.idCount).
		u16(versionMajor).u16(versionMinor).
		u64(sb.rootRef).u64(sb.bytesUsed).u64(sb.idTable).u64(sb.xattrTable).
		u64(sb.inodeTable).u64(sb.dirTable).u64(sb.fragTable).u64(sb.exportTable)
	return b
}

// writeTable stores a lookup table: its records cut into metadata blocks,
// then (after an optional header) the list of those blocks' positions,
// whose position it returns.
func (w *writer) writeTable(pool *metaPool, records []byte, header []byte) (uint64, error) {
	m := pooledMetaWriter(pool)
	if err := m.write(records); err != nil {
		return 0, err
	}
	return w.placeTable(m, header)
}

// placeTable stores a lookup table whose records m holds, as writeTable
// does.
func (w *writer) placeTable(m *metaWriter, header []byte) (uint64, error) {
	if err := m.flush(); err != nil {
		return 0, err
	}
	start := w.pos
	if err := w.writeStream(m); err != nil {
		return 0, err
	}
	list := le(header)
	for _, s := range m.blockStarts() {
		list = list.u64(start + s)
	}
	at := w.pos
	return at, w.writeAt(list)
}

// writeStream writes the blocks of m, flushed, at the image's end.
func (w *writer) writeStream(m *metaWriter) error {
	for _, b := range m.blocks {
		if err := w.writeAt(b.stored); err != nil {
			return err
		}
	}
	return nil
}

// writeXattrs stores each distinct attribute set once as key/value pairs,
// then the table that maps an inode's xattr index to its set.
func (w *writer) writeXattrs(pool *metaPool) (uint64, error) {
	kv := pooledMetaWriter(pool)
	var ids le
	for _, set := range w.xattrSets {
		ref, err := kv.ref(kv.offset())
		if err != nil {
			return 0, err
		}
		if err := kv.write(set); err != nil {
			return 0, err
		}
		ids = ids.u64(ref).u32(uint32(countXattrs(set))).u32(uint32(len(set)))
	}
	if err := kv.flush(); err != nil {
		return 0, err
	}
	kvStart := w.pos
	if err := w.writeStream(kv); err != nil {
		return 0, err
	}
	header := le(nil).u64(kvStart).u32(uint32(len(w.xattrSets))).u32(0)
	return w.writeTable(pool, ids, header)
}

type dirIndex struct {
	index uint32 // offset of a header from the listing's start
	block uint64 // uncompressed position of that header in the table
	name  string // first name after the header
}

// writeDir writes the subtree of the directory dir, whose parent has
// inode number parent: each child's inode (recursing into
// subdirectories), then its listing, then its own inode. It returns where
// the directory's inode went.
func (w *writer) writeDir(inodes, dirs *metaWriter, dir *Node, parent uint32) (kidRef, error) {
	d := &w.dirs[w.dirIndex[dir]]
	// The directory's number comes after those of every inode its subtree
	// adds.
	number := w.nextNumber + d.inodes
	top := len(w.kids)
	for _, e := range d.ents {
		child := e.node
		var k kidRef
		var err error
		switch {
		case child.IsDir():
			k, err = w.writeDir(inodes, dirs, child, number)
		case child.linked:
			li := &w.links[w.linked[child]]
			if !li.written {
				if k, err = w.writeInode(inodes, child, li.nlink); err != nil {
					return k, err
				}
				li.pos, li.number, li.written = k.pos, k.number, true
			}
			k = kidRef{li.pos, li.number}
		default:
			k, err = w.writeInode(inodes, child, 1)
		}
		if err != nil {
			return k, err
		}
		w.kids = append(w.kids, k)
	}
	kids := w.kids[top:]
	defer func() { w.kids = w.kids[:top] }()
	if w.nextNumber+1 != number { // collect and this walk disagree: a bug
		return kidRef{}, fmt.Errorf("%s: directory numbered %d after inode %d", w.pathOf(dir), number, w.nextNumber)
	}

	// The listing: runs of entries, each behind a header naming the inode
	// table block its entries' inodes sit in and a base inode number. A run
	// ends at 256 entries, when the block changes, when a number is more
	// than ±32k from the base, or when 8 KiB of listing have passed since
	// the last indexed header; that last kind gets an entry in the
	// directory index, so a lookup in a big directory reads one metadata
	// block instead of all of them. Listings under 8 KiB need no index and
	// keep a basic inode, as mksquashfs lays them out. A header's block
	// start is filled in when its block of the table is compressed.
	start := dirs.offset()
	listing := w.listing[:0]
	var index []dirIndex
	header, indexed, count := -1, 0, 0
	var base uint32
	var block uint64
	for k, e := range d.ents {
		name := e.name
		child := kids[k]
		childBlock := child.pos / metadataBlockSize
		delta := int64(child.number) - int64(base)
		crossed := header >= 0 && len(listing)+dirEntrySize+len(name)-indexed > metadataBlockSize
		if header < 0 || count == maxDirEntriesPerHeader || childBlock != block || delta < -32768 || delta > 32767 || crossed {
			if header >= 0 {
				binary.LittleEndian.PutUint32(listing[header:], uint32(count-1))
			}
			if crossed {
				index = append(index, dirIndex{index: uint32(len(listing)), block: start + uint64(len(listing)), name: name})
				indexed = len(listing)
			}
			header, count, base, block = len(listing), 0, child.number, childBlock
			dirs.fix(start+uint64(len(listing))+4, fixStart, inodes, child.pos)
			listing = listing.u32(0).u32(0).u32(base)
			delta = 0
		}
		listing = listing.u16(uint16(child.pos % metadataBlockSize)).u16(uint16(int16(delta))).u16(basicType(e.node)).
			u16(uint16(len(name) - 1)).str(name)
		count++
	}
	if header >= 0 {
		binary.LittleEndian.PutUint32(listing[header:], uint32(count-1))
	}
	w.listing = listing
	if err := dirs.write(listing); err != nil {
		return kidRef{}, err
	}

	size := uint64(len(listing)) + 3 // the kernel counts "." and ".." as 3 bytes
	if size > 0xFFFFFFFF {
		return kidRef{}, fmt.Errorf("%s: directory listing over 4 GiB", w.pathOf(dir))
	}
	xattr, err := w.xattrIndex(dir)
	if err != nil {
		return kidRef{}, err
	}
	h, err := w.header(dir, inodeBasicDir, number)
	if err != nil {
		return kidRef{}, err
	}
	w.stats.Dirs++
	// Like mksquashfs, give a directory of over 256 entries or 8 KiB of
	// entries an extended inode even when it needs no index: either form is
	// valid, and matching lets sqfsdiff compare our images with its.
	entryBytes := 0
	for _, e := range d.ents {
		entryBytes += dirEntrySize + len(e.name)
	}
	big := len(d.ents) > maxDirEntriesPerHeader || entryBytes >= metadataBlockSize
	// The listing's block start, and each index entry's, are filled in as
	// the inode's block is compressed.
	w.recFix = w.recFix[:0]
	if size <= 0xFFFF && len(index) == 0 && xattr == noIndex && !big {
		w.recFix = append(w.recFix, fixup{at: uint64(len(h)), pos: start, target: dirs, kind: fixStart})
		rec := h.u32(0).u32(d.nlink).u16(uint16(size)).u16(uint16(start % metadataBlockSize)).u32(parent)
		return w.putInode(inodes, number, rec)
	}
	h[0] = inodeExtDir
	w.recFix = append(w.recFix, fixup{at: uint64(len(h)) + 8, pos: start, target: dirs, kind: fixStart})
	rec := h.u32(d.nlink).u32(uint32(size)).u32(0).u32(parent).
		u16(uint16(len(index))).u16(uint16(start % metadataBlockSize)).u32(xattr)
	for _, ix := range index {
		w.recFix = append(w.recFix, fixup{at: uint64(len(rec)) + 4, pos: ix.block, target: dirs, kind: fixStart})
		rec = rec.u32(ix.index).u32(0).u32(uint32(len(ix.name) - 1)).str(ix.name)
	}
	return w.putInode(inodes, number, rec)
}

// nextData returns the data of the next regular file in walk order: the
// next record in files, unless dups says it is a duplicate.
func (w *writer) nextData() *fileData {
	f := w.nextFile
	w.nextFile++
	if int(w.nextDup) < len(w.dups) && w.dups[w.nextDup].file == f {
		w.nextDup++
		return &w.files[w.dups[w.nextDup-1].data]
	}
	return &w.files[f-w.nextDup]
}

// writeInode writes the inode of n, anything but a directory, with nlink
// names, as the next inode number.
func (w *writer) writeInode(inodes *metaWriter, n *Node, nlink uint32) (kidRef, error) {
	number := w.nextNumber + 1
	typ := basicType(n)
	xattr, err := w.xattrIndex(n)
	if err != nil {
		return kidRef{}, err
	}
	h, err := w.header(n, typ, number)
	if err != nil {
		return kidRef{}, err
	}
	ext := xattr != noIndex
	switch typ {
	case inodeBasicFile:
		d := w.nextData()
		// The sparse count needs an extended inode; mksquashfs counts it
		// only for files with some data, and a file of nothing but zeros
		// keeps a basic inode there, so it does here too.
		sparse := uint64(0)
		if w.hasData(d) {
			sparse = w.sparseBytes(d, n.size)
		}
		if d.start > 0xFFFFFFFF || n.size > 0xFFFFFFFF || sparse > 0 || nlink > 1 {
			ext = true
		}
		var rec le
		if ext {
			h[0] = inodeExtFile
			rec = h.u64(d.start).u64(uint64(n.size)).u64(sparse).u32(nlink).u32(d.frag).u32(d.fragOffset()).u32(xattr)
		} else {
			rec = h.u32(uint32(d.start)).u32(d.frag).u32(d.fragOffset()).u32(uint32(n.size))
		}
		for _, s := range w.blockSizes(d) {
			rec = rec.u32(s)
		}
		return w.putInode(inodes, number, rec)
	case inodeBasicSymlink:
		rec := h.u32(nlink).u32(uint32(len(n.text))).str(n.text)
		if ext {
			rec[0] = inodeExtSymlink
			rec = rec.u32(xattr)
		}
		return w.putInode(inodes, number, rec)
	case inodeBasicBlock, inodeBasicChar:
		rec := h.u32(nlink).u32(n.rdev)
		if ext {
			rec[0] += extOffset
			rec = rec.u32(xattr)
		}
		return w.putInode(inodes, number, rec)
	default: // FIFO, socket
		rec := h.u32(nlink)
		if ext {
			rec[0] += extOffset
			rec = rec.u32(xattr)
		}
		return w.putInode(inodes, number, rec)
	}
}

// putInode appends the record of inode number, the next one, and its
// reference to the export table, and returns where it went.
func (w *writer) putInode(inodes *metaWriter, number uint32, rec le) (kidRef, error) {
	k := kidRef{pos: inodes.offset(), number: number}
	w.nextNumber = number
	for _, f := range w.recFix { // fields of rec, from its start
		inodes.fix(k.pos+f.at, f.kind, f.target, f.pos)
	}
	w.recFix = w.recFix[:0]
	w.rec = rec[:0] // the record is copied: its room serves the next one
	if err := inodes.write(rec); err != nil {
		return k, err
	}
	if w.exports != nil {
		w.exports.fix(w.exports.offset(), fixRef, inodes, k.pos)
		var ref [8]byte
		if err := w.exports.write(ref[:]); err != nil {
			return k, err
		}
	}
	return k, nil
}

// header returns the common inode header of n, inode number, in the
// writer's scratch record.
func (w *writer) header(n *Node, typ uint16, number uint32) (le, error) {
	mtime := w.s.modTime
	if w.s.KeepTimes && n.hasTime {
		t, err := unixTime(n.modTime())
		if err != nil {
			return nil, fmt.Errorf("%s: mtime %w", w.pathOf(n), err)
		}
		mtime = t
	}
	var uid, gid uint32
	if w.s.KeepOwners {
		uid, gid = n.uid, n.gid
	}
	ui, err := w.idIndex(uid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", w.pathOf(n), err)
	}
	gi, err := w.idIndex(gid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", w.pathOf(n), err)
	}
	return w.rec[:0].u16(typ).u16(unixPerm(n.mode)).u16(ui).u16(gi).u32(mtime).u32(number), nil
}

// idIndex returns the id table index of a uid or gid, adding it on first
// use.
func (w *writer) idIndex(id uint32) (uint16, error) {
	if i, ok := w.ids[id]; ok {
		return i, nil
	}
	if len(w.idList) >= maxIDs {
		return 0, fmt.Errorf("more than %d distinct uids and gids: squashfs cannot store id %d", maxIDs, id)
	}
	i := uint16(len(w.idList))
	w.ids[id] = i
	w.idList = append(w.idList, id)
	return i, nil
}

// xattrIndex returns the index of the node's attribute set, storing the set
// on first use, or noIndex when it has none or xattrs are off.
func (w *writer) xattrIndex(n *Node) (uint32, error) {
	x := n.xattrs
	if w.s.NoXattrs || len(x) == 0 {
		return noIndex, nil
	}
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var set le
	for _, k := range keys {
		prefix, rest, ok := splitXattr(k)
		if !ok {
			return 0, fmt.Errorf("%s: xattr %q: only user.*, trusted.* and security.* can be stored", w.pathOf(n), k)
		}
		if len(rest) > 0xFFFF {
			return 0, fmt.Errorf("%s: xattr name %q too long", w.pathOf(n), k)
		}
		set = set.u16(prefix).u16(uint16(len(rest))).str(rest).u32(uint32(len(x[k]))).str(string(x[k]))
	}
	key := string(set)
	if id, ok := w.xattrIDs[key]; ok {
		return id, nil
	}
	id := uint32(len(w.xattrSets))
	w.xattrIDs[key] = id
	w.xattrSets = append(w.xattrSets, set)
	return id, nil
}

// countXattrs counts the key/value pairs in an encoded set.
func countXattrs(set []byte) int {
	n := 0
	for len(set) > 0 {
		nameLen := int(set[2]) | int(set[3])<<8
		set = set[4+nameLen:]
		valLen := int(set[0]) | int(set[1])<<8 | int(set[2])<<16 | int(set[3])<<24
		set = set[4+valLen:]
		n++
	}
	return n
}

// basicType returns the basic inode type of a node, which directory entries
// store even for extended inodes.
func basicType(n *Node) uint16 {
	switch n.mode.Type() {
	case fs.ModeDir:
		return inodeBasicDir
	case fs.ModeSymlink:
		return inodeBasicSymlink
	case fs.ModeDevice:
		return inodeBasicBlock
	case fs.ModeDevice | fs.ModeCharDevice:
		return inodeBasicChar
	case fs.ModeNamedPipe:
		return inodeBasicFIFO
	case fs.ModeSocket:
		return inodeBasicSocket
	}
	return inodeBasicFile
}

// unixPerm converts Go's mode bits to the Unix permission word.
func unixPerm(m fs.FileMode) uint16 {
	p := uint16(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
