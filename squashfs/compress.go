package squashfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/mkportable/mkportable/internal/lzma"
	"github.com/mkportable/mkportable/internal/xz"
	ownzstd "github.com/mkportable/mkportable/internal/zstd"
	"github.com/pierrec/lz4/v4"
)

// CompressorID is the compressor number stored in the superblock.
type CompressorID uint16

// The compressor ids of the format. One compressor serves every block of
// an image, data and metadata alike.
const (
	GZIP CompressorID = 1 // zlib streams, despite the name
	LZO  CompressorID = 2
	LZMA CompressorID = 3
	XZ   CompressorID = 4
	LZ4  CompressorID = 5
	ZSTD CompressorID = 6
)

// String returns the name mksquashfs uses for the compressor.
func (id CompressorID) String() string {
	switch id {
	case GZIP:
		return "gzip"
	case LZO:
		return "lzo"
	case LZMA:
		return "lzma"
	case XZ:
		return "xz"
	case LZ4:
		return "lz4"
	case ZSTD:
		return "zstd"
	}
	return fmt.Sprintf("compressor(%d)", uint16(id))
}

// A Compressor compresses the blocks of one image. It is the seam where a
// better encoder drops in: implement ID, Options and NewEncoder.
type Compressor interface {
	// ID is the compressor number written to the superblock.
	ID() CompressorID
	// Options returns the compressor options block stored after the
	// superblock, or nil when the decoder's defaults describe the stream.
	Options(blockSize int) []byte
	// NewEncoder returns an encoder for blocks of at most blockSize bytes.
	// The writer makes one per worker goroutine, so an Encoder need not be
	// safe for concurrent use and may keep state between calls.
	NewEncoder(blockSize int) (Encoder, error)
}

// An Encoder compresses one block at a time.
type Encoder interface {
	// Compress appends the compressed form of src to dst and returns the
	// extended slice. The same src must always give the same bytes: the
	// image is reproducible only if its encoder is. The writer stores the
	// block raw when the result is not smaller than src.
	Compress(dst, src []byte) ([]byte, error)
}

// ErrIncompressible is what an Encoder returns, with dst unchanged, when it
// knows without compressing src that the result would not be smaller: the
// writer then stores the block raw, as it would have anyway.
var ErrIncompressible = errors.New("block is incompressible")

