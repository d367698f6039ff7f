package squashfs

// The hostile corpus: images made to break a reader (loops, shared
// subtrees, names the format forbids, sizes and counts far beyond the
// image, multi-GiB sparse files, symlink and ".." chains, truncations at
// every table), and the test that each is walked and read in full through
// Reader, and inspected by mkportable, in bounded CPU time and memory, with
// ErrFormat or a clean error and never a panic.
//
// The named images live in testdata/hostile, written by the generator in
// hostile_gen_test.go; TestHostileCorpusIsGenerated checks they are its
// output. Regenerate them with:
//
//go:generate go test -run ^TestHostileCorpusIsGenerated$ -update-hostile

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mkportable/mkportable/internal/pathwalk"
	"github.com/stretchr/testify/require"
)

var updateHostile = flag.Bool("update-hostile", false, "rewrite testdata/hostile from the generator")

const hostileDir = "testdata/hostile"

// Bounds every hostile image must be read within, measured on a child
// process with getrusage: user+system CPU time and peak RSS do not depend
// on how loaded the machine is. The wall-clock limit only stops a hang.
const (
	hostileCPU  = 2 * time.Second
	hostileRSS  = 200 << 20
	hostileWall = 60 * time.Second
	// A child past this much memory is killed at once rather than let it
	// take the machine.
	hostileKillRSS = 1 << 30
)

// hostileCase is one image of the corpus and what reading it must give:
// wantFormat means some error must wrap ErrFormat; otherwise the image is
// valid, however nasty, and only clean errors (no such file, a symlink
// loop, a name too long, an unsupported compressor) may occur.
type hostileCase struct {
	name       string
	wantFormat bool
	build      func() []byte
}

// osRelease has no PORTABLE_PREFIXES, so inspect matches units by the
// image name: the case's name.
const osRelease = "ID=hostile\n"

// rawFile is a file whose contents are one uncompressed data block.
func (im *himage) rawFile(content string) *hnode {
	start := dataAt(len(im.data))
	im.data = append(im.data, content...)
	return &hnode{typ: inodeBasicFile, perm: 0o644, size: uint64(len(content)), start: start,
		blocks: []uint32{uint32(len(content)) | dataUncompressed}}
}

// compressedBlock appends block, compressed with the image's compressor,
// to the data area and returns its position and size word.
func (im *himage) compressedBlock(block []byte) (uint64, uint32) {
	enc, err := im.comp.NewEncoder(im.blockSize)
	must(err)
	c, err := enc.Compress(nil, block)
	must(err)
	pos := dataAt(len(im.data))
	im.data = append(im.data, c...)
	return pos, uint32(len(c))
}

// portable returns a root directory with an /etc/os-release and the other
// entries given, in byte order.
func (im *himage) portable(extra ...hentry) *hnode {
	etc := hdir(0o755, hent("os-release", im.rawFile(osRelease)))
	return hdir(0o755, sorted(append(extra, hent("etc", etc))...)...)
}

// holes returns n size words of holes.
func holes(n int) []uint32 { return make([]uint32, n) }

func u32p(v uint32) *uint32 { return &v }
func u16p(v uint16) *uint16 { return &v }

