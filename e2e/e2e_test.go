// Package e2e boots Debian guests with systemd as PID 1 under qemu and has
// a real systemd-portabled judge images: the example image is attached,
// upgraded and detached, and every image of a differential corpus is
// attached and started in Debian 12 (systemd 252) and Debian 13 (systemd
// 257), and what portabled did is compared with what `mkportable inspect`
// predicts. It runs only with MKPORTABLE_E2E=1 (make e2e), so plain
// `go test ./...` stays fast.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mkportable/mkportable/builder"
	"github.com/stretchr/testify/require"
)

func TestPortabled(t *testing.T) {
	replay := os.Getenv("MKPORTABLE_E2E_REPLAY") != ""
	if os.Getenv("MKPORTABLE_E2E") == "" && !replay {
		t.Skip("set MKPORTABLE_E2E=1 (make e2e) to boot systemd guests under qemu")
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	start := time.Now()
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		t.Logf("[%6.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	require.NoError(t, runScript(ctx, filepath.Join(root, "scripts", "e2e", "host-tools.sh")))

	// The guests build (cold cache) while the images are made.
	dirs := make([]string, len(guests))
	errs := make([]error, len(guests))
	var wg sync.WaitGroup
	for i, g := range guests {
		if replay {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hit bool
			dirs[i], hit, errs[i] = ensureGuest(ctx, root, g)
			if errs[i] == nil {
				logf("%s guest (%s): %s %s", g.debian, g.release, map[bool]string{true: "cached in", false: "built into"}[hit], dirs[i])
			}
		}()
	}

	busybox, err := ensureBusybox(ctx, root)
	require.NoError(t, err)
	httpbin, err := ensureHTTPBin(ctx, root)
	require.NoError(t, err)
	progs := programs{"busybox": busybox, "go-httpbin": httpbin}

	data := t.TempDir()
	buildExample(t, root, data)
	copyNixExample(t, root, data)
	buildHTTPBin(t, data, busybox, httpbin)
	script, err := os.ReadFile(filepath.Join(root, "scripts", "e2e", "guest-test.sh"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(data, "run.sh"), script, 0o755))
	rows := corpus()
	wkey, err := writerKey(ctx, root)
	require.NoError(t, err)
	corpusKey, err := writeCorpus(ctx, rows, progs, data, filepath.Join(root, ".cache", "e2e", "images"), wkey, script)
	require.NoError(t, err)
	logf("example and %d corpus images ready (corpus %s)", len(rows), corpusKey)
	ext := prepareExtensions(t, root, data, busybox) // issue 11's cases: ext_test.go

	// What inspect says of each image, while the guests run.
	inspected := make(chan inspectResults, 1)
	go func() { inspected <- inspectAll(ctx, root, rows, data) }()

	runs := make([]*guestRun, len(guests))
	if replay {
		// The verdicts of the last boot of each guest, for checking inspect
		// against them without booting: the logs must be of this corpus.
		for i, g := range guests {
			console := filepath.Join(root, ".cache", "e2e", "console-"+g.release+".log")
			b, err := os.ReadFile(console)
			require.NoError(t, err, "MKPORTABLE_E2E_REPLAY needs the console logs of a `make e2e` run")
			runs[i], err = parseConsole(bytes.NewReader(b))
			require.NoError(t, err, console)
			require.Equal(t, corpusKey, runs[i].Corpus, "%s is the log of another corpus or guest script: run make e2e", console)
			logf("%s: replaying systemd %s's verdicts from %s", g.release, runs[i].Systemd, console)
		}
	} else {
		disk := filepath.Join(t.TempDir(), "data.img")
		out, err := exec.Command("mke2fs", "-q", "-t", "ext4", "-d", data, disk, "1G").CombinedOutput()
		require.NoError(t, err, "mke2fs: %s", out)
		wg.Wait()
		for i := range guests {
			require.NoError(t, errs[i], "building the %s guest", guests[i].release)
		}
		// One boot per guest, side by side.
		for i, g := range guests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runs[i], errs[i] = runGuest(ctx, root, dirs[i], disk, g, func(format string, args ...any) {
					logf("%s: %s", g.release, fmt.Sprintf(format, args...))
				})
			}()
		}
		wg.Wait()
		for i := range guests {
			require.NoError(t, errs[i], "%s guest", guests[i].release)
		}
		logf("guests stopped")
	}

	ins := <-inspected
	require.NoError(t, ins.err)
	checkExtensions(t, root, ext, runs)
	report := compare(rows, runs, ins.byRow)
	path := filepath.Join(root, ".cache", "e2e", "verdicts.json")
	b, err := json.MarshalIndent(report, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	t.Log("\n" + report.table())
	logf("verdicts written to %s", path)

	for i, run := range runs {
		for _, step := range []string{"attach", "reattach", "detach", "nix", "httpbin"} {
			got, ok := run.Steps[step]
			if !ok || !strings.HasPrefix(got, "PASS") {
				t.Errorf("%s: the example's %s: %q", guests[i].release, step, got)
			}
		}
		for _, l := range run.Leftover {
			t.Errorf("%s: units left after a batch: %s", guests[i].release, truncate(l, 300))
		}
	}
	for _, v := range report.Rows {
		for _, sys := range report.systemds() {
			o, ok := v.Observed[sys]
			if !ok || o.Outcome == "" {
				t.Errorf("row %s: systemd %s gave no outcome", v.ID, sys)
				continue
			}
			if v.Control != "" && o.Outcome != v.Control {
				t.Errorf("control row %s is %s, not %s, under systemd %s (%s): the harness is broken", v.ID, o.Outcome, v.Control, sys, o.Message)
			}
			if p := v.Predicted[sys]; p.Outcome != o.Outcome {
				if v.tolerated(sys) {
					t.Logf("row %s, systemd %s: portabled %s, inspect %s with a note; only running shows it: %s", v.ID, sys, o.Outcome, p.Outcome, v.Runtime)
					continue
				}
				t.Errorf("row %s, systemd %s: portabled %s (%s), inspect predicts %s (%s%s)",
					v.ID, sys, o.Outcome, o.Message, p.Outcome, p.Problem, p.Error)
			}
		}
	}
}

// runGuest boots one guest on the data disk, keeps its console log in
// .cache/e2e/console-RELEASE.log and parses it.
func runGuest(ctx context.Context, root, dir, disk string, g guest, logf func(string, ...any)) (*guestRun, error) {
	console := filepath.Join(root, ".cache", "e2e", "console-"+g.release+".log")
	start := time.Now()
	log, err := boot(ctx, dir, disk, console, logf)
	tail := func() string {
		lines := strings.Split(log, "\n")
		return strings.Join(lines[max(0, len(lines)-40):], "\n")
	}
	if err != nil {
		return nil, fmt.Errorf("%w\nconsole tail:\n%s", err, tail())
	}
	run, err := parseConsole(strings.NewReader(log))
	if err != nil {
		return nil, fmt.Errorf("%w\nconsole tail:\n%s", err, tail())
	}
	if !run.Done {
		return nil, fmt.Errorf("the guest did not finish its script (console in %s); tail:\n%s", console, tail())
	}
	logf("systemd %s (%s): %d corpus rows in %.0fs; console in %s", run.Systemd, run.Version, len(run.Rows), time.Since(start).Seconds(), console)
	return run, nil
}

// inspectResults holds inspect's verdict on each row, by systemd version.
type inspectResults struct {
	byRow map[string]inspectRun
	err   error
}

// inspectRun is one run of `mkportable inspect --json` on a row's image.
type inspectRun struct {
	args           []string
	stdout, stderr []byte
	exit           int
}

// inspectAll builds mkportable once and runs `inspect --json [--match
// M]... [--profile P] IMAGE` on every row's image.
func inspectAll(ctx context.Context, root string, rows []row, data string) inspectResults {
	bin := filepath.Join(data, "..", "mkportable")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mkportable")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return inspectResults{err: fmt.Errorf("go build ./cmd/mkportable: %w: %s", err, out)}
	}
	res := inspectResults{byRow: map[string]inspectRun{}}
	for i, r := range rows {
		args := []string{"inspect", "--json"}
		for _, m := range r.matches {
			args = append(args, "--match", m)
		}
		if r.profile != "" {
			args = append(args, "--profile", r.profile)
		}
		args = append(args, filepath.Join(data, "corpus", fmt.Sprintf("%03d-%s", i, r.id), r.file))
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		exit := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			exit = ee.ExitCode()
		} else if err != nil {
			return inspectResults{err: fmt.Errorf("mkportable %s: %w", strings.Join(args, " "), err)}
		}
		res.byRow[r.id] = inspectRun{args: args[:len(args)-1], stdout: stdout.Bytes(), stderr: stderr.Bytes(), exit: exit}
	}
	return res
}

