package squashfs

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDedupTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sizeTo int // the count the table is sized for
		keys   []uint64
	}{
		{"empty", 0, nil},
		{"unsized", 0, []uint64{7, 8, 9}},
		{"exact", 3, []uint64{1, 2, 3}},
		{"colliding slots", 4, []uint64{0, 1, 2, 3}},
		{"top keys", 2, []uint64{^uint64(0), ^uint64(0) - 1}},
		{"repeated key keeps the first", 3, []uint64{5, 5, 6}},
		{"more than sized", 2, []uint64{10, 20, 30, 40, 50, 60, 70, 80, 90}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDedupTable(tc.sizeTo)
			nodes := make([]Node, len(tc.keys))
			want := map[uint64]int32{}
			for i, k := range tc.keys {
				d.add(k, &nodes[i], int32(i))
				if _, ok := want[k]; !ok {
					want[k] = int32(i)
				}
			}
			for k, i := range want {
				n, di, ok := d.get(k)
				require.True(t, ok, "key %d", k)
				require.Equal(t, i, di, "key %d", k)
				require.Same(t, &nodes[i], n, "key %d", k)
			}
			_, _, ok := d.get(12345)
			require.False(t, ok)
			require.Equal(t, len(want), d.n)
		})
	}
}

func TestDedupTableMany(t *testing.T) {
	const n = 10000
	d := newDedupTable(n)
	node := &Node{}
	for i := range n {
		d.add(mix64(uint64(i)), node, int32(i))
	}
	for i := range n {
		_, got, ok := d.get(mix64(uint64(i)))
		require.True(t, ok, fmt.Sprint(i))
		require.Equal(t, int32(i), got)
	}
	require.Equal(t, n+n/4+1, len(d.keys), "sized once, never grown")
}
