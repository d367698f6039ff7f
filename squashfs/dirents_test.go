package squashfs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDirData adds entries in several orders, big enough to go through the
// side map and its merges, removes some, and checks every lookup and the
// listing against a plain map.
func TestDirData(t *testing.T) {
	const n = 3 * smallDir * 8
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("f%05d", i)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name  string
		order func([]string)
	}{
		{"sorted", func([]string) {}},
		{"reversed", slices.Reverse[[]string]},
		{"shuffled", func(s []string) { rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] }) }},
		{"sorted then a few late", func(s []string) {
			late := slices.Clone(s[:smallDir])
			copy(s, s[smallDir:])
			copy(s[len(s)-smallDir:], late)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order := slices.Clone(names)
			tc.order(order)
			var d dirData
			want := map[string]*Node{}
			for i, name := range order {
				_, ok := d.get(name)
				require.False(t, ok, name)
				node := &Node{size: int64(i)}
				d.set(name, node)
				want[name] = node
				if i%7 == 3 { // remove an earlier one now and then
					gone := order[i/2]
					if _, ok := want[gone]; ok {
						require.True(t, d.remove(gone), gone)
						delete(want, gone)
					}
				}
			}
			require.False(t, d.remove("nothing"))
			checkDirData(t, &d, want)

			// Remove two thirds, enough to compact, then add some back.
			for i, name := range order {
				if _, ok := want[name]; ok && i%3 != 0 {
					require.True(t, d.remove(name), name)
					require.False(t, d.remove(name), name)
					delete(want, name)
				}
			}
			checkDirData(t, &d, want)
			for i, name := range order {
				if _, ok := want[name]; !ok && i%5 == 0 {
					node := &Node{size: int64(-i)}
					d.set(name, node)
					want[name] = node
				}
			}
			checkDirData(t, &d, want)
		})
	}
}

// checkDirData checks every lookup and the listing of d against want.
func checkDirData(t *testing.T, d *dirData, want map[string]*Node) {
	t.Helper()
	require.Equal(t, len(want), d.len())
	for name, node := range want {
		got, ok := d.get(name)
		require.True(t, ok, name)
		require.Same(t, node, got, name)
	}
	list := d.list()
	require.Len(t, list, len(want))
	require.True(t, slices.IsSortedFunc(list, func(a, b entry) int {
		return strings.Compare(a.name, b.name)
	}))
	for _, e := range list {
		require.Same(t, want[e.name], e.node, e.name)
	}
}
