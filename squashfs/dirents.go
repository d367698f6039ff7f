package squashfs

import (
	"cmp"
	"slices"
	"strings"
)

// entry is one entry of a directory node.
type entry struct {
	name string
	node *Node
}

// dirData holds a directory's entries in byte order of their names, the
// order squashfs stores them in, so that writing needs no sorting and no
// copy. Entries arrive in that order when a directory is loaded from disk
// and are appended; one that arrives out of order goes into a small
// directory at its place, or, in a big one, into extra until extra is an
// eighth of the whole and is merged: adding n entries in any order costs
// O(n log n), not O(n²). A removed entry stays in sorted with no node
// until half of them are gone, so removing is cheap too.
type dirData struct {
	sorted []entry
	extra  map[string]*Node // entries not yet merged into sorted
	dead   int              // entries of sorted removed: node is nil
}

// smallDir is the size up to which an entry added out of order is moved
// into place at once.
const smallDir = 64

func (d *dirData) get(name string) (*Node, bool) {
	if n, ok := d.extra[name]; ok {
		return n, true
	}
	if i, ok := d.find(name); ok && d.sorted[i].node != nil {
		return d.sorted[i].node, true
	}
	return nil, false
}

// find returns the position of name in sorted, or where it would go.
func (d *dirData) find(name string) (int, bool) {
	// The common case first: the name goes after every other.
	if k := len(d.sorted); k == 0 || d.sorted[k-1].name < name {
		return k, false
	}
	return slices.BinarySearchFunc(d.sorted, name, func(e entry, name string) int {
		return strings.Compare(e.name, name)
	})
}

// set adds an entry; the caller has checked that name is not one yet.
func (d *dirData) set(name string, n *Node) {
	i, removed := d.find(name)
	switch {
	case removed:
		d.sorted[i].node = n
		d.dead--
	case i == len(d.sorted):
		d.sorted = append(d.sorted, entry{name, n})
	case len(d.sorted) < smallDir:
		d.sorted = slices.Insert(d.sorted, i, entry{name, n})
	default:
		if d.extra == nil {
			d.extra = map[string]*Node{}
		}
		d.extra[name] = n
		if len(d.extra) > len(d.sorted)/8 {
			d.sorted, d.extra, d.dead = d.list(), nil, 0
		}
	}
}

// remove deletes the entry called name and reports whether there was one.
func (d *dirData) remove(name string) bool {
	if _, ok := d.extra[name]; ok {
		delete(d.extra, name)
		return true
	}
	i, ok := d.find(name)
	if !ok || d.sorted[i].node == nil {
		return false
	}
	d.sorted[i].node = nil
	if d.dead++; d.dead > len(d.sorted)/2 {
		d.sorted = slices.DeleteFunc(d.sorted, func(e entry) bool { return e.node == nil })
		d.dead = 0
	}
	return true
}

// len returns the number of entries.
func (d *dirData) len() int { return len(d.sorted) - d.dead + len(d.extra) }

// list returns every entry in byte order of names: sorted itself when
// nothing waits in extra and nothing was removed, which the caller must
// then not change, or else a merged copy.
func (d *dirData) list() []entry {
	if len(d.extra) == 0 && d.dead == 0 {
		return d.sorted
	}
	more := make([]entry, 0, len(d.extra))
	for name, n := range d.extra {
		more = append(more, entry{name, n})
	}
	byName := func(a, b entry) int { return cmp.Compare(a.name, b.name) }
	slices.SortFunc(more, byName)
	out := make([]entry, 0, d.len())
	i, j := 0, 0
	for i < len(d.sorted) || j < len(more) {
		switch {
		case i < len(d.sorted) && d.sorted[i].node == nil:
			i++
		case j == len(more) || i < len(d.sorted) && d.sorted[i].name < more[j].name:
			out = append(out, d.sorted[i])
			i++
		default:
			out = append(out, more[j])
			j++
		}
	}
	return out
}
