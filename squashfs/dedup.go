package squashfs

import "math/bits"

// dedupTable maps the hash prefix of each stored file's contents to the
// file's index in writer.order, keeping the first file of each prefix. It
// is an open-addressing table sized once for every file that may be
// stored with a shared size: 12 bytes a slot at most 80% full, where a Go
// map of a million entries costs 20 to 40 bytes each. Keys are SHA-256
// prefixes, uniform already, so a slot is picked by scaling the key to
// the table's length and collisions probe linearly.
type dedupTable struct {
	keys []uint64
	vals []int32 // index in order plus one; 0 for an empty slot
	n    int
}

// newDedupTable returns a table with room for n files.
func newDedupTable(n int) dedupTable {
	size := n + n/4 + 1
	return dedupTable{keys: make([]uint64, size), vals: make([]int32, size)}
}

// slot returns the slot holding key, or the empty slot where it would go.
func (t *dedupTable) slot(key uint64) int {
	hi, _ := bits.Mul64(key, uint64(len(t.keys)))
	i := int(hi)
	for t.vals[i] != 0 && t.keys[i] != key {
		if i++; i == len(t.keys) {
			i = 0
		}
	}
	return i
}

// get returns the file stored under key.
func (t *dedupTable) get(key uint64) (int32, bool) {
	if len(t.keys) == 0 {
		return 0, false
	}
	i := t.slot(key)
	return t.vals[i] - 1, t.vals[i] != 0
}

// add stores file i under key unless a file is stored under it already.
func (t *dedupTable) add(key uint64, i int32) {
	if t.n >= len(t.keys)-1 {
		t.grow()
	}
	s := t.slot(key)
	if t.vals[s] == 0 {
		t.keys[s], t.vals[s] = key, i+1
		t.n++
	}
}

// grow doubles the table. The writer sizes it for every file it can add,
// so this only keeps a miscount from making slot loop forever.
func (t *dedupTable) grow() {
	old := *t
	*t = newDedupTable(2*len(old.keys) + 8)
	for s, v := range old.vals {
		if v != 0 {
			t.add(old.keys[s], v-1)
		}
	}
}
