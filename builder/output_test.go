package builder

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/ddi"
	"github.com/mkportable/mkportable/internal/testkey"
	"github.com/mkportable/mkportable/portable"
	"github.com/mkportable/mkportable/squashfs"
	"github.com/mkportable/mkportable/verity"
	"github.com/stretchr/testify/require"
)

// roles maps each output's role to its file name and SHA-256.
func roles(res *Result) map[string][2]string {
	m := map[string][2]string{}
	for _, o := range res.Outputs {
		m[o.Role] = [2]string{filepath.Base(o.Path), o.SHA256}
	}
	return m
}

func TestBuildVerity(t *testing.T) {
	spec := fixture(t)
	spec.Verity = true
	out := t.TempDir()
	res, err := Build(context.Background(), spec, out, Options{Workers: 1})
	require.NoError(t, err)
	require.Equal(t, []string{"verity", "roothash", "image"}, []string{res.Outputs[0].Role, res.Outputs[1].Role, res.Outputs[2].Role})
	require.Equal(t, "web-server_20220227.verity", filepath.Base(res.Outputs[0].Path))
	require.Equal(t, "web-server_20220227.roothash", filepath.Base(res.Outputs[1].Path))

	roothash, err := os.ReadFile(filepath.Join(out, "web-server_20220227.roothash"))
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{64}$`, string(roothash), "64 hex digits, no newline")
	require.Equal(t, res.RootHash, string(roothash))

	root, err := verity.ParseRootHash(string(roothash))
	require.NoError(t, err)
	data, err := os.Open(res.Path)
	require.NoError(t, err)
	defer data.Close()
	hash, err := os.Open(res.Outputs[0].Path)
	require.NoError(t, err)
	defer hash.Close()
	p, err := verity.Verify(context.Background(), data, res.Size, hash, res.Outputs[0].Size, root)
	require.NoError(t, err)
	require.Equal(t, res.Size, p.DataSize(), "the tree covers the whole image")
	require.Equal(t, 4096, p.DataBlockSize)

	// Two builds give the same bytes, every file.
	again, err := Build(context.Background(), spec, t.TempDir(), Options{Workers: 3})
	require.NoError(t, err)
	require.Equal(t, roles(res), roles(again))

	// The image is the one a build without verity writes.
	spec.Verity = false
	plain, err := Build(context.Background(), spec, out, Options{})
	require.NoError(t, err)
	require.Equal(t, res.SHA256, plain.SHA256)
	// ... and the sidecars of the earlier build are gone: systemd would
	// use them with the new image.
	require.Equal(t, []string{filepath.Join(out, "web-server_20220227.roothash"), filepath.Join(out, "web-server_20220227.verity")}, plain.Removed)
	left, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, left, 1)
}

func TestBuildSigned(t *testing.T) {
	for _, alg := range []testkey.Algorithm{testkey.RSA, testkey.ECDSA} {
		t.Run(string(alg), func(t *testing.T) {
			spec := fixture(t)
			key := testkey.Write(t, t.TempDir(), alg, "mkportable test")
			spec.SignKey, spec.Cert = key.KeyPath, key.CertPath
			res, err := Build(context.Background(), spec, t.TempDir(), Options{})
			require.NoError(t, err)
			r := roles(res)
			require.Equal(t, "web-server_20220227.roothash.p7s", r["signature"][0])
			require.Contains(t, r, "verity", "a signature implies verity")
			sig, err := os.ReadFile(res.Outputs[1].Path)
			require.NoError(t, err)
			root, err := verity.ParseRootHash(res.RootHash)
			require.NoError(t, err)
			require.NoError(t, verity.VerifyRootHashSignature(root, sig, key.Cert))
			other := testkey.Write(t, t.TempDir(), alg, "someone else")
			require.Error(t, verity.VerifyRootHashSignature(root, sig, other.Cert))

			again, err := Build(context.Background(), spec, t.TempDir(), Options{})
			require.NoError(t, err)
			require.Equal(t, r, roles(again), "RSA and RFC 6979 ECDSA signatures are deterministic")
		})
	}
}

func TestBuildDDI(t *testing.T) {
	spec := fixture(t)
	spec.Format = "ddi"
	key := testkey.Write(t, t.TempDir(), testkey.RSA, "mkportable test")
	spec.SignKey, spec.Cert = key.KeyPath, key.CertPath
	out := t.TempDir()
	// Sidecars of an earlier raw build would be used with the DDI.
	require.NoError(t, os.WriteFile(filepath.Join(out, "web-server_20220227.roothash"), []byte("x"), 0o644))
	res, err := Build(context.Background(), spec, out, Options{})
	require.NoError(t, err)
	require.Len(t, res.Outputs, 1)
	require.Equal(t, []string{filepath.Join(out, "web-server_20220227.roothash")}, res.Removed)
	require.Equal(t, "ddi", res.Format)
	var names []string
	for _, p := range res.Disk.Partitions {
		names = append(names, p.TypeName())
	}
	require.Equal(t, []string{"root-x86-64", "root-x86-64-verity", "root-x86-64-verity-sig"}, names)

	f, err := os.Open(res.Path)
	require.NoError(t, err)
	defer f.Close()
	rep, err := ddi.Verify(context.Background(), f, res.Size, key.Cert)
	require.NoError(t, err)
	require.True(t, rep.SignatureVerified)
	require.Equal(t, res.RootHash, rep.RootHash.String())
	// The root partition is the squashfs the raw format writes.
	sq, err := squashfs.NewReader(io.NewSectionReader(f, rep.Data.Offset, rep.Data.Size), rep.Data.Size)
	require.NoError(t, err)
	_, err = sq.Lstat("etc/os-release")
	require.NoError(t, err)
	left, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, left, 1, "the scratch squashfs is gone")

	again, err := Build(context.Background(), spec, t.TempDir(), Options{})
	require.NoError(t, err)
	require.Equal(t, res.SHA256, again.SHA256)

	spec.Architecture = "arm64"
	arm, err := Build(context.Background(), spec, t.TempDir(), Options{})
	require.NoError(t, err)
	require.Equal(t, "root-arm64", arm.Disk.Partitions[0].TypeName())
}

// sysextFixture is a spec for a system extension with one program.
func sysextFixture(t *testing.T) Spec {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	return Spec{Name: "tool", Version: "1", Kind: "sysext", Architecture: "x86-64", Dir: dir,
		Contents: []Content{{Source: filepath.Join(dir, "tool"), Target: "/usr/bin/tool"}}}
}

func TestBuildSysext(t *testing.T) {
	spec := sysextFixture(t)
	res, err := Build(context.Background(), spec, t.TempDir(), Options{})
	require.NoError(t, err)
	require.Equal(t, "sysext", res.Kind)
	require.Equal(t, map[string]portable.Outcome{"252": "active", "257": "active"}, res.Report.Outcomes())

	r, err := squashfs.OpenReader(res.Path)
	require.NoError(t, err)
	defer r.Close()
	rel := "usr/lib/extension-release.d/extension-release.tool"
	data, err := fsReadFile(r, rel)
	require.NoError(t, err)
	require.Equal(t, "ID=\"_any\"\nARCHITECTURE=\"x86-64\"\nSYSEXT_ID=\"tool\"\nSYSEXT_VERSION_ID=\"1\"\n", string(data))
	for _, absent := range []string{"etc/os-release", "proc", "etc/systemd/system"} {
		_, err := r.Lstat(absent)
		require.Error(t, err, "%s in a sysext", absent)
	}
	// The release file carries the attribute that lets systemd 252 take
	// it for the image tool_1.
	img, err := Layout(context.Background(), spec, Options{})
	require.NoError(t, err)
	info, err := img.Tree.FS().(fs.ReadLinkFS).Lstat(rel)
	require.NoError(t, err)
	require.Equal(t, []byte("0"), info.Sys().(*squashfs.InodeInfo).Xattrs[portable.StrictXattr])

	// For a portable image: the extension's release names it.
	spec.OSRelease = map[string]string{"ID": "web-server", "VERSION_ID": "20220227", "SYSEXT_SCOPE": "portable"}
	res, err = Build(context.Background(), spec, t.TempDir(), Options{})
	require.NoError(t, err)
	r2, err := squashfs.OpenReader(res.Path)
	require.NoError(t, err)
	defer r2.Close()
	data, err = fsReadFile(r2, rel)
	require.NoError(t, err)
	require.Equal(t, "ID=\"web-server\"\nARCHITECTURE=\"x86-64\"\nSYSEXT_ID=\"tool\"\nSYSEXT_VERSION_ID=\"1\"\nSYSEXT_SCOPE=\"portable\"\nVERSION_ID=\"20220227\"\n", string(data))
}

func fsReadFile(r *squashfs.ReadCloser, name string) ([]byte, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func TestBuildConfext(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "motd"), []byte("hello\n"), 0o644))
	spec := Spec{Name: "conf", Version: "2", Kind: "confext", Dir: dir,
		Contents: []Content{{Source: filepath.Join(dir, "motd"), Target: "/etc/conf/motd"}}}
	res, err := Build(context.Background(), spec, t.TempDir(), Options{})
	require.NoError(t, err)
	require.Equal(t, map[string]portable.Outcome{"252": "refused", "257": "active"}, res.Report.Outcomes(),
		"252 has no systemd-confext: a build for 257 is not an error")
	r, err := squashfs.OpenReader(res.Path)
	require.NoError(t, err)
	defer r.Close()
	data, err := fsReadFile(r, "etc/extension-release.d/extension-release.conf")
	require.NoError(t, err)
	require.Equal(t, "ID=\"_any\"\nCONFEXT_ID=\"conf\"\nCONFEXT_VERSION_ID=\"2\"\n", string(data))
}

func TestBuildSettingsRefused(t *testing.T) {
	key := testkey.Write(t, t.TempDir(), testkey.ECDSA, "k")
	tests := []struct {
		name   string
		mutate func(s *Spec)
		want   []string
	}{
		{"unknown kind", func(s *Spec) { s.Kind = "initrd" }, []string{`kind: "initrd": want portable, sysext or confext`}},
		{"unknown format", func(s *Spec) { s.Format = "qcow2" }, []string{`format: "qcow2": want raw or ddi`}},
		{"unknown architecture", func(s *Spec) { s.Architecture = "amd64" }, []string{`architecture: "amd64" is not one of systemd's`}},
		{"DDI of an architecture without partition types", func(s *Spec) { s.Format, s.Architecture = "ddi", "sparc64" },
			[]string{`architecture: "sparc64": the Discoverable Partitions Specification has no root partition type`}},
		{"key without certificate", func(s *Spec) { s.SignKey = key.KeyPath }, []string{"cert: signKey is set but cert is not"}},
		{"certificate without key", func(s *Spec) { s.Cert = key.CertPath }, []string{"signKey: cert is set but signKey is not"}},
		{"missing key", func(s *Spec) { s.SignKey, s.Cert = "/nonexistent.key", key.CertPath }, []string{"signKey: open /nonexistent.key"}},
		{"key of another certificate", func(s *Spec) {
			other := testkey.Write(t, t.TempDir(), testkey.ECDSA, "other")
			s.SignKey, s.Cert = other.KeyPath, key.CertPath
		}, []string{"private key does not match the certificate"}},
		{"certificate file not PEM", func(s *Spec) { s.SignKey, s.Cert = key.KeyPath, key.KeyPath }, []string{"no CERTIFICATE PEM block"}},
		{"sysext with store paths", func(s *Spec) { s.Kind = "sysext"; s.Units = nil },
			[]string{"storePaths: /nix/store/00000000000000000000000000000000-web-server-20220227 is outside /usr and /opt, the only directories a sysext contributes"}},
		{"sysext with matches and profile", func(s *Spec) {
			s.Kind, s.StorePaths, s.Units = "sysext", nil, nil
			s.Matches, s.Profile = []string{"x"}, "strict"
		}, []string{"matches: a sysext is not attached with matches", "profile: a sysext runs no service"}},
		{"confext with contents in /usr", func(s *Spec) {
			s.Kind, s.StorePaths, s.Units = "confext", nil, nil
			p := filepath.Join(s.Dir, "x")
			require.NoError(t, os.WriteFile(p, nil, 0o644))
			s.Contents = []Content{{Source: p, Target: "/usr/share/x"}}
		}, []string{"/usr/share/x is outside /etc, the only directories a confext contributes"}},
		{"sysext for a host without a version", func(s *Spec) {
			s.Kind, s.StorePaths, s.Units = "sysext", nil, nil
			s.OSRelease = map[string]string{"ID": "debian"}
		}, []string{"osRelease: extension-release-no-version (refused)"}},
		{"sysext carrying /usr/lib/os-release", func(s *Spec) {
			s.Kind, s.StorePaths, s.Units = "sysext", nil, nil
			p := filepath.Join(s.Dir, "os-release")
			require.NoError(t, os.WriteFile(p, []byte("ID=x\n"), 0o644))
			s.Contents = []Content{{Source: p, Target: "/usr/lib/os-release"}}
		}, []string{"extension-os-release (refused)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fixture(t)
			tt.mutate(&spec)
			out := t.TempDir()
			_, err := Build(context.Background(), spec, out, Options{})
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			left, _ := os.ReadDir(out)
			require.Empty(t, left, "a failed build left files behind")
		})
	}
}

func TestLoadSpecKeyPaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "spec.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"name":"x","version":"1","kind":"sysext","format":"ddi","verity":true,
		"architecture":"arm64","signKey":"keys/k.pem","cert":"/etc/verity.d/k.crt"}`), 0o644))
	s, err := LoadSpec(p)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "keys/k.pem"), s.SignKey)
	require.Equal(t, "/etc/verity.d/k.crt", s.Cert)
	require.True(t, s.Verity)
	require.Equal(t, "ddi", s.Format)
	require.True(t, strings.HasSuffix(s.Kind, "sysext"))
}
