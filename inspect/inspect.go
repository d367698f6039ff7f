// Package inspect opens an image file as systemd finds it and says what
// systemd will do with it: a bare squashfs or a Discoverable Disk Image
// (GPT: its root partition is the file system), the dm-verity data beside
// it (NAME.roothash, NAME.verity, NAME.roothash.p7s) or in it (verity and
// signature partitions), checked against the data and, given a
// certificate, the signature; then package portable's rules for its kind,
// found from what it carries unless given. `mkportable inspect` prints
// what Inspect returns.
package inspect

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/mkportable/mkportable/ddi"
	"github.com/mkportable/mkportable/internal/boundedfile"
	"github.com/mkportable/mkportable/pkcs7"
	"github.com/mkportable/mkportable/portable"
	"github.com/mkportable/mkportable/squashfs"
	"github.com/mkportable/mkportable/verity"
)

// ErrFormat is wrapped when an image is neither a squashfs nor a disk image
// with a file system partition this package reads.
var ErrFormat = errors.New("not a squashfs image or a disk image holding one")

// maxRootHashFile bounds the NAME.roothash files read.
const maxRootHashFile = 4096

// Options say how the image is checked.
type Options struct {
	// Matches and Profile are portablectl attach's, for a portable image.
	Matches []string
	Profile string
	// Kind is the kind to check the image as; "" finds it from what the
	// image carries (portable.DetectKind).
	Kind string
	// Cert, when set, is the certificate a signature must verify against
	// (one systemd would trust, in /etc/verity.d).
	Cert *x509.Certificate
	// Extensions are extension images of a portable image, as
	// portablectl attach --extension takes them, lowest first.
	Extensions []string
}

// Result is what Inspect found.
type Result struct {
	Image string `json:"image"`
	// Format is "squashfs" or "ddi".
	Format string `json:"format"`
	Size   int64  `json:"size"`
	// Partitions are a DDI's partitions; nil for a squashfs.
	Partitions []Partition `json:"partitions,omitempty"`
	Verity     Verity      `json:"verity"`
	// Report is package portable's verdict for the image's kind, the
	// problems of its verity data included.
	Report *portable.Report `json:"-"`
}

// Partition is one partition of a disk image.
type Partition struct {
	Number int `json:"number"`
	// Type is systemd's name of the partition type ("root-x86-64-verity"),
	// or the type UUID when it is not a discoverable one.
	Type       string `json:"type"`
	TypeUUID   string `json:"typeUuid"`
	UUID       string `json:"uuid"`
	Label      string `json:"label"`
	Offset     int64  `json:"offset"`
	Size       int64  `json:"size"`
	Attributes uint64 `json:"attributes"`
}

// Verity is what the image carries for dm-verity and how it checked out.
type Verity struct {
	// Source is "sidecars", "partitions" or "none".
	Source string `json:"source"`
	// RootHashFile, VerityFile and SignatureFile are the sidecars found
	// ("" when absent).
	RootHashFile  string `json:"roothashFile,omitempty"`
	VerityFile    string `json:"verityFile,omitempty"`
	SignatureFile string `json:"signatureFile,omitempty"`
	// RootHash is the root hash systemd would use ("" when none).
	RootHash string `json:"rootHash,omitempty"`
	// Signed says whether a signature of the root hash is present.
	Signed bool `json:"signed"`
	// DataBlockSize, HashBlockSize and DataBlocks are the hash tree's.
	DataBlockSize int   `json:"dataBlockSize,omitempty"`
	HashBlockSize int   `json:"hashBlockSize,omitempty"`
	DataBlocks    int64 `json:"dataBlocks,omitempty"`
	// TreeMatches says whether the hash tree matches the data and the
	// root hash; nil when there was nothing to check. TreeError says why
	// not.
	TreeMatches *bool  `json:"treeMatches"`
	TreeError   string `json:"treeError,omitempty"`
	// SignatureVerified says whether the signature verifies against
	// Options.Cert; nil when not checked. SignatureError says why not.
	SignatureVerified *bool  `json:"signatureVerified"`
	SignatureError    string `json:"signatureError,omitempty"`
	// Certificate is the subject of the certificate checked against.
	Certificate string `json:"certificate,omitempty"`
}

