package ddi

// Our images checked by tools nobody here wrote: sfdisk and sgdisk read
// the partition table, systemd-dissect (systemd 252) finds the partitions
// by type, veritysetup checks the hash partition, openssl the signature,
// and systemd-repart writes the reference layout we compare with.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/mkportable/mkportable/verity"
	"github.com/stretchr/testify/require"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

// partFile writes partition p of the image b to a file and returns its
// path.
func partFile(t *testing.T, b []byte, p Partition) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("part%d", p.Number))
	require.NoError(t, os.WriteFile(path, b[p.Offset:p.Offset+p.Size], 0o644))
	return path
}

func TestSfdiskSgdisk(t *testing.T) {
	sfdisk := testtool.Need(t, "sfdisk")
	sgdisk := testtool.Need(t, "sgdisk")
	dir := t.TempDir()
	_, fs := testSquashfs(t, dir)
	for _, arch := range []string{"x86-64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			path := filepath.Join(dir, arch+".raw")
			_, img, _ := writeImage(t, path, fs, Options{Arch: arch, Signer: ecSigner(t, dir, "s")})
			dump := run(t, sfdisk, "--dump", path)
			var want strings.Builder
			fmt.Fprintf(&want, "label: gpt\nlabel-id: %s\ndevice: %s\nunit: sectors\nfirst-lba: 2048\nlast-lba: %d\n",
				strings.ToUpper(img.DiskGUID.String()), path, img.Size/512-34)
			require.True(t, strings.HasPrefix(dump, want.String()), "sfdisk --dump:\n%s\nwant it to start with:\n%s", dump, want.String())
			for _, p := range img.Partitions {
				line := fmt.Sprintf("%s%d : start=%12d, size=%12d, type=%s, uuid=%s, name=%q", path, p.Number, p.Offset/512, p.Size/512,
					strings.ToUpper(p.Type.String()), strings.ToUpper(p.UUID.String()), p.Label)
				if p.Attributes != 0 {
					line += `, attrs="GUID:60"`
				}
				require.Contains(t, dump, line+"\n")
			}
			require.Equal(t, 3, strings.Count(dump, path+"1 :")+strings.Count(dump, path+"2 :")+strings.Count(dump, path+"3 :"))

			require.Contains(t, run(t, sgdisk, "--verify", path), "No problems found")
			list := run(t, sgdisk, "--print", path)
			for _, p := range img.Partitions {
				require.Regexp(t, fmt.Sprintf(`(?m)^\s+%d\s+%d\s+%d\s.*%s$`, p.Number, p.Offset/512, (p.Offset+p.Size)/512-1, regexp.QuoteMeta(p.Label)), list)
			}
			info := run(t, sgdisk, "--info=1", path)
			require.Contains(t, info, "Partition unique GUID: "+strings.ToUpper(img.Partitions[0].UUID.String()))
			require.Contains(t, info, "Attribute flags: 1000000000000000")
		})
	}
}

func TestSystemdDissect(t *testing.T) {
	dissect := testtool.Need(t, "systemd-dissect")
	testtool.RequireRoot(t, "systemd-dissect attaches the image to a loop device")
	dir := t.TempDir()
	_, fs := testSquashfs(t, dir)
	signer := ecSigner(t, dir, "s")
	for _, c := range []struct {
		name   string
		opts   Options
		verity string // the VERITY column of the root row
	}{
		{"signed-x86-64", Options{Arch: "x86-64", Signer: signer}, "signed"},
		{"signed-arm64", Options{Arch: "arm64", Signer: signer}, "signed"},
		// 252 does not use the hash partition of an unsigned image on
		// its own: it needs the root hash from elsewhere.
		{"unsigned", Options{Arch: "x86-64"}, "no"},
		{"512-byte-blocks", Options{Arch: "x86-64", Signer: signer, Verity: verity.Options{DataBlockSize: 512, HashBlockSize: 512}}, "signed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".raw")
			_, img, _ := writeImage(t, path, fs, c.opts)
			out := run(t, dissect, path)
			require.Contains(t, out, "OS Release: ID=debian")
			for _, p := range img.Partitions {
				fstype := map[Designator]string{Root: "squashfs", RootVerity: "DM_verity_hash", RootVeritySig: "verity_hash_signature"}[p.Designator]
				verity := "-"
				if p.Designator == Root {
					verity = c.verity
				}
				re := fmt.Sprintf(`(?m)^ro %s\s+%s %s\s+%s\s+%s\s+%s\s+no\s+\S+p%d\s+%d$`, p.Designator, p.UUID, p.Label, fstype, c.opts.Arch, verity, p.Number, p.Number)
				require.Regexp(t, re, out)
			}
		})
	}
}

