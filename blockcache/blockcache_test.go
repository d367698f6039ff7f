package blockcache

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/mkportable/mkportable/squashfs"
	"github.com/stretchr/testify/require"
)

func key(i int) squashfs.CacheKey { return sha256.Sum256([]byte(fmt.Sprint(i))) }

func TestGetPut(t *testing.T) {
	d, err := Open(t.TempDir())
	require.NoError(t, err)
	_, ok := d.Get(nil, key(1))
	require.False(t, ok)
	d.Put(key(1), []byte("one"))
	d.Put(key(1), []byte("again")) // the first value stays
	v, ok := d.Get(make([]byte, 0, 2), key(1))
	require.True(t, ok)
	require.Equal(t, "one", string(v))
	s, err := d.Stats()
	require.NoError(t, err)
	require.Equal(t, 1, s.Entries)
	require.Equal(t, int64(3), s.Bytes)
}

func TestGetRefusesOversizedFiles(t *testing.T) {
	d, err := Open(t.TempDir())
	require.NoError(t, err)
	p := d.path(key(2))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, make([]byte, maxValue+1), 0o644))
	_, ok := d.Get(nil, key(2))
	require.False(t, ok)
}

func TestPruneEvictsLeastRecentlyUsed(t *testing.T) {
	d, err := Open(t.TempDir())
	require.NoError(t, err)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		d.Put(key(i), bytes.Repeat([]byte{byte(i)}, 100))
		require.NoError(t, os.Chtimes(d.path(key(i)), base, base.Add(time.Duration(i)*time.Hour)))
	}
	// A hit makes entry 0 the most recently used.
	d.now = func() time.Time { return base.Add(100 * time.Hour) }
	_, ok := d.Get(nil, key(0))
	require.True(t, ok)
	// A temporary file a dead build left is removed too.
	tmp := filepath.Join(filepath.Dir(d.path(key(3))), ".tmp-123")
	require.NoError(t, os.WriteFile(tmp, []byte("x"), 0o644))
	require.NoError(t, os.Chtimes(tmp, base, base))

	removed, err := d.Prune(500)
	require.NoError(t, err)
	require.Equal(t, Stats{Entries: 5, Bytes: 500}, removed)
	for i := range 10 {
		_, ok := d.Get(nil, key(i))
		require.Equal(t, i == 0 || i >= 6, ok, "entry %d", i)
	}
	require.NoFileExists(t, tmp)
}

// tree is a tree of text files, data blocks and fragments; changed alters
// one byte of a file of a megabyte and replaces one directory of the 20 by
// another of a new name and new contents, as a new version of a store
// path does.
func tree(t testing.TB, changed bool) *squashfs.Tree {
	tr := squashfs.NewTree()
	rng := rand.New(rand.NewPCG(1, 1))
	text := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			fmt.Fprintf(&b, "%d %x\n", rng.IntN(100000), rng.Uint32()%4096)
		}
		return b.Bytes()[:n]
	}
	big := text(1 << 20)
	if changed {
		big[500000] ^= 1
	}
	require.NoError(t, tr.AddBytes("big", squashfs.Attr{Mode: 0o644}, big))
	for d := range 20 {
		dir := fmt.Sprintf("dir%02d", d)
		if changed && d == 7 {
			dir = "dir07-v2"
		}
		require.NoError(t, tr.Mkdir(dir, squashfs.Attr{Mode: 0o755}))
		for f := range 50 {
			data := text(rng.IntN(8000))
			if changed && d == 7 {
				data = append(data[:len(data)/2], "v2"...)
			}
			require.NoError(t, tr.AddBytes(fmt.Sprintf("%s/%d", dir, f), squashfs.Attr{Mode: 0o644}, data))
		}
	}
	return tr
}

// memImage is an in-memory io.WriterAt.
type memImage = testtool.WriterAt

func build(t testing.TB, tr *squashfs.Tree, c squashfs.Cache) ([32]byte, *squashfs.Stats) {
	t.Helper()
	var img memImage
	comp, err := squashfs.NewCompressor("zstd")
	require.NoError(t, err)
	stats, err := squashfs.Write(t.Context(), &img, tr, squashfs.Options{Compressor: comp, BlockSize: 128 << 10, Workers: 2, Cache: c})
	require.NoError(t, err)
	return sha256.Sum256(img.B), stats
}

func TestRebuildMatchesColdBuild(t *testing.T) {
	d, err := Open(t.TempDir())
	require.NoError(t, err)
	cold, _ := build(t, tree(t, false), nil)
	first, _ := build(t, tree(t, false), d)
	require.Equal(t, cold, first)

	changedCold, _ := build(t, tree(t, true), nil)
	changed, stats := build(t, tree(t, true), d)
	require.Equal(t, changedCold, changed)
	t.Logf("rebuild: %d blocks from the cache, %d compressed", stats.CacheHits, stats.CacheMisses)
	// Packed first-fit, as mksquashfs packs, most fragment blocks after the
	// changed directory differ: that gave 18 hits and 29 misses here; this
	// packing gives 35 and 15 (39 and 15 with the anchors it had until
	// 2026-11-26).
	require.Greater(t, stats.CacheHits, 2*stats.CacheMisses)
}

// TestDamagedFiles flips a byte in, truncates or empties every file of the
// cache: the image stays a cold build's.
func TestDamagedFiles(t *testing.T) {
	cold, _ := build(t, tree(t, false), nil)
	for name, damage := range map[string]func([]byte) []byte{
		"flip":     func(b []byte) []byte { b[len(b)/3] ^= 0x10; return b },
		"truncate": func(b []byte) []byte { return b[:len(b)-5] },
		"empty":    func(b []byte) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			d, err := Open(t.TempDir())
			require.NoError(t, err)
			build(t, tree(t, false), d)
			es, err := d.entries()
			require.NoError(t, err)
			require.NotEmpty(t, es)
			for _, e := range es {
				b, err := os.ReadFile(e.path)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(e.path, damage(b), 0o644))
			}
			sum, stats := build(t, tree(t, false), d)
			require.Equal(t, cold, sum)
			require.Zero(t, stats.CacheHits)
		})
	}
}

// TestConcurrentBuilds runs two builds sharing one cache directory at
// once, twice (cold, then warm): every image is the cold build's.
func TestConcurrentBuilds(t *testing.T) {
	cold, _ := build(t, tree(t, false), nil)
	dir := t.TempDir()
	for range 2 {
		var wg sync.WaitGroup
		sums := make([][32]byte, 2)
		for i := range sums {
			wg.Go(func() {
				d, err := Open(dir)
				require.NoError(t, err)
				sums[i], _ = build(t, tree(t, false), d)
			})
		}
		wg.Wait()
		require.Equal(t, cold, sums[0])
		require.Equal(t, cold, sums[1])
	}
}
