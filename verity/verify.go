package verity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
)

// Verify checks a hash file of hashSize bytes, superblock included, against
// the first bytes of data (dataSize bytes long) and the root hash, the way
// dm-verity would before trusting any block: every data block against its
// digest in level 0, every hash block against its digest in the level
// above, and the top block against root. It reads the data once and the
// hash file about twice, a chunk at a time, and returns the tree's
// parameters.
//
// A tree that does not match gives an error wrapping ErrMismatch that names
// the first block found wrong; an unreadable superblock, one wrapping
// ErrSuperblock. Data beyond Params.DataSize is not covered by the tree and
// not checked: callers decide whether that matters.
func Verify(ctx context.Context, data io.ReaderAt, dataSize int64, hash io.ReaderAt, hashSize int64, root RootHash) (Params, error) {
	p, err := ReadSuperblock(hash, hashSize)
	if err != nil {
		return p, err
	}
	if dataSize < p.DataSize() {
		return p, fmt.Errorf("%w: the data is %d bytes, shorter than the %d bytes (%d blocks of %d) the tree covers",
			ErrMismatch, dataSize, p.DataSize(), p.DataBlocks, p.DataBlockSize)
	}
	ls := p.levels()
	hbs := int64(p.HashBlockSize)
	if len(ls) == 0 {
		// One data block: its digest is the root hash.
		return p, hashBlocks(ctx, data, 0, dataSize, p.DataBlockSize, 1, p.Salt, func(_ int64, d []byte) error {
			if !bytes.Equal(d, root[:]) {
				return fmt.Errorf("%w: data block 0 hashes to %x, not to the root hash %s", ErrMismatch, d, root)
			}
			return nil
		})
	}

	stored := make([]byte, min(chunkSize/MinBlockSize, p.DataBlocks)*digestSize)
	// check compares the digests computed for a run of blocks with the
	// ones stored in level l, and names the first wrong block with what.
	check := func(l level, what func(i int64) string) func(int64, []byte) error {
		return func(first int64, d []byte) error {
			s := stored[:len(d)]
			if err := readRun(hash, s, l.first*hbs+first*digestSize, hashSize); err != nil {
				return fmt.Errorf("verity: read hash file: %w", err)
			}
			if bytes.Equal(s, d) {
				return nil
			}
			for j := int64(0); ; j += digestSize {
				if !bytes.Equal(s[j:j+digestSize], d[j:j+digestSize]) {
					return fmt.Errorf("%w: %s", ErrMismatch, what(first+j/digestSize))
				}
			}
		}
	}
	err = hashBlocks(ctx, data, 0, dataSize, p.DataBlockSize, p.DataBlocks, p.Salt, check(ls[0], func(i int64) string {
		return fmt.Sprintf("data block %d (bytes %d to %d) does not match its hash", i, i*int64(p.DataBlockSize), (i+1)*int64(p.DataBlockSize))
	}))
	if err != nil {
		return p, err
	}
	for k := 1; k < len(ls); k++ {
		below := ls[k-1]
		err := hashBlocks(ctx, hash, below.first*hbs, hashSize, p.HashBlockSize, below.blocks, p.Salt, check(ls[k], func(i int64) string {
			return fmt.Sprintf("hash block %d (level %d) does not match its hash in level %d", below.first+i, k-1, k)
		}))
		if err != nil {
			return p, err
		}
	}
	top := make([]byte, hbs)
	if err := readRun(hash, top, ls[len(ls)-1].first*hbs, hashSize); err != nil {
		return p, fmt.Errorf("verity: read hash file: %w", err)
	}
	var got RootHash
	sum(sha256.New(), p.Salt, top, got[:])
	if got != root {
		return p, fmt.Errorf("%w: the tree's root hash is %s, not %s", ErrMismatch, got, root)
	}
	return p, nil
}