// Inspect opens the image at path, gathers its verity state and checks it
// as systemd would under opts. Errors are for an image that cannot be read
// at all (ErrFormat, fs errors), bad options and a cancelled ctx;
// everything wrong with a readable image is a problem in Result.Report.
func Inspect(ctx context.Context, path string, opts Options) (*Result, error) {
	img, err := open(ctx, path, opts.Cert)
	if err != nil {
		return nil, err
	}
	defer img.close()
	kind := portable.DetectKind(img.fsys)
	if opts.Kind != "" {
		if kind, err = portable.ParseKind(opts.Kind); err != nil {
			return nil, err
		}
	}
	if kind.IsExtension() && len(opts.Extensions) > 0 {
		return nil, fmt.Errorf("%s: a %s has no extensions of its own", path, kind)
	}
	copts := portable.Options{FileName: path, Matches: opts.Matches, Profile: opts.Profile, Kind: kind}
	for _, e := range opts.Extensions {
		ext, err := open(ctx, e, nil)
		if err != nil {
			return nil, fmt.Errorf("extension %s: %w", e, err)
		}
		defer ext.close()
		copts.Extensions = append(copts.Extensions, portable.Extension{FileName: e, FS: ext.fsys})
	}
	rep, err := portable.Check(ctx, img.fsys, copts)
	if err != nil {
		return nil, err
	}
	rep.Add(portable.VerityProblems(kind, img.state)...)
	img.res.Report = rep
	return &img.res, nil
}

// opened is an image file open for reading.
type opened struct {
	f     *os.File
	fsys  fs.FS
	res   Result
	state portable.VerityState
}

func (o *opened) close() { o.f.Close() }

// open opens the image at path: its file system, partitions and verity
// data, checked against cert when it is not nil.
func open(ctx context.Context, path string, cert *x509.Certificate) (*opened, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	o := &opened{f: f, res: Result{Image: path, Verity: Verity{Source: "none"}}}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: it is not a regular file", path, ErrFormat)
	}
	o.res.Size = info.Size()
	if cert != nil {
		o.res.Verity.Certificate = cert.Subject.String()
	}
	disk, err := ddi.Read(f, o.res.Size)
	switch {
	case errors.Is(err, ddi.ErrNoPartitionTable):
		o.res.Format = "squashfs"
		if err := o.openSquashfs(ctx, path, cert); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("%s: %w: %w", path, ErrFormat, err)
	default:
		o.res.Format = "ddi"
		if err := o.openDDI(ctx, path, disk, cert); err != nil {
			return nil, err
		}
	}
	ok = true
	return o, nil
}

func (o *opened) openSquashfs(ctx context.Context, path string, cert *x509.Certificate) error {
	r, err := squashfs.NewReader(o.f, o.res.Size)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", path, ErrFormat, err)
	}
	o.fsys = r
	side, looked := verity.SidecarPaths(path)
	o.state.SidecarsLooked = looked
	if !looked {
		return nil
	}
	v := &o.res.Verity
	exists := func(p string) bool {
		info, err := os.Stat(p)
		return err == nil && info.Mode().IsRegular()
	}
	if o.state.RootHashFile = exists(side.RootHash); o.state.RootHashFile {
		v.RootHashFile = side.RootHash
	}
	if o.state.VerityFile = exists(side.Verity); o.state.VerityFile {
		v.VerityFile = side.Verity
	}
	if o.state.SignatureFile = exists(side.Signature); o.state.SignatureFile {
		v.SignatureFile = side.Signature
	}
	if !o.state.RootHashFile && !o.state.VerityFile {
		return nil
	}
	v.Source = "sidecars"
	if !o.state.RootHashFile {
		return nil
	}
	text, err := boundedfile.Read(side.RootHash, maxRootHashFile)
	if err != nil {
		return err
	}
	root, err := verity.ParseRootHash(string(text))
	o.state.TreeChecked = o.state.VerityFile
	if err != nil {
		o.treeResult(fmt.Sprintf("%s: %v", side.RootHash, err))
		return nil
	}
	v.RootHash = root.String()
	v.Signed = o.state.SignatureFile
	if o.state.VerityFile {
		hf, err := os.Open(side.Verity)
		if err != nil {
			return err
		}
		defer hf.Close()
		hi, err := hf.Stat()
		if err != nil {
			return err
		}
		p, err := verity.Verify(ctx, o.f, o.res.Size, hf, hi.Size(), root)
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		o.params(p)
		if err != nil {
			o.treeResult(fmt.Sprintf("%s against %s: %v", side.Verity, path, err))
		} else {
			o.treeResult("")
			o.state.Uncovered = bytesUsed(o.f) - p.DataSize()
		}
	}
	if o.state.SignatureFile && cert != nil {
		sig, err := boundedfile.Read(side.Signature, pkcs7.MaxSignatureSize)
		if err != nil {
			return err
		}
		o.signatureResult(verity.VerifyRootHashSignature(root, sig, cert))
	}
	return nil
}

