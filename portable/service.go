package portable

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/mkportable/mkportable/unit"
)

// execKeys are the [Service] command settings, in the order systemd runs
// them; start says whether a failure fails the start.
var execKeys = []struct {
	key   string
	start bool
}{
	{"ExecCondition", true}, {"ExecStartPre", true}, {"ExecStart", true}, {"ExecStartPost", true},
	{"ExecReload", false}, {"ExecStop", false}, {"ExecStopPost", false},
}

// execDirs are the *Directory= settings and the directory each is
// relative to for the system manager.
var execDirs = []struct{ key, prefix string }{
	{"RuntimeDirectory", "/run"}, {"StateDirectory", "/var/lib"}, {"CacheDirectory", "/var/cache"},
	{"LogsDirectory", "/var/log"}, {"ConfigurationDirectory", "/etc"},
}

// need is a path a service needs in its image.
type need struct {
	path string
	kind string // "dir", "file" (anything but a directory) or "any"
	// sandbox says the mount is part of the sandbox, which a "+" command
	// runs without (EXEC_COMMAND_FULLY_PRIVILEGED: no API file systems,
	// no private /dev or /tmp, no BindLogSockets=, no ReadOnlyPaths=...).
	sandbox bool
	why     string
	// writable says the mount made there is writable (a tmpfs or a host
	// directory), so systemd can create mount points below it.
	writable bool
	// rule and fail are the problem when the path is missing.
	rule, fail string
	// ifHost says the need holds only if the host has the bind source
	// (a "-" source of the unit's own): missing, it is a note.
	ifHost string
}

