package verity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
)

// build builds the tree of data with opts and returns it with its hash
// file.
func build(t testing.TB, data []byte, opts Options) (*Tree, []byte) {
	t.Helper()
	tree, err := Build(context.Background(), bytes.NewReader(data), int64(len(data)), opts)
	require.NoError(t, err)
	var b bytes.Buffer
	_, err = tree.WriteTo(&b)
	require.NoError(t, err)
	return tree, b.Bytes()
}

func verify(data, hash []byte, root RootHash) (Params, error) {
	return Verify(context.Background(), bytes.NewReader(data), int64(len(data)), bytes.NewReader(hash), int64(len(hash)), root)
}

// TestVeritysetupVerify checks trees of several shapes, built with the
// default options, with `veritysetup verify`, and that veritysetup refuses
// them once a data byte is flipped.
func TestVeritysetupVerify(t *testing.T) {
	vs := testtool.Need(t, "veritysetup")
	for _, c := range []struct {
		name   string
		size   int64
		opts   Options
		levels int
	}{
		{"one-block", 4096, Options{}, 0},
		{"unaligned", 3*4096 + 17, Options{}, 1},
		{"two-levels", 200 * 4096, Options{}, 2},
		{"three-levels", 300 * 4096, Options{HashBlockSize: 512}, 3},
		{"512", 70000, Options{DataBlockSize: 512, HashBlockSize: 512}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := testData(c.name, c.size)
			tree, hash := build(t, data, c.opts)
			require.Equal(t, c.levels, tree.Levels())
			require.Equal(t, int64(len(hash)), tree.HashSize())
			padded := padTo(data, tree.DataBlockSize)
			require.Equal(t, int64(len(padded)), tree.DataSize())

			dir := t.TempDir()
			dataPath, hashPath := filepath.Join(dir, "image.raw"), filepath.Join(dir, "image.verity")
			require.NoError(t, os.WriteFile(dataPath, padded, 0o644))
			require.NoError(t, os.WriteFile(hashPath, hash, 0o644))
			out, err := exec.Command(vs, "verify", dataPath, hashPath, tree.RootHash.String()).CombinedOutput()
			require.NoError(t, err, "veritysetup verify: %s", out)

			// veritysetup reads back the parameters we wrote.
			out, err = exec.Command(vs, "dump", hashPath).CombinedOutput()
			require.NoError(t, err, "%s", out)
			dump := string(out)
			for _, re := range []string{
				`Hash type:\s+1\n`,
				`Data blocks:\s+` + itoa(tree.DataBlocks) + `\n`,
				`Data block size:\s+` + itoa(int64(tree.DataBlockSize)) + `\n`,
				`Hash block size:\s+` + itoa(int64(tree.HashBlockSize)) + `\n`,
				`Hash algorithm:\s+sha256\n`,
				`Salt:\s+` + hexs(tree.Salt) + `\n`,
			} {
				require.Regexp(t, re, dump)
			}

			// One flipped byte in the last data block: both refuse.
			padded[len(padded)-tree.DataBlockSize] ^= 1
			require.NoError(t, os.WriteFile(dataPath, padded, 0o644))
			out, err = exec.Command(vs, "verify", dataPath, hashPath, tree.RootHash.String()).CombinedOutput()
			require.Error(t, err, "veritysetup verify accepted corrupted data: %s", out)
			_, err = verify(padded, hash, tree.RootHash)
			require.ErrorIs(t, err, ErrMismatch)
			if tree.Levels() > 0 {
				require.Contains(t, err.Error(), "data block "+itoa(tree.DataBlocks-1)+" ")
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func hexs(b []byte) string { return hex.EncodeToString(b) }

func TestBuildDeterministicAndDerivedSalt(t *testing.T) {
	data := testData("det", 10*4096+5)
	t1, h1 := build(t, data, Options{})
	t2, h2 := build(t, data, Options{})
	require.Equal(t, h1, h2)
	require.Equal(t, t1.RootHash, t2.RootHash)

	// The salt is the SHA-256 of the zero-padded data.
	sum := sha256.Sum256(padTo(append([]byte{}, data...), 4096))
	require.Equal(t, sum[:], t1.Salt)
	// The UUID is derived from the root hash, an RFC 9562 version 4 UUID.
	require.Equal(t, DeriveUUID(t1.RootHash), t1.UUID)
	require.Equal(t, byte(0x40), t1.UUID[6]&0xf0)
	require.Equal(t, byte(0x80), t1.UUID[8]&0xc0)

	// Other data, another salt and root hash.
	data[0] ^= 1
	t3, _ := build(t, data, Options{})
	require.NotEqual(t, t1.Salt, t3.Salt)
	require.NotEqual(t, t1.RootHash, t3.RootHash)

	// A given UUID and salt are kept.
	u := [16]byte{1, 2, 3}
	t4, h4 := build(t, data, Options{UUID: u, Salt: []byte{9}})
	require.Equal(t, u, t4.UUID)
	require.Equal(t, []byte{9}, t4.Salt)
	require.Equal(t, u[:], h4[16:32])
}

func TestBuildOptionsRefused(t *testing.T) {
	data := make([]byte, 4096)
	for _, c := range []struct {
		name string
		size int64
		opts Options
		want string
	}{
		{"empty", 0, Options{}, "no data"},
		{"negative", -1, Options{}, "no data"},
		{"small block", 4096, Options{DataBlockSize: 256}, "data block size 256"},
		{"odd block", 4096, Options{HashBlockSize: 3000}, "hash block size 3000"},
		{"huge block", 4096, Options{DataBlockSize: 1 << 20}, "data block size 1048576"},
		{"long salt", 4096, Options{Salt: make([]byte, 257)}, "salt of 257 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build(context.Background(), bytes.NewReader(data), c.size, c.opts)
			require.ErrorContains(t, err, c.want)
		})
	}
	// Data shorter than it says.
	_, err := Build(context.Background(), bytes.NewReader(data), 8192, Options{Salt: []byte{}})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestBuildCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := make([]byte, 8192)
	_, err := Build(ctx, bytes.NewReader(data), int64(len(data)), Options{})
	require.ErrorIs(t, err, context.Canceled)
	_, hash := build(t, data, Options{})
	_, err = Verify(ctx, bytes.NewReader(data), 8192, bytes.NewReader(hash), int64(len(hash)), RootHash{})
	require.ErrorIs(t, err, context.Canceled)
}

// TestVerifyFindsTheWrongBlock corrupts each part of a three-level tree and
// its data in turn.
func TestVerifyFindsTheWrongBlock(t *testing.T) {
	data := testData("corrupt", 300*4096)
	tree, hash := build(t, data, Options{HashBlockSize: 512})
	require.Equal(t, 3, tree.Levels())
	ls := tree.levels()
	p, err := verify(data, hash, tree.RootHash)
	require.NoError(t, err)
	require.Equal(t, tree.Params, p)

	flip := func(b []byte, off int) []byte {
		c := append([]byte{}, b...)
		c[off] ^= 0x80
		return c
	}
	for _, c := range []struct {
		name       string
		data, hash []byte
		root       RootHash
		want       string
	}{
		{"first data block", flip(data, 0), hash, tree.RootHash, "data block 0 (bytes 0 to 4096)"},
		{"data block 150", flip(data, 150*4096+4095), hash, tree.RootHash, "data block 150 "},
		{"level 0 digest", data, flip(hash, int(ls[0].first)*512+32*7), tree.RootHash, "data block 7 "},
		{"level 1 digest", data, flip(hash, int(ls[1].first)*512+32), tree.RootHash, "hash block " + itoa(ls[0].first+1) + " (level 0)"},
		{"top block", data, flip(hash, int(ls[2].first)*512), tree.RootHash, "hash block " + itoa(ls[1].first) + " (level 1)"},
		{"top block padding", data, flip(hash, int(ls[2].first)*512+511), tree.RootHash, "the tree's root hash is"},
		{"root hash", data, hash, RootHash{1}, "not 0100000000"},
		{"short data", data[:len(data)-4096], hash, tree.RootHash, "shorter than the 1228800 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := verify(c.data, c.hash, c.root)
			require.ErrorIs(t, err, ErrMismatch)
			require.ErrorContains(t, err, c.want)
		})
	}

	// Data past what the tree covers is not checked.
	_, err = verify(append(append([]byte{}, data...), 1, 2, 3), hash, tree.RootHash)
	require.NoError(t, err)

	// One data block: its hash is the root hash.
	one := testData("one", 4096)
	t1, h1 := build(t, one, Options{})
	_, err = verify(one, h1, t1.RootHash)
	require.NoError(t, err)
	_, err = verify(flip(one, 9), h1, t1.RootHash)
	require.ErrorIs(t, err, ErrMismatch)
	require.ErrorContains(t, err, "data block 0 hashes to")
}

func TestReadSuperblockRefuses(t *testing.T) {
	data := testData("sb", 20*4096)
	_, hash := build(t, data, Options{})
	set := func(off int, v any) []byte {
		h := append([]byte{}, hash...)
		switch v := v.(type) {
		case uint16:
			binary.LittleEndian.PutUint16(h[off:], v)
		case uint32:
			binary.LittleEndian.PutUint32(h[off:], v)
		case uint64:
			binary.LittleEndian.PutUint64(h[off:], v)
		case string:
			copy(h[off:off+32], make([]byte, 32))
			copy(h[off:], v)
		}
		return h
	}
	for _, c := range []struct {
		name string
		hash []byte
		want string
	}{
		{"too short", hash[:511], "shorter than a superblock"},
		{"no superblock", hash[4096:], "no verity superblock at offset 0"},
		{"version", set(8, uint32(2)), "superblock version 2"},
		{"chrome os", set(12, uint32(0)), "hash type 0 is not supported"},
		{"algorithm", set(32, "sha1"), `hash algorithm "sha1"`},
		{"data block size", set(64, uint32(1000)), "data block size 1000 is not a power of two"},
		{"hash block size", set(68, uint32(1<<31)), "block sizes 4096 and 2147483648"},
		{"zero blocks", set(72, uint64(0)), "0 data blocks is outside"},
		{"huge blocks", set(72, uint64(1)<<62), "4611686018427387904 data blocks"},
		{"more blocks than file", set(72, uint64(200)), "needs a hash file of 16384 bytes, this one is 8192"},
		{"salt size", set(80, uint16(300)), "salt size 300"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadSuperblock(bytes.NewReader(c.hash), int64(len(c.hash)))
			require.ErrorIs(t, err, ErrSuperblock)
			require.ErrorContains(t, err, c.want)
			_, err = Verify(context.Background(), bytes.NewReader(data), int64(len(data)), bytes.NewReader(c.hash), int64(len(c.hash)), RootHash{})
			require.ErrorIs(t, err, ErrSuperblock)
		})
	}
}

func TestParseRootHash(t *testing.T) {
	const s = "94e1534258b0223bd8636c7953ed8e04b49c136a2602f5a5ea4226fdfadc42bb"
	for _, in := range []string{s, s + "\n", " " + strings.ToUpper(s) + "\r\n"} {
		h, err := ParseRootHash(in)
		require.NoError(t, err)
		require.Equal(t, s, h.String())
	}
	for _, in := range []string{"", s[:63], s + "00", "zz" + s[2:], s[:32] + " " + s[33:]} {
		_, err := ParseRootHash(in)
		require.Error(t, err, "%q", in)
	}
}

// FuzzVerify feeds hostile hash files to Verify: it must return, without
// panicking or allocating more than the input justifies.
func FuzzVerify(f *testing.F) {
	// Small seeds: the fuzzer minimizes each interesting input byte by byte.
	data := testData("fuzz", 40*512)
	for _, o := range []Options{{DataBlockSize: 512, HashBlockSize: 512}, {DataBlockSize: 4096, HashBlockSize: 512}} {
		tree, hash := build(f, data, o)
		f.Add(hash, tree.RootHash[:])
	}
	f.Fuzz(func(t *testing.T, hash, root []byte) {
		var r RootHash
		copy(r[:], root)
		p, err := Verify(context.Background(), bytes.NewReader(data), int64(len(data)), bytes.NewReader(hash), int64(len(hash)), r)
		if err == nil {
			require.LessOrEqual(t, p.HashSize(), int64(len(hash)))
			require.LessOrEqual(t, p.DataSize(), int64(len(data)))
		} else if !errors.Is(err, ErrMismatch) && !errors.Is(err, ErrSuperblock) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
