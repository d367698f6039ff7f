package e2e

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkportable/mkportable/squashfs"
	"github.com/stretchr/testify/require"
)

// These tests check the harness itself without booting anything: they run
// in plain `go test ./...`.

func TestParseConsole(t *testing.T) {
	log := strings.Join([]string{
		"[    7.5] Run /init as init process",
		"\x1b[!p\x1b]104\x07E2E-BEGIN systemd 257 (257.13-1~deb13u1)",
		"E2E-PROFILE trusted [Service]",
		"E2E-PROFILE trusted MountAPIVFS=yes",
		"E2E-RESULT attach PASS (11.4s) is-active=active",
		"E2E-ATTACH ok rc=0 ok.service",
		"E2E-ATTACH gone rc=1 ",
		"E2E-ROW gone refused AttachImage failed: Image 'x' lacks os-release data, refusing.",
		"E2E-ATTACH st rc=0 st.service st.timer",
		"E2E-UNIT st st.service LoadState=loaded ActiveState=failed Result=exit-code ExecMainStatus=226",
		"E2E-JOURNAL st st.service Failed to set up mount namespacing: /run/systemd/unit-root/var/lib/st: No such file or directory",
		"[   40.1] some kernel line E2E-ROW st fails st.service: Result=exit-code ExecMainStatus=226",
		"E2E-ROW ok active ",
		"E2E-DONE",
	}, "\n")
	run, err := parseConsole(strings.NewReader(log))
	require.NoError(t, err)
	require.Equal(t, "257", run.Systemd)
	require.Equal(t, "257.13-1~deb13u1", run.Version)
	require.Equal(t, "[Service]\nMountAPIVFS=yes\n", run.Profiles["trusted"])
	require.True(t, strings.HasPrefix(run.Steps["attach"], "PASS"))
	require.True(t, run.Done)
	require.Equal(t, &observation{Outcome: "active", AttachExit: 0, Attached: []string{"ok.service"}}, run.Rows["ok"])
	require.Equal(t, "refused", run.Rows["gone"].Outcome)
	require.Equal(t, 1, run.Rows["gone"].AttachExit)
	require.Contains(t, run.Rows["gone"].Message, "lacks os-release data")
	st := run.Rows["st"]
	require.Equal(t, "fails", st.Outcome)
	require.Equal(t, []string{"st.service", "st.timer"}, st.Attached)
	require.Len(t, st.Units, 1)
	require.Contains(t, st.Units[0].Journal, "mount namespacing")

	for name, bad := range map[string]string{
		"no begin":        "E2E-ROW ok active\nE2E-DONE\n",
		"no version":      "E2E-BEGIN something else\n",
		"unknown outcome": "E2E-BEGIN systemd 252 (252.39)\nE2E-ROW ok fine\n",
		"bad attach":      "E2E-BEGIN systemd 252 (252.39)\nE2E-ATTACH ok\n",
		"bad exit":        "E2E-BEGIN systemd 252 (252.39)\nE2E-ATTACH ok rc=x\n",
	} {
		_, err := parseConsole(strings.NewReader(bad))
		require.Error(t, err, name)
	}
}

func TestPredict(t *testing.T) {
	contract := `{"image":"x.raw","outcome":{"252":"fails","257":"refused"},"problems":[
		{"severity":"note","rule":"specifier","message":"cannot check"},
		{"severity":"fails","rule":"state-directory","path":"/var/lib/x","message":"missing","before":257},
		{"severity":"refused","rule":"os-release-id","message":"no ID=","since":257}]}`
	tests := []struct {
		name           string
		stdout, stderr string
		exit, v        int
		outcome, shape string
		problem, err   string
	}{
		{"contract 252", contract, "", 1, 252, "fails", "contract", "fails state-directory /var/lib/x: missing", ""},
		{"contract 257", contract, "", 1, 257, "refused", "contract", "refused os-release-id: no ID=", ""},
		{"contract version missing", contract, "", 1, 258, "error", "contract", "", "no outcome for systemd 258"},
		{"contract active", `{"outcome":{"252":"active"},"problems":[]}`, "", 0, 252, "active", "contract", "", ""},
		{"contract bad outcome", `{"outcome":{"252":"ignored"},"problems":[]}`, "", 0, 252, "error", "contract", "", "not active, refused or fails"},
		{"legacy problems", `{"name":"x","problems":["no os-release"]}`, "", 1, 252, "refused", "legacy", "no os-release", ""},
		{"legacy none", `{"name":"x","problems":null}`, "", 0, 257, "active", "legacy", "", ""},
		{"bad usage", "", "flag provided but not defined: -match\n", 2, 252, "error", "", "", "flag provided but not defined"},
		{"odd problems", `{"problems":[1,2]}`, "", 1, 252, "error", "", "", "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := predict([]byte(tt.stdout), []byte(tt.stderr), tt.exit, tt.v)
			require.Equal(t, tt.outcome, p.Outcome)
			require.Equal(t, tt.exit, p.Exit)
			if tt.shape != "" {
				require.Equal(t, tt.shape, p.Shape)
			}
			require.Equal(t, tt.problem, p.Problem)
			if tt.err != "" {
				require.Contains(t, p.Error, tt.err)
			} else {
				require.Empty(t, p.Error)
			}
		})
	}
}

