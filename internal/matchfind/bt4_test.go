package matchfind

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// longest is the brute-force longest match at cur within limit bytes, and
// the nearest distance that reaches it.
func longest(buf []byte, cur, limit int) (n, dist int) {
	for m := cur - 1; m >= 0; m-- {
		if l := CommonLen(buf, m, cur, limit); l > n {
			n, dist = l, cur-m-1
		}
	}
	return n, dist
}

func TestBT4Matches(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "fmt", "print.go"))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.IntN(4)) // a small alphabet: many short matches
	}
	tests := []struct {
		name string
		buf  []byte
		nice int
	}{
		{"go source", src[:8192], 64},
		{"four letters", random, 32},
		{"zeros", make([]byte, 3000), 16},
		{"repeated text", bytes.Repeat([]byte("portable service "), 300), 273},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const maxLen = 1 << 12
			var mf BT4
			// A depth no walk reaches makes the tree exact: its longest
			// match is the true longest, up to the nice length.
			mf.Reset(tc.buf, tc.nice, 1<<30, maxLen)
			var out []Match
			for cur := range tc.buf {
				out = mf.Find(out)
				prev := uint32(0)
				for _, m := range out {
					require.Greater(t, m.Len, prev, "pos %d: lengths must grow", cur)
					prev = m.Len
					from := cur - int(m.Dist) - 1
					require.GreaterOrEqual(t, from, 0, "pos %d", cur)
					require.Equal(t, int(m.Len), CommonLen(tc.buf, from, cur, int(m.Len)), "pos %d: %+v is no match", cur, m)
				}
				avail := len(tc.buf) - cur
				if avail < 4 {
					require.Empty(t, out, "pos %d", cur)
					continue
				}
				want, _ := longest(tc.buf, cur, min(avail, tc.nice))
				got := 0
				if len(out) > 0 {
					got = int(min(out[len(out)-1].Len, uint32(tc.nice)))
				}
				// Matches of four bytes or more come from the tree, which
				// is exact; two and three come from hash heads, which
				// keep only the latest position and may miss one.
				if want >= 4 {
					require.Equal(t, want, got, "pos %d: longest match", cur)
				}
				if got == tc.nice {
					full, _ := longest(tc.buf, cur, min(avail, maxLen))
					require.LessOrEqual(t, int(out[len(out)-1].Len), full, "pos %d", cur)
				}
			}
		})
	}
}

// TestBT4Skip checks that skipped positions are still found later.
func TestBT4Skip(t *testing.T) {
	buf := []byte("abcdefgh--abcdefgh--abcdefgh")
	var mf BT4
	mf.Reset(buf, 8, 16, 273)
	mf.Skip(20)
	out := mf.Find(nil)
	require.NotEmpty(t, out)
	require.Equal(t, Match{Len: 8, Dist: 9}, out[len(out)-1])
}

// TestBT4Pass checks that passed-over positions are never offered, and
// that the positions indexed before and after them still are.
func TestBT4Pass(t *testing.T) {
	buf := []byte("abcdefgh--abcdefgh--abcdefgh--abcdefgh")
	var mf BT4
	mf.Reset(buf, 8, 16, 273)
	mf.Skip(10)
	mf.Pass(10) // the second "abcdefgh--" is not indexed
	out := mf.Find(nil)
	require.Equal(t, Match{Len: 18, Dist: 19}, out[len(out)-1], "the first copy, not the passed second")
	for _, m := range out {
		require.NotEqual(t, uint32(9), m.Dist, "a passed position")
	}
	mf.Skip(9)
	out = mf.Find(nil)
	require.Equal(t, Match{Len: 8, Dist: 9}, out[len(out)-1], "the third copy, indexed after the pass")
}

func TestCommonLen(t *testing.T) {
	buf := []byte("0123456789abcdefXYZ0123456789abcdefXYz")
	require.Equal(t, 18, CommonLen(buf, 0, 19, 19))
	require.Equal(t, 10, CommonLen(buf, 0, 19, 10))
	require.Equal(t, 0, CommonLen(buf, 0, 1, 5))
}
