// Package e2e boots a Debian 12 guest with systemd as PID 1 under qemu and
// has a real systemd-portabled attach, run, upgrade and detach the images
// mkportable builds, and refuse the ones it calls bad. It runs only with
// MKPORTABLE_E2E=1 (make e2e), so plain `go test ./...` stays fast.
package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mkportable/mkportable/builder"
	"github.com/mkportable/mkportable/squashfs"
	"github.com/stretchr/testify/require"
)

func TestPortabled(t *testing.T) {
	if os.Getenv("MKPORTABLE_E2E") == "" {
		t.Skip("set MKPORTABLE_E2E=1 (make e2e) to boot a systemd guest under qemu")
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	start := time.Now()
	logf := func(format string, args ...any) {
		t.Logf("[%6.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	guest := ensureGuest(t, root, logf)
	data := t.TempDir()
	ours := buildImages(t, root, data)
	logf("images built")

	disk := filepath.Join(t.TempDir(), "data.img")
	out, err := exec.Command("mke2fs", "-q", "-t", "ext4", "-d", data, disk, "256M").CombinedOutput()
	require.NoError(t, err, "mke2fs: %s", out)

	console := filepath.Join(t.TempDir(), "console.log")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	boot := func(ctx context.Context, accel, cpu string) *exec.Cmd {
		return exec.CommandContext(ctx, "qemu-system-x86_64",
			"-accel", accel, "-cpu", cpu, "-smp", "2", "-m", "1024",
			"-display", "none", "-no-reboot", "-serial", "file:"+console,
			"-kernel", filepath.Join(guest, "vmlinuz"), "-initrd", filepath.Join(guest, "initrd.img"),
			"-append", "root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=0",
			"-drive", "file="+filepath.Join(guest, "rootfs.img")+",if=virtio,format=raw,snapshot=on",
			"-drive", "file="+disk+",if=virtio,format=raw,readonly=on",
			"-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
		)
	}
	var qout []byte
	var qerr error
	ran := false
	if kvmOpens() {
		logf("booting the guest (kvm)")
		qout, ran, qerr = bootWithKVM(ctx, boot, console, kvmProbe)
		if !ran {
			logf("KVM could not run the guest (%v); falling back to software emulation", firstLine(qerr))
		}
	}
	if !ran {
		os.Remove(console)
		logf("booting the guest (tcg)")
		qout, qerr = boot(ctx, "tcg", "max").CombinedOutput()
	}
	logf("guest stopped")
	log, _ := os.ReadFile(console)
	tail := func() string {
		lines := strings.Split(string(log), "\n")
		return strings.Join(lines[max(0, len(lines)-60):], "\n")
	}
	require.NoError(t, qerr, "qemu: %s\nconsole tail:\n%s", qout, tail())

	results := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(log)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "E2E-"); i > 0 {
			line = line[i:]
		}
		switch fields := strings.Fields(line); {
		case len(fields) >= 3 && fields[0] == "E2E-RESULT":
			results[fields[1]] = strings.Join(fields[2:], " ")
			logf("guest %-24s %s", fields[1], strings.Join(fields[2:], " "))
		}
	}
	require.Contains(t, string(log), "E2E-DONE", "the guest did not finish; console tail:\n%s", tail())
	for _, step := range []string{"attach", "reattach", "detach", "refuse-outside-prefix", "refuse-no-os-release"} {
		got, ok := results[step]
		require.True(t, ok, "no result for %s; console tail:\n%s", step, tail())
		require.True(t, strings.HasPrefix(got, "PASS"), "%s: %s\nconsole tail:\n%s", step, got, tail())
	}
	for name, problems := range ours {
		_, theirs, _ := strings.Cut(results["refuse-"+name], "portabled: ")
		logf("%s:\n    mkportable inspect: %s\n    portabled:          %s", name, strings.Join(problems, "; "), theirs)
	}
}

// ensureGuest returns the directory with the guest's rootfs.img, vmlinuz
// and initrd.img, building it when the cache for the build script's
// current hash is missing.
func ensureGuest(t *testing.T, root string, logf func(string, ...any)) string {
	script := filepath.Join(root, "scripts", "e2e", "build-guest.sh")
	b, err := os.ReadFile(script)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	dir := filepath.Join(root, ".cache", "e2e", "guest-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "rootfs.img")); err == nil {
		logf("guest cached in %s", dir)
		return dir
	}
	logf("building the guest into %s (cold cache)", dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	cmd := exec.Command("bash", script, tmp)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build-guest.sh: %s", out)
	require.NoError(t, os.Rename(tmp, dir))
	logf("guest built")
	return dir
}

// kvmProbe is how long a KVM guest may take to start its test script (a
// working KVM needs a few seconds, a TCG guest about 15) before the test
// gives up on KVM.
const kvmProbe = 40 * time.Second

// kvmOpens reports whether /dev/kvm can be opened. That is not enough: on
// some hosts it is a paravirtual backend on which a stock kernel hangs or
// qemu aborts, so bootWithKVM also watches the guest get going.
func kvmOpens() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// bootWithKVM runs the guest under KVM. ran is false when it did not print
// its E2E-BEGIN marker within probe (qemu is then killed) or qemu failed
// before that; the caller then boots it under software emulation.
func bootWithKVM(ctx context.Context, boot func(context.Context, string, string) *exec.Cmd, console string, probe time.Duration) (out []byte, ran bool, err error) {
	kctx, kill := context.WithCancel(ctx)
	defer kill()
	cmd := boot(kctx, "kvm", "host")
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.WaitDelay = 2 * time.Second // once killed, do not wait on pipes a child holds
	if err := cmd.Start(); err != nil {
		return nil, false, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	begun := func() bool {
		log, _ := os.ReadFile(console)
		return strings.Contains(string(log), "E2E-BEGIN")
	}
	deadline := time.After(probe)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if begun() {
				return []byte(buf.String()), true, err
			}
			return nil, false, fmt.Errorf("qemu exited: %v: %s", err, strings.TrimSpace(buf.String()))
		case <-deadline:
			kill()
			<-done
			return nil, false, fmt.Errorf("no E2E-BEGIN on the console")
		case <-tick.C:
			if begun() {
				err := <-done
				return []byte(buf.String()), true, err
			}
		}
	}
}

// buildImages writes the guest's data disk contents into dir: the example
// image twice (v1, and v2 with another answer), the bad images in bad/,
// and the guest script. It returns what our inspect says of each bad image.
func buildImages(t *testing.T, root, dir string) map[string][]string {
	spec, err := builder.LoadSpec(filepath.Join(root, "testdata", "web-server", "spec.json"))
	require.NoError(t, err)
	ctx := context.Background()
	example := func(sub, prefix string) builder.Spec {
		store := filepath.Join(t.TempDir(), "store")
		bin := filepath.Join(t.TempDir(), "web-server")
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", `-s -w -X "main.answerPrefix=`+prefix+`"`, "-o", bin, "./testdata/web-server/server")
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
		require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
		_, err = builder.Build(ctx, s, filepath.Join(dir, sub), builder.Options{})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, sub, "answer"), []byte(prefix+"web-server_20220227.raw"), 0o644))
		return s
	}
	good := example("v1", "PORTABLE=")
	example("v2", "UPGRADED PORTABLE=")

	ours := map[string][]string{}
	bad := func(name string, mutate func(*squashfs.Tree)) {
		laid, err := builder.Layout(ctx, good, builder.Options{SkipChecks: true})
		require.NoError(t, err)
		tree := laid.Tree
		mutate(tree)
		sub := filepath.Join(dir, "bad", name)
		require.NoError(t, os.MkdirAll(sub, 0o755))
		img := filepath.Join(sub, "web-server_20220227.raw")
		_, err = squashfs.WriteFile(ctx, img, tree, squashfs.Options{})
		require.NoError(t, err)
		cmd := exec.Command("go", "run", "./cmd/mkportable", "inspect", "--json", img)
		cmd.Dir = root
		out, err := cmd.Output()
		require.Error(t, err, "inspect passed a bad image")
		var res struct{ Problems []struct{ Message string } }
		require.NoError(t, json.Unmarshal(out, &res))
		require.NotEmpty(t, res.Problems)
		for _, p := range res.Problems {
			ours[name] = append(ours[name], p.Message)
		}
	}
	bad("outside-prefix", func(tree *squashfs.Tree) {
		require.NoError(t, tree.Link("/etc/systemd/system/webserver.service", "/etc/systemd/system/web-server.service"))
		require.NoError(t, tree.Remove("/etc/systemd/system/web-server.service"))
	})
	bad("no-os-release", func(tree *squashfs.Tree) { require.NoError(t, tree.Remove("/etc/os-release")) })

	script, err := os.ReadFile(filepath.Join(root, "scripts", "e2e", "guest-test.sh"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run.sh"), script, 0o755))
	return ours
}

// firstLine is err's message up to its first newline.
func firstLine(err error) string {
	msg, _, _ := strings.Cut(fmt.Sprint(err), "\n")
	return msg
}
