// Command mkportable builds systemd portable-service images without root or
// external tools.
//
//	mkportable squash SRC OUT [flags]       write a squashfs image of a directory
//	mkportable build SPEC.json -o DIR       build NAME_VERSION.raw from a spec
//	mkportable inspect IMAGE.raw [--json]   show what portabled will see, and its objections
//	mkportable cache stats|prune            show or trim the block cache of --cache DIR
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
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
		"cache":   {"show or prune the cache of compressed blocks that --cache keeps", runCache},
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
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "mkportable: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: mkportable COMMAND [ARGS]")
	fmt.Fprintln(w)
	for _, name := range []string{"build", "cache", "inspect", "squash"} {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'mkportable COMMAND -h' for a command's flags.")
}
