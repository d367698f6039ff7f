package portable

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// The differential corpus the guests ran (branch guest, e2e/corpus_test.go)
// and what portabled did with each image: /work/shared/notes/
// portabled-verdicts.md, observed in Debian 12 (systemd 252.39) and
// Debian 13 (systemd 257.13) guests on 2026-11-25. Every row is rebuilt
// here as an fstest.MapFS and Check must predict the guest's outcome for
// both versions.

// corpusImage is the corpus' base image for name: os-release with an ID,
// the mount points, a static busybox and NAME.service sleeping.
func corpusImage(name string) fstest.MapFS {
	img := fstest.MapFS{
		"etc/os-release":  file("ID=e2e\nNAME=\"mkportable e2e\"\nVERSION_ID=1\n"),
		"etc/resolv.conf": file(""),
		"etc/machine-id":  file(""),
		"usr/bin/busybox": exe(),
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "var/tmp", "var/lib", "var/cache", "var/log"} {
		img[d] = dir()
	}
	img["etc/systemd/system/"+name+".service"] = file(corpusService(sleeper))
	return img
}

const sleeper = "/usr/bin/busybox sleep 86400"

func corpusService(execStart string, lines ...string) string {
	s := "[Unit]\nDescription=mkportable e2e corpus service\n\n[Service]\n"
	if execStart != "" {
		s += "ExecStart=" + execStart + "\n"
	}
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}

// remove drops p and everything below it.
func remove(img fstest.MapFS, paths ...string) {
	for _, p := range paths {
		p = strings.TrimPrefix(p, "/")
		for k := range img {
			if k == p || strings.HasPrefix(k, p+"/") {
				delete(img, k)
			}
		}
	}
}

func removeUnits(img fstest.MapFS) { remove(img, "etc/systemd/system") }

func unitFile(img fstest.MapFS, name, text string) { img["etc/systemd/system/"+name] = file(text) }

func withService(execStart string, lines ...string) func(fstest.MapFS, string) {
	return func(img fstest.MapFS, name string) {
		unitFile(img, name+".service", corpusService(execStart, lines...))
	}
}

func without(paths ...string) func(fstest.MapFS, string) {
	return func(img fstest.MapFS, _ string) { remove(img, paths...) }
}

func multi(prefixes string) func(fstest.MapFS, string) {
	return func(img fstest.MapFS, _ string) {
		img["etc/os-release"] = file("ID=e2e\nVERSION_ID=1\nPORTABLE_PREFIXES=" + prefixes + "\n")
		unitFile(img, "other.service", corpusService(sleeper))
	}
}

func httpd(port int) func(fstest.MapFS, string) {
	return func(img fstest.MapFS, name string) {
		img["srv/www/index.html"] = file("mkportable e2e\n")
		withService(fmt.Sprintf("/usr/bin/busybox httpd -f -p 127.0.0.1:%d -h /srv/www", port))(img, name)
	}
}

func httpbin(stateDir bool) func(fstest.MapFS, string) {
	return func(img fstest.MapFS, name string) {
		img["usr/bin/go-httpbin"] = exe()
		withService("/usr/bin/go-httpbin -host 127.0.0.1 -port 8080",
			"DynamicUser=yes", "StateDirectory=httpbin",
			"ExecStartPre=/usr/bin/busybox touch /var/lib/httpbin/started")(img, name)
		if stateDir {
			img["var/lib/httpbin"] = dir()
		}
	}
}

// verdict is one corpus row and the guests' outcomes.
type verdict struct {
	id, file string
	matches  []string
	profile  string
	image    func(fstest.MapFS, string)
	v252     Outcome
	v257     Outcome
	// runtime says the guests' outcome depends on what the program does
	// when it runs, which no image check sees: Check predicts active and
	// notes why it cannot know.
	runtime bool
}

const (
	act = OutcomeActive
	ref = OutcomeRefused
	fai = OutcomeFails
)

