package verity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// chunkSize is how many bytes of blocks are read and hashed at a time.
const chunkSize = 1 << 20

// Options choose the layout of a tree Build makes. The zero value gives
// veritysetup's defaults with a salt and UUID derived from the data.
type Options struct {
	// DataBlockSize and HashBlockSize are powers of two from MinBlockSize
	// to MaxBlockSize; 0 means DefaultBlockSize.
	DataBlockSize, HashBlockSize int
	// Salt, when not nil, is the salt (a non-nil empty slice means no
	// salt). When nil, the salt is the SHA-256 of the data the tree
	// covers: the data zero-padded to a whole number of data blocks.
	Salt []byte
	// UUID, when not zero, is the superblock's UUID. When zero, it is the
	// first 16 bytes of SHA-256("mkportable verity UUID\x00" + root hash),
	// with the version (4) and variant bits of an RFC 9562 UUID set.
	UUID [16]byte
}

// Tree is a hash tree built by Build: its parameters, its root hash and its
// hash blocks.
type Tree struct {
	Params
	RootHash   RootHash
	hashLevels [][]byte // the hash blocks of each level, bottom first
}

// Build computes the hash tree of the first dataSize bytes of data. When
// dataSize is not a multiple of the data block size, the last block is
// hashed as if zero-padded (veritysetup would leave the partial block
// out): the data must then be padded to Tree.DataSize before it is used
// with the tree, as a loop device or partition.
//
// Build reads the data twice when it derives the salt, once otherwise. The
// tree is kept in memory: about 32 bytes per data block.
func Build(ctx context.Context, data io.ReaderAt, dataSize int64, opts Options) (*Tree, error) {
	p := Params{DataBlockSize: opts.DataBlockSize, HashBlockSize: opts.HashBlockSize, UUID: opts.UUID}
	if p.DataBlockSize == 0 {
		p.DataBlockSize = DefaultBlockSize
	}
	if p.HashBlockSize == 0 {
		p.HashBlockSize = DefaultBlockSize
	}
	if dataSize <= 0 {
		return nil, fmt.Errorf("verity: no data to hash (size %d)", dataSize)
	}
	p.DataBlocks = (dataSize-1)/int64(p.DataBlockSize) + 1
	if opts.Salt != nil {
		p.Salt = append([]byte{}, opts.Salt...)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("verity: %w", err)
	}
	if opts.Salt == nil {
		salt, err := dataDigest(ctx, data, dataSize, p)
		if err != nil {
			return nil, err
		}
		p.Salt = salt
	}

	t := &Tree{Params: p}
	ls := p.levels()
	hbs := int64(p.HashBlockSize)
	if len(ls) == 0 {
		err := hashBlocks(ctx, data, 0, dataSize, p.DataBlockSize, 1, p.Salt, func(_ int64, d []byte) error {
			copy(t.RootHash[:], d)
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		// Level 0 holds the digests of the data blocks, one after another:
		// a hash block holds exactly HashBlockSize/32 of them.
		below := make([]byte, ls[0].blocks*hbs)
		err := hashBlocks(ctx, data, 0, dataSize, p.DataBlockSize, p.DataBlocks, p.Salt, func(i int64, d []byte) error {
			copy(below[i*digestSize:], d)
			return nil
		})
		if err != nil {
			return nil, err
		}
		t.hashLevels = append(t.hashLevels, below)
		for _, l := range ls[1:] {
			cur := make([]byte, l.blocks*hbs)
			err := hashBlocks(ctx, bytes.NewReader(below), 0, int64(len(below)), p.HashBlockSize, int64(len(below))/hbs, p.Salt, func(i int64, d []byte) error {
				copy(cur[i*digestSize:], d)
				return nil
			})
			if err != nil {
				return nil, err
			}
			t.hashLevels = append(t.hashLevels, cur)
			below = cur
		}
		sum(sha256.New(), p.Salt, below, t.RootHash[:])
	}
	if t.UUID == ([16]byte{}) {
		t.UUID = DeriveUUID(t.RootHash)
	}
	return t, nil
}

// DeriveUUID returns the superblock UUID Build gives a tree with root hash
// h when Options.UUID is zero.
func DeriveUUID(h RootHash) [16]byte {
	var u [16]byte
	sum := sha256.Sum256(append([]byte("mkportable verity UUID\x00"), h[:]...))
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// Superblock returns the tree's 512-byte superblock.
func (t *Tree) Superblock() []byte { return t.Params.superblock() }

// WriteTo writes the hash file, HashSize bytes: the superblock, padded
// with zeros to a hash block, then the tree, top level first. To write it
// at an offset of an io.WriterAt, pass io.NewOffsetWriter(w, off).
func (t *Tree) WriteTo(w io.Writer) (int64, error) {
	first := make([]byte, t.HashBlockSize)
	copy(first, t.Superblock())
	n, err := w.Write(first)
	total := int64(n)
	for i := len(t.hashLevels) - 1; i >= 0 && err == nil; i-- {
		n, err = w.Write(t.hashLevels[i])
		total += int64(n)
	}
	if err != nil {
		return total, fmt.Errorf("verity: write hash file: %w", err)
	}
	return total, nil
}

// dataDigest returns the SHA-256 of the data p covers, zero-padded to
// p.DataSize bytes.
func dataDigest(ctx context.Context, data io.ReaderAt, dataSize int64, p Params) ([]byte, error) {
	h := sha256.New()
	buf := make([]byte, min(chunkSize, p.DataSize()))
	for off := int64(0); off < p.DataSize(); off += chunkSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := buf[:min(chunkSize, p.DataSize()-off)]
		if err := readRun(data, b, off, dataSize); err != nil {
			return nil, fmt.Errorf("verity: read data at %d: %w", off, err)
		}
		h.Write(b)
	}
	return h.Sum(nil), nil
}

// hashBlocks hashes n blocks of bs bytes that src holds from offset base
// (bytes at or past end read as zeros), with the salt in front of each, and
// passes their digests in order to emit, a run at a time, with the index of
// the run's first block.
func hashBlocks(ctx context.Context, src io.ReaderAt, base, end int64, bs int, n int64, salt []byte, emit func(first int64, digests []byte) error) error {
	per := min(int64(max(1, chunkSize/bs)), n)
	buf := make([]byte, per*int64(bs))
	dig := make([]byte, per*digestSize)
	h := sha256.New()
	for i := int64(0); i < n; i += per {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(per, n-i)
		off := base + i*int64(bs)
		if err := readRun(src, buf[:k*int64(bs)], off, end); err != nil {
			return fmt.Errorf("verity: read blocks at %d: %w", off, err)
		}
		for j := int64(0); j < k; j++ {
			sum(h, salt, buf[j*int64(bs):(j+1)*int64(bs)], dig[j*digestSize:(j+1)*digestSize])
		}
		if err := emit(i, dig[:k*digestSize]); err != nil {
			return err
		}
	}
	return nil
}

// sum stores SHA-256(salt || block), the digest of format 1, in dst.
func sum(h hash.Hash, salt, block, dst []byte) {
	h.Reset()
	h.Write(salt)
	h.Write(block)
	h.Sum(dst[:0])
}

// readRun fills b with the bytes of src at off, reading nothing at or past
// end and zeros in their place.
func readRun(src io.ReaderAt, b []byte, off, end int64) error {
	n := int64(len(b))
	if rem := end - off; rem < n {
		n = max(0, rem)
	}
	if n > 0 {
		m, err := src.ReadAt(b[:n], off)
		if int64(m) < n {
			if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: %d of %d bytes", io.ErrUnexpectedEOF, m, n)
			}
			return err
		}
	}
	clear(b[n:])
	return nil
}
