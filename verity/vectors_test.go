package verity

// Known vectors: hash files written by `veritysetup format` for data this
// file generates, stored in testdata/vectors. Regenerate them with
//
//	go test ./verity -run TestVectors -update-vectors
//
// which runs veritysetup with the command lines recorded in
// testdata/vectors/vectors.json.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
)

var updateVectors = flag.Bool("update-vectors", false, "regenerate testdata/vectors with veritysetup")

const vectorDir = "testdata/vectors"

// vectorCase is a tree to compare with veritysetup's.
type vectorCase struct {
	name     string
	size     int64 // bytes of data; padded with zeros for veritysetup
	dbs, hbs int
	salt     string // hex; "derived" for the salt Build derives
}

var vectorCases = []vectorCase{
	{name: "one-block", size: 4096, dbs: 4096, hbs: 4096, salt: "00112233445566778899aabbccddeeff"},
	{name: "unaligned", size: 5000, dbs: 4096, hbs: 4096, salt: "5a"},
	{name: "one-level", size: 128 * 4096, dbs: 4096, hbs: 4096, salt: "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"},
	{name: "two-levels", size: 129*4096 - 100, dbs: 4096, hbs: 4096, salt: "ff"},
	{name: "three-levels-512", size: 257 * 4096, dbs: 4096, hbs: 512, salt: "c0ffee"},
	{name: "repart-512", size: 100 * 512, dbs: 512, hbs: 512, salt: strings.Repeat("ab", 32)},
	{name: "no-salt", size: 3 * 4096, dbs: 4096, hbs: 4096, salt: ""},
	{name: "derived", size: 3*4096 + 1, dbs: 4096, hbs: 4096, salt: "derived"},
}

// vector is what veritysetup made of a vectorCase.
type vector struct {
	Name     string `json:"name"`
	Command  string `json:"command"`
	Salt     string `json:"salt"`
	UUID     string `json:"uuid"`
	RootHash string `json:"rootHash"`
}

type vectorFile struct {
	Veritysetup string   `json:"veritysetup"`
	DataRule    string   `json:"data"`
	Vectors     []vector `json:"vectors"`
}

const dataRule = "bytes 32i to 32i+31 of the data of vector NAME are SHA-256(\"NAME:i\") (i in decimal), " +
	"truncated to its size, then zero-padded to a whole number of data blocks for veritysetup"

// testData returns the data of the vector named name, size bytes long, as
// dataRule says.
func testData(name string, size int64) []byte {
	var b bytes.Buffer
	for i := 0; int64(b.Len()) < size; i++ {
		s := sha256.Sum256([]byte(name + ":" + strconv.Itoa(i)))
		b.Write(s[:])
	}
	return b.Bytes()[:size]
}

// padTo returns b zero-padded to a multiple of n bytes.
func padTo(b []byte, n int) []byte {
	if r := len(b) % n; r != 0 {
		b = append(b, make([]byte, n-r)...)
	}
	return b
}