// TestTypesMatchSystemd compares the partition types with the ones
// `systemd-id128 show` lists.
func TestTypesMatchSystemd(t *testing.T) {
	id128 := testtool.Need(t, "systemd-id128")
	known := map[string]string{}
	for _, line := range strings.Split(run(t, id128, "show"), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			known[f[0]] = f[1]
		}
	}
	for _, a := range architectures {
		for d := Root; d <= UsrVeritySig; d++ {
			name := TypeName(d, a.name)
			want, ok := known[name]
			require.True(t, ok, "systemd-id128 does not know %s", name)
			got, err := TypeUUID(d, a.name)
			require.NoError(t, err)
			require.Equal(t, want, strings.ReplaceAll(got.String(), "-", ""), name)
			gd, ga, ok := LookupType(got)
			require.True(t, ok)
			require.Equal(t, d, gd)
			require.Equal(t, a.name, ga)
		}
		arch, ok := ArchFromGOARCH(a.goarch)
		require.True(t, ok)
		require.Equal(t, a.name, arch)
	}
}

// TestVeritysetupOpenSSL checks the hash partition with veritysetup and
// the signature partition's signature with openssl.
func TestVeritysetupOpenSSL(t *testing.T) {
	vs := testtool.Need(t, "veritysetup")
	openssl := testtool.Need(t, "openssl")
	dir := t.TempDir()
	_, fs := testSquashfs(t, dir)
	signer := rsaSigner(t, dir, "signer")
	b, img, tree := writeImage(t, filepath.Join(dir, "a.raw"), fs, Options{Arch: "x86-64", Signer: signer})
	data, hash := partFile(t, b, img.Partitions[0]), partFile(t, b, img.Partitions[1])
	run(t, vs, "verify", data, hash, tree.RootHash.String())
	dump := run(t, vs, "dump", hash)
	require.Regexp(t, `Data blocks:\s+`+fmt.Sprint(img.Partitions[0].Size/4096)+`\n`, dump)
	require.Regexp(t, `Data block size:\s+4096\n`, dump)

	sig, err := ReadSignature(bytes.NewReader(b), img.Partitions[2])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sig.p7s"), sig.PKCS7, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "roothash"), []byte(tree.RootHash.String()), 0o644))
	crt := filepath.Join(dir, "signer.crt")
	// The certificate travels inside the signature, as repart puts it.
	run(t, openssl, "smime", "-verify", "-binary", "-inform", "der", "-in", filepath.Join(dir, "sig.p7s"),
		"-content", filepath.Join(dir, "roothash"), "-CAfile", crt, "-purpose", "any", "-out", os.DevNull)
	ecSigner(t, dir, "other") // writes other.crt
	out, err := exec.Command(openssl, "smime", "-verify", "-binary", "-inform", "der", "-in", filepath.Join(dir, "sig.p7s"),
		"-content", filepath.Join(dir, "roothash"), "-CAfile", filepath.Join(dir, "other.crt"), "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	require.Error(t, err, "openssl accepted the signature with another CA: %s", out)
}

// TestRepart compares our image with the one systemd-repart 252 writes
// from the same squashfs, key and certificate. repart picks the verity
// salt and superblock UUID at random and makes the file system partition
// 10 MiB; given those (read back from its image), we write the same root
// hash, the same file system and hash tree bytes, and the same signature
// JSON. What differs is asserted below, one by one.
func TestRepart(t *testing.T) {
	repart := testtool.Need(t, "systemd-repart")
	testtool.RequireRoot(t, "systemd-repart 252 writes through loop devices")
	dir := t.TempDir()
	fsPath, fs := testSquashfs(t, dir)
	signer := rsaSigner(t, dir, "signer")

	defs := filepath.Join(dir, "repart.d")
	require.NoError(t, os.Mkdir(defs, 0o755))
	for name, conf := range map[string]string{
		"10-root.conf":            "[Partition]\nType=root\nCopyBlocks=" + fsPath + "\nVerity=data\nVerityMatchKey=root\n",
		"20-root-verity.conf":     "[Partition]\nType=root-verity\nVerity=hash\nVerityMatchKey=root\n",
		"30-root-verity-sig.conf": "[Partition]\nType=root-verity-sig\nVerity=signature\nVerityMatchKey=root\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(defs, name), []byte(conf), 0o644))
	}
	theirPath := filepath.Join(dir, "repart.raw")
	run(t, repart, "--definitions="+defs, "--empty=create", "--size=auto", "--dry-run=no",
		"--private-key="+filepath.Join(dir, "signer.key"), "--certificate="+filepath.Join(dir, "signer.crt"),
		"--seed=0f5c3b1e2d4a49c8a7b6e5d4c3b2a190", theirPath)
	theirs, err := os.ReadFile(theirPath)
	require.NoError(t, err)

	// Our reader and checker accept repart's image.
	rep, err := Verify(context.Background(), bytes.NewReader(theirs), int64(len(theirs)), signer.Certificate())
	require.NoError(t, err)
	require.True(t, rep.SignatureVerified)
	require.Equal(t, 512, rep.Verity.DataBlockSize, "repart 252 uses the sector size for verity blocks")
	require.Equal(t, 512, rep.Verity.HashBlockSize)
	require.Len(t, rep.Image.Partitions, 3)
	tp := rep.Image.Partitions

	// Ours, given repart's salt, verity UUID and file system partition size.
	data := append(append([]byte{}, fs...), make([]byte, tp[0].Size-int64(len(fs)))...)
	ourPath := filepath.Join(dir, "ours.raw")
	ours, img, tree := writeImage(t, ourPath, data, Options{Arch: "x86-64", Signer: signer,
		Verity: verity.Options{DataBlockSize: 512, HashBlockSize: 512, Salt: rep.Verity.Salt, UUID: rep.Verity.UUID}})
	op := img.Partitions
	require.Equal(t, rep.RootHash, tree.RootHash, "same root hash")
	for i := range op {
		require.Equal(t, tp[i].Type, op[i].Type, "partition %d type", i+1)
		require.Equal(t, tp[i].Label, op[i].Label, "partition %d label", i+1)
	}
	require.Equal(t, tp[0].Offset, op[0].Offset, "file system at 1 MiB")
	require.Equal(t, tp[1].Offset, op[1].Offset, "hash tree right after it")
	require.Equal(t, tp[0].UUID, op[0].UUID, "file system partition UUID: first half of the root hash")
	require.Equal(t, tp[1].UUID, op[1].UUID, "hash partition UUID: second half of the root hash")
	require.Equal(t, tp[0].Size, op[0].Size)
	require.Equal(t, theirs[tp[0].Offset:tp[0].Offset+tp[0].Size], ours[op[0].Offset:op[0].Offset+op[0].Size], "file system partition")
	hs := tree.HashSize()
	require.Equal(t, theirs[tp[1].Offset:tp[1].Offset+hs], ours[op[1].Offset:op[1].Offset+hs], "hash tree")
	require.Equal(t, make([]byte, tp[1].Size-hs), theirs[tp[1].Offset+hs:tp[1].Offset+tp[1].Size], "repart's hash partition is zeros past the tree")
	theirSig, _, _ := bytes.Cut(theirs[tp[2].Offset:tp[2].Offset+tp[2].Size], []byte{0})
	ourSig, _, _ := bytes.Cut(ours[op[2].Offset:op[2].Offset+op[2].Size], []byte{0})
	require.Equal(t, string(theirSig), string(ourSig), "signature JSON (RSA signatures are deterministic)")
	require.Equal(t, tp[2].Size, op[2].Size, "signature partition: 16 KiB")

	// The differences.
	require.Equal(t, int64(10<<20), tp[1].Size, "repart: hash partition of the default minimum, 10 MiB")
	require.Equal(t, roundUp(hs, 4096), op[1].Size, "ours: the tree rounded up to 4 KiB")
	require.Equal(t, uint64(AttrGrowFS), tp[0].Attributes, "repart 252 marks the root grow-fs")
	require.Equal(t, uint64(AttrReadOnly), op[0].Attributes, "ours: read-only")
	require.Equal(t, uint64(AttrReadOnly), tp[1].Attributes)
	require.Equal(t, tp[1].Attributes, op[1].Attributes)
	require.Equal(t, tp[2].Attributes, op[2].Attributes)
	require.NotEqual(t, tp[2].UUID, op[2].UUID, "repart derives the signature partition UUID from --seed, we from the contents")
	require.NotEqual(t, rep.Image.DiskGUID, img.DiskGUID, "likewise the disk GUID")
	require.Equal(t, byte(0x40), tp[2].UUID[6]&0xf0, "repart's are version 4 UUIDs too")
	require.Equal(t, roundUp(tp[2].Offset+tp[2].Size+33*512, 4096), int64(len(theirs)), "repart sizes the disk as we do")
	t.Logf("repart: %d bytes, hash partition %d bytes; ours: %d bytes, hash partition %d bytes", len(theirs), tp[1].Size, len(ours), op[1].Size)

	// JSON text: the signature in the JSON is openssl's PKCS7_sign with
	// the certificate and no attributes.
	sigB64 := regexp.MustCompile(`"signature":"([^"]+)"`).FindSubmatch(theirSig)
	require.NotNil(t, sigB64)
	der, err := base64.StdEncoding.DecodeString(string(sigB64[1]))
	require.NoError(t, err)
	require.True(t, bytes.Contains(der, signer.Certificate().Raw), "repart embeds the certificate")
}