func hostileCorpus() []hostileCase {
	// Metadata is stored raw or with zstd, whose output is fixed by the
	// version go.mod pins; the standard library's zlib may change.
	raw := func(build func(im *himage)) func() []byte {
		return func() []byte {
			im := &himage{rawMeta: true, comp: ZstdCompressor{Level: 6}, blockSize: 128 << 10}
			build(im)
			return im.bytes()
		}
	}
	zstdImage := func(bs int, build func(im *himage)) func() []byte {
		return func() []byte {
			im := &himage{comp: ZstdCompressor{Level: 6}, blockSize: bs}
			build(im)
			return im.bytes()
		}
	}
	badName := func(names ...string) func() []byte {
		return raw(func(im *himage) {
			f := im.rawFile("x\n")
			var es []hentry
			for _, n := range names {
				es = append(es, hent(n, f))
			}
			etc := hdir(0o755, hent("os-release", im.rawFile(osRelease)))
			im.root = hdir(0o755, append([]hentry{hent("etc", etc)}, es...)...)
		})
	}
	// sb builds a small valid image and then changes its superblock.
	sb := func(change func(*superblock)) func() []byte {
		return func() []byte {
			im := &himage{rawMeta: true, comp: ZstdCompressor{Level: 6}, blockSize: 128 << 10}
			fragPos, fragWord := im.compressedBlock([]byte("a fragment block"))
			im.frags = []fragEntry{{fragPos, fragWord}}
			tail := &hnode{typ: inodeBasicFile, perm: 0o644, size: 8, hasFrag: true}
			im.root = im.portable(hent("tail", tail))
			im.patchSB = change
			return im.bytes()
		}
	}
	// xattrCase builds an image whose one file, /a, has xattr set 0 of
	// what set gives.
	xattrCase := func(set func(im *himage)) func() []byte {
		return raw(func(im *himage) {
			f := im.rawFile("f\n")
			f.xattr = 1
			im.root = hdir(0o755, hent("a", f), hent("etc", hdir(0o755, hent("os-release", im.rawFile(osRelease)))))
			set(im)
		})
	}
	// dotdot is a target that walks down n elements of the "a" chain and
	// back up, then goes on to rest.
	dotdot := func(n int, rest string) string {
		return "/" + strings.Repeat("a/", n) + strings.Repeat("../", n) + rest
	}

	cases := []hostileCase{
		// Directory loops and shared subtrees: a walk would never end.
		{"loop-self", true, raw(func(im *himage) {
			a := hdir(0o755)
			a.entries = []hentry{hent("a", a)}
			im.root = im.portable(hent("a", a))
		})},
		{"loop-root", true, raw(func(im *himage) {
			a := hdir(0o755)
			im.root = im.portable(hent("a", a))
			a.entries = []hentry{hent("up", im.root)}
		})},
		{"loop-deep", true, raw(func(im *himage) {
			bottom := hdir(0o755)
			top := chain(500, hent("a", bottom))
			bottom.entries = []hentry{hent("a", top)}
			im.root = im.portable(hent("a", top))
		})},
		{"loop-symlink-chain", true, raw(func(im *himage) {
			a := hdir(0o755)
			a.entries = []hentry{hent("a", a)}
			im.root = hdir(0o755, hent("a", a), hent("etc", hdir(0o755,
				hent("os-release", hlink(dotdot(1000, "etc/x"))), hent("x", im.rawFile(osRelease)))))
		})},
		{"shared-subtree", true, raw(func(im *himage) {
			d := hdir(0o755, hent("f", im.rawFile("leaf\n")))
			for range 64 {
				d = hdir(0o755, hent("x", d), hent("y", d))
			}
			im.root = im.portable(hent("d", d))
		})},
		{"two-parents", true, raw(func(im *himage) {
			c := hdir(0o755, hent("f", im.rawFile("leaf\n")))
			im.root = im.portable(hent("a", hdir(0o755, hent("c", c))), hent("b", hdir(0o755, hent("c", c))))
		})},
		{"listing-shared", true, raw(func(im *himage) {
			big := hdir(0o755)
			f := im.rawFile("f\n")
			for i := range 2000 {
				big.entries = append(big.entries, hent(fmt.Sprintf("f%05d", i), f))
			}
			es := []hentry{hent("big", big)}
			for i := range 3000 {
				es = append(es, hent(fmt.Sprintf("d%05d", i), &hnode{typ: inodeBasicDir, perm: 0o755, listingOf: big}))
			}
			im.root = im.portable(es...)
		})},

		// Symlinks and "..": a lookup is linear in what it follows.
		{"dotdot-chain-64k", false, raw(func(im *himage) {
			etc := hdir(0o755, hent("real", im.rawFile(osRelease)))
			// 40 links, each walking 800 levels down the chain and back.
			etc.entries = append(etc.entries, hent("os-release", hlink(dotdot(800, "etc/l01"))))
			for i := 1; i < pathwalk.MaxHops; i++ {
				next := fmt.Sprintf("etc/l%02d", i+1)
				if i == pathwalk.MaxHops-1 {
					next = "etc/real"
				}
				etc.entries = append(etc.entries, hent(fmt.Sprintf("l%02d", i), hlink(dotdot(800, next))))
			}
			etc.entries = sorted(etc.entries...)
			im.root = hdir(0o755, hent("a", chain(1000, hent("f", im.rawFile("bottom\n")))), hent("etc", etc))
		})},
		{"deep-dirs", false, raw(func(im *himage) {
			im.root = im.portable(hent("a", chain(2100, hent("f", im.rawFile("bottom\n")))))
		})},
		{"symlink-loop", false, raw(func(im *himage) {
			etc := hdir(0o755, hent("a", hlink("b")), hent("b", hlink("a")), hent("os-release", hlink("a")))
			im.root = hdir(0o755, hent("etc", etc))
		})},
		{"symlink-41-hops", false, raw(func(im *himage) {
			var es []hentry
			for i := range pathwalk.MaxHops + 1 {
				es = append(es, hent(fmt.Sprintf("l%02d", i), hlink(fmt.Sprintf("l%02d", i+1))))
			}
			es = append(es, hent("os-release", hlink("l00")), hent(fmt.Sprintf("l%02d", pathwalk.MaxHops+1), im.rawFile(osRelease)))
			im.root = hdir(0o755, hent("etc", hdir(0o755, sorted(es...)...)))
		})},
		{"symlink-64k-target", true, raw(func(im *himage) {
			im.root = hdir(0o755, hent("etc", hdir(0o755, hent("os-release", hlink(strings.Repeat("a/", 32000))))))
		})},
		{"symlink-size-huge", true, raw(func(im *himage) {
			l := hlink("x")
			l.targetSize = u32p(0xFFFFFFFF)
			im.root = hdir(0o755, hent("etc", hdir(0o755, hent("os-release", l))))
		})},

		// Names the format forbids, and listings out of order.
		{"name-empty", true, badName("")},
		{"name-dot", true, badName(".")},
		{"name-dotdot", true, badName("..")},
		{"name-slash", true, badName("a/b")},
		{"name-nul", true, badName("a\x00b")},
		{"name-257", true, badName(strings.Repeat("n", 257))},
		{"name-duplicate", true, badName("x", "x")},
		{"name-unsorted", true, badName("b", "a")},

		// Sizes and counts beyond the image.
		{"sparse-os-release-8g", false, raw(func(im *himage) {
			im.blockSize = 1 << 20
			f := &hnode{typ: inodeBasicFile, ext: true, perm: 0o644, size: 8 << 30, blocks: holes(8192)}
			im.root = hdir(0o755, hent("etc", hdir(0o755, hent("os-release", f))))
		})},
		{"sparse-unit-8g", false, raw(func(im *himage) {
			im.blockSize = 1 << 20
			unit := &hnode{typ: inodeBasicFile, ext: true, perm: 0o644, size: 8 << 30, blocks: holes(8192)}
			system := hdir(0o755, hent("sparse-unit-8g.service", unit))
			im.root = im.portable(hent("usr", hdir(0o755, hent("lib", hdir(0o755, hent("systemd", hdir(0o755, hent("system", system))))))))
		})},
		{"sparse-8g-4k-blocks", false, zstdImage(4096, func(im *himage) {
			f := &hnode{typ: inodeBasicFile, ext: true, perm: 0o644, size: 8 << 30, blocks: holes(8 << 30 / 4096)}
			im.root = im.portable(hent("sparse", f))
		})},
		{"file-size-2-62", true, raw(func(im *himage) {
			im.root = im.portable(hent("huge", &hnode{typ: inodeBasicFile, ext: true, perm: 0o644, size: 1 << 62}))
		})},
		{"file-size-1t-unlisted", true, raw(func(im *himage) {
			im.root = im.portable(hent("huge", &hnode{typ: inodeBasicFile, ext: true, perm: 0o644, size: 1 << 40}))
		})},
		{"block-word-huge", true, raw(func(im *himage) {
			f := hfile(100, 0xFFFFFFFF)
			f.start = dataAt(0)
			im.root = im.portable(hent("f", f))
		})},
		{"block-past-data", true, raw(func(im *himage) {
			f := hfile(100, 100)
			f.start = 1 << 40
			im.root = im.portable(hent("f", f))
		})},
		{"fragment-index-huge", true, raw(func(im *himage) {
			pos, word := im.compressedBlock([]byte("fragment"))
			im.frags = []fragEntry{{pos, word}}
			im.root = im.portable(hent("f", &hnode{typ: inodeBasicFile, perm: 0o644, size: 8, hasFrag: true, frag: 0xFFFFFFF0}))
		})},
		{"fragment-offset-huge", true, raw(func(im *himage) {
			pos, word := im.compressedBlock([]byte("fragment"))
			im.frags = []fragEntry{{pos, word}}
			im.root = im.portable(hent("f", &hnode{typ: inodeBasicFile, perm: 0o644, size: 8, hasFrag: true, fragOff: 0xFFFFFFF0}))
		})},
		{"dir-size-huge", true, raw(func(im *himage) {
			d := hdir(0o755, hent("f", im.rawFile("f\n")))
			d.ext, d.dirSize = true, u32p(0xFFFFFFFF)
			im.root = im.portable(hent("d", d))
		})},
		{"uid-index", true, raw(func(im *himage) {
			f := im.rawFile("f\n")
			f.uidIdx = 5
			im.root = im.portable(hent("f", f))
		})},
		{"entry-type-mismatch", true, raw(func(im *himage) {
			im.root = im.portable(hentry{name: "d", node: hdir(0o755), typ: inodeBasicFile})
		})},
		{"inode-type-unknown", true, raw(func(im *himage) {
			f := im.rawFile("f\n")
			f.typeWord = u16p(99)
			im.root = im.portable(hent("f", f))
		})},
		{"root-not-dir", true, raw(func(im *himage) { im.root = im.rawFile("a file\n") })},
		{"meta-header-zero", true, func() []byte {
			im := &himage{rawMeta: true, comp: ZstdCompressor{Level: 6}}
			im.root = im.portable()
			im.patch = func(b []byte) []byte {
				inodeTable := binary.LittleEndian.Uint64(b[64:])
				b[inodeTable], b[inodeTable+1] = 0, 0
				return b
			}
			return im.bytes()
		}},
		{"sb-id-count-65535", true, sb(func(s *superblock) { s.idCount = 0xFFFF })},
		{"sb-fragment-count-huge", true, sb(func(s *superblock) { s.fragCount = 0xFFFFFFFF })},
		{"sb-bytes-used-huge", true, sb(func(s *superblock) { s.bytesUsed = 1 << 62 })},
		{"sb-tables-swapped", true, sb(func(s *superblock) { s.inodeTable, s.dirTable = s.dirTable, s.inodeTable })},
		{"sb-block-log", true, sb(func(s *superblock) { s.blockLog = 12 })},
		{"sb-compressor-99", true, sb(func(s *superblock) { s.compressor = 99 })},
		{"sb-compressor-lzo", false, sb(func(s *superblock) { s.compressor = LZO })},
		{"sb-inode-count-huge", false, sb(func(s *superblock) { s.inodeCount = 0xFFFFFFFF })},
		{"sb-root-ref-bad", true, sb(func(s *superblock) { s.rootRef = 0xFFFFFFFF_FFFF })},
		{"sb-xattr-table-garbage", true, sb(func(s *superblock) { s.xattrTable = s.idTable })},
		{"sb-export-table-inside", true, sb(func(s *superblock) { s.exportTable = s.inodeTable })},

		// Extended attributes.
		{"xattr-valid", false, raw(func(im *himage) {
			// The second set refers to the first's value (at offset 11 of
			// the key/value area: after type, name size, "comment").
			im.xattrs = []hxattr{
				xset(xrec(xattrUser, "comment", []byte("hello")), xrec(xattrSecurity, "capability", make([]byte, 20))),
				xset(xrec(xattrTrusted|xattrOutOfLine, "copy", le(nil).u64(11))),
			}
			f, g := im.rawFile("f\n"), im.rawFile("g\n")
			f.xattr, g.xattr = 1, 2
			im.root = im.portable(hent("f", f), hent("g", g))
		})},
		{"xattr-value-huge", true, xattrCase(func(im *himage) {
			x := xset(xrec(xattrUser, "v", nil))
			binary.LittleEndian.PutUint32(x.kv[5:], 0xFFFFFFFF)
			im.xattrs = []hxattr{x}
		})},
		{"xattr-count-huge", true, xattrCase(func(im *himage) {
			x := xset(xrec(xattrUser, "v", []byte("x")))
			x.count = 0xFFFFFFFF
			im.xattrs = []hxattr{x}
		})},
		{"xattr-name-empty", true, xattrCase(func(im *himage) { im.xattrs = []hxattr{xset(xrec(xattrUser, "", []byte("x")))} })},
		{"xattr-prefix-unknown", true, xattrCase(func(im *himage) { im.xattrs = []hxattr{xset(xrec(7, "x", []byte("x")))} })},
		{"xattr-duplicate", true, xattrCase(func(im *himage) {
			im.xattrs = []hxattr{xset(xrec(xattrUser, "x", []byte("1")), xrec(xattrUser, "x", []byte("2")))}
		})},
		{"xattr-out-of-line-nowhere", true, xattrCase(func(im *himage) {
			im.xattrs = []hxattr{xset(xrec(xattrUser|xattrOutOfLine, "x", le(nil).u64(0xFFFF_0000_0000)))}
		})},
		{"xattr-index-huge", true, xattrCase(func(im *himage) {
			im.xattrs = []hxattr{xset(xrec(xattrUser, "x", []byte("1")))}
			im.root.entries[0].node.xattr = 1000
		})},
		{"xattr-ids-huge", true, xattrCase(func(im *himage) {
			im.xattrs = []hxattr{xset(xrec(xattrUser, "x", []byte("1")))}
			im.xattrIDs = u32p(0xFFFFFFFF)
		})},
		{"xattr-shared-bomb", false, zstdImage(128<<10, func(im *himage) {
			var recs []le
			for i := range 3 {
				recs = append(recs, xrec(xattrUser, fmt.Sprintf("v%d", i), make([]byte, maxXattrValue)))
			}
			im.xattrs = []hxattr{xset(recs...)}
			d := hdir(0o755)
			for i := range 5000 {
				f := hfile(0)
				f.ext, f.xattr = true, 1
				d.entries = append(d.entries, hent(fmt.Sprintf("f%05d", i), f))
			}
			im.root = im.portable(hent("d", d))
		})},

		// Valid images that cost a careless reader dearly.
		{"dedup-bomb", false, zstdImage(1<<20, func(im *himage) {
			pos, word := im.compressedBlock(bytes.Repeat([]byte("the same block "), 1<<20/15+1)[:1<<20])
			d := hdir(0o755)
			for i := range 5000 {
				f := hfile(1<<20, word)
				f.start = pos
				d.entries = append(d.entries, hent(fmt.Sprintf("f%05d", i), f))
			}
			im.root = im.portable(hent("d", d))
		})},
		{"fragment-bomb", false, zstdImage(128<<10, func(im *himage) {
			pos, word := im.compressedBlock(bytes.Repeat([]byte("tail "), 128<<10/5))
			im.frags = []fragEntry{{pos, word}}
			d := hdir(0o755)
			for i := range 20000 {
				d.entries = append(d.entries, hent(fmt.Sprintf("f%05d", i), &hnode{typ: inodeBasicFile, perm: 0o644, size: 1000, hasFrag: true}))
			}
			im.root = im.portable(hent("d", d))
		})},
		{"wide-dir-100k", false, zstdImage(128<<10, func(im *himage) {
			d := hdir(0o755)
			for i := range 100000 {
				d.entries = append(d.entries, hent(fmt.Sprintf("f%06d", i), hfile(0)))
			}
			im.root = im.portable(hent("d", d))
		})},
	}
	return cases
}

