package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/mkportable/mkportable/squashfs"
)

const squashSynopsis = `squash SRC OUT [flags]

Writes a squashfs image of the directory SRC to OUT, replacing OUT. The
defaults give what 'mksquashfs SRC OUT -all-root -comp xz -b 1M' gives,
extended attributes included, with every time set to 1980-01-01 (or
SOURCE_DATE_EPOCH) so that the same tree always gives the same bytes.`

func runSquash(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("squash", squashSynopsis, stderr)
	compression := fs.String("compression", "xz", "compressor: xz, gzip, zstd, lz4 or none; xz, gzip and zstd take a level as in zstd:19")
	blockSize := fs.String("block-size", "1M", "data block size: a power of two from 4K to 1M")
	jobs := fs.Int("jobs", 0, "compression workers (default: all cores); the image is the same for any value")
	mtime := fs.String("mtime", "", "seconds since 1970 stored as every time (default: SOURCE_DATE_EPOCH, else 315532800)")
	keepTimes := fs.Bool("keep-times", false, "store each file's own modification time")
	keepOwners := fs.Bool("keep-owners", false, "store each file's own uid and gid instead of root's")
	noXattrs := fs.Bool("no-xattrs", false, "leave out extended attributes (stored by default: user.*, trusted.* and security.*, file capabilities among them)")
	xattrs := fs.Bool("xattrs", false, "store extended attributes, the default (mksquashfs's -xattrs)")
	noFragments := fs.Bool("no-fragments", false, "store file tails as blocks of their own instead of packing them")
	noDedup := fs.Bool("no-dedup", false, "store duplicate files once each instead of sharing their data")
	quiet := fs.Bool("quiet", false, "print neither progress nor the summary")
	cacheDir := cacheFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 2 {
		fmt.Fprintf(stderr, "mkportable squash: want SRC and OUT, got %d arguments\n", len(pos))
		fs.Usage()
		return 2
	}
	src, out := pos[0], pos[1]

	opts, err := squashOptions(*compression, *blockSize, *jobs, *mtime, *keepTimes)
	if err == nil && *xattrs && *noXattrs {
		err = errors.New("--xattrs and --no-xattrs exclude each other")
	}
	if err != nil {
		fmt.Fprintf(stderr, "mkportable squash: %v\n", err)
		return 2
	}
	opts.KeepOwners, opts.NoXattrs = *keepOwners, *noXattrs
	opts.NoFragments, opts.NoDedup = *noFragments, *noDedup
	cache, cacheDone, err := openCache(*cacheDir)
	if err != nil {
		fmt.Fprintf(stderr, "mkportable squash: %v\n", err)
		return 2
	}
	defer cacheDone()
	opts.Cache = cache

	if info, err := os.Stat(src); err != nil {
		fmt.Fprintf(stderr, "mkportable squash: source: %v\n", err)
		return 1
	} else if !info.IsDir() {
		fmt.Fprintf(stderr, "mkportable squash: source %s is not a directory\n", src)
		return 1
	}

	start := time.Now()
	tree, err := squashfs.TreeFromDir(src, squashfs.LoadOptions{NoXattrs: *noXattrs})
	if err != nil {
		fmt.Fprintf(stderr, "mkportable squash: %v\n", err)
		return 1
	}
	if err := limitMemory(tree, opts); err != nil {
		fmt.Fprintf(stderr, "mkportable squash: %v\n", err)
		return 2
	}
	var bar *progressBar
	if !*quiet && isTerminal(stderr) {
		bar = &progressBar{w: stderr}
		opts.Progress = bar.update
	}
	stats, err := squashfs.WriteFile(ctx, out, tree, opts)
	bar.finish()
	if err != nil {
		fmt.Fprintf(stderr, "mkportable squash: %s: %v\n", out, err)
		return 1
	}
	if !*quiet {
		fmt.Fprintln(stdout, summary(out, stats, time.Since(start)))
	}
	return 0
}

// limitMemory sets the runtime's soft memory limit to what writing tree
// needs (squashfs.MemoryLimit), so that the heap stays near the live data
// instead of growing to twice it; a GOMEMLIMIT in the environment wins.
func limitMemory(tree *squashfs.Tree, opts squashfs.Options) error {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return nil
	}
	limit, err := squashfs.MemoryLimit(tree, opts)
	if err != nil {
		return err
	}
	debug.SetMemoryLimit(limit)
	return nil
}

// squashOptions turns the flags every image-writing command shares into
// writer options.
func squashOptions(compression, blockSize string, jobs int, mtime string, keepTimes bool) (squashfs.Options, error) {
	var opts squashfs.Options
	comp, err := squashfs.NewCompressor(compression)
	if err != nil {
		return opts, err
	}
	bs, err := squashfs.ParseBlockSize(blockSize)
	if err != nil {
		return opts, err
	}
	if jobs < 0 {
		return opts, fmt.Errorf("--jobs %d: want 0 (all cores) or more", jobs)
	}
	opts.Compressor, opts.BlockSize, opts.Workers, opts.KeepTimes = comp, bs, jobs, keepTimes
	switch {
	case mtime != "" && keepTimes:
		return opts, errors.New("--mtime and --keep-times exclude each other")
	case mtime != "":
		secs, err := strconv.ParseUint(mtime, 10, 32)
		if err != nil {
			return opts, fmt.Errorf("--mtime %q: want seconds since 1970, up to 2106", mtime)
		}
		opts.ModTime = time.Unix(int64(secs), 0)
	default:
		if opts.ModTime, err = squashfs.ModTimeFromEnv(os.Getenv); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

func summary(out string, s *squashfs.Stats, took time.Duration) string {
	ratio := 0.0
	if s.BytesIn > 0 {
		ratio = 100 * float64(s.ImageSize) / float64(s.BytesIn)
	}
	return fmt.Sprintf("%s: %d files, %s in, %s out (%.1f%%), %.1fs",
		out, s.Files, humanBytes(s.BytesIn), humanBytes(s.ImageSize), ratio, took.Seconds())
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progressBar draws one line on a terminal, at most ten times a second.
type progressBar struct {
	w    io.Writer
	mu   sync.Mutex
	last time.Time
	drew bool
}

func (b *progressBar) update(p squashfs.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if now.Sub(b.last) < 100*time.Millisecond && p.BytesDone < p.BytesTotal {
		return
	}
	b.last, b.drew = now, true
	const width = 40
	frac := 1.0
	if p.BytesTotal > 0 {
		frac = float64(p.BytesDone) / float64(p.BytesTotal)
	}
	filled := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < filled {
			bar[i] = '='
		}
	}
	fmt.Fprintf(b.w, "\r[%s] %3.0f%% %s of %s -> %s ", bar, 100*frac,
		humanBytes(p.BytesDone), humanBytes(p.BytesTotal), humanBytes(p.BytesWritten))
}

// finish ends the bar's line; it is safe on a nil bar.
func (b *progressBar) finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drew {
		fmt.Fprintln(b.w)
	}
}
