package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// A row of the differential corpus: one image, how to attach it, and what
// it shows. The harness runs every row in every guest and compares
// portabled's outcome with what `mkportable inspect` predicts; no row says
// what the outcome should be (the guests say that), except control rows:
// images whose outcome no systemd can change (a good image, a program that
// does not exist), which check the harness's own judgement.
type row struct {
	id         string   // unique; names the row's directory on the data disk
	file       string   // the image's file name; portabled derives the image name from it
	matches    []string // portablectl attach matches, inspect --match
	profile    string   // --profile; "" is portabled's default
	mksquashfs bool     // written by mksquashfs (squashfs-tools) instead of package squashfs
	probe      string   // URL the guest must get an answer from once the units are active
	control    string   // the outcome the harness must see in every guest, or it is broken
	runtime    string   // why the outcome depends on what the program does when it runs, which no image check can see
	covers     string   // what systemd behaviour the row shows
	image      func(l layout, name string)
}

// imageName is the name portabled derives from a file name: the base name
// without .raw, up to its first '_'.
func imageName(file string) string {
	name := strings.TrimSuffix(file, ".raw")
	name, _, _ = strings.Cut(name, "_")
	return name
}

// sleeper is a program that runs until stopped.
const sleeper = "/usr/bin/busybox sleep 86400"

// service is a unit file running execStart, with more [Service] lines.
func service(execStart string, lines ...string) string {
	s := "[Unit]\nDescription=mkportable e2e corpus service\n\n[Service]\n"
	if execStart != "" {
		s += "ExecStart=" + execStart + "\n"
	}
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}

// mountPoints are the empty directories and files of every base image:
// what portabled and the default profile bind over.
var (
	mountDirs  = []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/var/lib", "/var/cache", "/var/log"}
	mountFiles = []string{"/etc/resolv.conf", "/etc/machine-id"}
)

// base is a good image named name: an os-release with an ID, the mount
// points, a static busybox and NAME.service running it.
func base(name string) layout {
	l := layout{}
	l.file("/etc/os-release", "ID=e2e\nNAME=\"mkportable e2e\"\nVERSION_ID=1\n")
	l.dir(mountDirs...)
	for _, f := range mountFiles {
		l.file(f, "")
	}
	l.program("/usr/bin/busybox", "busybox")
	l.unit(name+".service", service(sleeper))
	return l
}

// www adds a page for busybox httpd to serve.
func www(l layout) { l.file("/srv/www/index.html", "mkportable e2e\n") }

// dirSettings are the unit settings that make systemd set up a directory
// for the service, and where.
var dirSettings = []struct {
	key, setting, parent string
}{
	{"st", "StateDirectory", "/var/lib"},
	{"ca", "CacheDirectory", "/var/cache"},
	{"lo", "LogsDirectory", "/var/log"},
	{"cf", "ConfigurationDirectory", "/etc"},
	{"rt", "RuntimeDirectory", "/run"},
}

