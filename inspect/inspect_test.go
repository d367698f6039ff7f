package inspect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/builder"
	"github.com/mkportable/mkportable/ddi"
	"github.com/mkportable/mkportable/internal/testkey"
	"github.com/stretchr/testify/require"
)

// build writes a portable image app_1.raw into dir with change applied
// to its spec, and returns its path.
func build(t testing.TB, dir string, change func(*builder.Spec)) string {
	t.Helper()
	src := t.TempDir()
	prog := filepath.Join(src, "app")
	require.NoError(t, os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755))
	unit := filepath.Join(src, "app.service")
	require.NoError(t, os.WriteFile(unit, []byte("[Service]\nExecStart=/usr/bin/app\n"), 0o644))
	spec := builder.Spec{Name: "app", Version: "1", Units: []string{unit}, HostContents: true, Compression: "gzip",
		Contents: []builder.Content{{Source: prog, Target: "/usr/bin/app"}}}
	if change != nil {
		change(&spec)
	}
	res, err := builder.Build(context.Background(), spec, dir, builder.Options{})
	require.NoError(t, err)
	return res.Path
}

func rules(r *Result) map[string]string {
	m := map[string]string{}
	for _, p := range r.Report.Problems {
		m[p.Rule] = string(p.Severity)
	}
	return m
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[off] ^= 0x80
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func TestInspectSquashfs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img := build(t, dir, nil)
	r, err := Inspect(ctx, img, Options{})
	require.NoError(t, err)
	require.Equal(t, "squashfs", r.Format)
	require.Equal(t, "none", r.Verity.Source)
	require.Nil(t, r.Verity.TreeMatches)
	require.Nil(t, r.Partitions)
	require.Equal(t, "portable", r.Report.Kind)
	require.Empty(t, rules(r))

	// Sidecars beside a file not named .raw are not looked for.
	withVerity := build(t, t.TempDir(), func(s *builder.Spec) { s.Verity = true })
	other := strings.TrimSuffix(withVerity, ".raw") + ".img"
	require.NoError(t, os.Rename(withVerity, other))
	r, err = Inspect(ctx, other, Options{Matches: []string{"app"}})
	require.NoError(t, err)
	require.Equal(t, "none", r.Verity.Source)

	// A bad root hash file.
	img = build(t, t.TempDir(), func(s *builder.Spec) { s.Verity = true })
	require.NoError(t, os.WriteFile(strings.TrimSuffix(img, ".raw")+".roothash", []byte("xyz"), 0o644))
	r, err = Inspect(ctx, img, Options{})
	require.NoError(t, err)
	require.False(t, *r.Verity.TreeMatches)
	require.Contains(t, r.Verity.TreeError, "roothash")
	require.Equal(t, "fails", rules(r)["verity-mismatch"])
}

func TestInspectDDI(t *testing.T) {
	ctx := context.Background()
	key := testkey.Write(t, t.TempDir(), testkey.ECDSA, "k")
	img := build(t, t.TempDir(), func(s *builder.Spec) { s.Format, s.SignKey, s.Cert = "ddi", key.KeyPath, key.CertPath })
	r, err := Inspect(ctx, img, Options{Cert: key.Cert})
	require.NoError(t, err)
	require.Equal(t, "ddi", r.Format)
	require.Len(t, r.Partitions, 3)
	require.Equal(t, "root-x86-64", r.Partitions[0].Type)
	require.True(t, *r.Verity.TreeMatches)
	require.True(t, *r.Verity.SignatureVerified)
	require.Equal(t, "CN=k", r.Verity.Certificate)
	require.Empty(t, rules(r))

	// A flipped byte in the root partition.
	flip(t, img, r.Partitions[0].Offset+4096)
	r, err = Inspect(ctx, img, Options{Cert: key.Cert})
	require.NoError(t, err)
	require.False(t, *r.Verity.TreeMatches)
	require.Equal(t, "fails", rules(r)["verity-mismatch"])
	flip(t, img, r.Partitions[0].Offset+4096)

	// The signature partition's JSON broken.
	flip(t, img, r.Partitions[2].Offset)
	r, err = Inspect(ctx, img, Options{})
	require.NoError(t, err)
	require.False(t, *r.Verity.SignatureVerified)
	require.Contains(t, r.Verity.SignatureError, "not a JSON object")
	require.Equal(t, "fails", rules(r)["verity-signature"])

	// A sysext DDI is a refused one when its tree does not match.
	sx := build(t, t.TempDir(), func(s *builder.Spec) {
		s.Kind, s.Format, s.Units = "sysext", "ddi", nil
		s.Contents[0].Target = "/usr/bin/app"
	})
	disk, err := os.Open(sx)
	require.NoError(t, err)
	info, err := disk.Stat()
	require.NoError(t, err)
	layout, err := ddi.Read(disk, info.Size())
	disk.Close()
	require.NoError(t, err)
	flip(t, sx, layout.Partitions[0].Offset+4096)
	r, err = Inspect(ctx, sx, Options{})
	require.NoError(t, err)
	require.Equal(t, "sysext", r.Report.Kind)
	require.Equal(t, "refused", rules(r)["verity-mismatch"])
	require.Equal(t, "ignored", rules(r)["verity-unsigned-ddi"])
}

func TestInspectRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.raw")
	require.NoError(t, os.WriteFile(junk, []byte(strings.Repeat("x", 8192)), 0o644))
	_, err := Inspect(ctx, junk, Options{})
	require.ErrorIs(t, err, ErrFormat)
	_, err = Inspect(ctx, dir, Options{})
	require.ErrorIs(t, err, ErrFormat)
	_, err = Inspect(ctx, filepath.Join(dir, "gone.raw"), Options{})
	require.ErrorIs(t, err, os.ErrNotExist)

	img := build(t, dir, nil)
	_, err = Inspect(ctx, img, Options{Kind: "initrd"})
	require.Error(t, err)
	_, err = Inspect(ctx, img, Options{Kind: "sysext", Extensions: []string{img}})
	require.ErrorContains(t, err, "has no extensions")
	_, err = Inspect(ctx, img, Options{Extensions: []string{junk}})
	require.ErrorIs(t, err, ErrFormat)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = Inspect(cctx, build(t, t.TempDir(), func(s *builder.Spec) { s.Verity = true }), Options{})
	require.ErrorIs(t, err, context.Canceled)
}

// FuzzInspect opens arbitrary files as images, with arbitrary sidecars:
// an error or a report, never a panic or an unbounded read.
func FuzzInspect(f *testing.F) {
	dir := f.TempDir()
	img := build(f, dir, func(s *builder.Spec) { s.Verity = true })
	seed, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	tree, err := os.ReadFile(strings.TrimSuffix(img, ".raw") + ".verity")
	if err != nil {
		f.Fatal(err)
	}
	root, err := os.ReadFile(strings.TrimSuffix(img, ".raw") + ".roothash")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, tree, root)
	f.Add(seed[:len(seed)/2], tree[:512], []byte("00"))
	f.Fuzz(func(t *testing.T, image, verity, roothash []byte) {
		d := t.TempDir()
		p := filepath.Join(d, "x_1.raw")
		require.NoError(t, os.WriteFile(p, image, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(d, "x_1.verity"), verity, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(d, "x_1.roothash"), roothash, 0o644))
		r, err := Inspect(context.Background(), p, Options{})
		if err == nil {
			require.NotNil(t, r.Report)
		}
	})
}