// NewCompressor returns the compressor a spec names: "xz" (the default),
// "gzip", "zstd", "lz4", or "none", which stores every block raw, as
// mksquashfs -comp calls them, each but lz4 and none optionally followed
// by a colon and a level, as mksquashfs's -Xcompression-level takes it:
// "xz:9" (1-9, xz's presets), "gzip:6" (1-9, default 9), "zstd:19" (1-22,
// libzstd's scale, default 15).
func NewCompressor(spec string) (Compressor, error) {
	name, levelText, hasLevel := strings.Cut(strings.ToLower(spec), ":")
	level := 0
	if hasLevel {
		n, err := strconv.Atoi(levelText)
		if err != nil {
			return nil, fmt.Errorf("compression %q: level %q is not a number", spec, levelText)
		}
		level = n
	}
	inRange := func(lo, hi int) error {
		if hasLevel && (level < lo || level > hi) {
			return fmt.Errorf("compression %q: %s levels are %d to %d", spec, name, lo, hi)
		}
		return nil
	}
	noLevel := func() error {
		if hasLevel {
			return fmt.Errorf("compression %q: %s takes no level", spec, name)
		}
		return nil
	}
	var c Compressor
	var err error
	switch name {
	case "", "xz":
		c, err = XZCompressor{Level: level}, inRange(1, 9)
	case "gzip", "zlib":
		if !hasLevel {
			level = zlib.BestCompression
		}
		c, err = GzipCompressor{Level: level}, inRange(1, 9)
	case "zstd":
		c, err = ZstdCompressor{Level: level}, inRange(1, zstdMaxLevel)
	case "lz4":
		c, err = LZ4Compressor{}, noLevel()
	case "none":
		c, err = NoCompression{}, noLevel()
	default:
		return nil, fmt.Errorf("unknown compression %q: want xz, gzip, zstd, lz4 or none, optionally with a level (zstd:19)", spec)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// XZCompressor writes xz streams with mkportable's own LZMA2 encoder
// (internal/lzma: a binary-tree match finder and an optimal, price-based
// parse, as xz -6 does), a CRC32 check, the only check the kernel's
// squashfs xz decoder accepts, and a dictionary the size of a block, which
// the kernel preallocates.
//
// Blocks that look like x86 machine code go through the x86 BCJ filter
// first, which turns the relative targets of calls and jumps into absolute
// ones that repeat, so they compress about 10% smaller; blocks that may be
// code get the filter when it shrinks a sample of them (x86Likelihood,
// xzEncoder.bcjPays). The filter is recorded in each stream's block
// header, where the kernel's decoder (with CONFIG_XZ_DEC_X86, which
// distributions enable), liblzma and our reader find it, and in the
// image's compressor options, as mksquashfs -Xbcj x86 records it.
//
// Text, and filtered code where a sample says so, is coded with literals
// modelled on 4 bits of context and no position bits (lc=4, pb=0; see
// unaligned), which every LZMA2 decoder reads from the stream.
type XZCompressor struct {
	// Level, 1 to 9, selects the encoder settings of xz's preset of that
	// number (see lzma.Preset); 0, the default, selects xzDefault.
	Level int
	// NoBCJ turns the x86 filter off: every block is plain LZMA2 and the
	// image stores no compressor options, as mksquashfs -comp xz writes.
	NoBCJ bool
}

// xzDefault is the encoder setting of squashfs images' blocks: xz -6's,
// liblzma's normal mode with nice length 64 and 48 binary-tree nodes a
// position, the setting mksquashfs's xz blocks get. Until 2026-11-26 it
// searched half as deep (24 nodes), measured on the Go toolchain as
// about 10% faster; measured again against this setting (squash of
// GOROOT, the npm tree and the Debian root, 1 MiB blocks), 24 nodes made
// the images 41 KB, 82 KB and 78 KB (0.05-0.1%) larger, enough to put
// the Debian root over mksquashfs -Xbcj's size. The full depth costs
// little, we infer because most walks reach a leaf before either depth:
// GOROOT took 4% more CPU on average over seven pairs, six of them
// interleaved (-12% to +14%, the machine's noise), the npm tree and the
// Debian root 2-3% less in one pair each. Deeper still buys little: 80
// nodes saved 0.015% on the Debian root for 18% more CPU.
var xzDefault = lzma.Preset(6, false)

// xzProbe is the quick setting that decides, on a sample, whether a block
// that may be code gains from the BCJ filter (see xzEncoder.bcjPays), and
// whether filtered code is coded smaller unaligned (xzEncoder.unalignedPays).
var xzProbe = lzma.Options{LC: 3, LP: 0, PB: 2, NiceLen: 16, Depth: 4}

// unaligned is a setting with its literal and match models for data
// without a 4-byte structure: a literal's probabilities are chosen by 4
// bits of the byte before it (lc=4, not 3) and none by the position
// (pb=0, not 2). liblzma's defaults (lc=3, pb=2) suit C's machine code and
// tables, aligned to 4 and 8 bytes; text and Go's machine code are not
// aligned. Measured with xz on 1 MiB blocks: JavaScript 0.22% smaller,
// Python source 0.35%, .pyc 0.31%, /usr/share 0.31%, a Go binary behind
// the BCJ filter 0.60%, but C shared libraries behind it 0.33% larger.
// Text blocks (looksLikeText) always take it; filtered code when a sample
// says it pays; other blocks never. Images of GOROOT, a Debian root and
// an npm tree came out 0.25%, 0.11% and 0.29% smaller.
func unaligned(o lzma.Options) lzma.Options {
	o.LC, o.LP, o.PB = 4, 0, 0
	return o
}

// The sample of a block that may be code: probeSlices stretches of
// probeSlice bytes spread evenly over it.
const (
	probeSlices = 4
	probeSlice  = 32 << 10
)

// xzFilterX86 is the x86 bit of the filters field of squashfs's xz options.
const xzFilterX86 = 0x01

// ID implements Compressor.
func (XZCompressor) ID() CompressorID { return XZ }

// Options implements Compressor: with BCJ, the xz options block, a
// little-endian dictionary size (the block size) and filter bits; without,
// nothing, since the decoder's defaults describe the streams.
func (c XZCompressor) Options(blockSize int) []byte {
	if c.NoBCJ {
		return nil
	}
	return le(nil).u32(uint32(blockSize)).u32(xzFilterX86)
}

// NewEncoder implements Compressor.
func (c XZCompressor) NewEncoder(blockSize int) (Encoder, error) {
	opts := xzDefault
	if c.Level > 0 {
		opts = lzma.Preset(c.Level, false)
	}
	e := &xzEncoder{dictSize: blockSize, bcj: !c.NoBCJ}
	var err error
	if e.enc, err = lzma.NewEncoder(opts); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if e.unalignedEnc, err = lzma.NewEncoder(unaligned(opts)); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	return e, nil
}

type xzEncoder struct {
	enc          *lzma.Encoder
	unalignedEnc *lzma.Encoder // the same setting, unaligned
	dictSize     int
	bcj          bool
	raw          []byte // the LZMA2 data of the last block
	filtered     []byte // the last block after the x86 filter
	// The probes' quick encoders, made at their first use, their sample
	// and their LZMA2 data.
	prober, unalignedProber *lzma.Encoder
	sample                  []byte
	probe                   []byte
}

// Compress implements Encoder. Blocks of random or already-compressed
// bytes, which LZMA2 would only store, are recognised first at a small
// fraction of the cost of encoding them (lzma.Incompressible).
func (e *xzEncoder) Compress(dst, src []byte) ([]byte, error) {
	if lzma.Incompressible(src) {
		return dst, ErrIncompressible
	}
	filter := false
	if e.bcj {
		switch x86Likelihood(src) {
		case x86Code:
			filter = true
		case perhapsX86:
			var err error
			if filter, err = e.bcjPays(src); err != nil {
				return dst, err
			}
		}
	}
	in := src
	if filter {
		e.filtered = append(e.filtered[:0], src...)
		xz.EncodeX86(e.filtered)
		in = e.filtered
	}
	enc := e.enc
	switch {
	case filter:
		pays, err := e.unalignedPays(in)
		if err != nil {
			return dst, err
		}
		if pays {
			enc = e.unalignedEnc
		}
	case looksLikeText(src):
		enc = e.unalignedEnc
	}
	e.raw = enc.AppendLZMA2(e.raw[:0], in)
	return xz.AppendStream(dst, e.raw, src, e.dictSize, filter), nil
}

// looksLikeText tells whether under 1% of b are control bytes other than
// tab, newline and carriage return: text in any ASCII-based encoding.
func looksLikeText(b []byte) bool {
	n := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7F {
			n++
		}
	}
	return n*100 < len(b)
}

// takeSample sets e.sample to probeSlices stretches of src spread evenly
// over it.
func (e *xzEncoder) takeSample(src []byte) {
	e.sample = e.sample[:0]
	for i := range probeSlices {
		at := len(src) * i / probeSlices
		e.sample = append(e.sample, src[at:min(at+probeSlice, len(src))]...)
	}
}

// probeLen returns the size of the LZMA2 data *enc makes of e.sample,
// making *enc with the quick setting o first if it is nil.
func (e *xzEncoder) probeLen(enc **lzma.Encoder, o lzma.Options) (int, error) {
	if *enc == nil {
		p, err := lzma.NewEncoder(o)
		if err != nil {
			return 0, fmt.Errorf("xz: %w", err)
		}
		*enc = p
	}
	e.probe = (*enc).AppendLZMA2(e.probe[:0], e.sample)
	return len(e.probe), nil
}

// unalignedPays tells whether filtered machine code is coded smaller
// unaligned (see unaligned): it compresses a sample of it both ways with
// the quick xzProbe setting. Simulated with xz (the same sample, nice 16,
// depth 4, against whole blocks at preset 6): on 8 MiB of a Go binary it
// picked as whole blocks would for all 8 blocks; on 12 MiB of Debian's C
// libraries for 9 of 12, which whole blocks would code within 0.05% of
// each other either way.
func (e *xzEncoder) unalignedPays(in []byte) (bool, error) {
	e.takeSample(in)
	aligned, err := e.probeLen(&e.prober, xzProbe)
	if err != nil {
		return false, err
	}
	flat, err := e.probeLen(&e.unalignedProber, unaligned(xzProbe))
	if err != nil {
		return false, err
	}
	return flat < aligned, nil
}

// bcjPays tells whether the x86 filter makes a block that may be machine
// code smaller: it compresses a sample of the block, probeSlices stretches
// spread over it, both ways with the quick xzProbe setting. On the Go
// toolchain's such blocks this picks what compressing whole blocks both
// ways picks, as mksquashfs -Xbcj does, at a third of the cost; on a Debian
// root it costs 0.3% of those blocks' size.
func (e *xzEncoder) bcjPays(src []byte) (bool, error) {
	e.takeSample(src)
	plain, err := e.probeLen(&e.prober, xzProbe)
	if err != nil {
		return false, err
	}
	xz.EncodeX86(e.sample)
	filtered, err := e.probeLen(&e.prober, xzProbe)
	if err != nil {
		return false, err
	}
	return filtered < plain, nil
}

// How much a block looks like x86 machine code.
const (
	notX86     = iota // plain LZMA2
	perhapsX86        // filter if it pays on a sample (bcjPays)
	x86Code           // filter without trying
)

// x86Likelihood tells how much b looks like x86 machine code, where the
// filter pays: a call or jump opcode (E8, E9) followed by a displacement
// within 16 MiB (its top byte 00 or FF) is one byte in 40 to 90 of
// compiled x86-64 code but one in tens of thousands of other data. Blocks
// in between, such as code mixed with an ELF file's data, are tried both
// ways on a sample (mksquashfs -Xbcj compresses every block both ways);
// the clear cases are not, which keeps the cost of the filter near zero.
func x86Likelihood(b []byte) int {
	if len(b) < 4096 {
		return notX86
	}
	n := 0
	for i := 0; i+4 < len(b); i++ {
		if b[i]&0xFE == 0xE8 && (b[i+4] == 0x00 || b[i+4] == 0xFF) {
			n++
		}
	}
	switch {
	case n*100 >= len(b):
		return x86Code
	case n*400 >= len(b):
		return perhapsX86
	}
	return notX86
}

// GzipCompressor writes zlib streams (squashfs's "gzip").
type GzipCompressor struct {
	// Level is a compress/zlib level; mksquashfs uses 9.
	Level int
}

// ID implements Compressor.
func (GzipCompressor) ID() CompressorID { return GZIP }

// Options implements Compressor. The decoder needs none: zlib streams
// describe themselves.
func (GzipCompressor) Options(int) []byte { return nil }

// NewEncoder implements Compressor.
func (c GzipCompressor) NewEncoder(int) (Encoder, error) {
	e := &zlibEncoder{}
	w, err := zlib.NewWriterLevel(&e.buf, c.Level)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	e.w = w
	return e, nil
}

type zlibEncoder struct {
	w   *zlib.Writer
	buf bytes.Buffer
}

func (e *zlibEncoder) Compress(dst, src []byte) ([]byte, error) {
	e.buf.Reset()
	e.w.Reset(&e.buf)
	if _, err := e.w.Write(src); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := e.w.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return append(dst, e.buf.Bytes()...), nil
}

// ZstdCompressor writes zstd frames. Levels are libzstd's, as mksquashfs
// -Xcompression-level takes them. From zstdOptimalFrom on, mkportable's own
// encoder (internal/zstd: an optimal parse over the binary-tree match
// finder, priced from the statistics of the blocks before) writes them.
// Levels 13 to 18, the default 15 among them, are its fastest setting,
// smaller than libzstd's level 15 in less time; zstdHighFrom and up are its
// slowest, 0.2% under level 19's size on GOROOT in 1.3 to 1.5 times its
// time (README, "Speed and size against mksquashfs"; zstd.Level has the
// figures). Below zstdOptimalFrom, klauspost/compress's faster encoders
// write them, at the speed it maps the level to.
type ZstdCompressor struct {
	// Level is 1 to 22; 0 means 15, the default of mksquashfs and of
	// the kernel's documentation.
	Level int
}

const (
	zstdDefaultLevel = 15
	zstdMaxLevel     = 22
	// zstdOptimalFrom is the first level our own encoder writes: the
	// levels where libzstd's parse is optimal (btopt and up) or nearly
	// so (btlazy2).
	zstdOptimalFrom = 13
	// zstdHighFrom is the first level of the high setting.
	zstdHighFrom = 19
)

func (c ZstdCompressor) level() int {
	if c.Level == 0 {
		return zstdDefaultLevel
	}
	return c.Level
}

// ownOptions returns the setting of our own encoder for the level, from
// zstdOptimalFrom on.
func (c ZstdCompressor) ownOptions() ownzstd.Options {
	if c.level() >= zstdHighFrom {
		return ownzstd.Level(ownzstd.MaxLevel)
	}
	return ownzstd.Level(ownzstd.DefaultLevel)
}

// ID implements Compressor.
func (ZstdCompressor) ID() CompressorID { return ZSTD }

// Options implements Compressor: the level, a 32-bit little-endian number,
// when it is not the default, as mksquashfs records it. Decoders ignore it;
// unsquashfs -stat shows it.
func (c ZstdCompressor) Options(int) []byte {
	if c.level() == zstdDefaultLevel {
		return nil
	}
	return le(nil).u32(uint32(c.level()))
}

// NewEncoder implements Compressor. Frames are single-segment, their
// window no larger than the block, because the kernel sizes its decoder
// workspace for a window of the block size.
func (c ZstdCompressor) NewEncoder(blockSize int) (Encoder, error) {
	level := c.level()
	if level < 1 || level > zstdMaxLevel {
		return nil, fmt.Errorf("zstd: level %d: want 1 to %d", level, zstdMaxLevel)
	}
	if level >= zstdOptimalFrom {
		if blockSize > ownzstd.MaxSrc {
			return nil, fmt.Errorf("zstd: block size %d: want at most %d", blockSize, ownzstd.MaxSrc)
		}
		enc, err := ownzstd.NewEncoder(c.ownOptions())
		if err != nil {
			return nil, err
		}
		return enc, nil
	}
	w, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(max(blockSize, zstd.MinWindowSize)),
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return klauspostZstd{w}, nil
}

// klauspostZstd is the encoder of the levels below zstdOptimalFrom.
type klauspostZstd struct{ w *zstd.Encoder }

func (e klauspostZstd) Compress(dst, src []byte) ([]byte, error) {
	return e.w.EncodeAll(src, dst), nil
}

// LZ4Compressor writes raw LZ4 blocks, which is what the kernel decodes.
type LZ4Compressor struct {
	// HC selects the slower high-compression mode.
	HC bool
}

// ID implements Compressor.
func (LZ4Compressor) ID() CompressorID { return LZ4 }

// Options implements Compressor. LZ4 images always carry options: version 1
// (the only format) and the flags, and readers refuse an image without them.
func (c LZ4Compressor) Options(int) []byte {
	opts := make([]byte, 8)
	binary.LittleEndian.PutUint32(opts[0:], 1)
	if c.HC {
		binary.LittleEndian.PutUint32(opts[4:], 1)
	}
	return opts
}

// NewEncoder implements Compressor.
func (c LZ4Compressor) NewEncoder(int) (Encoder, error) {
	if c.HC {
		return &lz4Encoder{hc: &lz4.CompressorHC{Level: lz4.Level9}}, nil
	}
	return &lz4Encoder{fast: &lz4.Compressor{}}, nil
}

type lz4Encoder struct {
	fast *lz4.Compressor
	hc   *lz4.CompressorHC
	buf  []byte
}

func (e *lz4Encoder) Compress(dst, src []byte) ([]byte, error) {
	need := lz4.CompressBlockBound(len(src))
	if cap(e.buf) < need {
		e.buf = make([]byte, need)
	}
	var n int
	var err error
	if e.hc != nil {
		n, err = e.hc.CompressBlock(src, e.buf[:need])
	} else {
		n, err = e.fast.CompressBlock(src, e.buf[:need])
	}
	if err != nil {
		return nil, fmt.Errorf("lz4: %w", err)
	}
	if n == 0 { // incompressible: the writer stores it raw
		return append(dst, src...), nil
	}
	return append(dst, e.buf[:n]...), nil
}

// NoCompression stores every block raw. The superblock still names gzip,
// as mksquashfs does, because the format has no "none" compressor; the
// uncompressed flags tell readers nothing needs decoding.
type NoCompression struct{}

// ID implements Compressor.
func (NoCompression) ID() CompressorID { return GZIP }

// Options implements Compressor.
func (NoCompression) Options(int) []byte { return nil }

// NewEncoder implements Compressor.
func (NoCompression) NewEncoder(int) (Encoder, error) { return rawEncoder{}, nil }

type rawEncoder struct{}

// Compress returns src itself, which is never smaller, so the writer
// stores it raw.
func (rawEncoder) Compress(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }
