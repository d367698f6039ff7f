package squashfs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// memCache is a Cache in a map; damage, when set, changes what Get
// returns.
type memCache struct {
	mu     sync.Mutex
	m      map[CacheKey][]byte
	damage func(key CacheKey, v []byte) []byte
}

func newMemCache() *memCache { return &memCache{m: map[CacheKey][]byte{}} }

func (c *memCache) Get(dst []byte, key CacheKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	if !ok {
		return dst, false
	}
	v = append(dst[:0], v...)
	if c.damage != nil {
		v = c.damage(key, v)
	}
	return v, true
}

func (c *memCache) Put(key CacheKey, value []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = bytes.Clone(value)
}

// cacheTree is a tree with data blocks, fragments, a sparse file, an
// incompressible file and enough inodes for several metadata blocks; seed
// changes the contents of a few files.
func cacheTree(t testing.TB, seed uint64) *Tree {
	tree := NewTree()
	rng := rand.New(rand.NewPCG(7, 7))
	text := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			fmt.Fprintf(&b, "line %d of something %d\n", rng.IntN(1000), rng.IntN(50))
		}
		return b.Bytes()[:n]
	}
	random := make([]byte, 150<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	require.NoError(t, tree.AddBytes("random.bin", Attr{Mode: 0o644}, random))
	require.NoError(t, tree.AddBytes("big.txt", Attr{Mode: 0o644}, text(300<<10)))
	require.NoError(t, tree.AddBytes("sparse", Attr{Mode: 0o644}, append(make([]byte, 200<<10), text(10)...)))
	for d := range 7 {
		require.NoError(t, tree.Mkdir(fmt.Sprintf("d%d", d), Attr{Mode: 0o755}))
	}
	for i := range 600 {
		data := text(rng.IntN(3000))
		if uint64(i)%97 == seed {
			data = append(data, "changed"...)
		}
		require.NoError(t, tree.AddBytes(fmt.Sprintf("d%d/f%03d", i%7, i), Attr{Mode: 0o644}, data))
	}
	return tree
}

func cacheOpts(c Cache) Options {
	return Options{BlockSize: 64 << 10, Workers: 2, Cache: c}
}

func imageSum(t testing.TB, tree *Tree, opts Options) ([32]byte, *Stats) {
	t.Helper()
	var img memImage
	stats, err := Write(t.Context(), &img, tree, opts)
	require.NoError(t, err)
	return sha256.Sum256(img.B), stats
}

func TestCacheKeepsBytes(t *testing.T) {
	for _, comp := range []string{"xz", "zstd", "gzip"} {
		t.Run(comp, func(t *testing.T) {
			c, err := NewCompressor(comp)
			require.NoError(t, err)
			opts := func(cache Cache) Options { o := cacheOpts(cache); o.Compressor = c; return o }
			cold, _ := imageSum(t, cacheTree(t, 1000), opts(nil))

			cache := newMemCache()
			first, stats := imageSum(t, cacheTree(t, 1000), opts(cache))
			require.Equal(t, cold, first)
			require.Zero(t, stats.CacheHits)
			require.NotZero(t, stats.CacheMisses)

			again, stats2 := imageSum(t, cacheTree(t, 1000), opts(cache))
			require.Equal(t, cold, again)
			require.Zero(t, stats2.CacheMisses)
			require.Equal(t, stats.CacheMisses, stats2.CacheHits)

			// A few files changed: the image is a cold build's, and most
			// blocks come from the cache.
			changedCold, _ := imageSum(t, cacheTree(t, 3), opts(nil))
			changed, stats3 := imageSum(t, cacheTree(t, 3), opts(cache))
			require.Equal(t, changedCold, changed)
			t.Logf("after a change: %d blocks from the cache, %d compressed", stats3.CacheHits, stats3.CacheMisses)
			require.Greater(t, stats3.CacheHits, stats3.CacheMisses)
		})
	}
}

func TestCacheIgnoresDamage(t *testing.T) {
	cold, _ := imageSum(t, cacheTree(t, 1000), cacheOpts(nil))
	damages := map[string]func(key CacheKey, v []byte) []byte{
		"flip first byte":  func(_ CacheKey, v []byte) []byte { v[0] ^= 1; return v },
		"flip kind":        func(_ CacheKey, v []byte) []byte { v[1] ^= 1; return v },
		"flip a middle":    func(_ CacheKey, v []byte) []byte { v[len(v)/2] ^= 0x80; return v },
		"flip the check":   func(_ CacheKey, v []byte) []byte { v[len(v)-1] ^= 1; return v },
		"truncate by one":  func(_ CacheKey, v []byte) []byte { return v[:len(v)-1] },
		"truncate to half": func(_ CacheKey, v []byte) []byte { return v[:len(v)/2] },
		"empty":            func(_ CacheKey, v []byte) []byte { return v[:0] },
		"extended":         func(_ CacheKey, v []byte) []byte { return append(v, 0) },
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			cache := newMemCache()
			_, stats := imageSum(t, cacheTree(t, 1000), cacheOpts(cache))
			cache.damage = damage
			sum, stats2 := imageSum(t, cacheTree(t, 1000), cacheOpts(cache))
			require.Equal(t, cold, sum)
			require.Zero(t, stats2.CacheHits, "a damaged value was used")
			require.Equal(t, stats.CacheMisses, stats2.CacheMisses)
		})
	}
	t.Run("values swapped between keys", func(t *testing.T) {
		cache := newMemCache()
		imageSum(t, cacheTree(t, 1000), cacheOpts(cache))
		var keys []CacheKey
		for k := range cache.m {
			keys = append(keys, k)
		}
		for i := 0; i+1 < len(keys); i += 2 {
			a, b := keys[i], keys[i+1]
			cache.m[a], cache.m[b] = cache.m[b], cache.m[a]
		}
		sum, stats := imageSum(t, cacheTree(t, 1000), cacheOpts(cache))
		require.Equal(t, cold, sum)
		require.LessOrEqual(t, stats.CacheHits, 1) // an odd key out keeps its own
	})
}