// The corpus's valid xattr image reads back as written, a value stored
// out of line included.
func TestReaderXattrs(t *testing.T) {
	rc, err := OpenReader(filepath.Join(hostileDir, "xattr-valid.raw"))
	require.NoError(t, err)
	defer rc.Close()
	info, err := rc.Lstat("f")
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"user.comment": []byte("hello"), "security.capability": make([]byte, 20)}, info.Sys().(*InodeInfo).Xattrs)
	info, err = rc.Lstat("g")
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"trusted.copy": []byte("hello")}, info.Sys().(*InodeInfo).Xattrs)
	// Sys gives each caller a map of its own.
	info.Sys().(*InodeInfo).Xattrs["trusted.copy"][0] = 'X'
	require.Equal(t, []byte("hello"), info.Sys().(*InodeInfo).Xattrs["trusted.copy"])
}

// TestHostileCorpusIsGenerated checks that testdata/hostile holds exactly
// what the generator makes, and with -update-hostile writes it.
func TestHostileCorpusIsGenerated(t *testing.T) {
	cases := hostileCorpus()
	if *updateHostile {
		require.NoError(t, os.RemoveAll(hostileDir))
		require.NoError(t, os.MkdirAll(hostileDir, 0o755))
		for _, c := range cases {
			require.NoError(t, os.WriteFile(filepath.Join(hostileDir, c.name+".raw"), c.build(), 0o644))
		}
	}
	var want []string
	for _, c := range cases {
		want = append(want, c.name+".raw")
		got, err := os.ReadFile(filepath.Join(hostileDir, c.name+".raw"))
		require.NoError(t, err, "run go generate ./squashfs")
		require.True(t, bytes.Equal(c.build(), got), "%s differs from the generator's: run go generate ./squashfs", c.name)
	}
	ents, err := os.ReadDir(hostileDir)
	require.NoError(t, err)
	var have []string
	for _, e := range ents {
		have = append(have, e.Name())
	}
	slices.Sort(want)
	require.Equal(t, want, have, "files in %s that the generator does not make", hostileDir)
}

