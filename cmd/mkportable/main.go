// Command mkportable builds systemd portable-service images without root or
// external tools.
//
//	mkportable squash SRC OUT [flags]       write a squashfs image of a directory
//	mkportable build SPEC.json -o DIR       build NAME_VERSION.raw from a spec
//	mkportable inspect IMAGE.raw [--json]   show what portabled will see, and its objections
//	mkportable --version                    print the module version and VCS revision
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// command is one subcommand. It returns the process exit code: 0 on
// success, 1 when it ran but found problems or failed, 2 on bad usage.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"squash":  {"write a squashfs image of a directory (a drop-in for mksquashfs -all-root)", runSquash},
		"build":   {"build NAME_VERSION.raw, a portable service image, from a spec", runBuild},
		"inspect": {"show an image as portabled sees it, and every problem it would refuse", runInspect},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" || args[0] == "version" {
		info, _ := debug.ReadBuildInfo() // nil when the binary has none
		fmt.Fprintln(stdout, version(info))
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "mkportable: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if len(args) == 1 {
		// Every command needs arguments: show what they are. A command
		// given -h prints its usage, flags included.
		fmt.Fprintf(stderr, "mkportable %s: no arguments\n", args[0])
		cmd.run(ctx, []string{"-h"}, io.Discard, stderr)
		return 2
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

// version describes the binary from its build information: the main
// module's version ("(devel)" when built from a source tree, a tag or
// pseudo-version when installed with go install) and the VCS revision,
// commit time and uncommitted changes the go command recorded, which it
// does for go build in a git checkout but not for go run or without .git.
func version(info *debug.BuildInfo) string {
	if info == nil {
		return "mkportable (no build information)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var vcs []string
	if rev := settings["vcs.revision"]; rev != "" {
		vcs = append(vcs, "revision "+rev)
		if t := settings["vcs.time"]; t != "" {
			vcs = append(vcs, "committed "+t)
		}
		if settings["vcs.modified"] == "true" {
			vcs = append(vcs, "with uncommitted changes")
		}
	} else {
		vcs = append(vcs, "no VCS revision recorded")
	}
	line := fmt.Sprintf("mkportable %s (%s)", v, strings.Join(vcs, ", "))
	if info.GoVersion != "" {
		line += " " + info.GoVersion
	}
	return line
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: mkportable COMMAND [ARGS]")
	fmt.Fprintln(w)
	for _, name := range []string{"build", "inspect", "squash"} {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'mkportable COMMAND -h' for a command's flags, 'mkportable --version' for the version.")
}
