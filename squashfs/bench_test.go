package squashfs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/stretchr/testify/require"
)

// BenchmarkWrite images GOROOT/src/net (about 4 MB of Go source) with each
// compressor; MB/s is input bytes per second. `make bench` compares the
// whole GOROOT with mksquashfs.
func BenchmarkWrite(b *testing.B) {
	src := filepath.Join(goroot(b), "src", "net")
	if _, err := os.Stat(src); err != nil {
		b.Skipf("no Go sources at %s", src)
	}
	for _, name := range []string{"xz", "gzip", "zstd", "lz4", "none"} {
		b.Run(name, func(b *testing.B) {
			c, err := NewCompressor(name)
			require.NoError(b, err)
			tree, err := TreeFromDir(src, LoadOptions{})
			require.NoError(b, err)
			var stats *Stats
			for b.Loop() {
				stats, err = Write(context.Background(), discardAt{}, tree, Options{Compressor: c})
				require.NoError(b, err)
			}
			b.SetBytes(stats.BytesIn)
			b.ReportMetric(float64(stats.ImageSize)/float64(stats.BytesIn), "out/in")
		})
	}
}

// discardAt is an io.WriterAt that keeps nothing.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

var _ io.WriterAt = discardAt{}

// BenchmarkWriteSmallFiles writes 20,000 files of 1 to 1,000 bytes, half
// of them sharing a size with another (so they are hashed for dedup),
// stored raw: the writer's cost per file, apart from compression.
// alloc-B/file and allocs/file are what Write allocates for each file.
func BenchmarkWriteSmallFiles(b *testing.B) {
	const files = 20000
	tree := NewTree()
	rng := rand.New(rand.NewPCG(1, 2))
	for d := range files / 1000 {
		require.NoError(b, tree.Mkdir(fmt.Sprintf("d%d", d), Attr{Mode: 0o755}))
		for f := range 1000 {
			data := make([]byte, 1+rng.IntN(1000))
			for i := range data {
				data[i] = byte('a' + rng.IntN(26))
			}
			require.NoError(b, tree.AddBytes(fmt.Sprintf("d%d/f%d", d, f), Attr{Mode: 0o644}, data))
		}
	}
	b.ReportAllocs()
	before := memStats()
	for b.Loop() {
		_, err := Write(context.Background(), discardAt{}, tree, Options{Compressor: NoCompression{}, Workers: 2})
		require.NoError(b, err)
	}
	reportPerFile(b, before, memStats(), files)
	b.ReportMetric(files*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkLoadSmallFiles loads a directory of 10,000 small files with
// TreeFromDir, as mkportable squash does. live-B/file is what the tree
// keeps for each file, which a tree of a million files multiplies;
// alloc-B/file and allocs/file are what loading allocates for each.
func BenchmarkLoadSmallFiles(b *testing.B) {
	const files = 10000
	dir := b.TempDir()
	writeSmallFiles(b, dir, files)
	b.ReportAllocs()
	var tree *Tree
	before := memStats()
	for b.Loop() {
		var err error
		tree, err = TreeFromDir(dir, LoadOptions{})
		require.NoError(b, err)
	}
	after := memStats()
	reportPerFile(b, before, after, files)
	tree = nil
	empty := memStats()
	tree, err := TreeFromDir(dir, LoadOptions{})
	require.NoError(b, err)
	loaded := memStats()
	runtime.KeepAlive(tree)
	b.ReportMetric(float64(int64(loaded.HeapAlloc)-int64(empty.HeapAlloc))/files, "live-B/file")
}

// writeSmallFiles writes n files of a few dozen bytes under dir, 1,000 to
// a directory, named as scripts/gentree.go names them.
func writeSmallFiles(tb testing.TB, dir string, n int) {
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", i/1000))
		if i%1000 == 0 {
			require.NoError(tb, os.Mkdir(sub, 0o755))
		}
		name := filepath.Join(sub, fmt.Sprintf("f%06d.txt", i))
		require.NoError(tb, os.WriteFile(name, []byte(name), 0o644))
	}
}

// memStats collects garbage and returns the memory statistics.
func memStats() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// reportPerFile reports the bytes and allocations of each loop iteration
// between before and after, per file.
func reportPerFile(b *testing.B, before, after runtime.MemStats, files int) {
	n := float64(b.N) * float64(files)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "alloc-B/file")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/file")
}

