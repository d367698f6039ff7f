package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/mkportable/mkportable/inspect"
	"github.com/mkportable/mkportable/portable"
)

const inspectSynopsis = `inspect IMAGE.raw [--json] [--match M]... [--profile P] [--kind K] [--cert CERT] [--extension EXT]...

Shows an image as systemd sees it: a squashfs or a disk image (DDI) and its
partitions; its dm-verity data (NAME.roothash, NAME.verity and
NAME.roothash.p7s beside it, or its verity and signature partitions),
checked against the data and, with --cert, the signature; its kind, found
from what it carries unless --kind says (portable: its name, os-release
and unit files as portabled sees them; sysext or confext: its release
file); and every problem, each with what systemd does about it: refused
(portablectl attach refuses the image; an extension is not merged), fails
(attached, but a service fails at start), ignored (used without something
the image carries), note. Exits 1 when any modelled systemd version
refuses the image or a service fails, 0 otherwise, 2 on bad usage.`

// inspection is inspect's --json output, as the contract between inspect
// and the differential harness has it: the fields of issue 9, then kind,
// format, partitions, verity and an extension's release.
type inspection struct {
	Image         string                      `json:"image"`
	Name          string                      `json:"name"`
	Matches       []string                    `json:"matches"`
	Profile       string                      `json:"profile"`
	OSReleasePath string                      `json:"osReleasePath"`
	OSRelease     map[string]string           `json:"osRelease"`
	Units         []portable.Unit             `json:"units"`
	Problems      []portable.Problem          `json:"problems"`
	Outcome       map[string]portable.Outcome `json:"outcome"`

	Kind                 string                   `json:"kind"`
	Format               string                   `json:"format"`
	Size                 int64                    `json:"size"`
	Partitions           []inspect.Partition      `json:"partitions"`
	Verity               inspect.Verity           `json:"verity"`
	ExtensionReleasePath string                   `json:"extensionReleasePath"`
	ExtensionRelease     map[string]string        `json:"extensionRelease"`
	Extensions           []portable.ExtensionInfo `json:"extensions"`
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("inspect", inspectSynopsis, stderr)
	asJSON := flags.Bool("json", false, "print the result as one JSON object")
	var matches, extensions listFlag
	flags.Var(&matches, "match", "attach with match `M` instead of the image name (repeatable)")
	flags.Var(&extensions, "extension", "attach with the extension image `EXT`, as portablectl attach --extension (repeatable)")
	profile := flags.String("profile", "default", "the portablectl --profile: "+strings.Join(portable.Profiles, ", "))
	kind := flags.String("kind", "", "check the image as portable, sysext or confext (default: found from what it carries)")
	certPath := flags.String("cert", "", "check the root hash signature against this PEM or DER `CERT`ificate")
	pos, err := parseArgs(flags, args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "mkportable inspect: want one IMAGE.raw, got %d arguments\n", len(pos))
		return 2
	}
	if !slices.Contains(portable.Profiles, *profile) {
		fmt.Fprintf(stderr, "mkportable inspect: --profile %q: want one of %s\n", *profile, strings.Join(portable.Profiles, ", "))
		return 2
	}
	if _, err := portable.ParseKind(*kind); err != nil {
		fmt.Fprintf(stderr, "mkportable inspect: --kind: %v\n", err)
		return 2
	}
	opts := inspect.Options{Matches: matches, Profile: *profile, Kind: *kind, Extensions: extensions}
	if *certPath != "" {
		if opts.Cert, err = inspect.ParseCertificate(*certPath); err != nil {
			fmt.Fprintf(stderr, "mkportable inspect: --cert: %v\n", err)
			return 2
		}
	}
	res, err := inspect.Inspect(ctx, pos[0], opts)
	if err != nil {
		fmt.Fprintf(stderr, "mkportable inspect: %s: %v\n", pos[0], err)
		return 1
	}
	r := res.Report
	out := inspection{Image: pos[0], Name: r.Name, Matches: r.Matches, Profile: r.Profile,
		OSReleasePath: r.OSReleasePath, OSRelease: r.OSRelease, Units: r.Units, Problems: r.Problems, Outcome: r.Outcomes(),
		Kind: r.Kind, Format: res.Format, Size: res.Size, Partitions: nonNil(res.Partitions), Verity: res.Verity,
		ExtensionReleasePath: r.ExtensionReleasePath, ExtensionRelease: r.ExtensionRelease, Extensions: nonNil(r.Extensions)}
	if out.ExtensionRelease == nil {
		out.ExtensionRelease = map[string]string{}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "mkportable inspect: %v\n", err)
			return 1
		}
	} else {
		printInspection(stdout, out)
	}
	for _, o := range out.Outcome {
		if o != portable.OutcomeActive {
			return 1
		}
	}
	return 0
}