func TestEarlyPanic(t *testing.T) {
	require.True(t, earlyPanic("[0.02] Kernel panic - not syncing: IO-APIC + timer doesn't work!"))
	require.False(t, earlyPanic("E2E-BEGIN systemd 252 (x)\n[90.0] Kernel panic - not syncing: Attempted to kill init!"))
	require.False(t, earlyPanic("E2E-BEGIN systemd 252 (x)\nE2E-DONE\n"))
}

// fakePrograms stands in for the host programs a layout names.
func fakePrograms(t *testing.T) programs {
	dir := t.TempDir()
	progs := programs{}
	for _, name := range []string{"busybox", "go-httpbin"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/true "+name+"\n"), 0o755))
		progs[name] = p
	}
	return progs
}

func TestCorpus(t *testing.T) {
	rows := corpus()
	require.NoError(t, checkCorpus(rows))
	require.GreaterOrEqual(t, len(rows), 25)
	progs := fakePrograms(t)
	bs := batches(rows)
	type key struct {
		batch int
		what  string
	}
	seen := map[key]string{}
	for i, r := range rows {
		l := r.layoutOf()
		_, err := l.tree(progs)
		require.NoError(t, err, r.id)
		claims := append([]string{"file " + r.file}, l.units()...)
		if r.probe != "" {
			claims = append(claims, "probe "+r.probe)
		}
		for _, c := range claims {
			k := key{bs[i], c}
			require.Empty(t, seen[k], "rows %s and %s share %s in batch %d", seen[k], r.id, c, bs[i])
			seen[k] = r.id
		}
		require.NotEmpty(t, r.covers, r.id)
	}
	dup := append(rows, rows[0])
	require.ErrorContains(t, checkCorpus(dup), "duplicate row id")
	bad := []row{{id: "x", file: "x_1.raw", matches: []string{"a'b"}}}
	require.ErrorContains(t, checkCorpus(bad), "characters the guest script cannot take")
}

// TestLayoutImage writes a layout with package squashfs and reads it back.
func TestLayoutImage(t *testing.T) {
	progs := fakePrograms(t)
	l := base("demo")
	l.link("/usr/bin/sleep", "busybox")
	l["/usr/bin/plain"] = entry{kind: fileEntry, perm: 0o644, prog: "busybox"}
	img := filepath.Join(t.TempDir(), "demo_1.raw")
	require.NoError(t, writeImage(context.Background(), l, progs, img, false))
	r, err := squashfs.OpenReader(img)
	require.NoError(t, err)
	defer r.Close()
	for p, e := range l {
		fi, err := fs.Stat(r, strings.TrimPrefix(p, "/"))
		if e.kind == linkEntry {
			fi, err = r.Lstat(strings.TrimPrefix(p, "/"))
		}
		require.NoError(t, err, p)
		switch e.kind {
		case dirEntry:
			require.True(t, fi.IsDir(), p)
		case linkEntry:
			require.Equal(t, fs.ModeSymlink, fi.Mode().Type(), p)
		case fileEntry:
			require.True(t, fi.Mode().IsRegular(), p)
		}
		if e.kind != linkEntry {
			require.Equal(t, e.perm, fi.Mode()&(fs.ModePerm|fs.ModeSticky), p)
		}
	}
	unit, err := fs.ReadFile(r, "etc/systemd/system/demo.service")
	require.NoError(t, err)
	require.Contains(t, string(unit), "ExecStart="+sleeper)

	require.ErrorContains(t, layout{"relative": {kind: dirEntry}}.check(progs), "not an absolute clean path")
	require.ErrorContains(t, layout{"/x": {kind: fileEntry, prog: "nope"}}.check(progs), `no host program "nope"`)
}

