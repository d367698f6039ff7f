//go:build ignore

// zstdlevels compresses every file of a directory (1 MiB chunks of a
// corpus, as squashfs compresses its blocks) with each level of our zstd
// encoder (internal/zstd) and klauspost/compress's best level, and prints
// each one's total size and CPU time: the measurements behind zstd.Level's
// table. The trials run interleaved ROUNDS times (default 3) and each keeps
// its least CPU time, since on a shared machine others' load only adds.
// libzstd's figures come from its command on the same files:
// `zstd -15 -q --single-thread --no-check -c DIR/* | wc -c`.
//
//	go run scripts/zstdlevels.go DIR [ROUNDS]
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/mkportable/mkportable/internal/zstd"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "zstdlevels:", err)
		os.Exit(1)
	}
}

type trial struct {
	name string
	run  func(dst, src []byte) ([]byte, error)
}

func run(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("usage: go run scripts/zstdlevels.go DIR [ROUNDS]")
	}
	rounds := 3
	if len(args) == 2 {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 {
			return fmt.Errorf("rounds %q: want a positive number", args[1])
		}
		rounds = n
	}
	names, err := filepath.Glob(filepath.Join(args[0], "*"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	var files [][]byte
	total := 0
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return err
		}
		if len(b) > zstd.MaxSrc {
			return fmt.Errorf("%s: %d bytes: want at most %d (split -b 1M)", n, len(b), zstd.MaxSrc)
		}
		files = append(files, b)
		total += len(b)
	}
	if len(files) == 0 {
		return fmt.Errorf("%s: no files", args[0])
	}

	var trials []trial
	for l := zstd.MinLevel; l <= zstd.MaxLevel; l++ {
		e, err := zstd.NewEncoder(zstd.Level(l))
		if err != nil {
			return err
		}
		trials = append(trials, trial{fmt.Sprintf("level %d %+v", l, zstd.Level(l)), e.Compress})
	}
	kp, err := kzstd.NewWriter(nil, kzstd.WithEncoderLevel(kzstd.SpeedBestCompression),
		kzstd.WithEncoderConcurrency(1), kzstd.WithEncoderCRC(false), kzstd.WithSingleSegment(true))
	if err != nil {
		return err
	}
	trials = append(trials, trial{"klauspost SpeedBestCompression", func(dst, src []byte) ([]byte, error) {
		return kp.EncodeAll(src, dst), nil
	}})
	dec, err := kzstd.NewReader(nil, kzstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer dec.Close()

	sizes := make([]int, len(trials))
	cpus := make([]time.Duration, len(trials))
	for r := range rounds {
		for i, tr := range trials {
			runtime.GC()
			size := 0
			var out []byte
			start := cpuTime()
			for _, f := range files {
				if out, err = tr.run(out[:0], f); err != nil {
					return fmt.Errorf("%s: %w", tr.name, err)
				}
				size += len(out)
			}
			cpu := cpuTime() - start
			// The last frame decodes to its chunk: a cheap check that
			// the figures are of working output.
			if got, err := dec.DecodeAll(out, nil); err != nil || !bytes.Equal(got, files[len(files)-1]) {
				return fmt.Errorf("%s: the last frame does not decode to its chunk (%v)", tr.name, err)
			}
			sizes[i] = size
			if r == 0 || cpu < cpus[i] {
				cpus[i] = cpu
			}
		}
	}
	fmt.Printf("%d files, %d bytes, least CPU of %d interleaved rounds\n", len(files), total, rounds)
	for i, tr := range trials {
		fmt.Printf("%-72s %11d bytes (%.4f) %7.2f s CPU\n", tr.name, sizes[i], float64(sizes[i])/float64(total), cpus[i].Seconds())
	}
	return nil
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