// truncations returns, for a valid image, copies cut at every table
// boundary (with bytes used set to the cut, so the superblock still
// agrees) and copies whose bytes from each boundary on are zeroed.
func truncations(name string, img []byte) []hostileCase {
	sb := img[:superblockSize]
	used := binary.LittleEndian.Uint64(sb[40:])
	bounds := []uint64{superblockSize}
	for _, off := range []int{48, 56, 64, 72, 80, 88} { // id, xattr, inode, dir, fragment, export tables
		if p := binary.LittleEndian.Uint64(sb[off:]); p != noTable && p < used {
			bounds = append(bounds, p, p+1, p+8)
			if p+8 <= used {
				// The first block of a lookup table, from its list.
				if q := binary.LittleEndian.Uint64(img[p:]); q < used {
					bounds = append(bounds, q, q+2)
				}
			}
		}
	}
	bounds = append(bounds, used-1)
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	var out []hostileCase
	for _, b := range bounds {
		if b >= used {
			continue
		}
		cut := bytes.Clone(img[:b])
		if len(cut) >= superblockSize {
			binary.LittleEndian.PutUint64(cut[40:], b)
		}
		out = append(out, hostileCase{fmt.Sprintf("%s-cut-%d", name, b), true, func() []byte { return cut }})
		zeroed := bytes.Clone(img)
		clear(zeroed[max(b, superblockSize):used])
		if !bytes.Equal(zeroed, img) { // zeroing zeros changes nothing
			out = append(out, hostileCase{fmt.Sprintf("%s-zero-from-%d", name, b), true, func() []byte { return zeroed }})
		}
	}
	return out
}

