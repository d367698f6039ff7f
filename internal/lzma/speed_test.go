package lzma

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSpeedVsLiblzma, with LZMA_SPEED=1, times our encoder and liblzma
// (python3's lzma module, preset 6) on the benchmark input, interleaved,
// and prints the best of five of each: a ratio for a noisy machine.
func TestSpeedVsLiblzma(t *testing.T) {
	if os.Getenv("LZMA_SPEED") == "" {
		t.Skip("set LZMA_SPEED=1")
	}
	chunks := benchInput(&testing.B{})
	dir := t.TempDir()
	for i, c := range chunks {
		os.WriteFile(dir+"/"+strconv.Itoa(i), c, 0o644)
	}
	script := `import lzma,os,sys,time
bs=[open(os.path.join(sys.argv[1],f),'rb').read() for f in sorted(os.listdir(sys.argv[1]))]
t=time.perf_counter(); n=0
for b in bs: n+=len(lzma.compress(b, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1<<20}]))
print(n, time.perf_counter()-t)`
	opts := optionsFromEnv()
	enc, _ := NewEncoder(opts)
	bestOurs, bestTheirs := time.Hour, time.Hour
	ours, theirs := 0, 0
	var out []byte
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("LZMA_ROUNDS")); err == nil {
		rounds = v
	}
	for range rounds {
		start := time.Now()
		ours = 0
		for _, c := range chunks {
			out = enc.AppendLZMA2(out[:0], c)
			ours += len(out)
		}
		bestOurs = min(bestOurs, time.Since(start))
		res, err := exec.Command("python3", "-c", script, dir).Output()
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(bytes.TrimSpace(res)))
		theirs, _ = strconv.Atoi(f[0])
		sec, _ := strconv.ParseFloat(f[1], 64)
		bestTheirs = min(bestTheirs, time.Duration(sec*float64(time.Second)))
	}
	t.Logf("ours %d B in %v, liblzma %d B in %v: size %.4f, time %.3f",
		ours, bestOurs.Round(time.Millisecond), theirs, bestTheirs.Round(time.Millisecond),
		float64(ours)/float64(theirs), float64(bestOurs)/float64(bestTheirs))
}

// TestEncodeOnce, with LZMA_ONCE=FILE, encodes the first MiB of FILE once:
// a fixed workload to run under valgrind --tool=cachegrind, which counts
// instructions and cache misses where timings are too noisy to compare.
func TestEncodeOnce(t *testing.T) {
	name := os.Getenv("LZMA_ONCE")
	if name == "" {
		t.Skip("set LZMA_ONCE=FILE")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	opts := optionsFromEnv()
	enc, _ := NewEncoder(opts)
	out := enc.AppendLZMA2(nil, data[:min(len(data), 1<<20)])
	t.Logf("%d bytes", len(out))
}

// optionsFromEnv is Preset(6) with LZMA_NICE and LZMA_DEPTH, when set,
// as the nice length and depth: the knobs the measurements compare.
func optionsFromEnv() Options {
	opts := Preset(6, false)
	if v, err := strconv.Atoi(os.Getenv("LZMA_NICE")); err == nil {
		opts.NiceLen = v
	}
	if v, err := strconv.Atoi(os.Getenv("LZMA_DEPTH")); err == nil {
		opts.Depth = v
	}
	return opts
}
