package squashfs

import "math/bits"

// dedupTable maps the hash prefix of each stored file's contents to the
// file and the index of its data in writer.files, keeping the first file
// of each prefix. It is an open-addressing table sized once for every
// file that may be stored with a shared size: 20 bytes a slot at most 80%
// full, where a Go map of a million entries costs 30 to 60 bytes each. Keys are SHA-256
// prefixes, uniform already, so a slot is picked by scaling the key to
// the table's length and collisions probe linearly.
type dedupTable struct {
	keys  []uint64
	nodes []*Node // nil for an empty slot
	data  []int32
	n     int
}

// newDedupTable returns a table with room for n files.
func newDedupTable(n int) dedupTable {
	size := n + n/4 + 1
	return dedupTable{keys: make([]uint64, size), nodes: make([]*Node, size), data: make([]int32, size)}
}

// slot returns the slot holding key, or the empty slot where it would go.
func (t *dedupTable) slot(key uint64) int {
	hi, _ := bits.Mul64(key, uint64(len(t.keys)))
	i := int(hi)
	for t.nodes[i] != nil && t.keys[i] != key {
		if i++; i == len(t.keys) {
			i = 0
		}
	}
	return i
}

// get returns the file stored under key and the index of its data.
func (t *dedupTable) get(key uint64) (*Node, int32, bool) {
	if len(t.keys) == 0 {
		return nil, 0, false
	}
	i := t.slot(key)
	return t.nodes[i], t.data[i], t.nodes[i] != nil
}

// add stores file n, its data at index di, under key unless a file is
// stored under it already.
func (t *dedupTable) add(key uint64, n *Node, di int32) {
	if t.n >= len(t.keys)-1 {
		t.grow()
	}
	s := t.slot(key)
	if t.nodes[s] == nil {
		t.keys[s], t.nodes[s], t.data[s] = key, n, di
		t.n++
	}
}

// grow doubles the table. The writer sizes it for every file it can add,
// so this only keeps a miscount from making slot loop forever.
func (t *dedupTable) grow() {
	old := *t
	*t = newDedupTable(2*len(old.keys) + 8)
	for s, n := range old.nodes {
		if n != nil {
			t.add(old.keys[s], n, old.data[s])
		}
	}
}
