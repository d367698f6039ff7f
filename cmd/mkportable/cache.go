package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mkportable/mkportable/blockcache"
	"github.com/mkportable/mkportable/squashfs"
)

const cacheSynopsis = `cache stats|prune [--cache DIR] [--max-size SIZE]

Shows or trims the cache of compressed blocks that 'squash --cache DIR' and
'build --cache DIR' keep, so that a rebuild compresses only what changed
and still writes the same bytes as a build without it. DIR defaults to
$MKPORTABLE_CACHE, else $XDG_CACHE_HOME/mkportable (~/.cache/mkportable).
prune removes the least recently used blocks until the cache holds at most
SIZE; builds do that themselves past $MKPORTABLE_CACHE_MAX_SIZE (default 4G).`

// cacheFlag adds --cache to a command that writes images.
func cacheFlag(fs *flag.FlagSet) *string {
	return fs.String("cache", os.Getenv("MKPORTABLE_CACHE"),
		"keep compressed blocks in `DIR` and reuse them: the image is the same, rebuilds are faster (default $MKPORTABLE_CACHE)")
}

// openCache opens the cache in dir for a build, or returns nil when dir
// is empty. done trims the cache to its size bound after the build.
func openCache(dir string) (cache squashfs.Cache, done func(), err error) {
	if dir == "" {
		return nil, func() {}, nil
	}
	maxSize, err := cacheMaxSize(os.Getenv("MKPORTABLE_CACHE_MAX_SIZE"))
	if err != nil {
		return nil, nil, err
	}
	d, err := blockcache.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	return d, func() { d.Prune(maxSize) }, nil
}

func cacheMaxSize(s string) (int64, error) {
	if s == "" {
		return blockcache.DefaultMaxSize, nil
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, fmt.Errorf("MKPORTABLE_CACHE_MAX_SIZE: %w", err)
	}
	return n, nil
}

// parseSize reads bytes, or a number with a K, M, G or T suffix.
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			num, mult = s[:n-1], 1<<10
		case 'm', 'M':
			num, mult = s[:n-1], 1<<20
		case 'g', 'G':
			num, mult = s[:n-1], 1<<30
		case 't', 'T':
			num, mult = s[:n-1], 1<<40
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want bytes or a number with K, M, G or T", s)
	}
	return v * mult, nil
}

func runCache(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cache", cacheSynopsis, stderr)
	dir := fs.String("cache", os.Getenv("MKPORTABLE_CACHE"), "cache `DIR` (default $MKPORTABLE_CACHE, else $XDG_CACHE_HOME/mkportable)")
	maxSize := fs.String("max-size", "", "prune: keep at most `SIZE` (bytes, or with K, M, G or T; default $MKPORTABLE_CACHE_MAX_SIZE, else 4G)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return usageError(err)
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "mkportable cache: %v\n", err)
		return code
	}
	if len(pos) != 1 || (pos[0] != "stats" && pos[0] != "prune") {
		fs.Usage()
		return 2
	}
	if *dir == "" {
		if *dir, err = blockcache.DefaultDir(); err != nil {
			return fail(1, err)
		}
	}
	if info, err := os.Stat(*dir); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stdout, "%s: no cache\n", *dir)
		return 0
	} else if err != nil {
		return fail(1, err)
	} else if !info.IsDir() {
		return fail(1, fmt.Errorf("%s is not a directory", *dir))
	}
	d, err := blockcache.Open(*dir)
	if err != nil {
		return fail(1, err)
	}
	switch pos[0] {
	case "stats":
		s, err := d.Stats()
		if err != nil {
			return fail(1, err)
		}
		line := fmt.Sprintf("%s: %d blocks, %s", *dir, s.Entries, humanBytes(s.Bytes))
		if s.Entries > 0 {
			line += ", least recently used " + s.Oldest.UTC().Format(time.DateTime)
		}
		fmt.Fprintln(stdout, line)
	case "prune":
		limit, err := cacheMaxSize(os.Getenv("MKPORTABLE_CACHE_MAX_SIZE"))
		if *maxSize != "" {
			limit, err = parseSize(*maxSize)
			if err != nil {
				err = fmt.Errorf("--max-size: %w", err)
			}
		}
		if err != nil {
			return fail(2, err)
		}
		removed, err := d.Prune(limit)
		if err != nil {
			return fail(1, err)
		}
		fmt.Fprintf(stdout, "%s: removed %d blocks, %s\n", *dir, removed.Entries, strings.TrimSpace(humanBytes(removed.Bytes)))
	}
	return 0
}
