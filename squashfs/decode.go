package squashfs

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/mkportable/mkportable/internal/xz"
	"github.com/pierrec/lz4/v4"
)

// ErrCompressor means an image uses a compressor this package cannot read
// (lzo and the old lzma): the image may be valid, but not for us.
var ErrCompressor = errors.New("squashfs: unsupported compressor")

// decoders decompresses the blocks of one image. Its state is made once
// and reused for every block, and it is safe for concurrent use: zstd's
// decoder runs several DecodeAll calls at once, and the zlib and xz states
// are kept in pools a goroutine takes one from.
type decoders struct {
	id   CompressorID
	zstd *zstd.Decoder
	zlib sync.Pool // *zlibState
	xz   sync.Pool // *xz.Decoder
}

type zlibState struct {
	src bytes.Reader
	r   io.ReadCloser // also a zlib.Resetter
}

func newDecoders(id CompressorID, blockSize int) (*decoders, error) {
	d := &decoders{id: id}
	switch id {
	case GZIP, LZ4:
	case XZ:
		d.xz.New = func() any { return new(xz.Decoder) }
	case ZSTD:
		var err error
		// MaxMemory and the cap limit bound what one DecodeAll may produce
		// (the block size, or dst's capacity), so a frame that claims
		// gigabytes fails at once.
		d.zstd, err = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(max(blockSize, metadataBlockSize))), zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			return nil, err
		}
	case LZO, LZMA:
		return nil, fmt.Errorf("%w %v", ErrCompressor, id)
	default:
		return nil, corrupt("unknown compressor id %d", uint16(id))
	}
	return d, nil
}

// decode decompresses src, a block that must decode to at most limit
// bytes, into dst's storage (grown when too small) and returns the bytes.
// Any failure means the image is corrupt.
func (d *decoders) decode(dst, src []byte, limit int) ([]byte, error) {
	if cap(dst) < limit {
		dst = make([]byte, 0, limit)
	}
	out, err := d.decodeInto(dst[:0:limit], src, limit)
	if err != nil {
		return nil, corrupt("%v: %v", d.id, err)
	}
	if len(out) > limit {
		return nil, corrupt("%v block decodes to more than %d bytes", d.id, limit)
	}
	return out, nil
}

func (d *decoders) decodeInto(dst, src []byte, limit int) ([]byte, error) {
	switch d.id {
	case GZIP:
		st, _ := d.zlib.Get().(*zlibState)
		if st == nil {
			st = &zlibState{}
		}
		defer d.zlib.Put(st)
		st.src.Reset(src)
		if st.r == nil {
			r, err := zlib.NewReader(&st.src)
			if err != nil {
				return nil, err
			}
			st.r = r
		} else if err := st.r.(zlib.Resetter).Reset(&st.src, nil); err != nil {
			return nil, err
		}
		buf := dst[:limit]
		n, err := io.ReadFull(st.r, buf)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return buf[:n], nil
		case err != nil:
			return nil, err
		}
		// The block filled the limit: it must end here.
		var probe [1]byte
		if k, err := st.r.Read(probe[:]); k > 0 {
			return nil, fmt.Errorf("decodes to more than %d bytes", limit)
		} else if err != io.EOF {
			if err == nil {
				err = errors.New("stream does not end at the block's end")
			}
			return nil, err
		}
		return buf, nil
	case XZ:
		dec := d.xz.Get().(*xz.Decoder)
		defer d.xz.Put(dec)
		return dec.Decode(dst, src, limit)
	case ZSTD:
		return d.zstd.DecodeAll(src, dst)
	case LZ4:
		n, err := lz4.UncompressBlock(src, dst[:limit])
		if err != nil {
			return nil, err
		}
		return dst[:n], nil
	}
	return nil, fmt.Errorf("%w %v", ErrCompressor, d.id)
}