// severityTitles say what each severity means, for the human output.
var severityTitles = []struct {
	sev   portable.Severity
	title string
}{
	{portable.Refused, "refused: portablectl attach refuses the image"},
	{portable.Fails, "fails: attached, but a unit fails when it starts"},
	{portable.Ignored, "ignored: attached without these"},
	{portable.Note, "notes"},
}

func printInspection(w io.Writer, r inspection) {
	fmt.Fprintf(w, "image       %s: %s, %s (%d bytes)\n", r.Image, r.Kind, r.Format, r.Size)
	for _, p := range r.Partitions {
		fmt.Fprintf(w, "  partition %d %-24s uuid %s, %d bytes at %d, label %q\n", p.Number, p.Type, p.UUID, p.Size, p.Offset, p.Label)
	}
	printVerity(w, r.Verity)
	fmt.Fprintf(w, "image name  %s\n", r.Name)
	sortedFields := func(m map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(w, "  %s=%s\n", k, m[k])
		}
	}
	if r.Kind != "portable" {
		if r.ExtensionReleasePath == "" {
			fmt.Fprintln(w, "release     none")
		} else {
			fmt.Fprintf(w, "release     %s\n", r.ExtensionReleasePath)
		}
		sortedFields(r.ExtensionRelease)
	} else {
		fmt.Fprintf(w, "matches     %s\n", strings.Join(r.Matches, " "))
		fmt.Fprintf(w, "profile     %s\n", r.Profile)
		if r.OSReleasePath == "" {
			fmt.Fprintln(w, "os-release  none")
		} else {
			fmt.Fprintf(w, "os-release  %s\n", r.OSReleasePath)
		}
		sortedFields(r.OSRelease)
		for _, e := range r.Extensions {
			where := e.ReleasePath
			if where == "" {
				where = "no release file"
			}
			fmt.Fprintf(w, "extension   %s (%s)\n", e.File, where)
			sortedFields(e.Release)
		}
		fmt.Fprintln(w, "units")
		for _, u := range r.Units {
			state := "attached"
			if !u.Attached {
				state = "not attached"
			}
			where := u.Path
			if u.Image != "" {
				where = u.Image + ":" + u.Path
			}
			fmt.Fprintf(w, "  %-30s %-50s %s\n", u.Name, where, state)
		}
	}
	var outcomes []string
	for _, v := range portable.Versions {
		outcomes = append(outcomes, fmt.Sprintf("systemd %d: %s", v, r.Outcome[fmt.Sprint(v)]))
	}
	fmt.Fprintf(w, "outcome     %s\n", strings.Join(outcomes, ", "))
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "problems    none")
		return
	}
	for _, s := range severityTitles {
		first := true
		for _, p := range r.Problems {
			if p.Severity != s.sev {
				continue
			}
			if first {
				fmt.Fprintln(w, s.title)
				first = false
			}
			where := ""
			if p.Path != "" {
				where = p.Path + ": "
			}
			fmt.Fprintf(w, "  - [%s] %s%s%s\n", p.Rule, where, p.Message, versionNote(p))
		}
	}
}

// printVerity prints the verity state.
func printVerity(w io.Writer, v inspect.Verity) {
	switch v.Source {
	case "none":
		fmt.Fprintln(w, "verity      none: systemd mounts the file system unverified")
		return
	case "sidecars":
		fmt.Fprintln(w, "verity      sidecar files")
		for _, f := range []string{v.RootHashFile, v.VerityFile, v.SignatureFile} {
			if f != "" {
				fmt.Fprintf(w, "  %s\n", f)
			}
		}
	default:
		fmt.Fprintln(w, "verity      partitions")
	}
	if v.RootHash != "" {
		fmt.Fprintf(w, "  root hash %s\n", v.RootHash)
	}
	if v.DataBlocks > 0 {
		fmt.Fprintf(w, "  %d data blocks of %d bytes, hash blocks of %d\n", v.DataBlocks, v.DataBlockSize, v.HashBlockSize)
	}
	switch {
	case v.TreeMatches == nil:
		fmt.Fprintln(w, "  hash tree not checked")
	case *v.TreeMatches:
		fmt.Fprintln(w, "  hash tree matches the data and the root hash")
	default:
		fmt.Fprintf(w, "  hash tree does NOT match: %s\n", v.TreeError)
	}
	switch {
	case !v.Signed:
		fmt.Fprintln(w, "  not signed")
	case v.SignatureVerified == nil:
		fmt.Fprintln(w, "  signed; signature not checked (give --cert)")
	case *v.SignatureVerified:
		fmt.Fprintf(w, "  signed; the signature verifies against %s\n", v.Certificate)
	default:
		fmt.Fprintf(w, "  signed; the signature does NOT verify: %s\n", v.SignatureError)
	}
}

// versionNote says which systemd versions a problem applies to, when not
// all.
func versionNote(p portable.Problem) string {
	if p.Since == 0 && p.Before == 0 {
		return ""
	}
	return " (systemd " + p.Versions() + " only)"
}
