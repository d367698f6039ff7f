//go:build ignore

// gentree writes a tree of N small files for the benchmarks: 1,000 files a
// directory, sizes log-uniform from 1 B to 1 KiB (a metadata
// workload: about 150 B a file), text-like contents
// drawn from a fixed vocabulary, and one file in twenty a copy of an
// earlier one, so that deduplication has work to do. The tree depends only
// on N.
//
//	go run scripts/gentree.go DIR N
package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/gentree.go DIR N")
		os.Exit(2)
	}
	dir := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "gentree: N %q: want a positive number\n", os.Args[2])
		os.Exit(2)
	}
	if err := generate(dir, n); err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
}

var words = strings.Fields(`the of and to in is that for it as with was on be by this are from
at or an have not which but all were when we there can more if no out so said what up its about
into than them only other new some could time these two may then first any like now my such make
over our even most after also made many before must through back years where much your way well
down should because each just those people func return err nil string int byte struct type var
const package import range map chan go defer select case default switch break continue fallthrough`)

func generate(dir string, n int) error {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var kept [][]byte
	var b strings.Builder
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("d%04d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		var data []byte
		if i%20 == 19 && len(kept) > 0 {
			data = kept[rng.IntN(len(kept))]
		} else {
			size := int(math.Exp(rng.Float64() * math.Log(1<<10)))
			b.Reset()
			for b.Len() < size {
				b.WriteString(words[rng.IntN(len(words))])
				if rng.IntN(12) == 0 {
					b.WriteByte('\n')
				} else {
					b.WriteByte(' ')
				}
			}
			data = []byte(b.String()[:size])
			if len(kept) < 4096 {
				kept = append(kept, data)
			}
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%06d.txt", i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