// report is the verdicts file: for each row, what each guest's portabled
// did and what inspect predicted, by systemd major version.
type report struct {
	Guests []guestReport `json:"guests"`
	Rows   []rowReport   `json:"rows"`
}

type guestReport struct {
	Release string `json:"release"`
	Debian  string `json:"debian"`
	*guestRun
}

type rowReport struct {
	ID         string                 `json:"id"`
	File       string                 `json:"file"`
	Matches    []string               `json:"matches,omitempty"`
	Profile    string                 `json:"profile,omitempty"`
	Mksquashfs bool                   `json:"mksquashfs,omitempty"`
	Probe      string                 `json:"probe,omitempty"`
	Control    string                 `json:"control,omitempty"`
	Runtime    string                 `json:"runtime,omitempty"`
	Covers     string                 `json:"covers"`
	Inspect    []string               `json:"inspect"`
	Observed   map[string]observation `json:"observed"`
	Predicted  map[string]prediction  `json:"predicted"`
	Agree      map[string]bool        `json:"agree"`
}

func compare(rows []row, runs []*guestRun, ins map[string]inspectRun) report {
	var rep report
	for i, run := range runs {
		rep.Guests = append(rep.Guests, guestReport{Release: guests[i].release, Debian: guests[i].debian, guestRun: run})
	}
	for _, r := range rows {
		in := ins[r.id]
		v := rowReport{
			ID: r.id, File: r.file, Matches: r.matches, Profile: r.profile, Mksquashfs: r.mksquashfs,
			Probe: r.probe, Control: r.control, Runtime: r.runtime, Covers: r.covers, Inspect: in.args,
			Observed: map[string]observation{}, Predicted: map[string]prediction{}, Agree: map[string]bool{},
		}
		for _, run := range runs {
			sys, _ := strconv.Atoi(run.Systemd)
			p := predict(in.stdout, in.stderr, in.exit, sys)
			v.Predicted[run.Systemd] = p
			if o, ok := run.Rows[r.id]; ok {
				v.Observed[run.Systemd] = *o
				v.Agree[run.Systemd] = o.Outcome == p.Outcome
			}
		}
		rep.Rows = append(rep.Rows, v)
	}
	return rep
}

