// Package zstd is a zstd encoder for squashfs blocks: an optimal parser over
// a binary-tree match finder (internal/matchfind) chooses the sequences,
// priced from the statistics of the blocks before, and an entropy stage codes
// them as RFC 8878 compressed blocks: Huffman literals (klauspost/compress's
// huff0) and FSE-coded sequences. Each squashfs block is one frame, decoded
// by any zstd decoder: the kernel's, libzstd's, klauspost/compress's.
//
// It exists because klauspost/compress's best level, which has no optimal
// parse, writes images about 1% larger than libzstd's level 15 and 10%
// larger than level 19.
package zstd