// hostileResult is what the child reports of one walk.
type hostileResult struct {
	Entries    int      `json:"entries"`
	Bytes      int64    `json:"bytes"`
	Format     int      `json:"format"`
	Clean      int      `json:"clean"`
	Unexpected []string `json:"unexpected"`
	First      string   `json:"first"`
}

const hostileMarker = "HOSTILE-RESULT "

// TestHostileChild is the child process: it walks and reads the image
// named in SQUASHFS_HOSTILE_IMAGE and prints what happened, or runs and
// measures the command in SQUASHFS_HOSTILE_RUN (see runMeasured).
func TestHostileChild(t *testing.T) {
	if run := os.Getenv("SQUASHFS_HOSTILE_RUN"); run != "" {
		var r hostileRun
		require.NoError(t, json.Unmarshal([]byte(run), &r))
		b, err := json.Marshal(measure(r.Argv, r.Env))
		require.NoError(t, err)
		fmt.Printf("%s%s\n", hostileMarker, b)
		return
	}
	name := os.Getenv("SQUASHFS_HOSTILE_IMAGE")
	if name == "" {
		t.Skip("run by TestHostileImages")
	}
	res := walkHostile(name)
	b, err := json.Marshal(res)
	require.NoError(t, err)
	fmt.Printf("%s%s\n", hostileMarker, b)
}

