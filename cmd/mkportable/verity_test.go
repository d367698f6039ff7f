package main

// `build --verity`, `--sign-key --cert` and `--format ddi` checked by tools
// nobody here wrote (veritysetup, openssl, systemd-dissect, sfdisk), and
// `inspect` on what they wrote, as issue 11 asks.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testkey"
	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
)

// tool runs a checker program (testtool.Command) and returns its output.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := testtool.Command(t, name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

// buildJSON runs build with args into a new directory and returns its
// result.
func buildJSON(t *testing.T, args ...string) buildResult {
	t.Helper()
	flags, _ := storeFixture(t)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, append(append([]string{"build", "-o", out, "--json"}, flags...), args...)...)
	require.Equal(t, 0, code, stderr)
	var res buildResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	return res
}

// shas maps each output's file name to its SHA-256, after checking the
// SHA-256 against the file.
func shas(t *testing.T, res buildResult) map[string]string {
	m := map[string]string{}
	for _, o := range res.Outputs {
		m[filepath.Base(o.Path)] = o.SHA256
		b, err := os.ReadFile(o.Path)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		require.Equal(t, o.SHA256, hex.EncodeToString(sum[:]))
	}
	return m
}

func inspectJSON(t *testing.T, wantCode int, args ...string) inspection {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"inspect", "--json"}, args...)...)
	require.Equal(t, wantCode, code, "%s\n%s", stdout, stderr)
	var got inspection
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	return got
}

func rules(got inspection) map[string]string {
	m := map[string]string{}
	for _, p := range got.Problems {
		m[p.Rule] = string(p.Severity)
	}
	return m
}

