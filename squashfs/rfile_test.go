package squashfs

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A walk through a directory reads ahead into the files after the one it
// reads, past entries that hold no data, as far as the depth and
// maxWalkSkip allow; a file opened out of order reads ahead only in itself.
func TestReadAheadIntoNextFiles(t *testing.T) {
	const bs = 4096
	tree := NewTree()
	data := func(n int) []byte { return bytes.Repeat([]byte("walk ahead "), n/11+1)[:n] }
	require.NoError(t, tree.MkdirAll("d/e", Attr{Mode: 0o755}))
	require.NoError(t, tree.MkdirAll("s", Attr{Mode: 0o755}))
	require.NoError(t, tree.MkdirAll("t", Attr{Mode: 0o755}))
	for name, n := range map[string]int{"d/a": 2*bs + 2048, "d/b": bs, "d/c": 0, "d/e/x": 10, "d/f": 100, "d/g": bs + 904, "s/0": 10, "s/a": 10, "s/z": 10, "t/0": 10, "t/a": 10, "t/z": 10} {
		require.NoError(t, tree.AddBytes(name, Attr{Mode: 0o644}, data(n)))
	}
	require.NoError(t, tree.Symlink("d/d", "a", Attr{Mode: 0o777}))
	for i := range maxWalkSkip { // s/z is one entry too far, t/z just in reach
		require.NoError(t, tree.Symlink(fmt.Sprintf("s/l%02d", i), "a", Attr{Mode: 0o777}))
		if i > 0 {
			require.NoError(t, tree.Symlink(fmt.Sprintf("t/l%02d", i), "a", Attr{Mode: 0o777}))
		}
	}
	img := writeMem(t, tree, Options{BlockSize: bs, Compressor: XZCompressor{}})
	rd, err := NewReader(bytesReaderAt(img), int64(len(img)))
	require.NoError(t, err)
	rd.img.depth = 4

	names := map[uint64]string{}
	for _, name := range []string{"d/a", "d/b", "d/f", "d/g", "s/0", "s/a", "s/z", "t/z"} {
		in, err := rd.lookup("open", name, false)
		require.NoError(t, err)
		names[in.ref] = name
	}
	open := func(name string) *rfile {
		f, err := rd.Open(name)
		require.NoError(t, err)
		return f.(*rfile)
	}
	ahead := func(f *rfile, i int) []string {
		var got []string
		f.aheadOf(i, func(in *rinode, _ *layout, i int) { got = append(got, fmt.Sprintf("%s:%d", names[in.ref], i)) })
		return got
	}

	a := open("d/a") // the first file opened in d: no walk yet
	require.Equal(t, []string{"d/a:1", "d/a:2"}, ahead(a, 0))
	require.Equal(t, []string{"d/a:2"}, ahead(a, 1))
	require.Empty(t, ahead(a, 2))

	b := open("d/b") // after d/a: a walk, past the empty d/c, the link d/d and the directory d/e
	require.Equal(t, []string{"d/f:0", "d/g:0", "d/g:1"}, ahead(b, 0))
	rd.img.depth = 2
	require.Equal(t, []string{"d/f:0", "d/g:0"}, ahead(b, 0))
	rd.img.depth = 4

	a = open("d/a") // back to an earlier file: not a walk
	require.Equal(t, []string{"d/a:1", "d/a:2"}, ahead(a, 0))
	require.Empty(t, ahead(a, 2))

	open("s/0")
	sa := open("s/a") // a walk, but s/z lies past maxWalkSkip links
	require.NotEmpty(t, sa.walk.ents)
	require.Empty(t, ahead(sa, 0))
	open("t/0")
	require.Equal(t, []string{"t/z:0"}, ahead(open("t/a"), 0))

	g := open("d/g") // d remembered across s and t: still a walk, with nothing after it
	require.NotEmpty(t, g.walk.ents)
	require.Equal(t, []string{"d/g:1"}, ahead(g, 0))

	rd.img.depth = 0 // one core: no read-ahead
	require.Empty(t, ahead(g, 0))
}

