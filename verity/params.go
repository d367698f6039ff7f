package verity

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	// DefaultBlockSize is the data and hash block size Build uses unless
	// told otherwise, veritysetup's default.
	DefaultBlockSize = 4096
	// MinBlockSize and MaxBlockSize bound the block sizes Build takes and
	// ReadSuperblock accepts. The kernel takes at most the page size.
	MinBlockSize = 512
	MaxBlockSize = 64 << 10
	// MaxSaltSize is the largest salt the superblock can hold.
	MaxSaltSize = 256
	// MaxDataBlocks bounds the data blocks of a tree (512 TiB of 512-byte
	// blocks), so that every size derived from them fits an int64.
	MaxDataBlocks = 1 << 40

	// SuperblockSize is the size of the superblock at offset 0 of a hash
	// file; the tree starts at the first hash block after it.
	SuperblockSize = 512

	digestSize = 32 // SHA-256
	hashType   = 1  // the "normal" format; 0 is Chrome OS's
	sbVersion  = 1
	algorithm  = "sha256"
	signature  = "verity\x00\x00"
	maxLevels  = 63 // DM_VERITY_MAX_LEVELS
)

var (
	// ErrSuperblock is wrapped by errors about a hash file whose superblock
	// is missing, malformed, unsupported or inconsistent with its size.
	ErrSuperblock = errors.New("verity: bad superblock")
	// ErrMismatch is wrapped by errors saying that a hash tree does not
	// match its data or its root hash: what dm-verity would refuse.
	ErrMismatch = errors.New("verity: hash tree does not match")
)

// RootHash is the SHA-256 root hash of a tree, the value systemd reads from
// NAME.roothash and dm-verity checks the tree's top against.
type RootHash [digestSize]byte

// String returns the root hash as 64 lowercase hex digits, the contents of
// a NAME.roothash file and the text a root hash signature signs.
func (h RootHash) String() string { return hex.EncodeToString(h[:]) }

// ParseRootHash parses a root hash written as 64 hex digits, as in a
// NAME.roothash file; surrounding white space (a final newline) is ignored.
func ParseRootHash(s string) (RootHash, error) {
	var h RootHash
	t := strings.TrimSpace(s)
	if len(t) != 2*digestSize {
		return h, fmt.Errorf("verity: root hash %.80q is %d characters, want %d hex digits", s, len(t), 2*digestSize)
	}
	if _, err := hex.Decode(h[:], []byte(t)); err != nil {
		return h, fmt.Errorf("verity: root hash %q is not hex: %w", t, err)
	}
	return h, nil
}

// Params are the parameters of a hash tree, as its superblock records
// them. The hash is always SHA-256 and the format always 1.
type Params struct {
	DataBlockSize int      // bytes of a data block
	HashBlockSize int      // bytes of a hash block
	DataBlocks    int64    // data blocks covered, from offset 0 of the data
	Salt          []byte   // hashed before each block; at most MaxSaltSize bytes
	UUID          [16]byte // the superblock's UUID; nothing checks it
}

// DataSize is the number of bytes of data the tree covers: the data must be
// at least this long, and an image shorter than that must be zero-padded to
// it before it is used with the tree.
func (p Params) DataSize() int64 { return p.DataBlocks * int64(p.DataBlockSize) }

// HashSize is the size of the hash file: the superblock's block and the
// tree.
func (p Params) HashSize() int64 {
	var n int64 = 1
	for _, l := range p.levels() {
		n += l.blocks
	}
	return n * int64(p.HashBlockSize)
}

// Levels is the number of levels of the tree; 0 when there is one data
// block, whose hash is then the root hash.
func (p Params) Levels() int { return len(p.levels()) }

// Check reports whether p describes a tree this package can build and
// check.
func (p Params) Check() error {
	for _, b := range []struct {
		what string
		size int
	}{{"data", p.DataBlockSize}, {"hash", p.HashBlockSize}} {
		if b.size < MinBlockSize || b.size > MaxBlockSize || b.size&(b.size-1) != 0 {
			return fmt.Errorf("%s block size %d is not a power of two from %d to %d", b.what, b.size, MinBlockSize, MaxBlockSize)
		}
	}
	if p.DataBlocks < 1 || p.DataBlocks > MaxDataBlocks {
		return fmt.Errorf("%d data blocks is outside 1 to %d", p.DataBlocks, int64(MaxDataBlocks))
	}
	if len(p.Salt) > MaxSaltSize {
		return fmt.Errorf("salt of %d bytes is longer than %d", len(p.Salt), MaxSaltSize)
	}
	if n := len(p.levels()); n > maxLevels {
		return fmt.Errorf("tree of %d levels is deeper than %d", n, maxLevels)
	}
	return nil
}

