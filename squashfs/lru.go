package squashfs

// lru is a least-recently-used cache whose entries have weights: it holds
// entries until their total weight passes max, then drops the oldest. The
// entry just added always stays, however heavy, so a caller can use what it
// added. It is not safe for concurrent use; the Reader guards it.
type lru[K comparable, V any] struct {
	max, used int
	m         map[K]*lruEntry[K, V]
	ring      lruEntry[K, V] // sentinel: ring.next is the newest entry
}

type lruEntry[K comparable, V any] struct {
	key        K
	val        V
	weight     int
	prev, next *lruEntry[K, V]
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	c := &lru[K, V]{max: max, m: map[K]*lruEntry[K, V]{}}
	c.ring.prev, c.ring.next = &c.ring, &c.ring
	return c
}

// get returns the value under key and makes it the newest.
func (c *lru[K, V]) get(key K) (V, bool) {
	e, ok := c.m[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.unlink(e)
	c.pushFront(e)
	return e.val, true
}

// peek returns the value under key without making it the newest.
func (c *lru[K, V]) peek(key K) (V, bool) {
	e, ok := c.m[key]
	if !ok {
		var zero V
		return zero, false
	}
	return e.val, true
}

// add stores val under key with the given weight, replacing any value
// there, and drops the oldest entries until the cache fits.
func (c *lru[K, V]) add(key K, val V, weight int) {
	if e, ok := c.m[key]; ok {
		c.unlink(e)
		c.used -= e.weight
		delete(c.m, key)
	}
	e := &lruEntry[K, V]{key: key, val: val, weight: weight}
	c.m[key] = e
	c.pushFront(e)
	c.used += weight
	for c.used > c.max && c.ring.prev != e {
		old := c.ring.prev
		c.unlink(old)
		c.used -= old.weight
		delete(c.m, old.key)
	}
}

func (c *lru[K, V]) unlink(e *lruEntry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *lru[K, V]) pushFront(e *lruEntry[K, V]) {
	e.prev, e.next = &c.ring, c.ring.next
	c.ring.next.prev = e
	c.ring.next = e
}
