package squashfs

import (
	"io/fs"
)

// MemoryLimit returns a soft memory limit for a process that writes t with
// opts, for runtime/debug.SetMemoryLimit: what t and Write keep live at
// most (the tree's nodes, entries and names; the writer's record of each
// file and directory; then the block pipeline and each worker's encoder
// while data is written, the compressed metadata after), a quarter more for
// garbage, and the runtime's own memory. Without a limit the garbage
// collector lets the heap grow to twice the live data (GOGC=100), and
// for a tree of a million files that data is mostly the tree: the limit
// keeps the process near what the image needs. It is an estimate from
// counts and the sizes of this package's records, a little above what
// the writer holds; a limit below the live data would only make the
// collector run more often.
func MemoryLimit(t *Tree, opts Options) (int64, error) {
	s, err := opts.settings()
	if err != nil {
		return 0, err
	}
	bs := int64(s.BlockSize)
	c := countMemory(t, bs)
	// The data pass holds the block pipeline and the workers' encoders;
	// the metadata pass, which comes after it, the compressed tables.
	inFlight := int64(2*s.Workers + 1) // as writeData sizes its pool
	data := inFlight*(2*bs+bs/8) + int64(s.Workers)*encoderMemory(s.Compressor, bs)
	metadata := c.metadata
	if !s.rawData {
		metadata /= metadataRatio
	}
	// The metadata pool: each worker's encoder, the blocks in flight, and
	// a record of each block.
	metadata += int64(s.Workers)*(encoderMemory(s.Compressor, metadataBlockSize)+4*metadataBlockSize) +
		(c.metadata/metadataBlockSize+1)*metaBlockMem
	live := c.tree + c.writer + max(data, metadata)
	return live + live/4 + runtimeMemory, nil
}

// What MemoryLimit counts, in bytes: the records of this package, with
// the slack of their allocation. A Node is 80 bytes, an entry 24, a
// fileData 24, a dedupTable slot 20 at most 80% full.
const (
	nodeMem = 80
	// An entry in its directory's slice, which a size class rounds up by
	// up to an eighth, as it does the string of the directory's names.
	entryMem = 27
	// A directory: its dirData, the source its files share, the writer's
	// dirInfo and dirIndex entry.
	dirMem = 256
	// A regular file in the writer: its fileData and a dedup slot.
	fileMem  = 24 + 25
	blockMem = 4
	linkMem  = 64 // the writer's linkInfo and its map entry
	// An extended attribute: its map entry, key and value headers.
	xattrMem = 64
	// metaBlockMem is the record of one metadata block being written.
	metaBlockMem = 160
	// metadataRatio is how much the compressors shrink inode, directory
	// and export tables at least: xz leaves a quarter of a million small
	// files' tables.
	metadataRatio = 3
	// runtimeMemory is the Go runtime's own: stacks, GC metadata, free
	// spans not yet returned.
	runtimeMemory = 16 << 20
)

// encoderMemory returns about how many bytes an encoder of c for blocks of
// bs bytes holds, measured for the built-in compressors at their mksquashfs
// defaults; an unknown compressor is taken to need the most of them.
func encoderMemory(c Compressor, bs int64) int64 {
	switch c := c.(type) {
	case XZCompressor:
		// A binary-tree match finder of 10 bytes a byte, and the same
		// for bcjPays's samples.
		return 12 * (bs + min(bs, probeSlices*probeSlice))
	case ZstdCompressor:
		if c.level() >= zstdOptimalFrom {
			// Our own encoder: the same binary-tree match finder, and
			// the parser's and entropy stage's buffers, and at its
			// slowest setting a match cache of at most MatchCacheSize.
			// Measured live after compressing 1 MiB of the go command:
			// 10.6 bytes a byte at the fastest setting, 12.5 at the
			// slowest (13,157,336 bytes, of an estimate of 21,233,664).
			return 12*bs + int64(c.ownOptions().MatchCacheSize())
		}
	case GzipCompressor, LZ4Compressor:
		return 2 * bs
	case NoCompression:
		return 0
	}
	return 40 * bs // klauspost/compress's zstd at its best level: 36 bytes a byte
}

// memCount adds up what MemoryLimit counts for a tree.
type memCount struct {
	tree, writer, metadata int64
	nodes                  int64
}

// countMemory counts what t and a Write of it with blocks of bs bytes
// hold.
func countMemory(t *Tree, bs int64) memCount {
	var c memCount
	c.count(t.root, bs)
	slabs := (c.nodes + slabNodes - 1) / slabNodes // the last one part used
	c.tree += slabs * slabNodes * nodeMem
	return c
}

func (c *memCount) count(n *Node, bs int64) {
	c.nodes++
	for k, v := range n.xattrs {
		c.tree += xattrMem + int64(len(k)+len(v))
	}
	// The inode, and its reference in the export table.
	c.metadata += 32 + 8
	switch n.mode.Type() {
	case fs.ModeDir:
		c.tree += dirMem
		c.writer += dirMem
		for _, e := range n.dir.list() {
			c.tree += entryMem + int64(len(e.name)+len(e.name)/8)
			c.metadata += dirEntrySize + int64(len(e.name))
			if e.node.linked {
				c.writer += linkMem
			}
			c.count(e.node, bs)
		}
	case 0:
		blocks := (n.size + bs - 1) / bs
		c.writer += fileMem + blocks*blockMem
		c.metadata += 4 * blocks
	case fs.ModeSymlink:
		c.tree += int64(len(n.text))
		c.metadata += int64(len(n.text))
	}
}