// Partitions lists a disk image's partitions; nil for nil.
func Partitions(disk *ddi.Image) []Partition {
	if disk == nil {
		return nil
	}
	var out []Partition
	for _, p := range disk.Partitions {
		out = append(out, Partition{Number: p.Number, Type: p.TypeName(), TypeUUID: p.Type.String(),
			UUID: p.UUID.String(), Label: p.Label, Offset: p.Offset, Size: p.Size, Attributes: p.Attributes})
	}
	return out
}

func (o *opened) openDDI(ctx context.Context, path string, disk *ddi.Image, cert *x509.Certificate) error {
	o.state.DDI = true
	o.res.Partitions = Partitions(disk)
	v := &o.res.Verity
	rep, err := ddi.Verify(ctx, o.f, o.res.Size, nil)
	if cerr := ctx.Err(); cerr != nil {
		return context.Cause(ctx)
	}
	var data ddi.Partition
	switch {
	case rep != nil && rep.Data.Size > 0:
		data = rep.Data
		v.Source = "partitions"
		o.state.HashPartition = true
		o.state.SignaturePartition = rep.Sig != nil
		v.Signed = rep.Sig != nil
		if rep.RootHash != (verity.RootHash{}) {
			v.RootHash = rep.RootHash.String()
		}
		o.params(rep.Verity)
		switch {
		case err == nil:
			o.state.TreeChecked = true
			o.treeResult("")
		case rep.Sig != nil && rep.Signature == nil:
			// The signature partition does not parse: systemd cannot
			// trust the image.
			o.signatureResult(err)
		default:
			o.state.TreeChecked = true
			o.treeResult(err.Error())
		}
		if rep.Signature != nil && cert != nil {
			o.signatureResult(rep.Signature.Verify(cert))
		}
	default:
		// No file system with a hash partition: the first root or usr
		// partition, unverified.
		found := false
		for _, p := range disk.Partitions {
			if p.Designator == ddi.Root || p.Designator == ddi.Usr {
				data, found = p, true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s: %w: a disk image without a root or usr partition", path, ErrFormat)
		}
	}
	r, err := squashfs.NewReader(io.NewSectionReader(o.f, data.Offset, data.Size), data.Size)
	if err != nil {
		return fmt.Errorf("%s: partition %d (%s): %w: %w", path, data.Number, data.TypeName(), ErrFormat, err)
	}
	o.fsys = r
	return nil
}

func (o *opened) params(p verity.Params) {
	v := &o.res.Verity
	v.DataBlockSize, v.HashBlockSize, v.DataBlocks = p.DataBlockSize, p.HashBlockSize, p.DataBlocks
}

func (o *opened) treeResult(errText string) {
	ok := errText == ""
	o.res.Verity.TreeMatches, o.res.Verity.TreeError = &ok, errText
	o.state.TreeError = errText
}

func (o *opened) signatureResult(err error) {
	ok := err == nil
	o.res.Verity.SignatureVerified = &ok
	o.state.SignatureChecked = true
	if err != nil {
		o.res.Verity.SignatureError = err.Error()
		o.state.SignatureError = err.Error()
	}
}

// ParseCertificate reads a PEM or DER certificate file, as systemd reads
// /etc/verity.d/*.crt.
func ParseCertificate(name string) (*x509.Certificate, error) {
	data, err := boundedfile.Read(name, pkcs7.MaxPEMSize)
	if err != nil {
		return nil, err
	}
	c, err := pkcs7.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// bytesUsed reads a squashfs superblock's bytes_used (offset 40): the
// bytes of the image the file system reads.
func bytesUsed(r io.ReaderAt) int64 {
	var b [8]byte
	if _, err := r.ReadAt(b[:], 40); err != nil {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(b[:]) & (1<<62 - 1))
}