// level is one level of the tree: level 0 holds the data blocks' digests.
type level struct {
	blocks int64 // hash blocks
	first  int64 // index of its first block in the hash file
}

// levels returns the tree's levels, bottom first, with their places in the
// hash file, where the top level comes first, right after the superblock's
// block (as veritysetup lays them out).
func (p Params) levels() []level {
	perBlock := int64(p.HashBlockSize / digestSize)
	var ls []level
	for n := p.DataBlocks; n > 1 && len(ls) <= maxLevels; {
		n = (n + perBlock - 1) / perBlock
		ls = append(ls, level{blocks: n})
	}
	first := int64(1)
	for i := len(ls) - 1; i >= 0; i-- {
		ls[i].first = first
		first += ls[i].blocks
	}
	return ls
}

// superblock returns the 512-byte superblock describing p.
func (p Params) superblock() []byte {
	b := make([]byte, SuperblockSize)
	copy(b[0:8], signature)
	le := binary.LittleEndian
	le.PutUint32(b[8:], sbVersion)
	le.PutUint32(b[12:], hashType)
	copy(b[16:32], p.UUID[:])
	copy(b[32:64], algorithm)
	le.PutUint32(b[64:], uint32(p.DataBlockSize))
	le.PutUint32(b[68:], uint32(p.HashBlockSize))
	le.PutUint64(b[72:], uint64(p.DataBlocks))
	le.PutUint16(b[80:], uint16(len(p.Salt)))
	copy(b[88:88+MaxSaltSize], p.Salt)
	return b
}

// ReadSuperblock reads the superblock at offset 0 of a hash file of size
// bytes and returns the tree's parameters. Every field is checked before
// it is used, and the tree it describes must fit in size bytes; errors
// wrap ErrSuperblock.
func ReadSuperblock(hash io.ReaderAt, size int64) (Params, error) {
	var p Params
	if size < SuperblockSize {
		return p, fmt.Errorf("%w: hash file is %d bytes, shorter than a superblock (%d)", ErrSuperblock, size, SuperblockSize)
	}
	b := make([]byte, SuperblockSize)
	if _, err := hash.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return p, fmt.Errorf("verity: read superblock: %w", err)
	}
	le := binary.LittleEndian
	if string(b[0:8]) != signature {
		return p, fmt.Errorf("%w: no verity superblock at offset 0 (signature %q; a hash file made with --no-superblock is not supported)", ErrSuperblock, b[0:8])
	}
	if v := le.Uint32(b[8:]); v != sbVersion {
		return p, fmt.Errorf("%w: superblock version %d, want %d", ErrSuperblock, v, sbVersion)
	}
	if t := le.Uint32(b[12:]); t != hashType {
		return p, fmt.Errorf("%w: hash type %d is not supported, want %d", ErrSuperblock, t, hashType)
	}
	alg, _, _ := bytes.Cut(b[32:64], []byte{0})
	if string(alg) != algorithm {
		return p, fmt.Errorf("%w: hash algorithm %q is not supported, want %q", ErrSuperblock, alg, algorithm)
	}
	copy(p.UUID[:], b[16:32])
	dbs, hbs := le.Uint32(b[64:]), le.Uint32(b[68:])
	if dbs > MaxBlockSize || hbs > MaxBlockSize {
		return p, fmt.Errorf("%w: block sizes %d and %d, at most %d is supported", ErrSuperblock, dbs, hbs, MaxBlockSize)
	}
	p.DataBlockSize, p.HashBlockSize = int(dbs), int(hbs)
	n := le.Uint64(b[72:])
	if n > MaxDataBlocks {
		return p, fmt.Errorf("%w: %d data blocks, at most %d is supported", ErrSuperblock, n, uint64(MaxDataBlocks))
	}
	p.DataBlocks = int64(n)
	saltSize := int(le.Uint16(b[80:]))
	if saltSize > MaxSaltSize {
		return p, fmt.Errorf("%w: salt size %d is larger than %d", ErrSuperblock, saltSize, MaxSaltSize)
	}
	p.Salt = append([]byte{}, b[88:88+saltSize]...)
	if err := p.Check(); err != nil {
		return p, fmt.Errorf("%w: %v", ErrSuperblock, err)
	}
	if need := p.HashSize(); need > size {
		return p, fmt.Errorf("%w: the tree of %d data blocks needs a hash file of %d bytes, this one is %d", ErrSuperblock, p.DataBlocks, need, size)
	}
	return p, nil
}
