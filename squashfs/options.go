package squashfs

import (
	"fmt"
	"math/bits"
	"runtime"
	"strconv"
	"time"
)

// DefaultEpoch is the time, in seconds from 1970, every inode and the
// superblock get unless told otherwise: 1980-01-01 00:00:00 UTC, the
// earliest time ZIP can store, which reproducible builds use because some
// tools choke on a time of 0.
const DefaultEpoch = 315532800

// DefaultModTime returns DefaultEpoch as a time.
func DefaultModTime() time.Time { return time.Unix(DefaultEpoch, 0).UTC() }

// ModTimeFromEnv returns the time SOURCE_DATE_EPOCH names when getenv finds
// it set (reproducible-builds.org's convention), DefaultModTime otherwise.
// Pass os.Getenv; a test passes its own lookup.
func ModTimeFromEnv(getenv func(string) string) (time.Time, error) {
	v := getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return DefaultModTime(), nil
	}
	secs, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds from 1970 to 2106", v)
	}
	return time.Unix(int64(secs), 0).UTC(), nil
}

// Options control how Write lays out an image. The zero value gives what
// `mksquashfs SRC OUT -all-root -comp xz -b 1M` gives, with fixed times.
type Options struct {
	// Compressor compresses data and metadata; nil means XZCompressor.
	Compressor Compressor
	// BlockSize is the data block size, a power of two from 4 KiB to 1 MiB;
	// 0 means 1 MiB.
	BlockSize int
	// Workers is the number of goroutines compressing data blocks; 0 means
	// runtime.NumCPU(). The image is the same for every value.
	Workers int
	// ModTime is stored as every inode's mtime (unless KeepTimes) and as the
	// superblock's time; the zero value means DefaultModTime.
	ModTime time.Time
	// KeepTimes stores each node's own ModTime instead.
	KeepTimes bool
	// KeepOwners stores each node's UID and GID instead of root's.
	KeepOwners bool
	// NoXattrs leaves out the nodes' extended attributes, which are
	// stored by default, as mksquashfs stores them (its -no-xattrs).
	NoXattrs bool
	// NoFragments stores file tails as short blocks of their own instead of
	// packing them together into fragment blocks.
	NoFragments bool
	// NoDedup stores every file's data even when an earlier file has the
	// same contents.
	NoDedup bool
	// NoExport leaves out the export table that NFS needs to find an inode
	// by number; it costs 8 bytes an inode.
	NoExport bool
	// Progress, when set, is called from one goroutine as data is written.
	Progress func(Progress)
}

// Progress reports how far the data of an image has been written.
type Progress struct {
	// BytesDone of BytesTotal bytes of file data have been read and stored.
	BytesDone, BytesTotal int64
	// BytesWritten is the size of the image so far.
	BytesWritten int64
}

// Stats describe a written image.
type Stats struct {
	Inodes      int   // inodes stored, hard links counted once
	Files       int   // regular file inodes
	Dirs        int   // directories, the root included
	BytesIn     int64 // file data read, duplicates and hard links counted once
	Duplicates  int   // files stored once for several inodes
	Fragments   int   // fragment blocks
	SparseBytes int64 // bytes of all-zero blocks stored as holes
	ImageSize   int64 // bytes written, padding included
}

// settings are Options with defaults filled in and checked.
type settings struct {
	Options
	blockLog uint16
	modTime  uint32
	rawData  bool // store every block raw (NoCompression)
}

func (o Options) settings() (settings, error) {
	s := settings{Options: o}
	if s.Compressor == nil {
		s.Compressor = XZCompressor{}
	}
	_, s.rawData = s.Compressor.(NoCompression)
	if s.BlockSize == 0 {
		s.BlockSize = MaxBlockSize
	}
	if s.BlockSize < MinBlockSize || s.BlockSize > MaxBlockSize || bits.OnesCount(uint(s.BlockSize)) != 1 {
		return s, fmt.Errorf("block size %d is not a power of two from %d to %d", s.BlockSize, MinBlockSize, MaxBlockSize)
	}
	s.blockLog = uint16(bits.TrailingZeros(uint(s.BlockSize)))
	if s.Workers <= 0 {
		s.Workers = runtime.NumCPU()
	}
	if s.ModTime.IsZero() {
		s.ModTime = DefaultModTime()
	}
	t, err := unixTime(s.ModTime)
	if err != nil {
		return s, fmt.Errorf("image time: %w", err)
	}
	s.modTime = t
	return s, nil
}

func unixTime(t time.Time) (uint32, error) {
	secs := t.Unix()
	if secs < 0 || secs > 0xFFFFFFFF {
		return 0, fmt.Errorf("%v is outside the 1970-2106 range squashfs stores", t)
	}
	return uint32(secs), nil
}

// ParseBlockSize reads a block size as mksquashfs's -b does: bytes, or a
// number with a K or M suffix ("128K", "1M").
func ParseBlockSize(s string) (int, error) {
	mult := 1
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, num = 1<<10, s[:n-1]
		case 'm', 'M':
			mult, num = 1<<20, s[:n-1]
		}
	}
	v, err := strconv.Atoi(num)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("block size %q: want bytes or a number with K or M", s)
	}
	size := v * mult
	if size < MinBlockSize || size > MaxBlockSize || bits.OnesCount(uint(size)) != 1 {
		return 0, fmt.Errorf("block size %q is not a power of two from 4K to 1M", s)
	}
	return size, nil
}
