package squashfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// metaFields writes, into src, records whose fields point into dst, as the
// writer's inode and directory tables point into each other: each record
// is 13 bytes (so fields run across block boundaries) and points at the
// position dst has reached, which dst then passes with a few bytes of its
// own. It returns where each field went and what it points at.
func metaFields(t *testing.T, src, dst *metaWriter, records int) []fixup {
	var fields []fixup
	for i := range records {
		pos := dst.offset()
		// Text that compresses to sizes that vary block by block.
		require.NoError(t, dst.write(fmt.Appendf(nil, "entry %d %x;", i, i*i*i)))
		kind := fixStart
		if i%3 == 0 {
			kind = fixRef
		}
		f := fixup{at: src.offset() + 5, pos: pos, target: dst, kind: kind}
		src.fix(f.at, f.kind, f.target, f.pos)
		fields = append(fields, f)
		rec := make([]byte, 13)
		rec[0] = byte(i)
		require.NoError(t, src.write(rec))
	}
	return fields
}

// unpackMeta returns the uncompressed bytes of a stream of zlib or raw
// metadata blocks.
func unpackMeta(t *testing.T, stored []byte) []byte {
	var out []byte
	for len(stored) > 0 {
		hdr := binary.LittleEndian.Uint16(stored)
		n := int(hdr &^ metadataUncompressed)
		body := stored[2 : 2+n]
		stored = stored[2+n:]
		if hdr&metadataUncompressed != 0 {
			out = append(out, body...)
			continue
		}
		r, err := zlib.NewReader(bytes.NewReader(body))
		require.NoError(t, err)
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		out = append(out, b...)
	}
	return out
}

// TestMetaFixups checks that fields naming block starts in another stream
// hold those starts, whether blocks are compressed as they are cut or on a
// pool of any size, and whether a field lies in one block or across two.
func TestMetaFixups(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 5} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			newStream := func(pool *metaPool) *metaWriter {
				if pool != nil {
					return pooledMetaWriter(pool)
				}
				enc, err := GzipCompressor{Level: 9}.NewEncoder(metadataBlockSize)
				require.NoError(t, err)
				return newMetaWriter(enc, false)
			}
			var pool *metaPool
			if workers > 0 {
				coders := make([]*metaCoder, workers)
				for i := range coders {
					enc, err := GzipCompressor{Level: 9}.NewEncoder(metadataBlockSize)
					require.NoError(t, err)
					coders[i] = &metaCoder{enc: enc}
				}
				pool = newMetaPool(coders)
				defer pool.close()
			}
			src, dst := newStream(pool), newStream(pool)
			fields := metaFields(t, src, dst, 5000)
			written := dst.offset()
			require.NoError(t, dst.flush())
			require.NoError(t, src.flush())

			starts := dst.blockStarts()
			require.Greater(t, len(starts), 5, "the target stream spans blocks")
			require.Greater(t, len(src.blockStarts()), 5)
			raw := unpackMeta(t, src.bytes())
			require.Len(t, raw, 13*5000)
			across := 0
			for _, f := range fields {
				start := starts[f.pos/metadataBlockSize]
				if f.kind == fixRef {
					require.Equal(t, start<<16|f.pos%metadataBlockSize, binary.LittleEndian.Uint64(raw[f.at:]), "field at %d", f.at)
				} else {
					require.Equal(t, uint32(start), binary.LittleEndian.Uint32(raw[f.at:]), "field at %d", f.at)
				}
				if f.at/metadataBlockSize != (f.at+f.width()-1)/metadataBlockSize {
					across++
				}
			}
			require.Positive(t, across, "some fields run across two blocks")
			// The target's own bytes come back as written.
			require.Equal(t, written, uint64(len(unpackMeta(t, dst.bytes()))))
		})
	}
}

// failingEncoder fails on blocks that hold its marker.
type failingEncoder struct{ Encoder }

var errBoom = errors.New("boom")

func (e failingEncoder) Compress(dst, src []byte) ([]byte, error) {
	if bytes.Contains(src, []byte("boom")) {
		return nil, errBoom
	}
	return e.Encoder.Compress(dst, src)
}

// TestMetaPoolFailure checks that a block that fails to compress fails
// the streams whose fields wait on it, without leaving anything waiting.
func TestMetaPoolFailure(t *testing.T) {
	coders := make([]*metaCoder, 2)
	for i := range coders {
		enc, err := GzipCompressor{Level: 1}.NewEncoder(metadataBlockSize)
		require.NoError(t, err)
		coders[i] = &metaCoder{enc: failingEncoder{enc}}
	}
	pool := newMetaPool(coders)
	done := make(chan [2]error)
	go func() {
		defer pool.close()
		src, dst := pooledMetaWriter(pool), pooledMetaWriter(pool)
		metaFields(t, src, dst, 1000)
		require.NoError(t, dst.write([]byte("boom")))
		metaFields(t, src, dst, 3000)
		done <- [2]error{dst.flush(), src.flush()}
	}()
	select {
	case errs := <-done:
		require.ErrorIs(t, errs[0], errBoom)
		require.ErrorIs(t, errs[1], errBoom, "fields after the failed block cannot be filled in")
	case <-time.After(time.Minute):
		t.Fatal("the pool hung after a failure")
	}
}