func TestVectors(t *testing.T) {
	if *updateVectors {
		generateVectors(t)
	}
	raw, err := os.ReadFile(filepath.Join(vectorDir, "vectors.json"))
	require.NoError(t, err)
	var vf vectorFile
	require.NoError(t, json.Unmarshal(raw, &vf))
	require.Len(t, vf.Vectors, len(vectorCases))
	for i, c := range vectorCases {
		v := vf.Vectors[i]
		require.Equal(t, c.name, v.Name)
		t.Run(c.name, func(t *testing.T) {
			data := testData(c.name, c.size)
			want, err := os.ReadFile(filepath.Join(vectorDir, c.name+".verity"))
			require.NoError(t, err)

			opts := Options{DataBlockSize: c.dbs, HashBlockSize: c.hbs}
			if c.salt != "derived" {
				opts.Salt, err = hex.DecodeString(v.Salt)
				require.NoError(t, err)
				opts.Salt = append([]byte{}, opts.Salt...) // not nil: "no salt" is explicit
				u, err := hex.DecodeString(strings.ReplaceAll(v.UUID, "-", ""))
				require.NoError(t, err)
				copy(opts.UUID[:], u)
			}
			tree, err := Build(context.Background(), bytes.NewReader(data), int64(len(data)), opts)
			require.NoError(t, err)
			require.Equal(t, v.RootHash, tree.RootHash.String())
			require.Equal(t, v.Salt, hex.EncodeToString(tree.Salt))
			require.Equal(t, int64(len(want)), tree.HashSize())
			var got bytes.Buffer
			n, err := tree.WriteTo(&got)
			require.NoError(t, err)
			require.Equal(t, tree.HashSize(), n)
			require.Equal(t, want, got.Bytes(), "hash file differs from veritysetup's")

			// And the stored hash file checks out against the data.
			root, err := ParseRootHash(v.RootHash)
			require.NoError(t, err)
			p, err := Verify(context.Background(), bytes.NewReader(padTo(data, c.dbs)), int64(len(padTo(data, c.dbs))),
				bytes.NewReader(want), int64(len(want)), root)
			require.NoError(t, err)
			require.Equal(t, tree.Params, p)
		})
	}
}

// generateVectors runs veritysetup on every vectorCase and rewrites
// testdata/vectors.
func generateVectors(t *testing.T) {
	vs := testtool.Need(t, "veritysetup")
	version, err := exec.Command(vs, "--version").Output()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(vectorDir, 0o755))
	vf := vectorFile{Veritysetup: strings.TrimSpace(string(version)), DataRule: dataRule}
	dir := t.TempDir()
	for _, c := range vectorCases {
		data := padTo(testData(c.name, c.size), c.dbs)
		dataPath := filepath.Join(dir, c.name+".data")
		require.NoError(t, os.WriteFile(dataPath, data, 0o644))
		salt := c.salt
		if salt == "derived" {
			s := sha256.Sum256(data)
			salt = hex.EncodeToString(s[:])
		}
		format := func(uuid string) (string, string) {
			hashPath := filepath.Join(vectorDir, c.name+".verity")
			os.Remove(hashPath)
			saltArg := salt
			if saltArg == "" {
				saltArg = "-"
			}
			args := []string{"format", "--hash=sha256", "--format=1",
				"--data-block-size=" + strconv.Itoa(c.dbs), "--hash-block-size=" + strconv.Itoa(c.hbs),
				"--salt=" + saltArg, "--uuid=" + uuid, c.name + ".data", c.name + ".verity"}
			cmd := exec.Command(vs, args...)
			cmd.Dir = dir
			cmd.Args[len(args)] = filepath.Join(mustAbs(t, "."), hashPath) // args[len(args)-1], as cmd.Args starts with vs
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			m := regexp.MustCompile(`Root hash:\s+([0-9a-f]{64})`).FindSubmatch(out)
			require.NotNil(t, m, "%s", out)
			return string(m[1]), "veritysetup " + strings.Join(args, " ")
		}
		uuid := uuidString(sha256.Sum256([]byte(c.name)))
		root, command := format(uuid)
		if c.salt == "derived" {
			h, err := ParseRootHash(root)
			require.NoError(t, err)
			d := DeriveUUID(h)
			uuid = uuidString([32]byte(append(d[:], make([]byte, 16)...)))
			root, command = format(uuid)
		}
		if int64(len(data)) != c.size {
			command = fmt.Sprintf("truncate -s %d %s.data && %s", len(data), c.name, command)
		}
		vf.Vectors = append(vf.Vectors, vector{Name: c.name, Command: command, Salt: salt, UUID: uuid, RootHash: root})
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(vf))
	require.NoError(t, os.WriteFile(filepath.Join(vectorDir, "vectors.json"), out.Bytes(), 0o644))
}

// uuidString formats the first 16 bytes of b as a UUID with the version 4
// bits set, as veritysetup takes them.
func uuidString(b [32]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}