// goImages caches images of GOROOT for the reader benchmarks, one per
// compressor, in directories that outlive each benchmark's TempDir;
// TestMain removes them.
var goImages = map[string]string{}

// goImage returns an image of GOROOT written by this package with the
// named compressor and the default 1 MiB blocks, making it on first use.
func goImage(b *testing.B, comp string) string {
	b.Helper()
	if p, ok := goImages[comp]; ok {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	src := goroot(b)
	dir, err := os.MkdirTemp("", "reader-bench-")
	require.NoError(b, err)
	c, err := NewCompressor(comp)
	require.NoError(b, err)
	tree, err := TreeFromDir(src, LoadOptions{})
	require.NoError(b, err)
	p := filepath.Join(dir, "goroot-"+comp+".sqfs")
	_, err = WriteFile(context.Background(), p, tree, Options{Compressor: c})
	require.NoError(b, err)
	goImages[comp] = p
	return p
}

// readAll walks an image with the Reader and reads every file, as
// unsquashfs -d would extract it, and returns the bytes read.
func readAll(b *testing.B, img string) int64 {
	rc, err := OpenReader(img)
	require.NoError(b, err)
	defer rc.Close()
	var n int64
	require.NoError(b, fs.WalkDir(rc, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := rc.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		k, err := io.Copy(io.Discard, f)
		n += k
		return err
	}))
	return n
}

// BenchmarkReader reads every file of an image of GOROOT through Reader,
// xz (the default) and zstd; MB/s is file data per second.
func BenchmarkReader(b *testing.B) {
	for _, comp := range []string{"xz", "zstd"} {
		b.Run(comp, func(b *testing.B) {
			img := goImage(b, comp)
			var n int64
			for b.Loop() {
				n = readAll(b, img)
			}
			b.SetBytes(n)
		})
	}
}

// BenchmarkReaderVsUnsquashfs alternates a full read through Reader with
// `unsquashfs -d` extracting the same image, so both see the same machine
// load, and reports each one's seconds and their ratio. unsquashfs writes
// to /dev/shm when there is one, so the disk's speed stays out of it.
func BenchmarkReaderVsUnsquashfs(b *testing.B) {
	unsquashfs := testtool.Need(b, "unsquashfs")
	scratch := ""
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		scratch = "/dev/shm"
	}
	for _, comp := range []string{"xz", "zstd"} {
		b.Run(comp, func(b *testing.B) {
			img := goImage(b, comp)
			var ours, theirs, oursCPU, theirsCPU time.Duration
			for b.Loop() {
				start, cpu := time.Now(), selfCPU()
				readAll(b, img)
				ours += time.Since(start)
				oursCPU += selfCPU() - cpu

				tmp, err := os.MkdirTemp(scratch, "unsquashfs-")
				require.NoError(b, err)
				dest := filepath.Join(tmp, "x")
				start = time.Now()
				cmd := exec.Command(unsquashfs, "-q", "-n", "-d", dest, img)
				out, err := cmd.CombinedOutput()
				theirs += time.Since(start)
				require.NoError(b, err, "%s", out)
				theirsCPU += childCPU(cmd)
				require.NoError(b, os.RemoveAll(tmp))
			}
			b.ReportMetric(ours.Seconds()/float64(b.N), "reader-s/op")
			b.ReportMetric(theirs.Seconds()/float64(b.N), "unsquashfs-s/op")
			b.ReportMetric(ours.Seconds()/theirs.Seconds(), "ratio")
			b.ReportMetric(oursCPU.Seconds()/float64(b.N), "reader-cpu-s/op")
			b.ReportMetric(theirsCPU.Seconds()/float64(b.N), "unsquashfs-cpu-s/op")
		})
	}
}

// selfCPU returns the user and system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU returns the user and system CPU time a finished command used.
func childCPU(cmd *exec.Cmd) time.Duration {
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
