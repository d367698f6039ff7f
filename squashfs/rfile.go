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
		data, err := img.cachedBlock(img.blocks, l.pos[i], word, want)
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

// blockCount is the number of blocks of a regular file, its tail
// included.
func (img *image) blockCount(in *rinode) int {
	return int((in.size + uint64(img.bs) - 1) / uint64(img.bs))
}

// readAhead starts decoding block i of a file, or its fragment block, on
// another core, if one is free.
func (img *image) readAhead(in *rinode, l *layout, i int) {
	bs := uint64(img.bs)
	switch {
	case uint64(i)*bs >= in.size:
	case i < len(l.words):
		if l.words[i]&^dataUncompressed != 0 {
			img.prefetch(img.blocks, l.pos[i], l.words[i], int(min(bs, in.size-uint64(i)*bs)))
		}
	default:
		e := img.frags[in.frag]
		if e.size&^dataUncompressed != 0 {
			img.prefetch(img.fragsC, e.start, e.size, img.bs)
		}
	}
}

// fragment returns fragment block idx, decoded. When the fragment blocks
// are being read in order, as a walk reads the tails of files in the
// order they were packed, it starts decoding the next ones first.
func (img *image) fragment(idx uint32) ([]byte, error) {
	e := img.frags[idx]
	if e.size&^dataUncompressed == 0 {
		return nil, corrupt("fragment %d is empty", idx)
	}
	img.mu.Lock()
	inOrder := idx == img.lastFrag+1
	img.lastFrag = idx
	img.mu.Unlock()
	if inOrder {
		for j := range img.depth {
			if next := int(idx) + 1 + j; next < len(img.frags) && img.frags[next].size&^dataUncompressed != 0 {
				img.prefetch(img.fragsC, img.frags[next].start, img.frags[next].size, img.bs)
			}
		}
	}
	data, err := img.cachedBlock(img.fragsC, e.start, e.size, img.bs)
	if err != nil {
		return nil, fmt.Errorf("fragment %d: %w", idx, err)
	}
	return data, nil
}

// flight is a block being decoded; others that want it wait for it.
type flight struct {
	done chan struct{}
	data []byte
	err  error
}

// cachedBlock returns the block at pos from cache c, or waits for the
// goroutine decoding it, or decodes it itself.
func (img *image) cachedBlock(c *lru[uint64, []byte], pos uint64, word uint32, limit int) ([]byte, error) {
	return img.decodeCached(c, pos, word, limit, true)
}

// decodeCached is cachedBlock; without wait, a block another goroutine is
// decoding is left to it, and nil is returned.
func (img *image) decodeCached(c *lru[uint64, []byte], pos uint64, word uint32, limit int, wait bool) ([]byte, error) {
	img.mu.Lock()
	if data, ok := c.get(pos); ok {
		img.mu.Unlock()
		return data, nil
	}
	if f, ok := img.flights[pos]; ok {
		img.mu.Unlock()
		if !wait {
			return nil, nil
		}
		<-f.done
		return f.data, f.err
	}
	f := &flight{done: make(chan struct{})}
	img.flights[pos] = f
	img.mu.Unlock()
	f.data, f.err = img.readBlock(pos, word, limit)
	img.mu.Lock()
	if f.err == nil {
		c.add(pos, f.data, 1)
	}
	delete(img.flights, pos)
	img.mu.Unlock()
	close(f.done)
	return f.data, f.err
}

// prefetch decodes the block at pos into cache c on another core, when
// it is neither cached nor being decoded. A goroutine starts for it if a
// read-ahead token is free; otherwise it waits in a short queue that the
// read-ahead goroutines take from before they stop, and is dropped when
// that is full. Errors are dropped too: the reader meets them again when
// it gets there.
func (img *image) prefetch(c *lru[uint64, []byte], pos uint64, word uint32, limit int) {
	img.mu.Lock()
	defer img.mu.Unlock()
	_, cached := c.peek(pos)
	_, flying := img.flights[pos]
	if cached || flying || img.aheadStopped {
		return
	}
	job := aheadJob{c, pos, word, limit}
	select {
	case img.ahead <- struct{}{}:
	default:
		select {
		case img.aheadQueue <- job:
		default:
		}
		return
	}
	// Added under mu, which stopReadAhead sets aheadStopped under: either
	// it waits for this goroutine or this one never starts.
	img.aheadRunning.Add(1)
	go func() {
		defer img.aheadRunning.Done()
		defer func() { <-img.ahead }()
		for {
			img.decodeCached(job.c, job.pos, job.word, job.limit, false)
			img.mu.Lock()
			stopped := img.aheadStopped
			img.mu.Unlock()
			if stopped {
				return
			}
			select {
			case job = <-img.aheadQueue:
			default:
				return
			}
		}
	}()
}