// walkHostile opens an image, walks it with fs.WalkDir, reads every
// regular file to the end, and reads and follows every symlink, going on
// past errors; every error must be ErrFormat or a clean one.
func walkHostile(name string) hostileResult {
	rc, err := OpenReader(name)
	if err != nil {
		var res hostileResult
		res.note(err)
		return res
	}
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hostileWall)
	defer cancel()
	return walkReader(rc.WithContext(ctx))
}

// note counts an error as ErrFormat, clean, or unexpected.
func (res *hostileResult) note(err error) {
	if err == nil {
		return
	}
	if res.First == "" {
		res.First = err.Error()
	}
	switch {
	case errors.Is(err, ErrFormat):
		res.Format++
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, pathwalk.ErrLoop), errors.Is(err, pathwalk.ErrNameTooLong),
		errors.Is(err, pathwalk.ErrNotDir), errors.Is(err, ErrCompressor),
		// A name that is not UTF-8 is a valid squashfs name, but no fs.FS
		// path can hold it.
		errors.Is(err, fs.ErrInvalid):
		res.Clean++
	default:
		res.Unexpected = append(res.Unexpected, err.Error())
	}
}

// walkReader walks and reads all of rd, as walkHostile describes.
func walkReader(rd *Reader) hostileResult {
	var res hostileResult
	note := res.note
	note(fs.WalkDir(rd, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			note(err)
			return nil // go on with the rest
		}
		res.Entries++
		// AddFS asks every entry for its metadata, xattrs included.
		if info, err := d.Info(); err != nil {
			note(err)
		} else {
			_ = info.Sys()
		}
		switch d.Type() {
		case 0:
			f, err := rd.Open(p)
			if err != nil {
				note(err)
				return nil
			}
			n, err := io.Copy(io.Discard, f)
			res.Bytes += n
			note(err)
			f.Close()
		case fs.ModeSymlink:
			_, err := rd.ReadLink(p)
			note(err)
			_, err = rd.Stat(p)
			note(err)
		}
		return nil
	}))
	return res
}

