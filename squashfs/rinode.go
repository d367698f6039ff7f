package squashfs

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// rinode is a parsed inode. Its fields are never changed once parsed.
type rinode struct {
	ref    uint64 // where it is: its identity in this image
	typ    uint16 // basic type, 1..7
	mode   fs.FileMode
	uid    uint32
	gid    uint32
	mtime  uint32
	number uint32
	nlink  uint32
	size   uint64
	xattrs map[string][]byte // shared with the cache: never modified

	// directories
	dirBlock  uint32
	dirOffset uint16
	// regular files: the first block, the tail's fragment, and where the
	// list of block sizes lies in the inode table
	start   uint64
	frag    uint32
	fragOff uint32
	nblocks uint64
	list    metaPos
	// symlinks
	target string
	// devices
	major, minor uint32
}

func le16(b []byte, i int) uint16 { return binary.LittleEndian.Uint16(b[i:]) }
func le32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }
func le64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }

// inode parses the inode at ref, checking every field against the image.
func (img *image) inode(ref uint64) (*rinode, error) {
	img.mu.Lock()
	in, ok := img.inodeCache.get(ref)
	img.mu.Unlock()
	if ok {
		return in, nil
	}
	in, err := img.parseInode(ref)
	if err != nil {
		return nil, fmt.Errorf("inode %#x: %w", ref, err)
	}
	img.mu.Lock()
	img.inodeCache.add(ref, in, 1)
	img.mu.Unlock()
	return in, nil
}