func TestLayoutHash(t *testing.T) {
	progs := fakePrograms(t)
	a, err := base("x").hash(progs, "w1")
	require.NoError(t, err)
	again, err := base("x").hash(progs, "w1")
	require.NoError(t, err)
	require.Equal(t, a, again)
	other := fakePrograms(t)
	require.NoError(t, os.WriteFile(other["busybox"], []byte("other"), 0o755))
	for name, change := range map[string]func(l layout) (layout, string){
		"writer":  func(l layout) (layout, string) { return l, "w2" },
		"name":    func(layout) (layout, string) { return base("y"), "w1" },
		"removed": func(l layout) (layout, string) { l.remove("/tmp"); return l, "w1" },
		"perm": func(l layout) (layout, string) {
			l["/usr/bin/busybox"] = entry{kind: fileEntry, perm: 0o644, prog: "busybox"}
			return l, "w1"
		},
	} {
		l, w := change(base("x"))
		h, err := l.hash(progs, w)
		require.NoError(t, err)
		require.NotEqual(t, a, h, name)
	}
	h, err := base("x").hash(other, "w1")
	require.NoError(t, err)
	require.NotEqual(t, a, h, "another program's contents")
}

func TestImageName(t *testing.T) {
	for file, want := range map[string]string{
		"multi_1.raw": "multi", "httpbin_2.26.0.raw": "httpbin", "nover.raw": "nover", "a_b_c.raw": "a",
	} {
		require.Equal(t, want, imageName(file), file)
	}
}

func TestCompare(t *testing.T) {
	rows := []row{{id: "a", file: "a_1.raw"}, {id: "b", file: "b_1.raw", profile: "strict"}}
	runs := []*guestRun{
		{Systemd: "252", Rows: map[string]*observation{
			"a": {Outcome: "active"}, "b": {Outcome: "fails", Message: "b.service: Result=exit-code"}}},
		{Systemd: "257", Rows: map[string]*observation{
			"a": {Outcome: "refused", Message: "lacks the ID field"}, "b": {Outcome: "fails"}}},
	}
	ins := map[string]inspectRun{
		"a": {args: []string{"inspect", "--json"}, stdout: []byte(`{"outcome":{"252":"active","257":"refused"},"problems":[{"severity":"refused","rule":"id","message":"no ID","since":257}]}`), exit: 1},
		"b": {args: []string{"inspect", "--json", "--profile", "strict"}, stdout: []byte(`{"problems":[]}`), exit: 0},
	}
	rep := compare(rows, runs, ins)
	require.Equal(t, []string{"252", "257"}, rep.systemds())
	require.Equal(t, map[string]bool{"252": true, "257": true}, rep.Rows[0].Agree)
	require.Equal(t, "refused id: no ID", rep.Rows[0].Predicted["257"].Problem)
	require.Equal(t, map[string]bool{"252": false, "257": false}, rep.Rows[1].Agree)
	require.Equal(t, "legacy", rep.Rows[1].Predicted["252"].Shape)
	table := rep.table()
	require.Contains(t, table, "2 of 4 verdicts agree, 0 differ")
	require.Equal(t, 2, strings.Count(table, "≠ "), table)

	// A row whose outcome only running shows is tolerated where inspect
	// notes it cannot see it, and only there.
	rows[1].runtime = "opens an AF_INET socket"
	ins["b"] = inspectRun{stdout: []byte(`{"outcome":{"252":"active","257":"active"},"problems":[{"severity":"note","rule":"profile-sandbox","message":"cannot see","since":257}]}`)}
	rep = compare(rows, runs, ins)
	require.False(t, rep.Rows[1].tolerated("252"))
	require.True(t, rep.Rows[1].tolerated("257"))
	require.Contains(t, rep.table(), "1 differ where only running shows it")
}
