package squashfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
)

// A Cache keeps compressed blocks between builds, so a rebuild compresses
// only the blocks that changed. The writer looks every data, fragment and
// metadata block up by a key, a SHA-256 of everything the compressed bytes
// depend on (this program, the compressor and its settings, the block's
// bytes); on a miss it compresses the block and stores the result.
//
// Values are opaque to the cache and carry their own check: a value that
// was damaged, truncated or stored under another key is detected, ignored
// and replaced, so an image is the same byte for byte with or without a
// cache, whatever the cache returns. package blockcache keeps them in a
// directory; a build tool can keep them in its own store.
//
// A Cache is used from several goroutines at once.
type Cache interface {
	// Get appends the value stored under key to dst; ok is false when
	// there is none.
	Get(dst []byte, key CacheKey) (value []byte, ok bool)
	// Put stores value under key. It may keep it or not; it must not keep
	// value itself, which the writer reuses.
	Put(key CacheKey, value []byte)
}

// CacheKey names a compressed block in a Cache.
type CacheKey [sha256.Size]byte

// String returns the key in hex, as a file name.
func (k CacheKey) String() string { return fmt.Sprintf("%x", k[:]) }

// Cache values: a version byte, a kind byte, the stored bytes of a
// compressed block (none for a block stored raw), and a check of all that
// and the key.
const (
	cacheVersion   = 1
	cacheRaw       = 0 // the block is stored raw: no payload
	cacheCompressd = 1 // the payload is the compressed block
	cacheCheckSize = 16
)

// blockCache is the writer's side of a Cache: keys and checked values for
// one image's settings.
type blockCache struct {
	c      Cache
	prefix []byte // program, compressor and settings, hashed into every key
}

// programID identifies the running program, whose encoders' output a
// cached block is: the SHA-256 of its executable. A change to any encoder
// is a new executable, so no block compressed by another version is ever
// reused. Without it there is no cache.
var programID = sync.OnceValues(func() ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(exe)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
})

// newBlockCache returns the writer's side of c for compressor settings s,
// or nil when there is no cache or the program cannot be identified.
func newBlockCache(c Cache, s settings) *blockCache {
	if c == nil {
		return nil
	}
	id, err := programID()
	if err != nil {
		return nil
	}
	// %#v spells out a compressor's settings; one that holds pointers
	// prints addresses, which only costs it every hit.
	prefix := fmt.Appendf(append([]byte("mkportable block cache 1\x00"), id...), "%T %#v\x00", s.Compressor, s.Compressor)
	return &blockCache{c: c, prefix: prefix}
}

// key returns the key of block compressed by an encoder made for blocks of
// encSize bytes.
func (bc *blockCache) key(h *cacheHasher, encSize int, block []byte) CacheKey {
	h.h.Reset()
	h.h.Write(bc.prefix)
	var n [16]byte
	binary.LittleEndian.PutUint64(n[:], uint64(encSize))
	binary.LittleEndian.PutUint64(n[8:], uint64(len(block)))
	h.h.Write(n[:])
	h.h.Write(block)
	var k CacheKey
	h.h.Sum(k[:0])
	return k
}

// cacheHasher is one goroutine's hash state and scratch.
type cacheHasher struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func newCacheHasher() *cacheHasher { return &cacheHasher{h: sha256.New()} }

// get looks block's key up. It returns the compressed bytes appended to
// dst and true, or raw true when the block is stored raw; ok is false on a
// miss or a value that fails its check.
func (bc *blockCache) get(h *cacheHasher, key CacheKey, dst []byte, blockLen int) (out []byte, raw, ok bool) {
	v, found := bc.c.Get(h.buf[:0], key)
	h.buf = v[:0]
	if !found || len(v) < 2+cacheCheckSize || v[0] != cacheVersion {
		return dst, false, false
	}
	body, check := v[:len(v)-cacheCheckSize], v[len(v)-cacheCheckSize:]
	if !bytes.Equal(bc.check(h, key, body), check) {
		return dst, false, false
	}
	payload := body[2:]
	switch body[1] {
	case cacheRaw:
		if len(payload) == 0 {
			return dst, true, true
		}
	case cacheCompressd:
		if len(payload) > 0 && len(payload) < blockLen {
			return append(dst, payload...), false, true
		}
	}
	return dst, false, false
}

// put stores a block's result: its compressed bytes, or raw.
func (bc *blockCache) put(h *cacheHasher, key CacheKey, compressed []byte, raw bool) {
	v := append(h.buf[:0], cacheVersion, cacheCompressd)
	if raw {
		v[1] = cacheRaw
	} else {
		v = append(v, compressed...)
	}
	v = append(v, bc.check(h, key, v)...)
	h.buf = v[:0]
	bc.c.Put(key, v)
}

// check returns the check of a value's body stored under key.
func (bc *blockCache) check(h *cacheHasher, key CacheKey, body []byte) []byte {
	h.h.Reset()
	h.h.Write([]byte("mkportable block cache value\x00"))
	h.h.Write(key[:])
	h.h.Write(body)
	return h.h.Sum(h.sum[:0])[:cacheCheckSize]
}
