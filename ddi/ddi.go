// Package ddi writes and reads Discoverable Disk Images: GPT disk images
// whose partitions systemd finds by type, per the Discoverable Partitions
// Specification. Write lays out an image as systemd-repart does for a
// read-only file system with Verity=data/hash/signature: the file system
// as the root (or usr) partition of an architecture, its dm-verity hash
// tree as the root-verity partition, and, when signing, the
// root-verity-sig partition holding
//
//	{"rootHash":HEX,"certificateFingerprint":HEX,"signature":BASE64}
//
// padded with NULs. Like repart, the file system and hash partition UUIDs
// are the first and last 128 bits of the root hash, unchanged, which is
// how systemd pairs them with a root hash. Unlike repart 252, which picks
// the salt and the verity superblock UUID at random, every byte is a
// function of the file system and the signing key: see Write.
//
// Read lists the partitions of an image with every field bounded by the
// image; ReadSignature decodes a signature partition; Verify checks an
// image's hash tree against its file system and, given a certificate, its
// signature.
package ddi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mkportable/mkportable/internal/gpt"
	"github.com/mkportable/mkportable/pkcs7"
	"github.com/mkportable/mkportable/verity"
)

// GUID is a disk, partition or partition type GUID, in the byte order of
// its text form.
type GUID = gpt.GUID

// Partition attribute flags of the specification.
const (
	AttrNoAuto   = 1 << 63 // not mounted automatically
	AttrReadOnly = 1 << 60 // mounted read-only
	AttrGrowFS   = 1 << 59 // file system grown to the partition
)

const (
	// SectorSize is the logical sector size of the images Write makes.
	SectorSize = 512
	// FirstOffset is where the first partition starts: 1 MiB, LBA 2048,
	// where libfdisk (and so systemd-repart) starts usable space.
	FirstOffset = 1 << 20
	// Alignment is the alignment of every partition's start and size, as
	// repart aligns new partitions to 4 KiB.
	Alignment = 4096
	// SignaturePartitionSize is the size of the signature partition, as
	// repart 252 makes it (VERITY_SIG_SIZE), unless the JSON needs more.
	SignaturePartitionSize = 16 << 10

	tailSectors = 1 + gpt.Entries*gpt.EntrySize/SectorSize // backup array and header
)

// Options describe the image Write makes.
type Options struct {
	// Arch is systemd's name of the architecture the file system is for:
	// "x86-64", "arm64"... (ArchFromGOARCH maps Go's names).
	Arch string
	// Usr makes the file system a usr partition (with usr-verity and
	// usr-verity-sig) instead of root. Portable service images use root.
	Usr bool
	// Verity chooses the hash tree's block sizes (4 KiB by default; repart
	// 252 uses 512 bytes), and its salt and superblock UUID when they are
	// not to be derived.
	Verity verity.Options
	// Signer, when set, signs the root hash into a signature partition,
	// with the signer's certificate inside the PKCS#7 signature as repart
	// puts it there.
	Signer *pkcs7.Signer
}

// Image is the layout of a disk image.
type Image struct {
	Size       int64 // bytes
	SectorSize int
	DiskGUID   GUID
	Partitions []Partition // in partition table order
	// BackupError, set by Read, says what is wrong with the backup
	// partition table at the end of the image; nil when it is sound.
	BackupError error
}

// Partition is one partition of an image.
type Partition struct {
	Number     int        // entry number in the partition table, from 1
	Designator Designator // 0 for a type the specification does not list
	Arch       string     // systemd's architecture name, with Designator
	Type, UUID GUID
	Label      string
	Offset     int64 // bytes from the start of the image
	Size       int64 // bytes
	Attributes uint64
}

// TypeName returns systemd's name of the partition's type, such as
// "root-x86-64-verity", or the type GUID when it is not a discoverable one.
func (p Partition) TypeName() string {
	if p.Designator == 0 {
		return p.Type.String()
	}
	return TypeName(p.Designator, p.Arch)
}

