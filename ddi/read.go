package ddi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mkportable/mkportable/internal/gpt"
	"github.com/mkportable/mkportable/verity"
)

var (
	// ErrNoPartitionTable is wrapped when an image has no GPT: it is not a
	// DDI (a bare file system, say).
	ErrNoPartitionTable = gpt.ErrNoGPT
	// ErrMalformed is wrapped by errors about a partition table or
	// signature partition that is broken or out of bounds.
	ErrMalformed = errors.New("ddi: malformed image")
	// ErrLayout is wrapped when an image lacks the partitions to check, or
	// their UUIDs do not match the root hash as systemd pairs them.
	ErrLayout = errors.New("ddi: unexpected partition layout")
	// ErrUnsigned is wrapped when a signature is to be checked in an
	// image without a signature partition.
	ErrUnsigned = errors.New("ddi: no signature partition")
)

// MaxSignaturePartition bounds the signature partitions ReadSignature
// reads.
const MaxSignaturePartition = 4 << 20

// Read reads the partition table of the disk image r, size bytes long. An
// image without one gives an error wrapping ErrNoPartitionTable; a broken
// one, an error wrapping ErrMalformed.
func Read(r io.ReaderAt, size int64) (*Image, error) {
	t, err := gpt.Read(r, size)
	if err != nil {
		if errors.Is(err, gpt.ErrNoGPT) {
			return nil, fmt.Errorf("ddi: %w", err)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	img := &Image{Size: size, SectorSize: t.SectorSize, DiskGUID: t.DiskGUID, BackupError: t.BackupError}
	ss := int64(t.SectorSize)
	for _, p := range t.Partitions {
		part := Partition{Number: p.Index, Type: p.Type, UUID: p.UUID, Label: p.Name, Attributes: p.Attributes,
			Offset: int64(p.FirstLBA) * ss, Size: int64(p.LastLBA-p.FirstLBA+1) * ss}
		part.Designator, part.Arch, _ = LookupType(p.Type)
		img.Partitions = append(img.Partitions, part)
	}
	return img, nil
}

// Signature is the contents of a signature partition.
type Signature struct {
	RootHash verity.RootHash
	// CertificateFingerprint is the SHA-256 of the DER certificate the
	// partition says signed; nil when it names none.
	CertificateFingerprint []byte
	// PKCS7 is the DER PKCS#7 signature of the root hash's hex text.
	PKCS7 []byte
}

// ReadSignature reads the signature partition p of the image r: JSON text
// up to the first NUL (or the partition's end), with a "rootHash" of 64 hex
// digits, a base64 "signature" and optionally a "certificateFingerprint"
// of 64 hex digits. Errors wrap ErrMalformed.
func ReadSignature(r io.ReaderAt, p Partition) (*Signature, error) {
	if p.Size <= 0 || p.Size > MaxSignaturePartition {
		return nil, fmt.Errorf("%w: signature partition %d is %d bytes, want 1 to %d", ErrMalformed, p.Number, p.Size, MaxSignaturePartition)
	}
	b := make([]byte, p.Size)
	if n, err := r.ReadAt(b, p.Offset); n < len(b) {
		return nil, fmt.Errorf("ddi: read signature partition %d: %w", p.Number, err)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	bad := func(format string, a ...any) (*Signature, error) {
		return nil, fmt.Errorf("%w: signature partition %d: %s", ErrMalformed, p.Number, fmt.Sprintf(format, a...))
	}
	var j struct {
		RootHash               *string `json:"rootHash"`
		CertificateFingerprint *string `json:"certificateFingerprint"`
		Signature              *string `json:"signature"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return bad("not a JSON object: %v", err)
	}
	if j.RootHash == nil || j.Signature == nil {
		return bad(`no "rootHash" or no "signature"`)
	}
	var s Signature
	var err error
	if s.RootHash, err = verity.ParseRootHash(*j.RootHash); err != nil {
		return bad("rootHash: %v", err)
	}
	if j.CertificateFingerprint != nil {
		fp, err := hex.DecodeString(*j.CertificateFingerprint)
		if err != nil || len(fp) != sha256.Size {
			return bad("certificateFingerprint %.80q is not 64 hex digits", *j.CertificateFingerprint)
		}
		s.CertificateFingerprint = fp
	}
	if s.PKCS7, err = base64.StdEncoding.DecodeString(*j.Signature); err != nil || len(s.PKCS7) == 0 {
		return bad("signature is not base64: %v", err)
	}
	return &s, nil
}

// Verify checks that the partition's signature signs its root hash and was
// made by the subject of cert. When it was not, and the partition names
// another certificate's fingerprint, the error says so. Errors wrap those
// of verity.VerifyRootHashSignature.
func (s *Signature) Verify(cert *x509.Certificate) error {
	err := verity.VerifyRootHashSignature(s.RootHash, s.PKCS7, cert)
	if err != nil && s.CertificateFingerprint != nil {
		if fp := sha256.Sum256(cert.Raw); !bytes.Equal(fp[:], s.CertificateFingerprint) {
			return fmt.Errorf("%w (the partition names the certificate of SHA-256 fingerprint %x, this one's is %x)", err, s.CertificateFingerprint, fp)
		}
	}
	return err
}

// Report is what Verify found in an image.
type Report struct {
	Image *Image
	// Data and Hash are the file system and its hash tree partitions.
	Data, Hash Partition
	// Sig and Signature are the signature partition and its contents; nil
	// when there is none.
	Sig       *Partition
	Signature *Signature
	// RootHash is the signature partition's root hash or, without one,
	// the one the two partition UUIDs spell, which systemd does not use:
	// it needs the root hash from elsewhere, and 252 runs such an image
	// unverified.
	RootHash verity.RootHash
	// Verity is the hash tree's superblock.
	Verity verity.Params
	// SignatureVerified is true when a certificate was given and signed
	// the root hash.
	SignatureVerified bool
}

// Verify checks the disk image r, size bytes long: it finds its one file
// system (root or usr) with a hash partition of the same architecture,
// and that group's signature partition if there is one; checks that the
// two partitions' UUIDs are the halves of the root hash, and the hash tree
// against the file system and root hash (verity.Verify); and, when cert is
// not nil, that the signature partition is cert's signature of the root
// hash.
//
// Errors wrap ErrNoPartitionTable, ErrMalformed, ErrLayout, ErrUnsigned,
// verity.ErrSuperblock, verity.ErrMismatch or the pkcs7 errors; the report
// holds what was found up to the error.
func Verify(ctx context.Context, r io.ReaderAt, size int64, cert *x509.Certificate) (*Report, error) {
	img, err := Read(r, size)
	if err != nil {
		return nil, err
	}
	rep := &Report{Image: img}
	var found []Partition
	for _, p := range img.Partitions {
		if p.Designator == Root || p.Designator == Usr {
			if _, ok := img.Find(p.Designator+1, p.Arch); ok {
				found = append(found, p)
			}
		}
	}
	if len(found) != 1 {
		return rep, fmt.Errorf("%w: %d file system partitions with a verity partition of their architecture, want 1", ErrLayout, len(found))
	}
	rep.Data = found[0]
	rep.Hash, _ = img.Find(rep.Data.Designator+1, rep.Data.Arch)
	if sig, ok := img.Find(rep.Data.Designator+2, rep.Data.Arch); ok {
		rep.Sig = &sig
		if rep.Signature, err = ReadSignature(r, sig); err != nil {
			return rep, err
		}
		rep.RootHash = rep.Signature.RootHash
	} else {
		copy(rep.RootHash[:16], rep.Data.UUID[:])
		copy(rep.RootHash[16:], rep.Hash.UUID[:])
	}
	if !bytes.Equal(rep.Data.UUID[:], rep.RootHash[:16]) || !bytes.Equal(rep.Hash.UUID[:], rep.RootHash[16:]) {
		return rep, fmt.Errorf("%w: partition UUIDs %s and %s are not the halves of the signed root hash %s",
			ErrLayout, rep.Data.UUID, rep.Hash.UUID, rep.RootHash)
	}
	rep.Verity, err = verity.Verify(ctx, io.NewSectionReader(r, rep.Data.Offset, rep.Data.Size), rep.Data.Size,
		io.NewSectionReader(r, rep.Hash.Offset, rep.Hash.Size), rep.Hash.Size, rep.RootHash)
	if err != nil {
		return rep, fmt.Errorf("ddi: partitions %d and %d: %w", rep.Data.Number, rep.Hash.Number, err)
	}
	if cert != nil {
		if rep.Signature == nil {
			return rep, fmt.Errorf("%w: cannot check the root hash against the certificate", ErrUnsigned)
		}
		if err := rep.Signature.Verify(cert); err != nil {
			return rep, fmt.Errorf("ddi: partition %d: %w", rep.Sig.Number, err)
		}
		rep.SignatureVerified = true
	}
	return rep, nil
}
