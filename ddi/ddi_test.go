package ddi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/gpt"
	"github.com/mkportable/mkportable/internal/testkey"
	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/mkportable/mkportable/pkcs7"
	"github.com/mkportable/mkportable/squashfs"
	"github.com/mkportable/mkportable/verity"
	"github.com/stretchr/testify/require"
)

// testSquashfs writes a small squashfs of a portable service's files to
// dir and returns its path and bytes.
func testSquashfs(t testing.TB, dir string) (string, []byte) {
	t.Helper()
	tree := squashfs.NewTree()
	a := squashfs.Attr{Mode: 0o755}
	for _, d := range []string{"usr/lib", "usr/bin", "etc", "proc", "sys", "dev", "run", "tmp", "var/tmp"} {
		require.NoError(t, tree.MkdirAll(d, a))
	}
	require.NoError(t, tree.AddBytes("usr/lib/os-release", squashfs.Attr{Mode: 0o644}, []byte("ID=debian\nVERSION_ID=12\n")))
	// Incompressible, so that the tree has a level of hash blocks.
	var blob []byte
	for i := 0; len(blob) < 300<<10; i++ {
		s := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		blob = append(blob, s[:]...)
	}
	require.NoError(t, tree.AddBytes("usr/bin/blob", squashfs.Attr{Mode: 0o755}, blob))
	p := filepath.Join(dir, "root.squashfs")
	_, err := squashfs.WriteFile(context.Background(), p, tree, squashfs.Options{})
	require.NoError(t, err)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return p, b
}

// signer makes a throwaway key of alg and its self-signed certificate
// (internal/testkey, written as dir/CN.key and dir/CN.crt) and returns
// the signer of both.
func signer(t testing.TB, dir string, alg testkey.Algorithm, cn string) *pkcs7.Signer {
	t.Helper()
	p := testkey.Write(t, dir, alg, cn)
	s, err := pkcs7.NewSigner(p.Key, p.Cert)
	require.NoError(t, err)
	return s
}

func ecSigner(t testing.TB, dir, cn string) *pkcs7.Signer { return signer(t, dir, testkey.ECDSA, cn) }

func rsaSigner(t testing.TB, dir, cn string) *pkcs7.Signer { return signer(t, dir, testkey.RSA, cn) }

// writeImage writes the DDI of fs to path and returns its bytes and
// layout.
func writeImage(t testing.TB, path string, fs []byte, opts Options) ([]byte, *Image, *verity.Tree) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	img, tree, err := Write(context.Background(), f, bytes.NewReader(fs), int64(len(fs)), opts)
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, img.Size, int64(len(b)))
	return b, img, tree
}

