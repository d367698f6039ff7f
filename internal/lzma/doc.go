// Package lzma is a pure-Go LZMA2 encoder and decoder written from the
// format: the compressor behind mkportable's xz squashfs images, and the
// decoder behind squashfs.Reader's.
//
// It has the parts of liblzma's normal mode: a binary-tree match finder
// over 4-byte hashes with 2- and 3-byte heads for near short matches
// (matchfinder.go), the range coder and probability model every LZMA
// decoder mirrors (rangecoder.go, model.go), an optimal parser that prices
// every literal, rep and match of every length from the model's current
// probabilities and takes the cheapest path through up to 4096 positions
// (optimum.go), and LZMA2's chunking, which stores chunks the model cannot
// shrink (lzma2.go).
//
// Each call compresses one buffer on its own, with a dictionary reset, as
// squashfs compresses each block; the output depends only on the input and
// the Options (prices are integer tables, so every platform parses alike),
// which keeps images reproducible. Wrap the raw LZMA2 in an .xz stream with
// package internal/xz.
//
// With Preset(6) it is as small as liblzma at xz -6 on 1 MiB blocks of the
// Go toolchain; TestCompareLiblzma and TestSpeedVsLiblzma measure that
// against python3's lzma module when asked to.
//
// The Decoder (decoder.go) decodes into the caller's output buffer, which
// is the dictionary: a squashfs block is decoded whole, so nothing is
// buffered twice, and its hot loop keeps the range coder inlined. It
// refuses what liblzma refuses, and FuzzDecoder checks it against
// ulikunitz/xz's decoder.
package lzma