// measured is how a child process ended.
type measured struct {
	CPU    time.Duration `json:"cpu"`
	RSS    int64         `json:"rss"` // bytes
	Exit   int           `json:"exit"`
	Stdout string        `json:"stdout"`
	Stderr string        `json:"stderr"`
	Killed string        `json:"killed"` // why the watchdog killed it, if it did
}

// hostileRun is what TestHostileChild runs and measures, as JSON in
// SQUASHFS_HOSTILE_RUN.
type hostileRun struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
}

// runMeasured runs a command to its end and returns its CPU time and peak
// RSS from getrusage.
//
// A child forked from this process shares its memory until it execs, and
// Linux counts that memory in the child's peak RSS, whatever the child
// uses itself: in a full test run every child would seem to use this
// process's 70 MB. So a fresh copy of the test binary (TestHostileChild,
// a runner of about 10 MB) starts the command and reports its usage.
func runMeasured(t *testing.T, env []string, name string, args ...string) measured {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	run, err := json.Marshal(hostileRun{Argv: append([]string{name}, args...), Env: env})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*hostileWall)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "-test.run=^TestHostileChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SQUASHFS_HOSTILE_RUN="+string(run))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the runner failed: %s", out)
	_, res, ok := strings.Cut(string(out), hostileMarker)
	require.True(t, ok, "no result from the runner: %s", out)
	res, _, _ = strings.Cut(res, "\n")
	var m measured
	require.NoError(t, json.Unmarshal([]byte(res), &m))
	return m
}

// measure runs argv with env added to this process's, and a watchdog that
// kills it past hostileWall or hostileKillRSS, so a runaway cannot take
// the machine.
func measure(argv, env []string) measured {
	cmd := exec.Command(argv[0], argv[1:]...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SQUASHFS_HOSTILE_RUN=") { // or the child would run itself
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var m measured
	if err := cmd.Start(); err != nil {
		m.Killed = err.Error()
		return m
	}
	done := make(chan struct{})
	var killed atomic.Value
	go func() {
		deadline := time.Now().Add(hostileWall)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if time.Now().After(deadline) {
				killed.Store(fmt.Sprintf("still running after %v", hostileWall))
			} else if rss := procRSS(cmd.Process.Pid); rss > hostileKillRSS {
				killed.Store(fmt.Sprintf("RSS reached %d MB", rss>>20))
			} else {
				continue
			}
			cmd.Process.Kill()
			return
		}
	}()
	err := cmd.Wait()
	close(done)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	m.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	m.RSS = ru.Maxrss << 10
	m.Exit = cmd.ProcessState.ExitCode()
	m.Stdout, m.Stderr = stdout.String(), stderr.String()
	if k, ok := killed.Load().(string); ok {
		m.Killed = k
	} else if err != nil && m.Exit < 0 {
		m.Killed = err.Error()
	}
	return m
}