func TestWriteLayout(t *testing.T) {
	dir := t.TempDir()
	_, fs := testSquashfs(t, dir)
	signer := ecSigner(t, dir, "test")
	b, img, tree := writeImage(t, filepath.Join(dir, "a.raw"), fs, Options{Arch: "x86-64", Signer: signer})

	// Two builds give the same bytes (ECDSA signatures included).
	b2, _, _ := writeImage(t, filepath.Join(dir, "b.raw"), fs, Options{Arch: "x86-64", Signer: signer})
	require.Equal(t, b, b2)

	root := tree.RootHash
	require.Len(t, img.Partitions, 3)
	dataPart := roundUp(int64(len(fs)), 4096)
	want := []struct {
		d      Designator
		label  string
		typ    string
		offset int64
		size   int64
		attrs  uint64
	}{
		{Root, "root-x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", 1 << 20, dataPart, AttrReadOnly},
		{RootVerity, "root-x86-64-verity", "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5", 1<<20 + dataPart, roundUp(tree.HashSize(), 4096), AttrReadOnly},
		{RootVeritySig, "root-x86-64-verity-sig", "41092b05-9fc8-4523-994f-2def0408b176", 1<<20 + dataPart + roundUp(tree.HashSize(), 4096), 16 << 10, 0},
	}
	for i, w := range want {
		p := img.Partitions[i]
		require.Equal(t, i+1, p.Number)
		require.Equal(t, w.d, p.Designator)
		require.Equal(t, w.label, p.Label)
		require.Equal(t, w.label, p.TypeName())
		require.Equal(t, w.typ, p.Type.String())
		require.Equal(t, w.offset, p.Offset)
		require.Equal(t, w.size, p.Size)
		require.Equal(t, w.attrs, p.Attributes)
	}
	// The file system and hash partition UUIDs are the root hash's halves.
	require.Equal(t, root.String(), hex.EncodeToString(img.Partitions[0].UUID[:])+hex.EncodeToString(img.Partitions[1].UUID[:]))
	// The image ends with the backup table, rounded up to 4 KiB.
	require.Equal(t, roundUp(1<<20+dataPart+roundUp(tree.HashSize(), 4096)+16<<10+33*512, 4096), img.Size)

	// The partitions hold the file system, zero-padded, the hash file as
	// verity.Tree writes it, and the signature JSON padded with NULs.
	require.Equal(t, fs, b[1<<20:1<<20+len(fs)])
	require.Equal(t, make([]byte, dataPart-int64(len(fs))), b[1<<20+len(fs):1<<20+dataPart])
	var hash bytes.Buffer
	_, err := tree.WriteTo(&hash)
	require.NoError(t, err)
	hp := img.Partitions[1]
	require.Equal(t, hash.Bytes(), b[hp.Offset:hp.Offset+int64(hash.Len())])
	sp := img.Partitions[2]
	text, rest, ok := bytes.Cut(b[sp.Offset:sp.Offset+sp.Size], []byte{0})
	require.True(t, ok)
	require.Equal(t, make([]byte, len(rest)), rest)
	fp := sha256.Sum256(signer.Certificate().Raw)
	require.Regexp(t, `^\{"rootHash":"`+root.String()+`","certificateFingerprint":"`+hex.EncodeToString(fp[:])+`","signature":"[A-Za-z0-9+/]+=*"\}$`, string(text))
	sig, err := ReadSignature(bytes.NewReader(b), sp)
	require.NoError(t, err)
	require.Equal(t, root, sig.RootHash)
	require.NoError(t, pkcs7.Verify(sig.PKCS7, []byte(root.String()), signer.Certificate()))

	// Read gives back the layout Write returned.
	got, err := Read(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	require.NoError(t, got.BackupError)
	require.Equal(t, img, got)

	// Without a signer: no signature partition, another disk GUID.
	u, uimg, utree := writeImage(t, filepath.Join(dir, "u.raw"), fs, Options{Arch: "x86-64"})
	require.Len(t, uimg.Partitions, 2)
	require.Equal(t, root, utree.RootHash)
	require.NotEqual(t, img.DiskGUID, uimg.DiskGUID)
	require.Equal(t, b[1<<20:sp.Offset], u[1<<20:sp.Offset])

	// usr partitions for arm64.
	_, aimg, _ := writeImage(t, filepath.Join(dir, "arm.raw"), fs, Options{Arch: "arm64", Usr: true, Signer: signer})
	require.Equal(t, "usr-arm64", aimg.Partitions[0].Label)
	require.Equal(t, "b0e01050-ee5f-4390-949a-9101b17104e9", aimg.Partitions[0].Type.String())
	require.Equal(t, "usr-arm64-verity-sig", aimg.Partitions[2].Label)
}

func TestWriteRefuses(t *testing.T) {
	fs := make([]byte, 4096)
	for _, c := range []struct {
		name string
		size int64
		opts Options
		want string
	}{
		{"no arch", 4096, Options{}, `unknown architecture ""`},
		{"go arch", 4096, Options{Arch: "amd64"}, `unknown architecture "amd64"`},
		{"empty", 0, Options{Arch: "x86-64"}, "no file system"},
		{"bad block", 4096, Options{Arch: "x86-64", Verity: verity.Options{HashBlockSize: 100}}, "hash block size 100"},
		{"short data", 8192, Options{Arch: "x86-64"}, "shorter than 8192 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf writerAt
			_, _, err := Write(context.Background(), &buf, bytes.NewReader(fs), c.size, c.opts)
			require.ErrorContains(t, err, c.want)
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := Write(ctx, &writerAt{}, bytes.NewReader(fs), 4096, Options{Arch: "x86-64"})
	require.ErrorIs(t, err, context.Canceled)
}

// writerAt is an in-memory io.WriterAt.
type writerAt = testtool.WriterAt

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	_, fs := testSquashfs(t, dir)
	signer := ecSigner(t, dir, "test")
	other := ecSigner(t, dir, "other")
	b, img, tree := writeImage(t, filepath.Join(dir, "a.raw"), fs, Options{Arch: "x86-64", Signer: signer})
	ctx := context.Background()

	rep, err := Verify(ctx, bytes.NewReader(b), int64(len(b)), signer.Certificate())
	require.NoError(t, err)
	require.True(t, rep.SignatureVerified)
	require.Equal(t, tree.RootHash, rep.RootHash)
	require.Equal(t, tree.Params, rep.Verity)
	require.Equal(t, img.Partitions[0], rep.Data)
	require.Equal(t, img.Partitions[2], *rep.Sig)

	rep, err = Verify(ctx, bytes.NewReader(b), int64(len(b)), nil)
	require.NoError(t, err)
	require.False(t, rep.SignatureVerified)

	err = verifyErr(b, other.Certificate())
	require.ErrorIs(t, err, pkcs7.ErrNoSigner)
	require.ErrorContains(t, err, "the partition names the certificate of SHA-256 fingerprint")

	u, _, _ := writeImage(t, filepath.Join(dir, "u.raw"), fs, Options{Arch: "x86-64"})
	rep, err = Verify(ctx, bytes.NewReader(u), int64(len(u)), nil)
	require.NoError(t, err)
	require.Nil(t, rep.Sig)
	require.Equal(t, tree.RootHash, rep.RootHash)
	require.ErrorIs(t, verifyErr(u, signer.Certificate()), ErrUnsigned)

	flip := func(off int64) []byte {
		c := append([]byte{}, b...)
		c[off] ^= 0x10
		return c
	}
	// digit changes the hex digit at off to another one.
	digit := func(off int64) []byte {
		c := append([]byte{}, b...)
		c[off] = map[bool]byte{true: '1', false: '0'}[c[off] == '0']
		return c
	}
	sp := img.Partitions[2]
	for _, c := range []struct {
		name string
		img  []byte
		want error
	}{
		{"file system byte", flip(1<<20 + int64(len(fs))/2), verity.ErrMismatch},
		{"file system end", flip(img.Partitions[0].Offset + img.Partitions[0].Size - 1), verity.ErrMismatch},
		{"hash tree byte", flip(img.Partitions[1].Offset + 4096 + 5), verity.ErrMismatch},
		{"superblock", flip(img.Partitions[1].Offset), verity.ErrSuperblock},
		{"signed root hash", digit(sp.Offset + 20), ErrLayout},
		{"signature JSON", flip(sp.Offset), ErrMalformed},
		{"partition table", flip(1024 + 40), ErrMalformed},
		{"no table", make([]byte, 1<<20), ErrNoPartitionTable},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorIs(t, verifyErr(c.img, signer.Certificate()), c.want)
		})
	}

	// The signature itself changed: its last byte, inside the base64.
	text, _, _ := bytes.Cut(b[sp.Offset:], []byte{0})
	start := bytes.LastIndex(text, []byte(`"signature":"`)) + len(`"signature":"`)
	raw, err := base64.StdEncoding.DecodeString(string(text[start:bytes.LastIndexByte(text, '"')]))
	require.NoError(t, err)
	raw[len(raw)-1] ^= 1
	forged := append([]byte{}, b...)
	copy(forged[sp.Offset+int64(start):], base64.StdEncoding.EncodeToString(raw))
	require.ErrorIs(t, verifyErr(forged, signer.Certificate()), pkcs7.ErrBadSignature)
}

