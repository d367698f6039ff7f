package xz

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
)

// maxELF caps how much of the test binary the tests use, to keep them fast.
const maxELF = 4 << 20

// runXZ runs xz (xz-utils) with args and stdin, failing the test on a
// non-zero exit. It returns stdout and stderr.
func runXZ(t testing.TB, stdin []byte, args ...string) ([]byte, string) {
	t.Helper()
	cmd := testtool.Command(t, "xz", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	require.NoError(t, err, "xz %s: %s", strings.Join(args, " "), stderr.String())
	return stdout.Bytes(), stderr.String()
}

// elfBinary returns (a prefix of) the running test binary, an ELF executable
// with plenty of E8/E9 call/jump instructions on amd64.
func elfBinary(t testing.TB) []byte {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	data, err := os.ReadFile(exe)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, []byte("\x7fELF")), "%s is not an ELF file", exe)
	if len(data) > maxELF {
		data = data[:maxELF]
	}
	return data
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// branchyBytes returns n bytes drawn from a small alphabet of E8/E9 opcodes
// and 0x00/0xFF operand bytes, which exercises every branch of the x86 filter
// (overlapping candidates, prefix history, the re-conversion loop).
func branchyBytes(seed uint64, n int) []byte {
	alphabet := []byte{0xE8, 0xE9, 0x00, 0xFF, 0x00, 0xFF, 0x01, 0xFE, 0x7F}
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// textBytes returns about n bytes of repetitive English-like text.
func textBytes(n int) []byte {
	words := strings.Fields("the quick brown fox jumps over the lazy dog while " +
		"squashfs images carry portable services compressed with xz and lzma2")
	r := rand.New(rand.NewPCG(7, 7))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}