// stopReadAhead ends read-ahead: no block is read ahead after it returns,
// and the goroutines decoding one have ended, so none reads the image any
// more. Reads still decode the blocks they need themselves.
func (img *image) stopReadAhead() {
	img.mu.Lock()
	img.aheadStopped = true
	img.mu.Unlock()
	img.aheadRunning.Wait()
}

// aheadJob is a block for prefetch to decode.
type aheadJob struct {
	c     *lru[uint64, []byte]
	pos   uint64
	word  uint32
	limit int
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
	walk   place   // the file's place in its directory, if opened in a walk through it

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
// off lies. all says the caller reads the file to its end.
func (f *rfile) block(all bool) ([]byte, int, error) {
	bs := int64(f.rd.img.bs)
	i := int(f.off / bs)
	if i != f.cur {
		if err := f.rd.ctx.Err(); err != nil {
			return nil, 0, err
		}
		// Read ahead when the whole file is wanted, or once Read has gone
		// on from one block to the next.
		if all || i > 0 && i == f.cur+1 {
			f.readAhead(i)
		}
		b, err := f.rd.img.fileBlock(f.in, f.layout, i)
		if err != nil {
			return nil, 0, fmt.Errorf("inode %#x: %w", f.in.ref, err)
		}
		f.cur, f.data = i, b
	}
	return f.data, int(f.off - int64(i)*bs), nil
}

// readAhead starts decoding, on the cores the read-ahead may use, the
// blocks a reader going on from block i wants next.
func (f *rfile) readAhead(i int) {
	f.aheadOf(i, f.rd.img.readAhead)
}

// aheadOf calls read for each of the next blocks after block i a reader
// going on wants, up to the read-ahead depth: the file's own, then, when
// the file was opened in a walk through its directory, those of the files
// after it, so that a walk through small files keeps every core busy, not
// only the one decoding the file being read.
func (f *rfile) aheadOf(i int, read func(in *rinode, l *layout, i int)) {
	img := f.rd.img
	in, l, at := f.in, f.layout, f.walk
	next := i + 1
	for range img.depth {
		for next >= img.blockCount(in) {
			if at.ents == nil {
				return
			}
			if in, l, at = img.nextFile(at); in == nil {
				return
			}
			next = 0
		}
		read(in, l, next)
		next++
	}
}

// place is an entry's place in its directory: the directory's inode ref,
// its listing, and the entry's index in it.
type place struct {
	dir  uint64
	ents []dirent
	idx  int
}

// walkDirs is how many directories walking remembers the file opened last
// in: a walk comes back to a directory after the subdirectories listed in
// it, as deep as they nest.
const walkDirs = 8

// opened is the file opened last in one directory.
type opened struct {
	used bool
	dir  uint64
	idx  int
}

// walking notes that the file at at was opened, and says whether it comes
// after the file opened last in the same directory: the directory is being
// walked through in order, and read-ahead may go on into the next files.
func (img *image) walking(at place) bool {
	if at.ents == nil {
		return false
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	for k := range img.opened {
		if o := &img.opened[k]; o.used && o.dir == at.dir {
			after := at.idx > o.idx
			o.idx = at.idx
			return after
		}
	}
	img.opened[img.openedNext] = opened{used: true, dir: at.dir, idx: at.idx}
	img.openedNext = (img.openedNext + 1) % walkDirs
	return false
}

// maxWalkSkip bounds how many entries nextFile passes over (directories,
// links, empty files) looking for a file to read ahead into.
const maxWalkSkip = 16

// nextFile returns the first regular file with data after place at in its
// directory, with its layout and place; nil when there is none within
// maxWalkSkip entries or one fails to read, which the reader meets again
// when it gets there.
func (img *image) nextFile(at place) (*rinode, *layout, place) {
	for j := at.idx + 1; j < len(at.ents) && j <= at.idx+maxWalkSkip; j++ {
		if at.ents[j].typ != inodeBasicFile {
			continue
		}
		in, err := img.child(at.ents[j])
		if err != nil {
			return nil, nil, place{}
		}
		if in.size == 0 {
			continue
		}
		l, err := img.layout(in)
		if err != nil {
			return nil, nil, place{}
		}
		return in, l, place{dir: at.dir, ents: at.ents, idx: j}
	}
	return nil, nil, place{}
}

func (f *rfile) Read(p []byte) (int, error) {
	if !f.in.mode.IsRegular() {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if f.off >= int64(f.in.size) {
		return 0, io.EOF
	}
	b, at, err := f.block(false)
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
		b, at, err := f.block(true)
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
	return nextDirEntries(&f.dir, n)
}

// nextDirEntries returns the next n entries of *rest as fs.ReadDirFile's
// ReadDir does (all of them, never nil, for n <= 0; io.EOF at the end
// for n > 0) and removes them from *rest.
func nextDirEntries(rest *[]fs.DirEntry, n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		out := *rest
		*rest = nil
		if out == nil {
			out = []fs.DirEntry{}
		}
		return out, nil
	}
	if len(*rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(*rest))
	out := (*rest)[:n]
	*rest = (*rest)[n:]
	return out, nil
}
