package squashfs

// On-disk facts of the SquashFS 4.0 format. Every integer is little endian.
// The layout of an image, in the order the kernel insists on:
//
//	superblock (96 bytes)
//	compressor options (one uncompressed metadata block, optional)
//	data blocks and fragment blocks
//	inode table            (metadata blocks)
//	directory table        (metadata blocks)
//	fragment table         (metadata blocks, then a list of u64 block positions)
//	export table           (likewise)
//	id table               (likewise)
//	xattr key/value blocks, xattr id table (likewise, after a 16-byte header)
//
// and the whole image padded with zeros to a multiple of 4 KiB, because the
// kernel reads the device in 1 or 4 KiB blocks.

const (
	superblockMagic = 0x73717368 // "hsqs" on disk
	superblockSize  = 96
	versionMajor    = 4
	versionMinor    = 0

	// metadataBlockSize is the uncompressed size of every metadata block,
	// whatever the data block size.
	metadataBlockSize = 8192
	// metadataUncompressed is set in a metadata block's u16 header when the
	// block is stored raw.
	metadataUncompressed = 0x8000
	// dataUncompressed is set in a data or fragment block's u32 size when
	// the block is stored raw.
	dataUncompressed = 1 << 24

	// noIndex marks an absent fragment or xattr index in an inode.
	noIndex = 0xFFFFFFFF
	// noTable marks an absent optional table in the superblock.
	noTable = 0xFFFFFFFFFFFFFFFF

	// deviceBlockSize is the multiple the image is padded to.
	deviceBlockSize = 4096

	// MinBlockSize and MaxBlockSize bound the data block size, a power of two.
	MinBlockSize = 4096
	MaxBlockSize = 1 << 20

	// maxNameLen is the kernel's limit: the name size field is stored off by
	// one and the kernel refuses values over 255.
	maxNameLen = 256
	// maxIDs is the number of distinct uids and gids an inode's u16 index
	// can address.
	maxIDs = 1 << 16
	// maxDirEntriesPerHeader bounds the run after one directory header.
	maxDirEntriesPerHeader = 256
)

// Superblock flags. Only flagCompressorOptions changes how the kernel reads
// an image; the others record how it was packed.
const (
	flagUncompressedInodes    = 0x0001
	flagUncompressedData      = 0x0002
	flagUncompressedFragments = 0x0008
	flagNoFragments           = 0x0010
	flagAlwaysFragments       = 0x0020
	flagDuplicates            = 0x0040
	flagExportable            = 0x0080
	flagUncompressedXattrs    = 0x0100
	flagNoXattrs              = 0x0200
	flagCompressorOptions     = 0x0400
	flagUncompressedIDs       = 0x0800
)

// Inode types. Directory entries always store the basic type, even for an
// extended inode.
const (
	inodeBasicDir     = 1
	inodeBasicFile    = 2
	inodeBasicSymlink = 3
	inodeBasicBlock   = 4
	inodeBasicChar    = 5
	inodeBasicFIFO    = 6
	inodeBasicSocket  = 7
	inodeExtDir       = 8
	inodeExtFile      = 9
	inodeExtSymlink   = 10
	inodeExtBlock     = 11
	inodeExtChar      = 12
	inodeExtFIFO      = 13
	inodeExtSocket    = 14

	// extOffset turns a basic type into its extended twin.
	extOffset = 7
)

// Xattr key prefixes, stored as a u16 type in front of the rest of the key.
const (
	xattrUser     = 0
	xattrTrusted  = 1
	xattrSecurity = 2
	// xattrOutOfLine is or-ed into the type when the value is a reference
	// to a value stored earlier.
	xattrOutOfLine = 0x0100
)

// xattrPrefixes maps each on-disk prefix id to its key prefix.
var xattrPrefixes = [...]string{xattrUser: "user.", xattrTrusted: "trusted.", xattrSecurity: "security."}

// Sizes of fixed records, used to cut lookup tables into metadata blocks.
const (
	fragmentEntrySize = 16 // u64 start, u32 size, u32 unused
	exportEntrySize   = 8  // u64 inode reference
	idEntrySize       = 4  // u32 id
	xattrIDEntrySize  = 16 // u64 kv reference, u32 count, u32 size
	dirHeaderSize     = 12 // u32 count-1, u32 inode block start, u32 inode number
	dirEntrySize      = 8  // u16 offset, s16 inode delta, u16 type, u16 name size-1; then the name
	dirIndexSize      = 12 // u32 index, u32 start, u32 name size-1; then the name
)

// encodeDevice packs a Linux device number the way the kernel's
// new_encode_dev does, which is what squashfs stores.
func encodeDevice(major, minor uint32) uint32 {
	return (minor & 0xff) | (major&0xfff)<<8 | (minor&^0xff)<<12
}

// decodeDevice is the inverse of encodeDevice.
func decodeDevice(dev uint32) (major, minor uint32) {
	return (dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00)
}