// corpus is the differential corpus.
func corpus() []row {
	rows := []row{
		// Images and os-release.
		{id: "ok", file: "ok_1.raw", control: outcomeActive, covers: "a minimal good image: os-release with ID, mount points, busybox, one service"},
		{id: "ok-mksquashfs", file: "okmk_1.raw", mksquashfs: true, control: outcomeActive, covers: "the same tree written by mksquashfs -all-root -comp xz"},
		{id: "no-tmp-mksquashfs", file: "notmpmk_1.raw", mksquashfs: true, covers: "an image without /tmp written by mksquashfs", image: without("/tmp")},
		{id: "no-version", file: "nover.raw", covers: "a file name without _VERSION"},
		{id: "usr-lib-units", file: "libunits_1.raw", covers: "the unit in /usr/lib/systemd/system instead of /etc/systemd/system",
			image: func(l layout, name string) {
				l.removeUnits()
				l.file("/usr/lib/systemd/system/"+name+".service", service(sleeper))
			}},
		{id: "no-os-release", file: "noosrel_1.raw", control: outcomeRefused, covers: "no os-release at all",
			image: func(l layout, _ string) { l.remove("/etc/os-release") }},
		{id: "usr-lib-os-release", file: "libosrel_1.raw", covers: "os-release only in /usr/lib",
			image: func(l layout, _ string) {
				l.remove("/etc/os-release")
				l.file("/usr/lib/os-release", "ID=e2e\nVERSION_ID=1\n")
			}},
		{id: "os-release-link", file: "osrellink_1.raw", covers: "/etc/os-release a relative symlink to ../usr/lib/os-release",
			image: func(l layout, _ string) {
				l.file("/usr/lib/os-release", "ID=e2e\nVERSION_ID=1\n")
				l.link("/etc/os-release", "../usr/lib/os-release")
			}},
		{id: "os-release-abs-link", file: "osrelabs_1.raw", covers: "/etc/os-release an absolute symlink to /usr/lib/os-release",
			image: func(l layout, _ string) {
				l.file("/usr/lib/os-release", "ID=e2e\nVERSION_ID=1\n")
				l.link("/etc/os-release", "/usr/lib/os-release")
			}},
		{id: "os-release-dangling", file: "osreldang_1.raw", covers: "/etc/os-release a symlink to nothing, no /usr/lib/os-release",
			image: func(l layout, _ string) { l.link("/etc/os-release", "/nowhere/os-release") }},
		{id: "os-release-dangling-fallback", file: "osreldangfb_1.raw", covers: "/etc/os-release a symlink to nothing, /usr/lib/os-release present",
			image: func(l layout, _ string) {
				l.link("/etc/os-release", "/nowhere/os-release")
				l.file("/usr/lib/os-release", "ID=e2e\nVERSION_ID=1\n")
			}},
		{id: "no-id", file: "noid_1.raw", covers: "os-release without ID=",
			image: func(l layout, _ string) { l.file("/etc/os-release", "NAME=\"mkportable e2e\"\nVERSION_ID=1\n") }},
		{id: "id-invalid", file: "badid_1.raw", covers: "an ID= that is not a valid os-release ID (spaces, capitals)",
			image: func(l layout, _ string) { l.file("/etc/os-release", "ID=\"Not Valid\"\nVERSION_ID=1\n") }},
		{id: "outside-prefix", file: "outside_1.raw", covers: "the only unit does not start with the image name",
			image: func(l layout, _ string) {
				l.removeUnits()
				l.unit("elsewhere.service", service(sleeper))
			}},
		{id: "outside-prefix-match", file: "outside_1.raw", matches: []string{"elsewhere"}, covers: "the same image with an explicit match naming the unit",
			image: func(l layout, _ string) {
				l.removeUnits()
				l.unit("elsewhere.service", service(sleeper))
			}},

		// PORTABLE_PREFIXES and matches.
		{id: "multi-default", file: "multi_1.raw", covers: `PORTABLE_PREFIXES="multi other", default match`, image: multi(`"multi other"`)},
		{id: "multi-both", file: "multi_1.raw", matches: []string{"multi", "other"}, covers: "two prefixes, both matched explicitly", image: multi(`"multi other"`)},
		{id: "multi-other", file: "multi_1.raw", matches: []string{"other"}, covers: "two prefixes, explicit match on the second", image: multi(`"multi other"`)},
		{id: "prefixes-other", file: "multi_1.raw", covers: "PORTABLE_PREFIXES=other on image multi, default match", image: multi("other")},
		{id: "prefixes-other-match", file: "multi_1.raw", matches: []string{"other"}, covers: "PORTABLE_PREFIXES=other on image multi, match other", image: multi("other")},
		{id: "prefixes-unquoted", file: "multi_1.raw", matches: []string{"other"}, covers: "PORTABLE_PREFIXES=multi other without quotes, match other", image: multi("multi other")},
		{id: "stray-third", file: "multi_1.raw", covers: "a stray third.service beside two prefixes, default match", image: stray},
		{id: "stray-third-both", file: "multi_1.raw", matches: []string{"multi", "other"}, covers: "the stray third.service, both prefixes matched", image: stray},
		{id: "stray-third-match", file: "multi_1.raw", matches: []string{"third"}, covers: "the stray third.service matched explicitly", image: stray},
		{id: "prefix-dash", file: "pre_1.raw", covers: "pre.service and pre-helper.service: a unit named prefix-*",
			image: func(l layout, _ string) { l.unit("pre-helper.service", service(sleeper)) }},
		{id: "prefix-nodash", file: "pre_1.raw", covers: "pre.service and prehelper.service: the prefix without a separator",
			image: func(l layout, _ string) { l.unit("prehelper.service", service(sleeper)) }},

		// Unit types.
		{id: "mount-unit", file: "mnt_1.raw", covers: "an extra mnt-data.mount beside the service",
			image: func(l layout, _ string) {
				l.unit("mnt-data.mount", "[Unit]\nDescription=e2e mount\n\n[Mount]\nWhat=tmpfs\nWhere=/mnt/data\nType=tmpfs\n")
			}},
		{id: "at-description", file: "at_1.raw", covers: "Description=mail a@b@c in a plain unit",
			image: func(l layout, name string) {
				l.unit(name+".service", "[Unit]\nDescription=mail a@b@c\n\n[Service]\nExecStart="+sleeper+"\n")
			}},
		{id: "socket-accept", file: "sock_1.raw", probe: "http://127.0.0.1:8081/", covers: "sock.socket with Accept=yes and the template sock@.service (busybox httpd -i)",
			image: func(l layout, name string) {
				l.removeUnits()
				www(l)
				l.unit(name+".socket", "[Unit]\nDescription=e2e socket\n\n[Socket]\nListenStream=127.0.0.1:8081\nAccept=yes\n")
				l.unit(name+"@.service", service("/usr/bin/busybox httpd -i -h /srv/www", "StandardInput=socket"))
			}},
		{id: "timer-job", file: "tim_1.raw", control: outcomeActive, covers: "tim.timer and the oneshot tim-job.service it runs",
			image: func(l layout, name string) {
				l.removeUnits()
				l.unit(name+".timer", "[Unit]\nDescription=e2e timer\n\n[Timer]\nOnActiveSec=1h\nUnit="+name+"-job.service\n")
				l.unit(name+"-job.service", service("/usr/bin/busybox true", "Type=oneshot"))
			}},
		{id: "path-unit", file: "pth_1.raw", covers: "pth.path and the pth.service it would start",
			image: func(l layout, name string) {
				l.unit(name+".path", "[Unit]\nDescription=e2e path\n\n[Path]\nPathExists=/run/e2e-path-trigger\n")
			}},
		{id: "target-unit", file: "tgt_1.raw", covers: "tgt.target beside tgt.service",
			image: func(l layout, name string) {
				l.unit(name+".target", "[Unit]\nDescription=e2e target\nWants="+name+".service\n")
			}},
		{id: "template-only", file: "tpl_1.raw", covers: "only a template tpl@.service",
			image: func(l layout, name string) {
				l.removeUnits()
				l.unit(name+"@.service", service(sleeper))
			}},
		{id: "unit-symlink", file: "unitlink_1.raw", covers: "/etc/systemd/system/NAME.service a symlink to /usr/lib/systemd/system/NAME.service",
			image: func(l layout, name string) {
				l.removeUnits()
				l.file("/usr/lib/systemd/system/"+name+".service", service(sleeper))
				l.link("/etc/systemd/system/"+name+".service", "/usr/lib/systemd/system/"+name+".service")
			}},
		{id: "unit-dropin", file: "dropin_1.raw", covers: "a drop-in NAME.service.d/10-exec.conf in the image points ExecStart= at a missing program",
			image: func(l layout, name string) {
				l.file("/etc/systemd/system/"+name+".service.d/10-exec.conf", "[Service]\nExecStart=\nExecStart=/usr/bin/nothere\n")
			}},
		{id: "no-execstart", file: "noexecst_1.raw", covers: "a service without ExecStart=",
			image: func(l layout, name string) { l.unit(name+".service", service("", "Type=simple")) }},

		// Mount points the image lacks.
		{id: "no-var-dirs", file: "novar_1.raw", covers: "no /var/lib, /var/cache, /var/log; no *Directory= setting",
			image: func(l layout, _ string) { l.remove("/var/lib", "/var/cache", "/var/log") }},
		{id: "no-tmp", file: "notmp_1.raw", covers: "no /tmp", image: without("/tmp")},
		{id: "no-var-tmp", file: "novartmp_1.raw", covers: "no /var/tmp", image: without("/var/tmp")},
		{id: "no-run", file: "norun_1.raw", covers: "no /run", image: without("/run")},
		{id: "no-dev", file: "nodev_1.raw", covers: "no /dev", image: without("/dev")},
		{id: "no-proc", file: "noproc_1.raw", covers: "no /proc", image: without("/proc")},
		{id: "no-sys", file: "nosys_1.raw", covers: "no /sys", image: without("/sys")},
		{id: "no-resolv-conf", file: "noresolv_1.raw", covers: "no /etc/resolv.conf", image: without("/etc/resolv.conf")},
		{id: "no-machine-id", file: "nomachid_1.raw", covers: "no /etc/machine-id", image: without("/etc/machine-id")},
		{id: "trusted-no-tmp", file: "trnotmp_1.raw", profile: "trusted", covers: "no /tmp, profile trusted", image: without("/tmp")},
		{id: "trusted-no-var-tmp", file: "trnovartmp_1.raw", profile: "trusted", covers: "no /var/tmp, profile trusted", image: without("/var/tmp")},
		{id: "trusted-no-run", file: "trnorun_1.raw", profile: "trusted", covers: "no /run, profile trusted", image: without("/run")},
		{id: "trusted-no-machine-id", file: "trnomachid_1.raw", profile: "trusted", covers: "no /etc/machine-id, profile trusted", image: without("/etc/machine-id")},
		{id: "trusted-no-resolv-conf", file: "trnoresolv_1.raw", profile: "trusted", covers: "no /etc/resolv.conf, profile trusted", image: without("/etc/resolv.conf")},
		{id: "nonetwork-no-resolv-conf", file: "nnnoresolv_1.raw", profile: "nonetwork", covers: "no /etc/resolv.conf, profile nonetwork", image: without("/etc/resolv.conf")},
		{id: "strict-no-resolv-conf", file: "stnoresolv_1.raw", profile: "strict", covers: "no /etc/resolv.conf, profile strict", image: without("/etc/resolv.conf")},

		// BindPaths=, BindReadOnlyPaths=, WorkingDirectory=.
		{id: "bindro-missing", file: "bindro_1.raw", covers: "BindReadOnlyPaths=/etc/hostname:/srv/hostname, no /srv/hostname in the image",
			image: withService(sleeper, "BindReadOnlyPaths=/etc/hostname:/srv/hostname")},
		{id: "bindro-present", file: "bindrook_1.raw", covers: "BindReadOnlyPaths= target present as an empty file",
			image: func(l layout, name string) {
				withService(sleeper, "BindReadOnlyPaths=/etc/hostname:/srv/hostname")(l, name)
				l.file("/srv/hostname", "")
			}},
		{id: "bind-missing", file: "bind_1.raw", covers: "BindPaths=/var/tmp:/srv/scratch, no /srv/scratch in the image",
			image: withService(sleeper, "BindPaths=/var/tmp:/srv/scratch")},
		{id: "bind-present", file: "bindok_1.raw", covers: "BindPaths= target present as an empty directory",
			image: func(l layout, name string) {
				withService(sleeper, "BindPaths=/var/tmp:/srv/scratch")(l, name)
				l.dir("/srv/scratch")
			}},
		{id: "bind-optional-source", file: "bindopt_1.raw", covers: "BindReadOnlyPaths=-/nonexistent:/srv/none: source missing on the host, '-' prefix, target missing",
			image: withService(sleeper, "BindReadOnlyPaths=-/nonexistent/e2e:/srv/none")},
		{id: "workdir-missing", file: "wd_1.raw", covers: "WorkingDirectory=/srv/work missing from the image",
			image: withService(sleeper, "WorkingDirectory=/srv/work")},
		{id: "workdir-optional", file: "wdopt_1.raw", covers: "WorkingDirectory=-/srv/work missing, '-' prefix",
			image: withService(sleeper, "WorkingDirectory=-/srv/work")},
		{id: "workdir-present", file: "wdok_1.raw", covers: "WorkingDirectory=/srv/work present",
			image: func(l layout, name string) {
				withService(sleeper, "WorkingDirectory=/srv/work")(l, name)
				l.dir("/srv/work")
			}},

		// The programs ExecStart= runs.
		{id: "exec-missing", file: "exmiss_1.raw", control: outcomeFails, covers: "ExecStart= names a program the image lacks",
			image: withService("/usr/bin/nothere")},
		{id: "exec-not-executable", file: "exnox_1.raw", covers: "the program is a file of mode 0644",
			image: func(l layout, name string) {
				l["/usr/bin/sleep"] = entry{kind: fileEntry, perm: 0o644, prog: "busybox"}
				withService("/usr/bin/sleep 86400")(l, name)
			}},
		{id: "exec-link-relative", file: "exlrel_1.raw", covers: "the program is a relative symlink to busybox",
			image: func(l layout, name string) {
				l.link("/usr/bin/sleep", "busybox")
				withService("/usr/bin/sleep 86400")(l, name)
			}},
		{id: "exec-link-absolute", file: "exlabs_1.raw", covers: "the program is an absolute symlink /usr/bin/busybox, resolved in the image",
			image: func(l layout, name string) {
				l.link("/usr/bin/sleep", "/usr/bin/busybox")
				withService("/usr/bin/sleep 86400")(l, name)
			}},
		{id: "exec-link-dangling", file: "exldang_1.raw", covers: "the program is a symlink to nothing",
			image: func(l layout, name string) {
				l.link("/usr/bin/sleep", "/nowhere/busybox")
				withService("/usr/bin/sleep 86400")(l, name)
			}},
		{id: "exec-link-dir", file: "exldir_1.raw", covers: "the program is reached through a symlinked directory /opt/app -> /usr/bin",
			image: func(l layout, name string) {
				l.link("/opt/app", "/usr/bin")
				withService("/opt/app/busybox sleep 86400")(l, name)
			}},
		{id: "bare-usr-bin", file: "bareub_1.raw", covers: "ExecStart=sleep 86400, /usr/bin/sleep a link to busybox",
			image: func(l layout, name string) {
				l.link("/usr/bin/sleep", "busybox")
				withService("sleep 86400")(l, name)
			}},
		{id: "bare-bin", file: "bareb_1.raw", covers: "ExecStart=sleep 86400, the program only in /bin (no /usr/bin)",
			image: func(l layout, name string) {
				l.remove("/usr/bin")
				l.program("/bin/sleep", "busybox")
				withService("sleep 86400")(l, name)
			}},
		{id: "bare-opt", file: "bareo_1.raw", covers: "ExecStart=sleep 86400, the program only in /opt/bin (not in systemd's search path)",
			image: func(l layout, name string) {
				l.remove("/usr/bin")
				l.program("/opt/bin/sleep", "busybox")
				withService("sleep 86400")(l, name)
			}},
		{id: "bare-host-only", file: "bareh_1.raw", covers: "ExecStart=sleep 86400: the host has /usr/bin/sleep, the image does not",
			image: withService("sleep 86400")},
		{id: "specifier", file: "spec_1.raw", covers: "ExecStart=/opt/%N/sleep 86400 with /opt/spec/sleep",
			image: func(l layout, name string) {
				l.program("/opt/"+name+"/sleep", "busybox")
				withService("/opt/%N/sleep 86400")(l, name)
			}},
		{id: "specifier-missing", file: "specm_1.raw", covers: "ExecStart=/opt/%N/sleep 86400, the program at /opt/other/sleep only",
			image: func(l layout, name string) {
				l.program("/opt/other/sleep", "busybox")
				withService("/opt/%N/sleep 86400")(l, name)
			}},
		{id: "prefix-dash-fails", file: "pdash_1.raw", covers: "ExecStart=-/usr/bin/busybox false: failure ignored",
			image: withService("-/usr/bin/busybox false")},
		{id: "prefix-dash-missing", file: "pdashm_1.raw", covers: "ExecStart=-/usr/bin/nothere: a missing program with '-'",
			image: withService("-/usr/bin/nothere")},
		{id: "prefix-at", file: "pat_1.raw", covers: "ExecStart=@/usr/bin/busybox sleep 86400: argv[0] given",
			image: withService("@/usr/bin/busybox sleep 86400")},
		{id: "prefix-plus", file: "pplus_1.raw", covers: "ExecStart=+/usr/bin/busybox ...: full privileges, no sandbox",
			image: withService("+" + sleeper)},
		{id: "prefix-bang", file: "pbang_1.raw", covers: "ExecStart=!/usr/bin/busybox ...",
			image: withService("!" + sleeper)},
		{id: "prefix-bangbang", file: "pbb_1.raw", covers: "ExecStart=!!/usr/bin/busybox ...",
			image: withService("!!" + sleeper)},
		{id: "prefix-colon", file: "pcolon_1.raw", covers: "ExecStart=:/usr/bin/busybox ...: no variable expansion",
			image: withService(":" + sleeper)},
		{id: "prefix-pipe", file: "ppipe_1.raw", covers: "ExecStart=|/usr/bin/busybox ...",
			image: withService("|" + sleeper)},
		{id: "pre-missing", file: "premiss_1.raw", covers: "ExecStartPre= names a program the image lacks",
			image: withService(sleeper, "ExecStartPre=/usr/bin/nothere")},
		{id: "stop-missing", file: "stopmiss_1.raw", covers: "ExecStop= names a program the image lacks (runs only at stop)",
			image: withService(sleeper, "ExecStop=/usr/bin/nothere")},
		{id: "exec-env", file: "exenv_1.raw", covers: "ExecStart= with $DELAY from Environment=",
			image: withService("/usr/bin/busybox sleep $DELAY", "Environment=DELAY=86400")},

		// Profiles.
		{id: "httpd", file: "httpd_1.raw", probe: "http://127.0.0.1:8091/", covers: "busybox httpd on 127.0.0.1:8091, default profile",
			image: httpd(8091)},
		{id: "httpd-strict", file: "httpds_1.raw", profile: "strict", runtime: "busybox httpd opens an AF_INET socket, which strict's RestrictAddressFamilies=AF_UNIX forbids", covers: "busybox httpd, profile strict (AF_UNIX only, private network)",
			image: httpd(8092)},
		{id: "httpd-nonetwork", file: "httpdn_1.raw", profile: "nonetwork", runtime: "busybox httpd opens an AF_INET socket, which nonetwork's RestrictAddressFamilies=AF_UNIX AF_NETLINK forbids", covers: "busybox httpd, profile nonetwork (private network)",
			image: httpd(8093)},
		{id: "httpd-trusted", file: "httpdt_1.raw", profile: "trusted", probe: "http://127.0.0.1:8094/", covers: "busybox httpd, profile trusted",
			image: httpd(8094)},
		{id: "ok-strict", file: "okst_1.raw", profile: "strict", covers: "a sleeping service, profile strict"},
		{id: "ok-nonetwork", file: "oknn_1.raw", profile: "nonetwork", covers: "a sleeping service, profile nonetwork"},
		{id: "ok-trusted", file: "oktr_1.raw", profile: "trusted", covers: "a sleeping service, profile trusted"},

		// A real Go service from the module proxy (issue 9's go-httpbin).
		{id: "httpbin-no-state-dir", file: "httpbin_2.26.0.raw", probe: "http://127.0.0.1:8080/get",
			covers: "go-httpbin, DynamicUser=yes, StateDirectory=httpbin, ExecStartPre=, no /var/lib/httpbin",
			image:  httpbin(false)},
		{id: "httpbin", file: "httpbin_2.26.0.raw", probe: "http://127.0.0.1:8080/get",
			covers: "go-httpbin, DynamicUser=yes, StateDirectory=httpbin, ExecStartPre=, with /var/lib/httpbin",
			image:  httpbin(true)},
	}

	// Each *Directory= setting with DynamicUser= yes and no, with and
	// without its directory in the image, under the default profile (which
	// sets DynamicUser=yes itself) and trusted (which does not).
	for _, d := range dirSettings {
		for _, v := range []struct {
			suffix, dynamic, profile string
			present                  bool
		}{
			{"dyn-in", "yes", "", true},
			{"dyn-out", "yes", "", false},
			{"sta-out", "no", "", false},
			{"tru-in", "no", "trusted", true},
			{"tru-out", "no", "trusted", false},
		} {
			d, v := d, v
			name := d.key + "-" + v.suffix
			where := "without"
			if v.present {
				where = "with"
			}
			rows = append(rows, row{
				id: name, file: name + "_1.raw", profile: v.profile,
				covers: fmt.Sprintf("%s=%s, DynamicUser=%s, %s %s/%s, profile %s", d.setting, name, v.dynamic, where, d.parent, name, profileName(v.profile)),
				image: func(l layout, name string) {
					withService(sleeper, "DynamicUser="+v.dynamic, d.setting+"="+name)(l, name)
					if v.present {
						l.dir(d.parent + "/" + name)
					}
				},
			})
		}
	}
	return rows
}

