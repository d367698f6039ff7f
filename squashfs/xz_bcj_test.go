package squashfs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/internal/lzma"
	"github.com/mkportable/mkportable/internal/testtool"
	"github.com/mkportable/mkportable/internal/xz"
	"github.com/stretchr/testify/require"
)

// bcjTree is a directory holding x86-64 machine code (a Go tool, whose
// first megabytes are .text), text and random bytes, so that an xz image
// of it has blocks with and without the BCJ filter.
func bcjTree(t *testing.T) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("needs an x86-64 binary")
	}
	tool, err := os.ReadFile(filepath.Join(goroot(t), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "vet"))
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, mode))
	}
	write("vet", tool[:min(len(tool), 3<<20)], 0o755)
	write("text", bytes.Repeat([]byte("portable services are squashfs images\n"), 20000), 0o644)
	write("small", tool[4096:4096+3000], 0o644) // a fragment
	return dir
}

func TestXZBCJ(t *testing.T) {
	src := bcjTree(t)
	tree, err := TreeFromDir(src, LoadOptions{})
	require.NoError(t, err)
	dir := t.TempDir()
	images := map[bool]string{}
	for _, noBCJ := range []bool{false, true} {
		img := filepath.Join(dir, map[bool]string{false: "bcj.sqfs", true: "plain.sqfs"}[noBCJ])
		_, err := WriteFile(context.Background(), img, tree, Options{Compressor: XZCompressor{NoBCJ: noBCJ}, BlockSize: 1 << 20})
		require.NoError(t, err)
		images[noBCJ] = img
	}
	bcj, plain := fileSize(t, images[false]), fileSize(t, images[true])
	t.Logf("with BCJ %d bytes, without %d", bcj, plain)
	require.Less(t, bcj, plain, "BCJ did not shrink the image of machine code")

	// xz's preset levels: 6 searches harder than the default, 1 less.
	for _, level := range []int{1, 6} {
		img := filepath.Join(dir, "level.sqfs")
		_, err := WriteFile(context.Background(), img, tree, Options{Compressor: XZCompressor{Level: level}, BlockSize: 1 << 20})
		require.NoError(t, err)
		ext := filepath.Join(dir, "level")
		out, err := testtool.Command(t, "unsquashfs", "-no-xattrs", "-d", ext, img).CombinedOutput()
		require.NoError(t, err, "%s", out)
		compareTrees(t, src, ext, Options{})
		require.NoError(t, os.RemoveAll(ext))
		t.Logf("level %d: %d bytes", level, fileSize(t, img))
	}

	img := images[false]
	// unsquashfs and sqfs2tar (liblzma) read the filter from the streams.
	out, err := testtool.Command(t, "unsquashfs", "-s", img).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "Filters selected: x86")
	ext := filepath.Join(dir, "ext")
	out, err = testtool.Command(t, "unsquashfs", "-no-xattrs", "-d", ext, img).CombinedOutput()
	require.NoError(t, err, "%s", out)
	compareTrees(t, src, ext, Options{})
	tar, err := testtool.Command(t, "sqfs2tar", img).Output()
	require.NoError(t, err)
	require.Contains(t, string(tar), "portable services are squashfs images")

	// Our reader.
	rc, err := OpenReader(img)
	require.NoError(t, err)
	defer rc.Close()
	for _, name := range []string{"vet", "text", "small"} {
		want, err := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, err)
		got, err := rc.ReadFile(name)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), name)
	}

	// The kernel.
	compareTrees(t, src, testtool.Mount(t, img), Options{})
}

func TestX86Likelihood(t *testing.T) {
	src := bcjTree(t)
	code, err := os.ReadFile(filepath.Join(src, "vet"))
	require.NoError(t, err)
	text, err := os.ReadFile(filepath.Join(src, "text"))
	require.NoError(t, err)
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(i*2654435761>>13) ^ byte(i>>7)
	}
	require.Equal(t, x86Code, x86Likelihood(code[:1<<20]))
	require.Equal(t, notX86, x86Likelihood(text))
	require.Equal(t, notX86, x86Likelihood(random))
	require.Equal(t, notX86, x86Likelihood(code[:100]), "too short to tell")
	// Code diluted 1:2 with text: a case to try both ways.
	mixed := append(append([]byte(nil), code[:256<<10]...), text[:512<<10]...)
	require.Equal(t, perhapsX86, x86Likelihood(mixed))
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	info, err := os.Stat(p)
	require.NoError(t, err)
	return info.Size()
}

