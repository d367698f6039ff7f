package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// A guest is a Debian release the test boots, with the systemd it ships.
type guest struct {
	release string // Debian codename, the argument of build-guest.sh
	debian  string // "Debian 12", for people
}

// guests are the systemd versions the corpus is judged by: Debian 12's 252
// and Debian 13's 257.
var guests = []guest{
	{release: "bookworm", debian: "Debian 12"},
	{release: "trixie", debian: "Debian 13"},
}

// cached returns .cache/e2e/NAME-HASH below root, where HASH covers the
// words of key, running build(tmp) into a temporary directory first when
// it is not there yet; the directory is renamed into place only once build
// succeeds, so an interrupted build never leaves a cache entry behind.
func cached(root, name string, key []string, build func(tmp string) error) (dir string, hit bool, err error) {
	h := sha256.New()
	for _, k := range key {
		fmt.Fprintf(h, "\x00%s", k)
	}
	dir = filepath.Join(root, ".cache", "e2e", name+"-"+hex.EncodeToString(h.Sum(nil)[:8]))
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, true, nil
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", false, err
	}
	if err := build(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", false, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", false, err
	}
	return dir, false, nil
}

// runScript runs a bash script with args, returning its output in the error.
func runScript(ctx context.Context, script string, args ...string) error {
	out, err := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(script), strings.Join(args, " "), err, out)
	}
	return nil
}

// ensureGuest returns the directory with the guest's rootfs.img, vmlinuz,
// initrd.img and release, building it with build-guest.sh when the cache
// for the script's hash and the release is missing.
func ensureGuest(ctx context.Context, root string, g guest) (dir string, hit bool, err error) {
	script := filepath.Join(root, "scripts", "e2e", "build-guest.sh")
	b, err := os.ReadFile(script)
	if err != nil {
		return "", false, err
	}
	return cached(root, "guest-"+g.release, []string{string(b), g.release}, func(tmp string) error {
		return runScript(ctx, script, g.release, tmp)
	})
}

// ensureBusybox returns the path of a static busybox from Debian's
// busybox-static package.
func ensureBusybox(ctx context.Context, root string) (string, error) {
	script := filepath.Join(root, "scripts", "e2e", "fetch-busybox.sh")
	b, err := os.ReadFile(script)
	if err != nil {
		return "", err
	}
	dir, _, err := cached(root, "busybox", []string{string(b)}, func(tmp string) error {
		return runScript(ctx, script, tmp)
	})
	return filepath.Join(dir, "busybox"), err
}

// httpbinModule is a real Go HTTP service from the module proxy, the
// go-httpbin of issue 9.
const (
	httpbinModule  = "github.com/mccutchen/go-httpbin/v2/cmd/go-httpbin"
	httpbinVersion = "v2.26.0"
)

// ensureHTTPBin returns the path of go-httpbin built static from the
// module proxy.
func ensureHTTPBin(ctx context.Context, root string) (string, error) {
	dir, _, err := cached(root, "go-httpbin", []string{httpbinModule, httpbinVersion, "CGO_ENABLED=0 -trimpath -s -w"}, func(tmp string) error {
		cmd := exec.CommandContext(ctx, "go", "install", "-trimpath", "-ldflags=-s -w", httpbinModule+"@"+httpbinVersion)
		cmd.Dir = tmp // outside this module: install the module as released
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOBIN="+tmp, "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go install %s@%s: %w\n%s", httpbinModule, httpbinVersion, err, out)
		}
		return nil
	})
	return filepath.Join(dir, "go-httpbin"), err
}

// bootArgs is the kernel command line. no_timer_check skips the kernel's
// check that the IO-APIC timer ticks, which under software emulation fails
// now and then ("Kernel panic - not syncing: IO-APIC + timer doesn't
// work!") when the host is busy; quiet keeps kernel messages from cutting
// into the markers on the serial console.
const bootArgs = "root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=0 no_timer_check quiet"

// qemuCommand returns the qemu command that boots the guest in dir with
// the data disk attached, writing its serial console to console.
func qemuCommand(ctx context.Context, dir, data, console, accel, cpu string) *exec.Cmd {
	return exec.CommandContext(ctx, "qemu-system-x86_64",
		"-accel", accel, "-cpu", cpu, "-smp", "2", "-m", "1024",
		"-display", "none", "-vga", "none", "-no-reboot", "-serial", "file:"+console,
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initrd.img"),
		"-append", bootArgs,
		"-drive", "file="+filepath.Join(dir, "rootfs.img")+",if=virtio,format=raw,snapshot=on",
		"-drive", "file="+data+",if=virtio,format=raw,readonly=on",
		"-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
	)
}

// earlyPanic reports whether a console log shows the kernel panicking
// before the test script began: a flaky boot worth one retry, not a result.
func earlyPanic(log string) bool {
	i := strings.Index(log, "Kernel panic")
	return i >= 0 && !strings.Contains(log[:i], "E2E-BEGIN")
}

// boot runs the guest in dir to the end of its test script and returns its
// console log. It uses KVM when /dev/kvm opens and can run the guest, else
// software emulation, and boots once more when the kernel panics early.
func boot(ctx context.Context, dir, data, console string, logf func(string, ...any)) (string, error) {
	for attempt := 1; ; attempt++ {
		os.Remove(console)
		var qout []byte
		var qerr error
		ran := false
		if kvmOpens() {
			logf("booting (kvm)")
			qout, ran, qerr = bootWithKVM(ctx, func(ctx context.Context, accel, cpu string) *exec.Cmd {
				return qemuCommand(ctx, dir, data, console, accel, cpu)
			}, console, kvmProbe)
			if !ran {
				logf("KVM could not run the guest (%v); falling back to software emulation", firstLine(qerr))
			}
		}
		if !ran {
			os.Remove(console)
			logf("booting (tcg)")
			qout, qerr = qemuCommand(ctx, dir, data, console, "tcg", "max").CombinedOutput()
		}
		b, _ := os.ReadFile(console)
		log := string(b)
		if attempt == 1 && earlyPanic(log) {
			logf("the guest kernel panicked before the test began (%s); booting once more", panicLine(log))
			continue
		}
		if qerr != nil {
			return log, fmt.Errorf("qemu: %w: %s", qerr, qout)
		}
		return log, nil
	}
}

// panicLine is the console line that reports a kernel panic.
func panicLine(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Kernel panic") {
			return strings.TrimSpace(l)
		}
	}
	return ""
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

// firstLine is err's message up to its first newline.
func firstLine(err error) string {
	msg, _, _ := strings.Cut(fmt.Sprint(err), "\n")
	return msg
}