func profileName(p string) string {
	if p == "" {
		return "default"
	}
	return p
}

// multi is image multi with PORTABLE_PREFIXES=prefixes (written as given,
// quotes and all) and the units multi.service and other.service.
func multi(prefixes string) func(layout, string) {
	return func(l layout, name string) {
		l.file("/etc/os-release", "ID=e2e\nVERSION_ID=1\nPORTABLE_PREFIXES="+prefixes+"\n")
		l.unit("other.service", service(sleeper))
	}
}

// stray is the two-prefix multi image with a third.service no prefix matches.
func stray(l layout, name string) {
	multi(`"multi other"`)(l, name)
	l.unit("third.service", service(sleeper))
}

// without removes paths from the base image.
func without(paths ...string) func(layout, string) {
	return func(l layout, _ string) { l.remove(paths...) }
}

// withService replaces NAME.service with one running execStart.
func withService(execStart string, lines ...string) func(layout, string) {
	return func(l layout, name string) { l.unit(name+".service", service(execStart, lines...)) }
}

// httpd is busybox httpd serving a page on 127.0.0.1:port.
func httpd(port int) func(layout, string) {
	return func(l layout, name string) {
		www(l)
		withService(fmt.Sprintf("/usr/bin/busybox httpd -f -p 127.0.0.1:%d -h /srv/www", port))(l, name)
	}
}