// walking remembers the file opened last in each of walkDirs directories.
func TestWalking(t *testing.T) {
	var img image
	ents := make([]dirent, 10)
	at := func(dir uint64, idx int) place { return place{dir: dir, ents: ents, idx: idx} }
	for i, c := range []struct {
		at   place
		want bool
	}{
		{at(1, 0), false},
		{at(1, 1), true},
		{at(1, 3), true},
		{at(1, 3), false}, // the same file again
		{at(1, 2), false}, // back
		{at(2, 5), false}, // a directory not seen
		{at(1, 4), true},  // back in 1, after 2
		{place{}, false},  // the root, or a place unknown
		{at(3, 0), false}, {at(4, 0), false}, {at(5, 0), false}, {at(6, 0), false},
		{at(7, 0), false}, {at(8, 0), false}, {at(9, 0), false}, // 1 falls out of the eight remembered
		{at(1, 5), false},
		{at(9, 1), true},
	} {
		require.Equal(t, c.want, img.walking(c.at), "step %d: %+v", i, c.at)
	}
}

// A block another goroutine is decoding is left to it by read-ahead,
// which goes on to the next block instead of waiting.
func TestReadAheadDoesNotWait(t *testing.T) {
	tree := NewTree()
	require.NoError(t, tree.AddBytes("f", Attr{Mode: 0o644}, bytes.Repeat([]byte("x"), 10000)))
	img := writeMem(t, tree, Options{BlockSize: 4096, Compressor: XZCompressor{}})
	rd, err := NewReader(bytesReaderAt(img), int64(len(img)))
	require.NoError(t, err)
	f, err := rd.Open("f")
	require.NoError(t, err)
	l := f.(*rfile).layout
	fl := &flight{done: make(chan struct{})}
	rd.img.flights[l.pos[0]] = fl
	done := make(chan []byte)
	go func() {
		data, err := rd.img.decodeCached(rd.img.blocks, l.pos[0], l.words[0], 4096, false)
		if err != nil {
			data = []byte(err.Error())
		}
		done <- data
	}()
	select {
	case data := <-done:
		require.Nil(t, data)
	case <-time.After(time.Minute):
		t.Fatal("read-ahead waited for a block another goroutine decodes")
	}
	// With the flight gone, the file reads whole.
	delete(rd.img.flights, l.pos[0])
	close(fl.done)
	got, err := io.ReadAll(f)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte("x"), 10000), got)
}

// gatedReaderAt holds every read in [from, to) until gate is closed, and
// counts those reads.
type gatedReaderAt struct {
	r        io.ReaderAt
	from, to int64
	gate     chan struct{}
	gated    atomic.Int64
}

func (g *gatedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.from && off < g.to {
		<-g.gate
		g.gated.Add(1)
	}
	return g.r.ReadAt(p, off)
}

// stopReadAhead (ReadCloser.Close) waits for the blocks being read ahead
// and starts no more, so nothing reads the image after it returns; the
// reader still reads on its own.
func TestStopReadAheadWaits(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // read-ahead needs two cores
	data := make([]byte, 12*4096)
	for i := range data {
		data[i] = byte(i * i >> 7)
	}
	tree := NewTree()
	require.NoError(t, tree.AddBytes("f", Attr{Mode: 0o644}, data))
	img := writeMem(t, tree, Options{BlockSize: 4096, Compressor: XZCompressor{}})
	probe, err := NewReader(bytesReaderAt(img), int64(len(img)))
	require.NoError(t, err)
	pf, err := probe.Open("f")
	require.NoError(t, err)
	l := pf.(*rfile).layout

	// The data blocks after the first; the tables after them stay open.
	g := &gatedReaderAt{r: bytesReaderAt(img), from: int64(l.pos[1]), to: int64(probe.img.sb.inodeTable), gate: make(chan struct{})}
	rd, err := NewReader(g, int64(len(img)))
	require.NoError(t, err)
	f, err := rd.Open("f")
	require.NoError(t, err)
	f.(*rfile).readAhead(0) // as Read going on past block 0 does
	require.Positive(t, len(rd.img.ahead), "read-ahead goroutines are waiting at the gate")

	stopped := make(chan struct{})
	go func() {
		rd.img.stopReadAhead()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("stopReadAhead returned while read-ahead goroutines were reading")
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("stopReadAhead did not return")
	}
	require.Zero(t, len(rd.img.ahead), "no read-ahead goroutine left")
	running := g.gated.Load()
	require.LessOrEqual(t, running, int64(cap(rd.img.ahead)), "each goroutine ended after its block, taking no queued one")

	all, err := io.ReadAll(f)
	require.NoError(t, err)
	require.Equal(t, data, all)
	require.Zero(t, len(rd.img.ahead), "none started after the stop")
}
