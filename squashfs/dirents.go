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
// O(n log n), not O(n²).
type dirData struct {
	sorted []entry
	extra  map[string]*Node // entries not yet merged into sorted
}

// smallDir is the size up to which an entry added out of order is moved
// into place at once.
const smallDir = 64

func (d *dirData) get(name string) (*Node, bool) {
	if n, ok := d.extra[name]; ok {
		return n, true
	}
	if i, ok := d.find(name); ok {
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
	i, _ := d.find(name)
	switch {
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
			d.sorted, d.extra = d.list(), nil
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
	if ok {
		d.sorted = slices.Delete(d.sorted, i, i+1)
	}
	return ok
}

// len returns the number of entries.
func (d *dirData) len() int { return len(d.sorted) + len(d.extra) }

// list returns every entry in byte order of names: sorted itself when
// nothing waits in extra, which the caller must then not change, or else
// a merged copy.
func (d *dirData) list() []entry {
	if len(d.extra) == 0 {
		return d.sorted
	}
	more := make([]entry, 0, len(d.extra))
	for name, n := range d.extra {
		more = append(more, entry{name, n})
	}
	byName := func(a, b entry) int { return cmp.Compare(a.name, b.name) }
	slices.SortFunc(more, byName)
	out := make([]entry, 0, len(d.sorted)+len(more))
	i, j := 0, 0
	for i < len(d.sorted) && j < len(more) {
		if d.sorted[i].name < more[j].name {
			out = append(out, d.sorted[i])
			i++
		} else {
			out = append(out, more[j])
			j++
		}
	}
	out = append(out, d.sorted[i:]...)
	return append(out, more[j:]...)
}