// TestXZPerhapsX86 checks that a block that may be code is filtered only
// when that pays, as compressing the whole block both ways would decide
// (bcjPays judges a sample), and that it decodes either way.
func TestXZPerhapsX86(t *testing.T) {
	src := bcjTree(t)
	code, err := os.ReadFile(filepath.Join(src, "vet"))
	require.NoError(t, err)
	text, err := os.ReadFile(filepath.Join(src, "text"))
	require.NoError(t, err)
	// Lines that each hold the same call: the filter makes every one's
	// target absolute, so different, and the block larger.
	var calls []byte
	for len(calls) < 768<<10 {
		calls = append(calls, "a line of text with one call in it: \xe8\x10\x00\x00\x00 and more words after it, so that calls are rarer than in machine code but not rare: one in about two hundred bytes of this text\n"...)
	}
	for _, tt := range []struct {
		name   string
		block  []byte
		filter bool
	}{
		{"code then text", append(append([]byte(nil), code[:256<<10]...), text[:512<<10]...), true},
		{"text then code", append(append([]byte(nil), text[:512<<10]...), code[1<<20:(1<<20)+(200<<10)]...), true},
		{"one repeated call a line", calls, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			block := tt.block
			require.Equal(t, perhapsX86, x86Likelihood(block))
			enc, err := XZCompressor{}.NewEncoder(1 << 20)
			require.NoError(t, err)
			got, err := enc.Compress(nil, block)
			require.NoError(t, err)

			// Both ways on the whole block, to know which is smaller.
			lz, err := lzma.NewEncoder(xzDefault)
			require.NoError(t, err)
			plain := xz.AppendStream(nil, lz.AppendLZMA2(nil, block), block, 1<<20, false)
			filtered := append([]byte(nil), block...)
			xz.EncodeX86(filtered)
			filtered = xz.AppendStream(nil, lz.AppendLZMA2(nil, filtered), block, 1<<20, true)
			require.Equal(t, tt.filter, len(filtered) < len(plain), "the block is not what the case says")
			require.Equal(t, tt.filter, xzFiltered(t, got), "got %d bytes (plain %d, filtered %d)", len(got), len(plain), len(filtered))

			cmd := testtool.Command(t, "xz", "-d", "-c")
			cmd.Stdin = bytes.NewReader(got)
			out, err := cmd.Output()
			require.NoError(t, err)
			require.True(t, bytes.Equal(block, out))
		})
	}
}

// goroot is the Go toolchain's root, whose tools are x86-64 test inputs.
func goroot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// xzFiltered tells whether the first block of xz stream s has the x86
// filter before LZMA2.
func xzFiltered(t *testing.T, s []byte) bool {
	t.Helper()
	require.Greater(t, len(s), 16)
	filters := int(s[13]&3) + 1 // the block flags, after the 12-byte stream header and the header size
	require.True(t, filters == 1 || filters == 2, "%d filters", filters)
	return filters == 2 && s[14] == 0x04
}

// lzma2Props returns lc, lp and pb from the first LZMA chunk of the
// first block of xz stream s.
func lzma2Props(t *testing.T, s []byte) (lc, lp, pb int) {
	t.Helper()
	at := 12 + (int(s[12])+1)*4 // the LZMA2 data, after the block header
	require.GreaterOrEqual(t, s[at], byte(0xE0), "the first chunk is an LZMA chunk that sets properties")
	props := int(s[at+5])
	return props % 9, props / 9 % 5, props / 45
}

// TestXZUnaligned checks which blocks get the unaligned literal setting
// (lc=4, pb=0): text always, machine code when its sample says so (the
// Go toolchain's always has), other data never; and that every block
// decodes with liblzma.
func TestXZUnaligned(t *testing.T) {
	src := bcjTree(t)
	code, err := os.ReadFile(filepath.Join(src, "vet"))
	require.NoError(t, err)
	text := bytes.Repeat([]byte("ExecStart=/usr/bin/web-server --port 3031\nUser=nobody\tGroup=nogroup\r\n"), 8000)
	table := make([]byte, 256<<10) // little-endian words that count up: aligned binary data
	for i := 0; i+4 <= len(table); i += 4 {
		table[i], table[i+1], table[i+2] = byte(i>>2), byte(i>>10), 0x40
	}
	for _, tt := range []struct {
		name      string
		block     []byte
		filtered  bool
		unaligned bool
	}{
		{"text", text, false, true},
		{"Go machine code", code[1<<20 : 2<<20], true, true},
		{"a table of words", table, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := XZCompressor{}.NewEncoder(1 << 20)
			require.NoError(t, err)
			got, err := enc.Compress(nil, tt.block)
			require.NoError(t, err)
			require.Equal(t, tt.filtered, xzFiltered(t, got))
			lc, lp, pb := lzma2Props(t, got)
			want := [3]int{3, 0, 2}
			if tt.unaligned {
				want = [3]int{4, 0, 0}
			}
			require.Equal(t, want, [3]int{lc, lp, pb}, "lc, lp, pb")

			cmd := testtool.Command(t, "xz", "-d", "-c")
			cmd.Stdin = bytes.NewReader(got)
			out, err := cmd.Output()
			require.NoError(t, err)
			require.True(t, bytes.Equal(tt.block, out))
		})
	}
	require.True(t, looksLikeText(text))
	require.False(t, looksLikeText(code[1<<20:2<<20]))
	require.False(t, looksLikeText(table))
}