// Find returns the first partition of the image with designator d for the
// architecture arch.
func (img *Image) Find(d Designator, arch string) (Partition, bool) {
	for _, p := range img.Partitions {
		if p.Designator == d && p.Arch == arch {
			return p, true
		}
	}
	return Partition{}, false
}

// sigJSON is the signature partition's JSON, its fields in repart's order.
type sigJSON struct {
	RootHash               string `json:"rootHash"`
	CertificateFingerprint string `json:"certificateFingerprint"`
	Signature              string `json:"signature"`
}

// Write writes the disk image of the file system held by the first
// dataSize bytes of data to dst, every byte of it from offset 0 to
// Image.Size, and returns its layout and hash tree.
//
// The file system partition is the data zero-padded to a multiple of 4 KiB
// (and of the verity data block size), and the hash tree covers all of it,
// as repart's does. Partitions follow each other from 1 MiB, each 4 KiB
// aligned; the image ends with the backup table, rounded up to 4 KiB, as
// `repart --size=auto` sizes it. Labels are the type names, as repart
// names partitions by default ("root-x86-64", "root-x86-64-verity",
// "root-x86-64-verity-sig"). The file system and hash partitions are
// marked read-only (repart 252 marks the first grow-fs, which a squashfs
// cannot do).
//
// The partition UUIDs of the file system and hash tree are the two halves
// of the root hash, as repart sets them. The signature partition's UUID
// and the disk GUID are the first 16 bytes of SHA-256 of
// "mkportable DDI signature partition\x00" and of "mkportable DDI disk\x00"
// followed by the root hash and the signature partition's contents (none
// when unsigned), as RFC 9562 version 4 UUIDs. The verity salt and UUID are
// derived as verity.Build derives them unless opts.Verity sets them.
func Write(ctx context.Context, dst io.WriterAt, data io.ReaderAt, dataSize int64, opts Options) (*Image, *verity.Tree, error) {
	d := []Designator{Root, RootVerity, RootVeritySig}
	if opts.Usr {
		d = []Designator{Usr, UsrVerity, UsrVeritySig}
	}
	var types [3]GUID
	for i := range d {
		var err error
		if types[i], err = TypeUUID(d[i], opts.Arch); err != nil {
			return nil, nil, err
		}
	}
	if dataSize <= 0 {
		return nil, nil, fmt.Errorf("ddi: no file system to write (size %d)", dataSize)
	}
	align := int64(max(Alignment, opts.Verity.DataBlockSize))
	dataPart := roundUp(dataSize, align)
	src := &padded{r: data, size: dataSize}
	tree, err := verity.Build(ctx, src, dataPart, opts.Verity)
	if err != nil {
		return nil, nil, fmt.Errorf("ddi: %w", err)
	}
	root := tree.RootHash
	hashPart := roundUp(tree.HashSize(), Alignment)

	var sigText []byte
	if opts.Signer != nil {
		sig, err := verity.SignRootHash(root, opts.Signer, pkcs7.SignOptions{Certificate: true})
		if err != nil {
			return nil, nil, fmt.Errorf("ddi: %w", err)
		}
		fp := sha256.Sum256(opts.Signer.Certificate().Raw)
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(sigJSON{root.String(), hex.EncodeToString(fp[:]), base64.StdEncoding.EncodeToString(sig)}); err != nil {
			return nil, nil, fmt.Errorf("ddi: encode signature JSON: %w", err)
		}
		sigText = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}

	img := &Image{SectorSize: SectorSize}
	off := int64(FirstOffset)
	add := func(i int, size int64, uuid GUID, attrs uint64) {
		img.Partitions = append(img.Partitions, Partition{Number: len(img.Partitions) + 1, Designator: d[i], Arch: opts.Arch,
			Type: types[i], UUID: uuid, Label: TypeName(d[i], opts.Arch), Offset: off, Size: size, Attributes: attrs})
		off += size
	}
	var dataUUID, hashUUID GUID
	copy(dataUUID[:], root[:16])
	copy(hashUUID[:], root[16:])
	add(0, dataPart, dataUUID, AttrReadOnly)
	add(1, hashPart, hashUUID, AttrReadOnly)
	if sigText != nil {
		add(2, max(SignaturePartitionSize, roundUp(int64(len(sigText)), Alignment)), deriveGUID("signature partition", root, sigText), 0)
	}
	img.Size = roundUp(off+tailSectors*SectorSize, Alignment)
	img.DiskGUID = deriveGUID("disk", root, sigText)

	t := gpt.New(uint64(img.Size/SectorSize), img.DiskGUID)
	for _, p := range img.Partitions {
		t.Partitions = append(t.Partitions, gpt.Partition{Type: p.Type, UUID: p.UUID, Name: p.Label, Attributes: p.Attributes,
			FirstLBA: uint64(p.Offset / SectorSize), LastLBA: uint64((p.Offset+p.Size)/SectorSize - 1)})
	}
	head, err := t.Head()
	if err != nil {
		return nil, nil, fmt.Errorf("ddi: %w", err)
	}
	tail, err := t.Tail()
	if err != nil {
		return nil, nil, fmt.Errorf("ddi: %w", err)
	}

	w := &writer{dst: dst}
	w.write(head)
	w.zeros(FirstOffset - w.off)
	w.copyFrom(ctx, src, dataPart)
	if w.err == nil {
		n, err := tree.WriteTo(io.NewOffsetWriter(dst, w.off))
		w.off, w.err = w.off+n, err
	}
	w.zeros(img.Partitions[1].Offset + hashPart - w.off)
	if sigText != nil {
		w.write(sigText)
		w.zeros(img.Partitions[2].Offset + img.Partitions[2].Size - w.off)
	}
	w.zeros(t.TailOffset() - w.off)
	w.write(tail)
	w.zeros(img.Size - w.off)
	if w.err != nil {
		return nil, nil, fmt.Errorf("ddi: write image: %w", w.err)
	}
	return img, tree, nil
}

