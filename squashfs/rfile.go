package squashfs

import (
	"fmt"
	"io"
	"io/fs"
)

// layout is where a regular file's blocks lie, worked out once when the
// file is opened: reading block i then costs no walk of the list.
type layout struct {
	words []uint32 // each block's size word; 0 is a hole
	pos   []uint64 // each block's position in the image
}

// layout reads and checks a regular file's block list. It grows with the
// list actually read, so a file that claims more blocks than the inode
// table holds fails before it costs memory.
func (img *image) layout(in *rinode) (*layout, error) {
	l := &layout{}
	if in.nblocks == 0 {
		return l, nil
	}
	c := img.cursorAt(&img.inodes, in.list)
	pos := in.start
	for i := uint64(0); i < in.nblocks; {
		chunk := min(in.nblocks-i, 1024)
		b, err := c.next(int(4 * chunk))
		if err != nil {
			return nil, fmt.Errorf("inode %#x: block list: %w", in.ref, err)
		}
		for j := range int(chunk) {
			word := le32(b, 4*j)
			n, _, err := img.dataExtent(pos, word)
			if err != nil {
				return nil, fmt.Errorf("inode %#x: block %d: %w", in.ref, i+uint64(j), err)
			}
			l.words = append(l.words, word)
			l.pos = append(l.pos, pos)
			pos += n
		}
		i += chunk
	}
	return l, nil
}

// zeros returns n zero bytes, shared and read-only.
func (img *image) zeros(n int) []byte {
	img.zeroOnce.Do(func() { img.zero = make([]byte, img.bs) })
	return img.zero[:n]
}

// fileBlock returns block i of a regular file, shared and read-only: a
// hole's zeros, a data block, or the tail in its fragment block. Decoded
// blocks are cached, so files that share blocks or a fragment block (the
// tails of small files) decode them once.
func (img *image) fileBlock(in *rinode, l *layout, i int) ([]byte, error) {
	bs := uint64(img.bs)
	want := int(min(bs, in.size-uint64(i)*bs))
	if i < len(l.words) {
		word := l.words[i]
		if word&^dataUncompressed == 0 {
			return img.zeros(want), nil
		}
		data, err := img.dataBlock(l.pos[i], word, want)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		if len(data) != want {
			return nil, corrupt("block %d at %d holds %d bytes, want %d", i, l.pos[i], len(data), want)
		}
		return data, nil
	}
	fb, err := img.fragment(in.frag)
	if err != nil {
		return nil, err
	}
	end := int(in.fragOff) + want
	if end > len(fb) {
		return nil, corrupt("tail of %d bytes at %d in fragment %d of %d bytes", want, in.fragOff, in.frag, len(fb))
	}
	return fb[in.fragOff:end], nil
}

// dataBlock returns the data block at pos, decoded (at most limit bytes).
func (img *image) dataBlock(pos uint64, word uint32, limit int) ([]byte, error) {
	img.mu.Lock()
	data, ok := img.blocks.get(pos)
	img.mu.Unlock()
	if ok {
		return data, nil
	}
	data, err := img.readBlock(pos, word, limit)
	if err != nil {
		return nil, err
	}
	img.mu.Lock()
	img.blocks.add(pos, data, 1)
	img.mu.Unlock()
	return data, nil
}

// fragment returns fragment block idx, decoded.
func (img *image) fragment(idx uint32) ([]byte, error) {
	img.mu.Lock()
	data, ok := img.fragsC.get(idx)
	img.mu.Unlock()
	if ok {
		return data, nil
	}
	e := img.frags[idx]
	if e.size&^dataUncompressed == 0 {
		return nil, corrupt("fragment %d is empty", idx)
	}
	data, err := img.readBlock(e.start, e.size, img.bs)
	if err != nil {
		return nil, fmt.Errorf("fragment %d: %w", idx, err)
	}
	img.mu.Lock()
	img.fragsC.add(idx, data, 1)
	img.mu.Unlock()
	return data, nil
}

// readBlock reads the data or fragment block at pos with size word word
// and decodes it to at most limit bytes, in a buffer of its own.
func (img *image) readBlock(pos uint64, word uint32, limit int) ([]byte, error) {
	n, compressed, err := img.dataExtent(pos, word)
	if err != nil {
		return nil, err
	}
	if !compressed {
		if int(n) > limit {
			return nil, corrupt("raw block at %d of %d bytes, more than the %d wanted", pos, n, limit)
		}
		data := make([]byte, n)
		return data, img.readAt(data, pos, "data block")
	}
	rawp := img.raw.Get().(*[]byte)
	defer img.raw.Put(rawp)
	raw := (*rawp)[:n]
	if err := img.readAt(raw, pos, "data block"); err != nil {
		return nil, err
	}
	data, err := img.dec.decode(nil, raw, limit)
	if err != nil {
		return nil, fmt.Errorf("block at %d: %w", pos, err)
	}
	return data, nil
}

// rfile is an open file or directory of a Reader.
type rfile struct {
	rd     *Reader
	in     *rinode
	name   string
	layout *layout // regular files

	off  int64
	cur  int    // index of the block in data, -1 for none
	data []byte // block cur, shared read-only

	dir    []fs.DirEntry // directories, once listed
	listed bool
}

func (f *rfile) Stat() (fs.FileInfo, error) { return rinfo{f.in, f.name}, nil }

func (f *rfile) Close() error {
	f.data, f.cur = nil, -1
	return nil
}

// block returns the block that holds byte off of the file and where in it
// off lies.
func (f *rfile) block() ([]byte, int, error) {
	bs := int64(f.rd.img.bs)
	i := int(f.off / bs)
	if i != f.cur {
		if err := f.rd.ctx.Err(); err != nil {
			return nil, 0, err
		}
		b, err := f.rd.img.fileBlock(f.in, f.layout, i)
		if err != nil {
			return nil, 0, fmt.Errorf("inode %#x: %w", f.in.ref, err)
		}
		f.cur, f.data = i, b
	}
	return f.data, int(f.off - int64(i)*bs), nil
}

func (f *rfile) Read(p []byte) (int, error) {
	if !f.in.mode.IsRegular() {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if f.off >= int64(f.in.size) {
		return 0, io.EOF
	}
	b, at, err := f.block()
	if err != nil {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
	}
	n := copy(p, b[at:])
	f.off += int64(n)
	return n, nil
}

// WriteTo writes the rest of the file to w a block at a time, straight from
// the decoded blocks: io.Copy uses it, and a hole costs no copying.
func (f *rfile) WriteTo(w io.Writer) (int64, error) {
	if !f.in.mode.IsRegular() {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	var total int64
	for f.off < int64(f.in.size) {
		b, at, err := f.block()
		if err != nil {
			return total, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
		n, err := w.Write(b[at:])
		f.off += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n < len(b)-at {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// ReadDir implements fs.ReadDirFile.
func (f *rfile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.in.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.name, Err: ErrNotDir}
	}
	if !f.listed {
		ents, err := f.rd.dirEntries(f.in)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: f.name, Err: err}
		}
		f.dir, f.listed = ents, true
	}
	if n <= 0 {
		out := f.dir
		f.dir = nil
		if out == nil {
			out = []fs.DirEntry{}
		}
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