// tolerated reports whether the row's disagreement under systemd sys is
// one no image check can avoid: the row says the outcome depends on what
// the program does when it runs, and inspect says, in a note, that it
// cannot see it.
func (v rowReport) tolerated(sys string) bool {
	return v.Runtime != "" && len(v.Predicted[sys].Notes) > 0
}

// systemds are the systemd versions the report holds, in guest order.
func (rep report) systemds() []string {
	var s []string
	for _, g := range rep.Guests {
		s = append(s, g.Systemd)
	}
	return s
}

// table renders the report for people: one line per row and guest.
func (rep report) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-26s %-4s %-8s %-90s %-8s %s\n", "ROW", "SD", "SYSTEMD", "PORTABLED SAID", "INSPECT", "FIRST PROBLEM")
	for _, v := range rep.Rows {
		for _, sys := range rep.systemds() {
			o := v.Observed[sys]
			p := v.Predicted[sys]
			mark := "  "
			if o.Outcome != p.Outcome {
				mark = "≠ "
				if v.tolerated(sys) {
					mark = "~ "
				}
			}
			why := p.Problem
			if p.Error != "" {
				why = p.Error
			}
			fmt.Fprintf(&b, "%s%-24s %-4s %-8s %-90s %-8s %s\n", mark, truncate(v.ID, 24), sys, o.Outcome,
				truncate(shortMessage(o.Message), 90), p.Outcome, truncate(why, 80))
		}
	}
	n, agree, tolerated := 0, 0, 0
	for _, v := range rep.Rows {
		for sys, ok := range v.Agree {
			n++
			switch {
			case ok:
				agree++
			case v.tolerated(sys):
				tolerated++
			}
		}
	}
	fmt.Fprintf(&b, "%d of %d verdicts agree, %d differ where only running shows it (~) (%d rows, systemd %s)\n",
		agree, n, tolerated, len(rep.Rows), strings.Join(rep.systemds(), " and "))
	return b.String()
}