func guestVerdicts() []verdict {
	vs := []verdict{
		{id: "no-os-release", file: "noosrel_1.raw", image: without("/etc/os-release"), v252: ref, v257: ref},
		{id: "no-id", file: "noid_1.raw", image: func(img fstest.MapFS, _ string) {
			img["etc/os-release"] = file("NAME=\"mkportable e2e\"\nVERSION_ID=1\n")
		}, v252: ref, v257: ref},
		{id: "outside-prefix", file: "outside_1.raw", image: func(img fstest.MapFS, _ string) {
			removeUnits(img)
			unitFile(img, "elsewhere.service", corpusService(sleeper))
		}, v252: ref, v257: ref},
		{id: "ok", file: "ok_1.raw", v252: act, v257: act},
		{id: "no-version", file: "nover.raw", v252: act, v257: act},
		{id: "usr-lib-units", file: "libunits_1.raw", image: func(img fstest.MapFS, name string) {
			removeUnits(img)
			img["usr/lib/systemd/system/"+name+".service"] = file(corpusService(sleeper))
		}, v252: act, v257: act},
		{id: "usr-lib-os-release", file: "libosrel_1.raw", image: func(img fstest.MapFS, _ string) {
			remove(img, "/etc/os-release")
			img["usr/lib/os-release"] = file("ID=e2e\nVERSION_ID=1\n")
		}, v252: act, v257: act},
		{id: "os-release-link", file: "osrellink_1.raw", image: func(img fstest.MapFS, _ string) {
			img["usr/lib/os-release"] = file("ID=e2e\nVERSION_ID=1\n")
			img["etc/os-release"] = link("../usr/lib/os-release")
		}, v252: act, v257: act},
		{id: "os-release-abs-link", file: "osrelabs_1.raw", image: func(img fstest.MapFS, _ string) {
			img["usr/lib/os-release"] = file("ID=e2e\nVERSION_ID=1\n")
			img["etc/os-release"] = link("/usr/lib/os-release")
		}, v252: act, v257: act},
		{id: "id-invalid", file: "badid_1.raw", image: func(img fstest.MapFS, _ string) {
			img["etc/os-release"] = file("ID=\"Not Valid\"\nVERSION_ID=1\n")
		}, v252: act, v257: act},
		{id: "multi-default", file: "multi_1.raw", image: multi(`"multi other"`), v252: act, v257: act},
		{id: "multi-both", file: "multi_1.raw", matches: []string{"multi", "other"}, image: multi(`"multi other"`), v252: act, v257: act},
		{id: "outside-prefix-match", file: "outside_1.raw", matches: []string{"elsewhere"}, image: func(img fstest.MapFS, _ string) {
			removeUnits(img)
			unitFile(img, "elsewhere.service", corpusService(sleeper))
		}, v252: act, v257: act},
		{id: "prefix-dash", file: "pre_1.raw", image: func(img fstest.MapFS, _ string) {
			unitFile(img, "pre-helper.service", corpusService(sleeper))
		}, v252: act, v257: act},
		{id: "prefix-nodash", file: "pre_1.raw", image: func(img fstest.MapFS, _ string) {
			unitFile(img, "prehelper.service", corpusService(sleeper))
		}, v252: act, v257: act},
		{id: "mount-unit", file: "mnt_1.raw", image: func(img fstest.MapFS, _ string) {
			unitFile(img, "mnt-data.mount", "[Unit]\nDescription=e2e mount\n\n[Mount]\nWhat=tmpfs\nWhere=/mnt/data\nType=tmpfs\n")
		}, v252: act, v257: act},
		{id: "at-description", file: "at_1.raw", image: func(img fstest.MapFS, name string) {
			unitFile(img, name+".service", "[Unit]\nDescription=mail a@b@c\n\n[Service]\nExecStart="+sleeper+"\n")
		}, v252: act, v257: act},
		{id: "socket-accept", file: "sock_1.raw", image: func(img fstest.MapFS, name string) {
			removeUnits(img)
			img["srv/www/index.html"] = file("mkportable e2e\n")
			unitFile(img, name+".socket", "[Unit]\nDescription=e2e socket\n\n[Socket]\nListenStream=127.0.0.1:8081\nAccept=yes\n")
			unitFile(img, name+"@.service", corpusService("/usr/bin/busybox httpd -i -h /srv/www", "StandardInput=socket"))
		}, v252: act, v257: act},
		{id: "timer-job", file: "tim_1.raw", image: func(img fstest.MapFS, name string) {
			removeUnits(img)
			unitFile(img, name+".timer", "[Unit]\nDescription=e2e timer\n\n[Timer]\nOnActiveSec=1h\nUnit="+name+"-job.service\n")
			unitFile(img, name+"-job.service", corpusService("/usr/bin/busybox true", "Type=oneshot"))
		}, v252: act, v257: act},
		{id: "path-unit", file: "pth_1.raw", image: func(img fstest.MapFS, name string) {
			unitFile(img, name+".path", "[Unit]\nDescription=e2e path\n\n[Path]\nPathExists=/run/e2e-path-trigger\n")
		}, v252: act, v257: act},
		{id: "target-unit", file: "tgt_1.raw", image: func(img fstest.MapFS, name string) {
			unitFile(img, name+".target", "[Unit]\nDescription=e2e target\nWants="+name+".service\n")
		}, v252: act, v257: act},
		{id: "template-only", file: "tpl_1.raw", image: func(img fstest.MapFS, name string) {
			removeUnits(img)
			unitFile(img, name+"@.service", corpusService(sleeper))
		}, v252: act, v257: act},
		{id: "no-execstart", file: "noexecst_1.raw", image: withService("", "Type=simple"), v252: fai, v257: fai},
		{id: "no-var-dirs", file: "novar_1.raw", image: without("/var/lib", "/var/cache", "/var/log"), v252: act, v257: act},
		{id: "no-tmp", file: "notmp_1.raw", image: without("/tmp"), v252: fai, v257: fai},
		{id: "no-var-tmp", file: "novartmp_1.raw", image: without("/var/tmp"), v252: fai, v257: fai},
		{id: "no-run", file: "norun_1.raw", image: without("/run"), v252: fai, v257: fai},
		{id: "no-dev", file: "nodev_1.raw", image: without("/dev"), v252: fai, v257: fai},
		{id: "no-proc", file: "noproc_1.raw", image: without("/proc"), v252: fai, v257: fai},
		{id: "no-sys", file: "nosys_1.raw", image: without("/sys"), v252: fai, v257: fai},
		{id: "no-resolv-conf", file: "noresolv_1.raw", image: without("/etc/resolv.conf"), v252: fai, v257: fai},
		{id: "no-machine-id", file: "nomachid_1.raw", image: without("/etc/machine-id"), v252: fai, v257: fai},
		{id: "trusted-no-tmp", file: "trnotmp_1.raw", profile: "trusted", image: without("/tmp"), v252: fai, v257: fai},
		{id: "trusted-no-var-tmp", file: "trnovartmp_1.raw", profile: "trusted", image: without("/var/tmp"), v252: fai, v257: fai},
		{id: "trusted-no-run", file: "trnorun_1.raw", profile: "trusted", image: without("/run"), v252: fai, v257: fai},
		{id: "trusted-no-machine-id", file: "trnomachid_1.raw", profile: "trusted", image: without("/etc/machine-id"), v252: fai, v257: fai},
		{id: "trusted-no-resolv-conf", file: "trnoresolv_1.raw", profile: "trusted", image: without("/etc/resolv.conf"), v252: fai, v257: fai},
		{id: "nonetwork-no-resolv-conf", file: "nnnoresolv_1.raw", profile: "nonetwork", image: without("/etc/resolv.conf"), v252: act, v257: act},
		{id: "strict-no-resolv-conf", file: "stnoresolv_1.raw", profile: "strict", image: without("/etc/resolv.conf"), v252: act, v257: act},
		{id: "bindro-missing", file: "bindro_1.raw", image: withService(sleeper, "BindReadOnlyPaths=/etc/hostname:/srv/hostname"), v252: fai, v257: fai},
		{id: "bindro-present", file: "bindrook_1.raw", image: func(img fstest.MapFS, name string) {
			withService(sleeper, "BindReadOnlyPaths=/etc/hostname:/srv/hostname")(img, name)
			img["srv/hostname"] = file("")
		}, v252: act, v257: act},
		{id: "bind-missing", file: "bind_1.raw", image: withService(sleeper, "BindPaths=/var/tmp:/srv/scratch"), v252: fai, v257: fai},
		{id: "bind-present", file: "bindok_1.raw", image: func(img fstest.MapFS, name string) {
			withService(sleeper, "BindPaths=/var/tmp:/srv/scratch")(img, name)
			img["srv/scratch"] = dir()
		}, v252: act, v257: act},
		{id: "bind-optional-source", file: "bindopt_1.raw", image: withService(sleeper, "BindReadOnlyPaths=-/nonexistent/e2e:/srv/none"), v252: act, v257: act},
		{id: "workdir-missing", file: "wd_1.raw", image: withService(sleeper, "WorkingDirectory=/srv/work"), v252: fai, v257: fai},
		{id: "workdir-optional", file: "wdopt_1.raw", image: withService(sleeper, "WorkingDirectory=-/srv/work"), v252: act, v257: act},
		{id: "workdir-present", file: "wdok_1.raw", image: func(img fstest.MapFS, name string) {
			withService(sleeper, "WorkingDirectory=/srv/work")(img, name)
			img["srv/work"] = dir()
		}, v252: act, v257: act},
		{id: "exec-missing", file: "exmiss_1.raw", image: withService("/usr/bin/nothere"), v252: fai, v257: fai},
		{id: "exec-not-executable", file: "exnox_1.raw", image: func(img fstest.MapFS, name string) {
			img["usr/bin/sleep"] = &fstest.MapFile{Mode: 0o644, Data: []byte("busybox")}
			withService("/usr/bin/sleep 86400")(img, name)
		}, v252: fai, v257: fai},
		{id: "exec-link-relative", file: "exlrel_1.raw", image: func(img fstest.MapFS, name string) {
			img["usr/bin/sleep"] = link("busybox")
			withService("/usr/bin/sleep 86400")(img, name)
		}, v252: act, v257: act},
		{id: "exec-link-absolute", file: "exlabs_1.raw", image: func(img fstest.MapFS, name string) {
			img["usr/bin/sleep"] = link("/usr/bin/busybox")
			withService("/usr/bin/sleep 86400")(img, name)
		}, v252: act, v257: act},
		{id: "exec-link-dangling", file: "exldang_1.raw", image: func(img fstest.MapFS, name string) {
			img["usr/bin/sleep"] = link("/nowhere/busybox")
			withService("/usr/bin/sleep 86400")(img, name)
		}, v252: fai, v257: fai},
		{id: "exec-link-dir", file: "exldir_1.raw", image: func(img fstest.MapFS, name string) {
			img["opt/app"] = link("/usr/bin")
			withService("/opt/app/busybox sleep 86400")(img, name)
		}, v252: act, v257: act},
		{id: "bare-usr-bin", file: "bareub_1.raw", image: func(img fstest.MapFS, name string) {
			img["usr/bin/sleep"] = link("busybox")
			withService("sleep 86400")(img, name)
		}, v252: act, v257: act},
		{id: "bare-bin", file: "bareb_1.raw", image: func(img fstest.MapFS, name string) {
			remove(img, "/usr/bin")
			img["bin/sleep"] = exe()
			withService("sleep 86400")(img, name)
		}, v252: act, v257: fai},
		{id: "bare-opt", file: "bareo_1.raw", image: func(img fstest.MapFS, name string) {
			remove(img, "/usr/bin")
			img["opt/bin/sleep"] = exe()
			withService("sleep 86400")(img, name)
		}, v252: fai, v257: fai},
		{id: "bare-host-only", file: "bareh_1.raw", image: withService("sleep 86400"), v252: fai, v257: fai},
		{id: "specifier", file: "spec_1.raw", image: func(img fstest.MapFS, name string) {
			img["opt/"+name+"/sleep"] = exe()
			withService("/opt/%N/sleep 86400")(img, name)
		}, v252: act, v257: act},
		{id: "specifier-missing", file: "specm_1.raw", image: func(img fstest.MapFS, name string) {
			img["opt/other/sleep"] = exe()
			withService("/opt/%N/sleep 86400")(img, name)
		}, v252: fai, v257: fai},
		{id: "prefix-dash-fails", file: "pdash_1.raw", image: withService("-/usr/bin/busybox false"), v252: act, v257: act},
		{id: "prefix-dash-missing", file: "pdashm_1.raw", image: withService("-/usr/bin/nothere"), v252: act, v257: act},
		{id: "prefix-at", file: "pat_1.raw", image: withService("@/usr/bin/busybox sleep 86400"), v252: act, v257: act},
		{id: "prefix-plus", file: "pplus_1.raw", image: withService("+" + sleeper), v252: fai, v257: fai},
		{id: "prefix-bang", file: "pbang_1.raw", image: withService("!" + sleeper), v252: act, v257: act},
		{id: "prefix-bangbang", file: "pbb_1.raw", image: withService("!!" + sleeper), v252: act, v257: act},
		{id: "prefix-colon", file: "pcolon_1.raw", image: withService(":" + sleeper), v252: act, v257: act},
		{id: "prefix-pipe", file: "ppipe_1.raw", image: withService("|" + sleeper), v252: fai, v257: fai},
		{id: "pre-missing", file: "premiss_1.raw", image: withService(sleeper, "ExecStartPre=/usr/bin/nothere"), v252: fai, v257: fai},
		{id: "stop-missing", file: "stopmiss_1.raw", image: withService(sleeper, "ExecStop=/usr/bin/nothere"), v252: act, v257: act},
		{id: "exec-env", file: "exenv_1.raw", image: withService("/usr/bin/busybox sleep $DELAY", "Environment=DELAY=86400"), v252: act, v257: act},
		{id: "httpd", file: "httpd_1.raw", image: httpd(8091), v252: act, v257: act},
		{id: "httpd-strict", file: "httpds_1.raw", profile: "strict", image: httpd(8092), v252: fai, v257: fai, runtime: true},
		{id: "httpd-nonetwork", file: "httpdn_1.raw", profile: "nonetwork", image: httpd(8093), v252: fai, v257: fai, runtime: true},
		{id: "httpd-trusted", file: "httpdt_1.raw", profile: "trusted", image: httpd(8094), v252: act, v257: act},
		{id: "ok-strict", file: "okst_1.raw", profile: "strict", v252: act, v257: act},
		{id: "ok-nonetwork", file: "oknn_1.raw", profile: "nonetwork", v252: act, v257: act},
		{id: "ok-trusted", file: "oktr_1.raw", profile: "trusted", v252: act, v257: act},
		{id: "httpbin-no-state-dir", file: "httpbin_2.26.0.raw", image: httpbin(false), v252: fai, v257: fai},
		{id: "httpbin", file: "httpbin_2.26.0.raw", image: httpbin(true), v252: act, v257: act},
	}
	// Each *Directory= with DynamicUser= yes and no, its directory in the
	// image or not, under the default profile and trusted: RuntimeDirectory=
	// never needs one; the others always do.
	for _, d := range []struct{ key, setting, parent string }{
		{"st", "StateDirectory", "/var/lib"}, {"ca", "CacheDirectory", "/var/cache"}, {"lo", "LogsDirectory", "/var/log"},
		{"cf", "ConfigurationDirectory", "/etc"}, {"rt", "RuntimeDirectory", "/run"},
	} {
		for _, c := range []struct {
			suffix, dynamic, profile string
			present                  bool
		}{{"dyn-in", "yes", "", true}, {"dyn-out", "yes", "", false}, {"sta-out", "no", "", false}, {"tru-in", "no", "trusted", true}, {"tru-out", "no", "trusted", false}} {
			name := d.key + "-" + c.suffix
			want := act
			if !c.present && d.key != "rt" {
				want = fai
			}
			vs = append(vs, verdict{id: name, file: name + "_1.raw", profile: c.profile, v252: want, v257: want,
				image: func(img fstest.MapFS, name string) {
					withService(sleeper, "DynamicUser="+c.dynamic, d.setting+"="+name)(img, name)
					if c.present {
						img[strings.TrimPrefix(d.parent, "/")+"/"+name] = dir()
					}
				}})
		}
	}
	return vs
}

func TestGuestVerdicts(t *testing.T) {
	for _, v := range guestVerdicts() {
		t.Run(v.id, func(t *testing.T) {
			name, _ := ImageName(v.file)
			img := corpusImage(name)
			if v.image != nil {
				v.image(img, name)
			}
			r, err := Check(context.Background(), img, Options{FileName: v.file, Matches: v.matches, Profile: v.profile})
			require.NoError(t, err)
			var got []string
			for _, p := range r.Problems {
				got = append(got, fmt.Sprintf("%s %s [%d,%d): %s: %s", p.Severity, p.Rule, p.Since, p.Before, p.Path, p.Message))
			}
			if v.runtime {
				require.Equal(t, act, r.Outcome(252), "%s", strings.Join(got, "\n"))
				require.Equal(t, "profile-sandbox", r.Problems[0].Rule, "the note that says why it cannot know")
				return
			}
			require.Equal(t, v.v252, r.Outcome(252), "systemd 252:\n%s", strings.Join(got, "\n"))
			require.Equal(t, v.v257, r.Outcome(257), "systemd 257:\n%s", strings.Join(got, "\n"))
		})
	}
}