func verifyErr(b []byte, cert *x509.Certificate) error {
	_, err := Verify(context.Background(), bytes.NewReader(b), int64(len(b)), cert)
	return err
}

func TestReadSignatureRefuses(t *testing.T) {
	root := strings.Repeat("ab", 32)
	for _, c := range []struct {
		name, text, want string
	}{
		{"not json", "hello", "not a JSON object"},
		{"no root hash", `{"signature":"AA=="}`, `no "rootHash"`},
		{"no signature", `{"rootHash":"` + root + `"}`, `no "signature"`},
		{"short root hash", `{"rootHash":"abab","signature":"AA=="}`, "rootHash"},
		{"bad fingerprint", `{"rootHash":"` + root + `","certificateFingerprint":"xy","signature":"AA=="}`, "certificateFingerprint"},
		{"bad base64", `{"rootHash":"` + root + `","signature":"!!"}`, "not base64"},
		{"empty signature", `{"rootHash":"` + root + `","signature":""}`, "not base64"},
		{"two objects", `{"rootHash":"` + root + `","signature":"AA=="}{}`, "not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(c.text), make([]byte, 4096-len(c.text))...)
			_, err := ReadSignature(bytes.NewReader(b), Partition{Number: 3, Size: 4096})
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, c.want)
		})
	}
	_, err := ReadSignature(bytes.NewReader(nil), Partition{Number: 3, Size: MaxSignaturePartition + 1})
	require.ErrorContains(t, err, "bytes, want 1 to")
	// Without a fingerprint, and with the rest of the partition not NULs.
	b := []byte(`{"rootHash":"` + root + `","signature":"AA=="}` + "\x00xyz")
	s, err := ReadSignature(bytes.NewReader(b), Partition{Size: int64(len(b))})
	require.NoError(t, err)
	require.Nil(t, s.CertificateFingerprint)
	require.Equal(t, []byte{0}, s.PKCS7)
}