// service checks an attached service as systemd version c.v starts it with
// the profile's drop-in and portabled's RootImage=.
func (c *checker) service(name, p string, f *unit.File) error {
	svc := f.Entries("Service")
	get := func(key string) []string {
		var out []string
		for _, e := range svc {
			if e.Key == key {
				out = append(out, e.Value)
			}
		}
		return out
	}
	boolSetting := func(key string) bool { return parseBool(last(get(key))) }

	dynamicUser := boolSetting("DynamicUser") || c.prof.dynamicUser
	privateTmp := boolSetting("PrivateTmp") || c.prof.privateTmp || dynamicUser ||
		(c.v >= 257 && strings.EqualFold(last(get("PrivateTmp")), "disconnected"))
	mountAPIVFS := boolSetting("MountAPIVFS") || c.prof.mountAPIVFS
	privateDevices := boolSetting("PrivateDevices") || c.prof.privateDevices
	user := last(get("User"))
	root := !dynamicUser && (user == "" || user == "root" || user == "0")

	var needs []need
	missing := func(what string) string {
		return what + ", so the service fails at start with 226/NAMESPACE (\"Failed to set up mount namespacing\"); a read-only image cannot grow it"
	}
	fixed := func(p string, why string) {
		needs = append(needs, need{path: p, kind: "dir", why: why, writable: true, sandbox: true, rule: "mount-point-missing",
			fail: missing("systemd mounts over it (" + why + ")")})
	}
	if mountAPIVFS {
		for _, d := range []string{"/proc", "/sys", "/dev", "/run"} {
			fixed(d, "MountAPIVFS=yes, set by every portable profile")
		}
	} else if privateDevices {
		fixed("/dev", "PrivateDevices=yes")
	}
	if privateTmp {
		why := "PrivateTmp=yes, or DynamicUser=yes, which implies it"
		fixed("/tmp", why)
		fixed("/var/tmp", why)
	}
	bind := func(spec, key string, writable, fromProfile bool) *need {
		src, dst, ok := strings.Cut(spec, ":")
		optional := strings.HasPrefix(src, "-")
		src = strings.TrimPrefix(src, "-")
		if !ok {
			dst = src
		}
		dst, _, _ = strings.Cut(dst, ":")
		why := key + "=" + spec
		if fromProfile {
			why += " of profile " + c.opts.Profile
		}
		fail := "systemd binds " + src + " of the host over it (" + why + ")"
		if optional {
			fail += " whenever the host has " + src
		}
		n := need{path: dst, why: why, writable: writable, rule: "mount-point-missing", fail: missing(fail)}
		if optional && !fromProfile {
			// Whether the host has the source is known only on the host;
			// the profile's -/etc/resolv.conf is on every host.
			n.ifHost = src
		}
		switch {
		case fromProfile && dst == "/run":
			n.kind = "dir"
		case fromProfile:
			n.kind = "file" // a file or socket on every host
		default:
			n.kind = "any"
		}
		needs = append(needs, n)
		return &needs[len(needs)-1]
	}
	for _, b := range c.prof.bind {
		bind(b, "BindPaths", true, true)
	}
	for _, b := range c.prof.bindReadOnly {
		bind(b, "BindReadOnlyPaths", false, true)
	}
	for _, b := range c.prof.logSockets {
		bind(b, "BindReadOnlyPaths", false, true).sandbox = c.v >= 257
	}
	if c.v < 257 {
		// 252's 20-portable.conf binds the host's os-release into /run.
		n := bind("/etc/os-release:/run/host/os-release", "BindReadOnlyPaths", false, true)
		n.why = "BindReadOnlyPaths=/etc/os-release:/run/host/os-release of portabled's 20-portable.conf"
		n.fail = missing("systemd binds the host's os-release over it (" + n.why + ")")
	}

	expandOr := func(key, v string) (string, bool) {
		s, err := expand(v, name)
		if err == nil {
			return s, true
		}
		var unknown unknownSpecifier
		if errors.As(err, &unknown) {
			c.add(Note, "cannot-check", p, "%s=%s: %v, so the paths it names cannot be checked", key, v, err)
		} else {
			c.add(Fails, "bad-specifier", p, "%s=%s: %v: systemd ignores the setting with an error", key, v, err)
		}
		return "", false
	}
	// list returns the words of a list setting, an empty assignment
	// resetting the list, each with its specifiers expanded.
	list := func(key string) []string {
		var out []string
		for _, v := range get(key) {
			if v == "" {
				out = nil
				continue
			}
			ws, bad := words(v)
			if bad != "" {
				c.add(Note, "unit-syntax-warning", p, "%s=%s %s: systemd ignores the rest of the setting", key, v, bad)
			}
			for _, w := range ws {
				if s, ok := expandOr(key, w); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	for _, key := range []string{"BindPaths", "BindReadOnlyPaths"} {
		for _, b := range list(key) {
			bind(b, key, key == "BindPaths", false)
		}
	}
	for _, d := range execDirs {
		for _, item := range list(d.key) {
			rel, _, _ := strings.Cut(item, ":")
			if rel == "" || path.IsAbs(rel) || slices.Contains(strings.Split(rel, "/"), "..") {
				c.add(Note, "unit-syntax-warning", p, "%s=%s: not a relative path without \"..\"; systemd ignores it", d.key, item)
				continue
			}
			target := path.Join(d.prefix, rel)
			why := d.key + "=" + rel
			needs = append(needs, need{path: target, kind: "dir", why: why, writable: true, rule: "mount-point-missing",
				fail: missing("systemd binds the service's " + strings.TrimSuffix(strings.ToLower(d.key), "directory") + " directory over it with RootImage= (" + why + ")")})
		}
	}
	for _, t := range list("TemporaryFileSystem") {
		target, _, _ := strings.Cut(t, ":")
		needs = append(needs, need{path: target, kind: "dir", why: "TemporaryFileSystem=" + t, writable: true, rule: "mount-point-missing",
			fail: missing("systemd mounts a tmpfs over it (TemporaryFileSystem=" + t + ")")})
	}
	for _, key := range []string{"ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths"} {
		for _, w := range list(key) {
			if strings.HasPrefix(strings.TrimLeft(w, "+"), "-") || strings.HasPrefix(w, "-") {
				continue // "-": systemd skips the path if it is missing
			}
			target := strings.TrimLeft(w, "+")
			needs = append(needs, need{path: target, kind: "any", sandbox: key != "ReadWritePaths", why: key + "=" + w, rule: "mount-point-missing",
				fail: missing("systemd remounts it (" + key + "=" + w + ")")})
		}
	}
	if wd := last(get("WorkingDirectory")); wd != "" && !strings.HasPrefix(wd, "-") && wd != "~" {
		if s, ok := expandOr("WorkingDirectory", wd); ok {
			needs = append(needs, need{path: s, kind: "dir", why: "WorkingDirectory=" + wd, rule: "working-directory-missing",
				fail: "the service cannot change into it (WorkingDirectory=" + wd + ") and fails at start with 200/CHDIR; prefix it with \"-\" to make it optional"})
		}
	}
	switch c.opts.Profile {
	case "strict":
		c.add(Note, "profile-sandbox", "", "profile strict: services may open AF_UNIX sockets only, have no network (PrivateNetwork=yes), no capabilities and at most 4 tasks (TasksMax=4): a program that needs more fails when it runs, which no image check can see")
	case "nonetwork":
		c.add(Note, "profile-sandbox", "", "profile nonetwork: services have no network (PrivateNetwork=yes) and may open AF_UNIX and AF_NETLINK sockets only: a program that opens an IP socket fails when it runs, which no image check can see")
	}
	cmds := c.execs(name, p, f, get, root)
	covered, err := c.checkNeeds(p, needs, true, "")
	if err != nil {
		return err
	}
	// A "+" command runs without the sandbox, so what a sandbox mount
	// made room for must be in the image itself.
	for _, cmd := range cmds {
		if !cmd.plus || !cmd.start {
			continue
		}
		var again []need
		for _, n := range needs {
			if covered[n.path] && !n.sandbox {
				again = append(again, n)
			}
		}
		why := fmt.Sprintf(" (for line %d, %s=+..., which runs without the sandbox: no /run, /dev or /tmp of its own)", cmd.line, cmd.key)
		if _, err := c.checkNeeds(p, again, false, why); err != nil {
			return err
		}
		break
	}
	return nil
}

// maxNeeds bounds the paths checked for one unit; a unit file of 1 MiB
// can name many thousands.
const maxNeeds = 1024

// checkNeeds reports the needs the image does not meet, with the sandbox's
// mounts or without them, suffix added to each message. It returns the
// paths a writable mount made room for.
func (c *checker) checkNeeds(unitPath string, needs []need, sandboxed bool, suffix string) (map[string]bool, error) {
	if len(needs) > maxNeeds {
		c.add(Note, "cannot-check", unitPath, "names %d paths systemd mounts or changes into; only the first %d are checked", len(needs), maxNeeds)
		needs = needs[:maxNeeds]
	}
	covered := map[string]bool{}
	var writable []string
	for _, n := range needs {
		if n.writable && (sandboxed || !n.sandbox) {
			writable = append(writable, path.Clean("/"+n.path))
		}
	}
	under := func(p string) bool {
		return slices.ContainsFunc(writable, func(w string) bool { return w == "/" || strings.HasPrefix(p, w+"/") })
	}
	for _, n := range needs {
		if err := c.im.ctx.Err(); err != nil {
			return nil, err
		}
		if !sandboxed && n.sandbox {
			continue
		}
		n.fail += suffix
		clean := path.Clean("/" + n.path)
		if under(clean) {
			covered[n.path] = true
			continue // created in a writable mount made before it
		}
		real, exists, err := c.im.chase(clean)
		if errors.Is(err, errTooDeep) {
			c.add(Note, "cannot-check", unitPath, "%s=%.80s...: %v", "a path of "+n.why, n.path, err)
			continue
		}
		if err != nil {
			c.add(Fails, n.rule, clean, "%v: systemd cannot resolve it (%s), so the service fails at start", err, n.why)
			continue
		}
		if real != clean && under(real) {
			covered[n.path] = true
			continue
		}
		mp := MountPoint{Path: clean, Kind: n.kind, Exists: exists, Why: n.why}
		if !exists {
			c.r.MountPoints = append(c.r.MountPoints, mp)
			where := clean
			if real != clean {
				where = clean + " (" + real + " once its symlinks are followed)"
			}
			if n.ifHost != "" {
				c.add(Note, "cannot-check", clean, "%s is missing: if the host has %s, %s; without it systemd skips the mount (the \"-\" prefix)", where, n.ifHost, n.fail)
				continue
			}
			c.add(Fails, n.rule, clean, "%s is missing: %s", where, n.fail)
			continue
		}
		info, _, err := c.im.stat(clean)
		if err != nil {
			continue
		}
		switch {
		case n.kind == "any":
		case n.kind == "dir" && !info.IsDir():
			mp.Exists = false
			c.add(Fails, "mount-point-not-a-directory", clean, "is %s, not a directory: %s", DescribeMode(info.Mode()), n.fail)
		case n.kind == "file" && info.IsDir():
			mp.Exists = false
			c.add(Fails, "mount-point-is-a-directory", clean, "is a directory: systemd binds a file of the host over it (%s), so the service fails at start with 226/NAMESPACE%s", n.why, suffix)
		}
		c.r.MountPoints = append(c.r.MountPoints, mp)
	}
	return covered, nil
}

// command is one parsed command of an Exec*= line.
type command struct {
	key     string
	line    int
	path    string // the program, specifiers expanded
	ignore  bool   // "-": a failure, a missing program included, is ignored
	asRoot  bool   // "+" or "!": runs as root whatever the user
	plus    bool   // "+": runs without the sandbox
	start   bool   // runs when the service starts
	unknown bool   // the program has a specifier only known at run time
}

// execs checks every program the service runs, and returns its commands.
func (c *checker) execs(name, p string, f *unit.File, get func(string) []string, root bool) []command {
	var cmds []command
	startCount := 0
	for _, k := range execKeys {
		var list []command
		for _, e := range f.Entries("Service") {
			if e.Key != k.key {
				continue
			}
			if e.Value == "" {
				list = nil // an empty assignment resets the list
				continue
			}
			list = append(list, c.parseExec(name, p, k.key, k.start, e)...)
		}
		if k.key == "ExecStart" {
			startCount = len(list)
		}
		cmds = append(cmds, list...)
	}
	typ := last(get("Type"))
	switch {
	case startCount == 0 && typ != "oneshot":
		c.add(Fails, "service-no-execstart", p, "no ExecStart=: systemd refuses to load a service of Type=%s without one", or(typ, "simple"))
	case startCount > 1 && typ != "oneshot":
		c.add(Fails, "service-several-execstart", p, "%d ExecStart= commands: only a Type=oneshot service may have more than one; systemd refuses to load it", startCount)
	}
	search, searchWhy := c.searchPath(get("ExecSearchPath"))
	if len(cmds) > maxNeeds {
		c.add(Note, "cannot-check", p, "runs %d commands; only the programs of the first %d are checked", len(cmds), maxNeeds)
		cmds = cmds[:maxNeeds]
	}
	for _, cmd := range cmds {
		if c.im.ctx.Err() != nil {
			return cmds
		}
		if cmd.unknown || cmd.path == "" {
			continue
		}
		c.program(p, cmd, root, search, searchWhy, typ)
	}
	return cmds
}

func or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// parseExec parses one Exec*= line as config_parse_exec does (v252 and
// v257): commands separated by a lone ";", each a first word with the
// prefixes - @ : + ! !! before the program.
func (c *checker) parseExec(name, p, key string, start bool, e unit.Entry) []command {
	var out []command
	rest := e.Value
	for {
		w, r, found, bad := nextWord(rest, "")
		if bad != "" {
			c.add(Fails, "exec-syntax", p, "line %d: %s=%s %s: systemd refuses to load the unit", e.Line, key, e.Value, bad)
			return out
		}
		if !found {
			return out
		}
		rest = r
		if w == ";" {
			continue
		}
		cmd := command{key: key, line: e.Line, start: start}
		prog := w
		var setuid, plus, ambient, argv0, noenv bool
	prefixes:
		for prog != "" {
			switch {
			case prog[0] == '-' && !cmd.ignore:
				cmd.ignore = true
			case prog[0] == '@' && !argv0:
				argv0 = true
			case prog[0] == ':' && !noenv:
				noenv = true
			case prog[0] == '+' && !plus && !setuid && !ambient:
				plus = true
			case prog[0] == '!' && !plus && !setuid && !ambient:
				setuid = true
			case prog[0] == '!' && !plus && !ambient:
				setuid, ambient = false, true
			default:
				break prefixes
			}
			prog = prog[1:]
		}
		cmd.asRoot, cmd.plus = plus || setuid, plus
		fail := func(rule, format string, args ...any) {
			msg := fmt.Sprintf("line %d: %s=%s: ", e.Line, key, e.Value) + fmt.Sprintf(format, args...)
			if cmd.ignore {
				c.add(Note, rule, p, "%s; the \"-\" prefix makes systemd ignore the line", msg)
				return
			}
			c.add(Fails, rule, p, "%s: systemd refuses to load the unit, so it cannot start", msg)
		}
		expanded, err := expand(prog, name)
		var unknown unknownSpecifier
		switch {
		case errors.As(err, &unknown):
			c.add(Note, "cannot-check", p, "line %d: %s= program %s: %v, so whether it exists cannot be checked", e.Line, key, prog, err)
			cmd.unknown = true
		case err != nil:
			fail("exec-bad-specifier", "%v", err)
			return out
		case expanded == "":
			fail("exec-syntax", "no program")
			return out
		case strings.ContainsFunc(expanded, func(r rune) bool { return r < ' ' || r == 0x7f || r == '"' || r == '\'' || r == '\\' }):
			fail("exec-syntax", "the program %q holds quotes, backslashes or control characters", expanded)
			return out
		case strings.HasSuffix(expanded, "/"):
			fail("exec-syntax", "the program %s names a directory", expanded)
			return out
		case !path.IsAbs(expanded) && strings.Contains(expanded, "/"):
			fail("exec-syntax", "%s is neither a valid executable name nor an absolute path (a leading %q is not a prefix systemd knows)", expanded, string(expanded[0]))
			return out
		case !path.IsAbs(expanded) && (expanded == "." || expanded == ".." || len(expanded) > 255):
			fail("exec-syntax", "%s is not a valid executable name", expanded)
			return out
		}
		cmd.path = expanded
		if path.IsAbs(expanded) {
			cmd.path = path.Clean(expanded)
		}
		out = append(out, cmd)
		// The rest of the command, up to a lone ";", are its arguments.
		for {
			w, r, found, bad := nextWord(rest, "")
			if bad != "" || !found {
				return out
			}
			rest = r
			if w == ";" {
				break
			}
		}
	}
}

// searchPath returns where a bare program name is looked for: the unit's
// ExecSearchPath=, else the executor's default PATH. v252 as Debian 12
// builds it (split-usr) searches /usr/local/sbin:/usr/local/bin:/usr/sbin:
// /usr/bin:/sbin:/bin. v257 (default_PATH() in src/basic/path-util.c,
// evaluated by systemd-executor inside the image) searches
// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin when the image's
// /usr/sbin and /usr/bin are different directories, else
// /usr/local/sbin:/usr/local/bin:/usr/bin when /usr/local/sbin and
// /usr/local/bin are, else /usr/local/bin:/usr/bin: never /bin or /sbin.
func (c *checker) searchPath(vals []string) ([]string, string) {
	var search []string
	set := false
	for _, v := range vals {
		set = true
		if v == "" {
			search = nil
			continue
		}
		for _, d := range strings.Split(v, ":") {
			if path.IsAbs(d) {
				search = append(search, d)
			}
		}
	}
	if set {
		return search, "the unit's ExecSearchPath="
	}
	if c.v < 257 {
		return []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}, "systemd 252's default search path"
	}
	split := func(a, b string) bool {
		_, ra, errA := c.im.stat(a)
		_, rb, errB := c.im.stat(b)
		return errA == nil && errB == nil && ra != rb
	}
	switch {
	case split("/usr/sbin", "/usr/bin"):
		return []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"}, "systemd 257's default search path (the image's /usr/sbin and /usr/bin differ)"
	case split("/usr/local/sbin", "/usr/local/bin"):
		return []string{"/usr/local/sbin", "/usr/local/bin", "/usr/bin"}, "systemd 257's default search path (the image has no separate /usr/sbin)"
	}
	return []string{"/usr/local/bin", "/usr/bin"}, "systemd 257's default search path (the image has no separate /usr/sbin)"
}

// program checks that a command's program can be executed in the image by
// the user the command runs as (find_executable_full, check_x_access).
func (c *checker) program(p string, cmd command, root bool, search []string, searchWhy, typ string) {
	asRoot := root || cmd.asRoot
	report := func(rule, format string, args ...any) {
		msg := fmt.Sprintf("line %d: %s= program %s ", cmd.line, cmd.key, cmd.path) + fmt.Sprintf(format, args...)
		switch {
		case cmd.ignore:
			c.add(Note, rule, p, "%s; the \"-\" prefix makes systemd skip the command (\"Executable ... missing, skipping\")", msg)
		case !cmd.start:
			c.add(Note, rule, p, "%s: the service starts, but this command fails when it runs (203/EXEC)", msg)
		default:
			c.add(Fails, rule, p, "%s: the service fails at start with 203/EXEC", msg)
		}
	}
	if path.IsAbs(cmd.path) {
		if why := c.executable(cmd.path, asRoot); why != "" {
			report("exec-not-found", "%s", why)
		}
		return
	}
	for _, dir := range search {
		if c.executable(path.Join(dir, cmd.path), asRoot) == "" {
			return
		}
	}
	report("exec-not-found", "is not an executable file in %s (%s) in the image", strings.Join(search, ":"), searchWhy)
}

// executable says why the file at p cannot be executed, or "" if it can:
// it must be a regular file with an execute bit for root, and for another
// user an execute bit for others on it and a search bit for others on
// every directory above it (a dynamic user owns nothing in the image).
func (c *checker) executable(p string, asRoot bool) string {
	info, real, err := c.im.stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "is not in the image"
	case err != nil:
		return fmt.Sprintf("cannot be resolved: %v", err)
	case !info.Mode().IsRegular():
		return "is " + DescribeMode(info.Mode()) + ", not a regular file"
	case info.Mode().Perm()&0o111 == 0:
		return fmt.Sprintf("is not executable (mode %04o)", info.Mode().Perm())
	case asRoot:
		return ""
	case owner(info) != 0:
		return "" // owned by a user the service may run as: not checked
	case info.Mode().Perm()&0o001 == 0:
		return fmt.Sprintf("is not executable by the service's user, which is not root (mode %04o, owned by root: others need the execute bit)", info.Mode().Perm())
	}
	for d := path.Dir(real); d != "/"; d = path.Dir(d) {
		di, _, err := c.im.stat(d)
		if err == nil && owner(di) == 0 && di.Mode().Perm()&0o001 == 0 {
			return fmt.Sprintf("is in %s, which the service's user, not root, cannot search (mode %04o)", d, di.Mode().Perm())
		}
	}
	return ""
}