// deriveGUID returns the GUID Write gives what.
func deriveGUID(what string, root verity.RootHash, sigText []byte) GUID {
	h := sha256.New()
	h.Write([]byte("mkportable DDI " + what + "\x00"))
	h.Write(root[:])
	h.Write(sigText)
	var g GUID
	copy(g[:], h.Sum(nil))
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// padded reads r's first size bytes, then zeros.
type padded struct {
	r    io.ReaderAt
	size int64
}

func (p *padded) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	if off < p.size {
		want := min(int64(len(b)), p.size-off)
		m, err := p.r.ReadAt(b[:want], off)
		if int64(m) < want {
			if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("file system is shorter than %d bytes: %w", p.size, io.ErrUnexpectedEOF)
			}
			return m, err
		}
		n = m
	}
	clear(b[n:])
	return len(b), nil
}

// writer writes an image front to back, keeping the first error.
type writer struct {
	dst io.WriterAt
	off int64
	err error
}

func (w *writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.dst.WriteAt(b, w.off)
	w.off += int64(n)
	w.err = err
}

func (w *writer) zeros(n int64) {
	if n <= 0 {
		return
	}
	z := make([]byte, min(n, 1<<20))
	for ; n > 0 && w.err == nil; n -= int64(len(z)) {
		z = z[:min(int64(len(z)), n)]
		w.write(z)
	}
}

// copyFrom copies n bytes of src from offset 0 to the current offset.
func (w *writer) copyFrom(ctx context.Context, src io.ReaderAt, n int64) {
	buf := make([]byte, min(n, 1<<20))
	for done := int64(0); done < n && w.err == nil; {
		if w.err = ctx.Err(); w.err != nil {
			return
		}
		b := buf[:min(int64(len(buf)), n-done)]
		if _, w.err = src.ReadAt(b, done); w.err != nil {
			return
		}
		w.write(b)
		done += int64(len(b))
	}
}