// httpbin is go-httpbin as issue 9 found it: a dynamic user, a state
// directory its ExecStartPre= writes to, with or without the directory.
func httpbin(stateDir bool) func(layout, string) {
	return func(l layout, name string) {
		l.program("/usr/bin/go-httpbin", "go-httpbin")
		withService("/usr/bin/go-httpbin -host 127.0.0.1 -port 8080",
			"DynamicUser=yes", "StateDirectory=httpbin",
			"ExecStartPre=/usr/bin/busybox touch /var/lib/httpbin/started")(l, name)
		if stateDir {
			l.dir("/var/lib/httpbin")
		}
	}
}

// layoutOf is the row's image: base(name) changed by the row.
func (r row) layoutOf() layout {
	name := imageName(r.file)
	l := base(name)
	if r.image != nil {
		r.image(l, name)
	}
	return l
}

// units returns the names of the unit files an image carries directly in
// /etc/systemd/system or /usr/lib/systemd/system, each once, sorted.
func (l layout) units() []string {
	seen := map[string]bool{}
	for p, e := range l {
		if dir := path.Dir(p); e.kind != dirEntry && (dir == "/etc/systemd/system" || dir == "/usr/lib/systemd/system") {
			seen[path.Base(p)] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// maxBatch bounds the rows attached side by side: under software
// emulation a manager starting many more services at once answers D-Bus
// calls too late.
const maxBatch = 25

// batches gives each row a batch number such that no two rows of a batch
// share an image file name, a unit file name or a probe URL, and no batch
// holds more than maxBatch rows: the guest attaches the rows of a batch
// side by side.
func batches(rows []row) []int {
	type taken struct {
		files, units, probes map[string]bool
		n                    int
	}
	var bs []taken
	out := make([]int, len(rows))
	for i, r := range rows {
		units := r.layoutOf().units()
		b := 0
		for ; b < len(bs); b++ {
			t := bs[b]
			clash := t.n >= maxBatch || t.files[r.file] || (r.probe != "" && t.probes[r.probe])
			for _, u := range units {
				clash = clash || t.units[u]
			}
			if !clash {
				break
			}
		}
		if b == len(bs) {
			bs = append(bs, taken{files: map[string]bool{}, units: map[string]bool{}, probes: map[string]bool{}})
		}
		bs[b].n++
		bs[b].files[r.file] = true
		bs[b].probes[r.probe] = true
		for _, u := range units {
			bs[b].units[u] = true
		}
		out[i] = b
	}
	return out
}

// argWord is what an args value may hold: the guest script sources the file.
var argWord = regexp.MustCompile(`^[A-Za-z0-9._:/@ -]*$`)

// checkCorpus reports duplicate ids and values the guest script cannot take.
func checkCorpus(rows []row) error {
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.id] {
			return fmt.Errorf("corpus: duplicate row id %q", r.id)
		}
		seen[r.id] = true
		if !strings.HasSuffix(r.file, ".raw") || strings.Contains(r.file, "/") {
			return fmt.Errorf("corpus row %s: file %q is not a NAME.raw", r.id, r.file)
		}
		for _, v := range append([]string{r.id, r.file, r.profile, r.probe}, r.matches...) {
			if !argWord.MatchString(v) {
				return fmt.Errorf("corpus row %s: %q holds characters the guest script cannot take", r.id, v)
			}
		}
	}
	return nil
}

// writeCorpus writes each row's image and args file to dir/corpus/NN-ID/.
// Images come from cache, a directory of images by the hash of their
// layout and of the writer (writerKey); those no row uses are removed. It
// returns a key for the corpus: the hash of every row's image and args
// and of extra (the guest script that judges them).
func writeCorpus(ctx context.Context, rows []row, progs programs, dir, cache, writerKey string, extra []byte) (string, error) {
	if err := checkCorpus(rows); err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	corpusHash := sha256.New()
	corpusHash.Write(extra)
	used := map[string]bool{}
	bs := batches(rows)
	for i, r := range rows {
		sub := filepath.Join(dir, "corpus", fmt.Sprintf("%03d-%s", i, r.id))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return "", err
		}
		l := r.layoutOf()
		key, err := l.hash(progs, fmt.Sprintf("%s mksquashfs=%t", writerKey, r.mksquashfs))
		if err != nil {
			return "", fmt.Errorf("corpus row %s: %w", r.id, err)
		}
		img := filepath.Join(cache, key+".raw")
		used[key+".raw"] = true
		if _, err := os.Stat(img); err != nil {
			tmp := img + ".tmp"
			if err := writeImage(ctx, l, progs, tmp, r.mksquashfs); err != nil {
				os.Remove(tmp)
				return "", fmt.Errorf("corpus row %s: %w", r.id, err)
			}
			if err := os.Rename(tmp, img); err != nil {
				return "", err
			}
		}
		if err := linkOrCopy(img, filepath.Join(sub, r.file)); err != nil {
			return "", fmt.Errorf("corpus row %s: %w", r.id, err)
		}
		args := fmt.Sprintf("file='%s'\nprofile='%s'\nmatches='%s'\nprobe='%s'\nbatch=%d\n",
			r.file, r.profile, strings.Join(r.matches, " "), r.probe, bs[i])
		if err := os.WriteFile(filepath.Join(sub, "args"), []byte(args), 0o644); err != nil {
			return "", err
		}
		// The corpus key covers what the guests judged (the trees and how
		// they were attached), not the writer's bytes: verdicts stay valid
		// for replay when only the writer changes.
		tree, err := l.hash(progs, fmt.Sprintf("mksquashfs=%t", r.mksquashfs))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(corpusHash, "%s\x00%s\x00%s\x00", r.id, tree, args)
	}
	old, err := os.ReadDir(cache)
	if err != nil {
		return "", err
	}
	for _, e := range old {
		if !used[e.Name()] {
			os.Remove(filepath.Join(cache, e.Name()))
		}
	}
	sum := hex.EncodeToString(corpusHash.Sum(nil)[:16])
	return sum, os.WriteFile(filepath.Join(dir, "corpus.key"), []byte(sum+"\n"), 0o644)
}

// linkOrCopy hard-links src to dst, or copies it across file systems.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// writerKey identifies what writes the corpus images: the sources of
// package squashfs and the compressors it uses, the module's go.sum, and
// mksquashfs's version. A change to any of them writes the images anew.
func writerKey(ctx context.Context, root string) (string, error) {
	h := sha256.New()
	for _, d := range []string{"squashfs", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil {
				fmt.Fprintf(h, "%s\x00%d\x00", p[len(root):], len(b))
				h.Write(b)
			}
			return err
		})
		if err != nil {
			return "", err
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return "", err
	}
	h.Write(b)
	out, err := exec.CommandContext(ctx, "mksquashfs", "-version").Output()
	if err != nil {
		return "", fmt.Errorf("mksquashfs -version: %w", err)
	}
	h.Write(out)
	return hex.EncodeToString(h.Sum(nil)), nil
}