// FuzzRead feeds hostile images to Read and Verify. The seed is a signed
// image laid out tightly (a partition array of 4 entries, partitions from
// LBA 3, 512-byte verity blocks) to keep it small: the fuzzer minimizes
// each new input byte by byte.
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	signer := ecSigner(f, dir, "fuzz")
	fs := make([]byte, 4096)
	copy(fs, "hsqs")
	var w writerAt
	img, _, err := Write(context.Background(), &w, bytes.NewReader(fs), int64(len(fs)), Options{Arch: "x86-64", Signer: signer,
		Verity: verity.Options{DataBlockSize: 512, HashBlockSize: 512}})
	require.NoError(f, err)
	var parts [][]byte
	sectors := uint64(3)
	for _, p := range img.Partitions {
		c := w.B[p.Offset : p.Offset+p.Size]
		if p.Designator == RootVeritySig {
			text, _, _ := bytes.Cut(c, []byte{0})
			c = c[:roundUp(int64(len(text)+1), 512)]
		}
		parts = append(parts, c)
		sectors += uint64(len(c) / 512)
	}
	t := &gpt.Table{SectorSize: 512, Sectors: sectors + 2, DiskGUID: img.DiskGUID, FirstUsableLBA: 3, LastUsableLBA: sectors - 1, Entries: 4}
	seed := make([]byte, (sectors+2)*512)
	lba := uint64(3)
	for i, p := range img.Partitions {
		n := uint64(len(parts[i]) / 512)
		t.Partitions = append(t.Partitions, gpt.Partition{Type: p.Type, UUID: p.UUID, Name: p.Label, FirstLBA: lba, LastLBA: lba + n - 1})
		copy(seed[lba*512:], parts[i])
		lba += n
	}
	head, err := t.Head()
	require.NoError(f, err)
	tail, err := t.Tail()
	require.NoError(f, err)
	copy(seed, head)
	copy(seed[t.TailOffset():], tail)
	_, err = Verify(context.Background(), bytes.NewReader(seed), int64(len(seed)), signer.Certificate())
	require.NoError(f, err, "the seed must be a sound image")
	f.Add(seed)

	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, ErrNoPartitionTable), "%v", err)
			return
		}
		for _, p := range img.Partitions {
			require.GreaterOrEqual(t, p.Offset, int64(0))
			require.LessOrEqual(t, p.Offset+p.Size, int64(len(b)))
		}
		_, _ = Verify(context.Background(), bytes.NewReader(b), int64(len(b)), signer.Certificate())
	})
}