// corpusPath matches the data disk's corpus directories in portabled's
// messages.
var corpusPath = regexp.MustCompile(`/e2e/corpus/\d+-[^/]+/`)

// shortMessage drops what the table need not repeat: the image's directory
// on the data disk, the LoadState of a unit that loaded, portablectl's
// "AttachImage failed: ".
func shortMessage(m string) string {
	m = corpusPath.ReplaceAllString(m, "")
	m = strings.Replace(m, " LoadState=loaded", "", 1)
	return strings.TrimPrefix(m, "AttachImage failed: ")
}

// copyNixExample copies the example image that `make nix-check` built
// with nix-build through lib.portableService into dir/nix, for the guests
// to attach (issue 14). `make e2e` runs nix/check.sh first when the image
// is missing.
func copyNixExample(t *testing.T, root, dir string) {
	src := filepath.Join(root, ".cache", "nix", "web-server_20220227.raw")
	b, err := os.ReadFile(src)
	require.NoError(t, err, "the Nix-built example: run make nix-check (make e2e does when it is missing)")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "nix"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nix", "web-server_20220227.raw"), b, 0o644))
}

// buildHTTPBin writes dir/httpbin/httpbin_2.26.0.raw with mkportable
// build (package builder): go-httpbin as issue 9 found it, a dynamic user
// whose StateDirectory= its ExecStartPre= writes to, and no directory
// added by hand: the builder must make /var/lib/httpbin, which systemd 252
// needs to exist in a read-only image (226/NAMESPACE otherwise).
func buildHTTPBin(t *testing.T, dir, busybox, httpbin string) {
	units := t.TempDir()
	unitFile := filepath.Join(units, "httpbin.service")
	require.NoError(t, os.WriteFile(unitFile, []byte(service("/usr/bin/go-httpbin -host 127.0.0.1 -port 8080",
		"DynamicUser=yes", "StateDirectory=httpbin", "ExecStartPre=/usr/bin/busybox touch /var/lib/httpbin/started")), 0o644))
	spec := builder.Spec{
		Name: "httpbin", Version: "2.26.0", HostContents: true,
		Units: []string{unitFile},
		Contents: []builder.Content{
			{Source: httpbin, Target: "/usr/bin/go-httpbin"},
			{Source: busybox, Target: "/usr/bin/busybox"},
		},
	}
	out := filepath.Join(dir, "httpbin")
	res, err := builder.Build(context.Background(), spec, out, builder.Options{})
	require.NoError(t, err)
	require.Contains(t, res.Created, "/var/lib/httpbin", "the builder made the state directory")
}

// buildExample writes the example image twice into dir: v1, and v2 with
// another answer, for the guest's attach/reattach/detach flow.
func buildExample(t *testing.T, root, dir string) {
	spec, err := builder.LoadSpec(filepath.Join(root, "testdata", "web-server", "spec.json"))
	require.NoError(t, err)
	ctx := context.Background()
	for _, v := range []struct{ sub, prefix string }{{"v1", "PORTABLE="}, {"v2", "UPGRADED PORTABLE="}} {
		store := filepath.Join(t.TempDir(), "store")
		bin := filepath.Join(t.TempDir(), "web-server")
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", `-s -w -X "main.answerPrefix=`+v.prefix+`"`, "-o", bin, "./testdata/web-server/server")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build: %s", out)
		data, err := os.ReadFile(bin)
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		storePath := "/nix/store/" + hex.EncodeToString(sum[:16]) + "-web-server-20220227"
		require.NoError(t, os.MkdirAll(filepath.Join(store, filepath.Base(storePath), "bin"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(store, filepath.Base(storePath), "bin", "web-server"), data, 0o755))
		s := spec
		s.StoreDir, s.StorePaths = store, []string{storePath}
		s.Substitutions = map[string]string{"web": storePath}
		require.NoError(t, os.MkdirAll(filepath.Join(dir, v.sub), 0o755))
		_, err = builder.Build(ctx, s, filepath.Join(dir, v.sub), builder.Options{})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, v.sub, "answer"), []byte(v.prefix+"web-server_20220227.raw"), 0o644))
	}
}