func TestBuildVeritySidecars(t *testing.T) {
	key := testkey.Write(t, t.TempDir(), testkey.RSA, "mkportable test")
	res := buildJSON(t, "--sign-key", key.KeyPath, "--cert", key.CertPath)
	side := strings.TrimSuffix(res.Path, ".raw")
	require.Equal(t, []string{"verity", "signature", "roothash", "image"}, []string{res.Outputs[0].Role, res.Outputs[1].Role, res.Outputs[2].Role, res.Outputs[3].Role})
	require.Equal(t, side+".verity", res.Outputs[0].Path)
	require.Equal(t, side+".roothash.p7s", res.Outputs[1].Path)
	require.Equal(t, side+".roothash", res.Outputs[2].Path)
	roothash, err := os.ReadFile(side + ".roothash")
	require.NoError(t, err)
	require.Equal(t, res.RootHash, string(roothash))

	// veritysetup accepts our data, hash file and root hash, and reads
	// our superblock.
	tool(t, "veritysetup", "verify", res.Path, side+".verity", res.RootHash)
	dump := tool(t, "veritysetup", "dump", side+".verity")
	require.Regexp(t, `Data blocks:\s+`+fmt.Sprint(res.Size/4096)+`\n`, dump)
	require.Regexp(t, `Hash type:\s+1\n`, dump)
	require.Regexp(t, `Hash algorithm:\s+sha256\n`, dump)
	// ... and refuses a root hash one bit off.
	off := []byte(res.RootHash)
	off[0] ^= 1
	_, err = testtool.Command(t, "veritysetup", "verify", res.Path, side+".verity", string(off)).CombinedOutput()
	require.Error(t, err)

	// openssl accepts the signature of the root hash's text with the
	// test certificate (the signature carries no certificate: -certfile).
	tool(t, "openssl", "smime", "-verify", "-binary", "-inform", "der", "-in", side+".roothash.p7s",
		"-content", side+".roothash", "-CAfile", key.CertPath, "-certfile", key.CertPath, "-purpose", "any", "-out", os.DevNull)
	other := testkey.Write(t, t.TempDir(), testkey.RSA, "someone else")
	out, err := testtool.Command(t, "openssl", "smime", "-verify", "-binary", "-inform", "der", "-in", side+".roothash.p7s",
		"-content", side+".roothash", "-CAfile", other.CertPath, "-certfile", other.CertPath, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	require.Error(t, err, "openssl accepted the signature with another certificate: %s", out)

	// Two builds, same bytes in every file.
	again := buildJSON(t, "--sign-key", key.KeyPath, "--cert", key.CertPath)
	require.Equal(t, shas(t, res), shas(t, again))

	// inspect: sidecars found, tree and signature checked.
	got := inspectJSON(t, 0, "--cert", key.CertPath, res.Path)
	require.Equal(t, "sidecars", got.Verity.Source)
	require.Equal(t, res.RootHash, got.Verity.RootHash)
	require.True(t, *got.Verity.TreeMatches)
	require.True(t, *got.Verity.SignatureVerified)
	require.Equal(t, map[string]string{}, rules(got))
	got = inspectJSON(t, 0, res.Path)
	require.Nil(t, got.Verity.SignatureVerified)
	require.Equal(t, map[string]string{"verity-signature-unchecked": "note"}, rules(got))
	got = inspectJSON(t, 1, "--cert", other.CertPath, res.Path)
	require.False(t, *got.Verity.SignatureVerified)
	require.Equal(t, "fails", rules(got)["verity-signature"])

	// One byte of the squashfs flipped: the tree no longer matches.
	b, err := os.ReadFile(res.Path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x40
	require.NoError(t, os.WriteFile(res.Path, b, 0o644))
	got = inspectJSON(t, 1, "--cert", key.CertPath, res.Path)
	require.False(t, *got.Verity.TreeMatches)
	require.Equal(t, "fails", rules(got)["verity-mismatch"])
	_, err = testtool.Command(t, "veritysetup", "verify", res.Path, side+".verity", res.RootHash).CombinedOutput()
	require.Error(t, err, "veritysetup verify accepted a flipped byte")

	// Half the sidecars: systemd 252 runs the image unverified.
	b[len(b)/2] ^= 0x40
	require.NoError(t, os.WriteFile(res.Path, b, 0o644))
	require.NoError(t, os.Rename(side+".verity", side+".verity.off"))
	got = inspectJSON(t, 0, res.Path)
	require.Equal(t, "ignored", rules(got)["verity-no-tree"])
	require.NoError(t, os.Rename(side+".verity.off", side+".verity"))
	require.NoError(t, os.Remove(side+".roothash"))
	got = inspectJSON(t, 0, res.Path)
	require.Equal(t, "ignored", rules(got)["verity-no-roothash"])
	require.Equal(t, "ignored", rules(got)["verity-signature-unused"])
}

func TestBuildDDI(t *testing.T) {
	key := testkey.Write(t, t.TempDir(), testkey.ECDSA, "mkportable test")
	res := buildJSON(t, "--format", "ddi", "--sign-key", key.KeyPath, "--cert", key.CertPath)
	require.Len(t, res.Outputs, 1)
	require.Equal(t, "ddi", res.Format)
	require.Len(t, res.Partitions, 3)

	// sfdisk reads the partition types and UUIDs we report; the first two
	// UUIDs are the halves of the root hash.
	dump := tool(t, "sfdisk", "--dump", res.Path)
	types := map[string]string{
		"root-x86-64":            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
		"root-x86-64-verity":     "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5",
		"root-x86-64-verity-sig": "41092B05-9FC8-4523-994F-2DEF0408B176",
	}
	for _, p := range res.Partitions {
		require.Equal(t, types[p.Type], strings.ToUpper(p.TypeUUID))
		require.Regexp(t, fmt.Sprintf(`%s%d : start=\s*%d, size=\s*%d, type=%s, uuid=%s, name="%s"`, regexp.QuoteMeta(res.Path), p.Number,
			p.Offset/512, p.Size/512, types[p.Type], strings.ToUpper(p.UUID), p.Type), dump)
	}
	uuid := func(i int) string { return strings.ReplaceAll(res.Partitions[i].UUID, "-", "") }
	require.Equal(t, res.RootHash, uuid(0)+uuid(1))

	again := buildJSON(t, "--format", "ddi", "--sign-key", key.KeyPath, "--cert", key.CertPath)
	require.Equal(t, shas(t, res), shas(t, again), "two DDI builds, same bytes (RFC 6979 ECDSA)")

	got := inspectJSON(t, 0, "--cert", key.CertPath, res.Path)
	require.Equal(t, "ddi", got.Format)
	require.Equal(t, "partitions", got.Verity.Source)
	require.True(t, *got.Verity.TreeMatches)
	require.True(t, *got.Verity.SignatureVerified)
	require.Equal(t, "web-server", got.Name)
	require.Len(t, got.Partitions, 3)
	require.Equal(t, map[string]string{}, rules(got))

	unsigned := buildJSON(t, "--format", "ddi")
	got = inspectJSON(t, 0, unsigned.Path)
	require.Len(t, got.Partitions, 2)
	require.Equal(t, "ignored", rules(got)["verity-unsigned-ddi"])

	code, stdout, _ := runCLI(t, "inspect", "--cert", key.CertPath, res.Path)
	require.Equal(t, 0, code)
	for _, want := range []string{"ddi", "partition 1 root-x86-64", "partition 3 root-x86-64-verity-sig",
		"verity      partitions", "root hash " + res.RootHash, "hash tree matches", "signature verifies against CN=mkportable test"} {
		require.Contains(t, stdout, want)
	}
}

func TestSystemdDissectReadsOurDDI(t *testing.T) {
	testtool.RequireRoot(t, "systemd-dissect attaches the image to a loop device")
	key := testkey.Write(t, t.TempDir(), testkey.RSA, "mkportable test")
	res := buildJSON(t, "--format", "ddi", "--sign-key", key.KeyPath, "--cert", key.CertPath)
	out := tool(t, "systemd-dissect", res.Path)
	require.Contains(t, out, "PORTABLE_PREFIXES=web-server")
	for _, p := range res.Partitions {
		require.Regexp(t, fmt.Sprintf(`(?m)^ro %s\s+%s %s\s`, map[string]string{
			"root-x86-64": "root", "root-x86-64-verity": "root-verity", "root-x86-64-verity-sig": "root-verity-sig"}[p.Type], p.UUID, p.Type), out)
	}
	require.Regexp(t, `(?m)^ro root\s.*squashfs\s+x86-64\s+signed\s`, out)
}

func TestBuildSysextCLI(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello"), []byte("#!/bin/sh\necho hello\n"), 0o755))
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "build", "-o", out, "--json", "--name", "hello", "--version", "1", "--kind", "sysext",
		"--architecture", "x86-64", "--verity", "--contents", filepath.Join(dir, "hello")+":/usr/bin/hello", "--host-contents")
	require.Equal(t, 0, code, stderr)
	var res buildResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	require.Equal(t, "sysext", res.Kind)
	require.Len(t, res.Outputs, 3)

	got := inspectJSON(t, 0, res.Path)
	require.Equal(t, "sysext", got.Kind)
	require.Equal(t, "/usr/lib/extension-release.d/extension-release.hello", got.ExtensionReleasePath)
	require.Equal(t, "_any", got.ExtensionRelease["ID"])
	require.True(t, *got.Verity.TreeMatches)

	// Inspected as what it is not.
	got = inspectJSON(t, 1, "--kind", "confext", res.Path)
	require.Equal(t, "refused", rules(got)["no-extension-release"])
}