func (img *image) parseInode(ref uint64) (*rinode, error) {
	c, err := img.cursor(&img.inodes, ref)
	if err != nil {
		return nil, err
	}
	h, err := c.next(16)
	if err != nil {
		return nil, err
	}
	typ, perm := le16(h, 0), le16(h, 2)
	uidIdx, gidIdx := int(le16(h, 4)), int(le16(h, 6))
	in := &rinode{ref: ref, mtime: le32(h, 8), number: le32(h, 12)}
	if typ < inodeBasicDir || typ > inodeExtSocket {
		return nil, corrupt("unknown type %d", typ)
	}
	ext := typ >= inodeExtDir
	in.typ = typ
	if ext {
		in.typ -= extOffset
	}
	if perm&^0o7777 != 0 {
		return nil, corrupt("mode %#o has bits beyond the permissions", perm)
	}
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
	if uidIdx >= len(img.ids) || gidIdx >= len(img.ids) {
		return nil, corrupt("owner indexes %d:%d, the id table has %d", uidIdx, gidIdx, len(img.ids))
	}
	in.uid, in.gid = img.ids[uidIdx], img.ids[gidIdx]

	xattr := uint32(noIndex)
	switch typ {
	case inodeBasicDir:
		b, err := c.next(16)
		if err != nil {
			return nil, err
		}
		in.dirBlock, in.nlink = le32(b, 0), le32(b, 4)
		in.size, in.dirOffset = uint64(le16(b, 8)), le16(b, 10)
	case inodeExtDir:
		b, err := c.next(24)
		if err != nil {
			return nil, err
		}
		in.nlink, in.size, in.dirBlock = le32(b, 0), uint64(le32(b, 4)), le32(b, 8)
		in.dirOffset, xattr = le16(b, 18), le32(b, 20)
	case inodeBasicFile:
		b, err := c.next(16)
		if err != nil {
			return nil, err
		}
		in.start, in.frag, in.fragOff, in.size, in.nlink = uint64(le32(b, 0)), le32(b, 4), le32(b, 8), uint64(le32(b, 12)), 1
	case inodeExtFile:
		b, err := c.next(40)
		if err != nil {
			return nil, err
		}
		in.start, in.size = le64(b, 0), le64(b, 8)
		in.nlink, in.frag, in.fragOff, xattr = le32(b, 24), le32(b, 28), le32(b, 32), le32(b, 36)
	case inodeBasicSymlink, inodeExtSymlink:
		b, err := c.next(8)
		if err != nil {
			return nil, err
		}
		in.nlink, in.size = le32(b, 0), uint64(le32(b, 4))
		if in.size == 0 || in.size > maxSymlink {
			return nil, corrupt("symlink target of %d bytes (the kernel reads 1 to %d)", in.size, maxSymlink)
		}
		t, err := c.next(int(in.size))
		if err != nil {
			return nil, err
		}
		if strings.IndexByte(string(t), 0) >= 0 {
			return nil, corrupt("symlink target holds a NUL byte")
		}
		in.target = string(t)
		if ext {
			if b, err = c.next(4); err != nil {
				return nil, err
			}
			xattr = le32(b, 0)
		}
	case inodeBasicBlock, inodeBasicChar, inodeExtBlock, inodeExtChar:
		n := 8
		if ext {
			n = 12
		}
		b, err := c.next(n)
		if err != nil {
			return nil, err
		}
		in.nlink = le32(b, 0)
		in.major, in.minor = decodeDevice(le32(b, 4))
		if ext {
			xattr = le32(b, 8)
		}
	default: // FIFOs and sockets
		n := 4
		if ext {
			n = 8
		}
		b, err := c.next(n)
		if err != nil {
			return nil, err
		}
		in.nlink = le32(b, 0)
		if ext {
			xattr = le32(b, 4)
		}
	}

	switch in.typ {
	case inodeBasicDir:
		in.mode |= fs.ModeDir
		if in.dirOffset >= metadataBlockSize {
			return nil, corrupt("directory listing offset %d", in.dirOffset)
		}
	case inodeBasicFile:
		if err := img.checkFile(in, c); err != nil {
			return nil, err
		}
	case inodeBasicSymlink:
		in.mode |= fs.ModeSymlink
	case inodeBasicBlock:
		in.mode |= fs.ModeDevice
	case inodeBasicChar:
		in.mode |= fs.ModeDevice | fs.ModeCharDevice
	case inodeBasicFIFO:
		in.mode |= fs.ModeNamedPipe
	case inodeBasicSocket:
		in.mode |= fs.ModeSocket
	}
	if xattr != noIndex {
		if in.xattrs, err = img.xattrSet(xattr); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// checkFile checks a regular file's sizes against the image and notes
// where its block list is; the list itself is read when the file is
// opened.
func (img *image) checkFile(in *rinode, c *metaCursor) error {
	if in.size >= 1<<62 {
		return corrupt("file of %d bytes", in.size)
	}
	bs := uint64(img.bs)
	in.nblocks = in.size / bs
	tail := in.size % bs
	if in.frag == noIndex {
		if tail > 0 {
			in.nblocks++
		}
	} else {
		if int(in.frag) >= len(img.frags) {
			return corrupt("fragment %d of %d", in.frag, len(img.frags))
		}
		if uint64(in.fragOff)+tail > bs {
			return corrupt("tail of %d bytes at %d does not fit a %d-byte fragment block", tail, in.fragOff, bs)
		}
	}
	if in.nblocks*4 > c.room() {
		return corrupt("a file of %d bytes has %d blocks, more than the inode table can list", in.size, in.nblocks)
	}
	in.list = c.pos()
	return nil
}

// xattrSet returns the attributes of xattr id idx, parsed once and then
// shared: callers must not change the map.
func (img *image) xattrSet(idx uint32) (map[string][]byte, error) {
	img.mu.Lock()
	set, ok := img.xattrs.get(idx)
	img.mu.Unlock()
	if ok {
		return set, nil
	}
	if int(idx) >= len(img.xattrIDs) {
		return nil, corrupt("xattr id %d of %d", idx, len(img.xattrIDs))
	}
	set, err := img.parseXattrs(img.xattrIDs[idx])
	if err != nil {
		return nil, fmt.Errorf("xattr id %d: %w", idx, err)
	}
	img.mu.Lock()
	img.xattrs.add(idx, set, 1)
	img.mu.Unlock()
	return set, nil
}

func (img *image) parseXattrs(id xattrID) (map[string][]byte, error) {
	// A pair takes at least 9 bytes: type, name size, name, value size.
	if id.count > maxXattrSet/9 {
		return nil, corrupt("%d attributes", id.count)
	}
	c, err := img.cursor(&img.kv, id.ref)
	if err != nil {
		return nil, err
	}
	set := make(map[string][]byte, min(id.count, 64))
	total := 0
	for range id.count {
		h, err := c.next(4)
		if err != nil {
			return nil, err
		}
		typ, n := le16(h, 0), int(le16(h, 2))
		prefix := int(typ &^ xattrOutOfLine)
		if prefix >= len(xattrPrefixes) || n == 0 || len(xattrPrefixes[prefix])+n > maxXattrName {
			return nil, corrupt("attribute of type %#x with a %d-byte name", typ, n)
		}
		rest, err := c.next(n)
		if err != nil {
			return nil, err
		}
		name := xattrPrefixes[prefix] + string(rest)
		if strings.IndexByte(name, 0) >= 0 {
			return nil, corrupt("attribute name %q holds a NUL byte", name)
		}
		if _, dup := set[name]; dup {
			return nil, corrupt("attribute %q twice", name)
		}
		vc := c
		if typ&xattrOutOfLine != 0 {
			// The value is stored once elsewhere; a reference to it is here.
			b, err := c.next(12)
			if err != nil {
				return nil, err
			}
			if le32(b, 0) != 8 {
				return nil, corrupt("attribute %q: out-of-line reference of %d bytes", name, le32(b, 0))
			}
			if vc, err = img.cursor(&img.kv, le64(b, 4)); err != nil {
				return nil, err
			}
		}
		b, err := vc.next(4)
		if err != nil {
			return nil, err
		}
		size := int(le32(b, 0))
		if size > maxXattrValue {
			return nil, corrupt("attribute %q: value of %d bytes", name, size)
		}
		if total += len(name) + size; total > maxXattrSet {
			return nil, corrupt("attributes of more than %d bytes", maxXattrSet)
		}
		v, err := vc.next(size)
		if err != nil {
			return nil, err
		}
		set[name] = append([]byte{}, v...)
	}
	return set, nil
}

// dirent is one entry of a parsed directory listing.
type dirent struct {
	name string
	ref  uint64
	typ  uint16 // basic type the entry claims; the inode must agree
}

// listing returns a directory's entries in stored order, checked: valid
// names in strictly increasing byte order (lookups binary-search them),
// inode references into the inode table, and no directory that is already
// listed elsewhere or is the root (a loop, or a subtree shared by two
// parents: a walk would never end).
func (img *image) listing(dir *rinode) ([]dirent, error) {
	if dir.size <= 3 { // the kernel counts "." and ".." as 3 bytes
		return nil, nil
	}
	img.mu.Lock()
	ents, ok := img.lists.get(dir.ref)
	img.mu.Unlock()
	if ok {
		return ents, nil
	}
	size := dir.size - 3
	img.mu.Lock()
	if !img.listed[dir.ref] {
		// Listings never overlap, so together they fit the table.
		if img.listedBytes+size > uint64(len(img.dirs.blocks))*metadataBlockSize {
			img.mu.Unlock()
			return nil, corrupt("directory inode %#x: listings of %d bytes so far overlap or overrun the %d-block directory table",
				dir.ref, img.listedBytes+size, len(img.dirs.blocks))
		}
		img.listed[dir.ref] = true
		img.listedBytes += size
	}
	img.mu.Unlock()
	ents, err := img.parseListing(dir, size)
	if err != nil {
		return nil, fmt.Errorf("directory inode %#x: listing: %w", dir.ref, err)
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	for _, e := range ents {
		if e.typ != inodeBasicDir {
			continue
		}
		here := dirLink{parent: dir.ref, name: e.name}
		if prev, ok := img.parents[e.ref]; ok && prev != here {
			if prev.parent == noParent {
				return nil, corrupt("directory loop: entry %q of directory inode %#x is the root", e.name, dir.ref)
			}
			return nil, corrupt("directory loop: directory inode %#x is entry %q of inode %#x and entry %q of inode %#x, but a directory has one parent",
				e.ref, prev.name, prev.parent, e.name, dir.ref)
		}
		img.parents[e.ref] = here
	}
	img.lists.add(dir.ref, ents, int(size))
	return ents, nil
}

func (img *image) parseListing(dir *rinode, size uint64) ([]dirent, error) {
	c, err := img.cursor(&img.dirs, uint64(dir.dirBlock)<<16|uint64(dir.dirOffset))
	if err != nil {
		return nil, err
	}
	var ents []dirent
	for size > 0 {
		if size < dirHeaderSize {
			return nil, corrupt("%d bytes left, too few for a header", size)
		}
		h, err := c.next(dirHeaderSize)
		if err != nil {
			return nil, err
		}
		size -= dirHeaderSize
		count, start := uint64(le32(h, 0))+1, le32(h, 4)
		if count > maxDirEntriesPerHeader {
			return nil, corrupt("%d entries after one header", count)
		}
		if _, found := slices.BinarySearch(img.inodes.blocks, img.inodes.start+uint64(start)); !found {
			return nil, corrupt("header names inode block %d, where no block starts", start)
		}
		for range count {
			if size < dirEntrySize {
				return nil, corrupt("%d bytes left, too few for an entry", size)
			}
			e, err := c.next(dirEntrySize)
			if err != nil {
				return nil, err
			}
			size -= dirEntrySize
			off, typ, n := le16(e, 0), le16(e, 4), uint64(le16(e, 6))+1
			if n > size {
				return nil, corrupt("name of %d bytes, %d left", n, size)
			}
			nb, err := c.next(int(n))
			if err != nil {
				return nil, err
			}
			size -= n
			name := string(nb)
			if err := checkName(name); err != nil {
				return nil, corrupt("entry %d: %v", len(ents), err)
			}
			if off >= metadataBlockSize || typ < inodeBasicDir || typ > inodeBasicSocket {
				return nil, corrupt("entry %q: type %d at offset %d", name, typ, off)
			}
			if len(ents) > 0 && name <= ents[len(ents)-1].name {
				if name == ents[len(ents)-1].name {
					return nil, corrupt("entry %q twice", name)
				}
				return nil, corrupt("entry %q after %q: entries out of order", name, ents[len(ents)-1].name)
			}
			ents = append(ents, dirent{name: name, ref: uint64(start)<<16 | uint64(off), typ: typ})
		}
	}
	return ents, nil
}

// child returns the inode an entry leads to, which must be of the type the
// entry claims.
func (img *image) child(e dirent) (*rinode, error) {
	in, err := img.inode(e.ref)
	if err != nil {
		return nil, fmt.Errorf("entry %q: %w", e.name, err)
	}
	if in.typ != e.typ {
		return nil, corrupt("entry %q says type %d, its inode %#x is type %d", e.name, e.typ, e.ref, in.typ)
	}
	return in, nil
}