// procRSS reads a process's resident set size from /proc, or 0.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestHostileImages walks and reads every image of the corpus, and every
// truncation of valid images of each compressor, in a child process each,
// and runs mkportable inspect on each (not with -short), all within the
// bounds above.
func TestHostileImages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("measures children with Linux's getrusage and /proc")
	}
	cases := hostileCorpus()
	for _, comp := range []Compressor{ZstdCompressor{Level: 6}, XZCompressor{}} {
		img := writeMem(t, metadataTree(t), Options{Compressor: comp, BlockSize: 4096, KeepOwners: true})
		cases = append(cases, truncations(comp.ID().String(), img)...)
	}
	dir := t.TempDir()
	var inspect string
	if !testing.Short() {
		inspect = buildMkportable(t, dir)
	}
	self, err := os.Executable()
	require.NoError(t, err)
	var table []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".raw")
			data, err := os.ReadFile(filepath.Join(hostileDir, c.name+".raw"))
			if err != nil {
				data = c.build() // the truncations are made here, not kept
			}
			require.NoError(t, os.WriteFile(img, data, 0o644))

			m := runMeasured(t, []string{"SQUASHFS_HOSTILE_IMAGE=" + img}, self, "-test.run=^TestHostileChild$", "-test.count=1")
			line := fmt.Sprintf("%-40s %7d B  reader %5d ms %4d MB", c.name, len(data), m.CPU.Milliseconds(), m.RSS>>20)
			require.Empty(t, m.Killed, "the reader was killed: %s\n%s", m.Killed, m.Stderr)
			require.NotContains(t, m.Stdout+m.Stderr, "panic:", "the reader panicked")
			_, out, ok := strings.Cut(m.Stdout, hostileMarker)
			require.True(t, ok, "no result from the child (exit %d):\n%s\n%s", m.Exit, m.Stdout, m.Stderr)
			out, _, _ = strings.Cut(out, "\n")
			var res hostileResult
			require.NoError(t, json.Unmarshal([]byte(out), &res))
			line += fmt.Sprintf(" (%d entries, %d MB read, %d format, %d clean errors)", res.Entries, res.Bytes>>20, res.Format, res.Clean)
			require.Empty(t, res.Unexpected, "errors that are neither ErrFormat nor clean")
			if c.wantFormat {
				require.NotZero(t, res.Format, "a corrupt image read without ErrFormat")
			} else {
				require.Zero(t, res.Format, "a valid image gave ErrFormat: %s", res.First)
			}
			require.Less(t, m.CPU, hostileCPU, "reader CPU time")
			require.Less(t, m.RSS, int64(hostileRSS), "reader peak RSS")

			if inspect != "" {
				mi := runMeasured(t, nil, inspect, "inspect", img)
				line += fmt.Sprintf("; inspect %5d ms %4d MB exit %d", mi.CPU.Milliseconds(), mi.RSS>>20, mi.Exit)
				table = append(table, line)
				require.Empty(t, mi.Killed, "inspect was killed: %s", mi.Killed)
				require.NotContains(t, mi.Stdout+mi.Stderr, "panic:", "inspect panicked")
				require.Contains(t, []int{0, 1}, mi.Exit, "inspect: %s", mi.Stderr)
				require.Less(t, mi.CPU, hostileCPU, "inspect CPU time")
				require.Less(t, mi.RSS, int64(hostileRSS), "inspect peak RSS")
			} else {
				table = append(table, line)
			}
		})
	}
	t.Logf("CPU is user+system time, MB peak RSS, both from getrusage:\n%s", strings.Join(table, "\n"))
}

// buildMkportable builds the mkportable command into dir and returns its
// path.
func buildMkportable(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "mkportable")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/mkportable/mkportable/cmd/mkportable")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build mkportable: %s", out)
	return bin
}
