package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/mkportable/mkportable/portable"
	"github.com/mkportable/mkportable/squashfs"
)

const inspectSynopsis = `inspect IMAGE.raw [--json] [--match M]... [--profile P]

Shows an image as systemd-portabled sees it (its name, os-release and unit
files) and every problem it has, each with what systemd does about it:
refused (portablectl attach refuses the image), fails (attached, but a
service fails at start), ignored (attached without something the image
carries), note. Exits 1 when any modelled systemd version refuses the image
or a service fails, 0 otherwise, 2 on bad usage.`

// inspection is inspect's --json output, as the contract between inspect
// and the differential harness has it.
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
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("inspect", inspectSynopsis, stderr)
	asJSON := flags.Bool("json", false, "print the result as one JSON object")
	var matches listFlag
	flags.Var(&matches, "match", "attach with match `M` instead of the image name (repeatable)")
	profile := flags.String("profile", "default", "the portablectl --profile: "+strings.Join(portable.Profiles, ", "))
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
	rc, err := squashfs.OpenReader(pos[0])
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			err = fmt.Errorf("not a readable squashfs image: %w", err)
		}
		fmt.Fprintf(stderr, "mkportable inspect: %s: %v\n", pos[0], err)
		return 1
	}
	defer rc.Close()
	r, err := portable.Check(ctx, rc, portable.Options{FileName: pos[0], Matches: matches, Profile: *profile})
	if err != nil {
		fmt.Fprintf(stderr, "mkportable inspect: %s: %v\n", pos[0], err)
		return 1
	}
	res := inspection{Image: pos[0], Name: r.Name, Matches: r.Matches, Profile: r.Profile,
		OSReleasePath: r.OSReleasePath, OSRelease: r.OSRelease, Units: r.Units, Problems: r.Problems, Outcome: r.Outcomes()}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "mkportable inspect: %v\n", err)
			return 1
		}
	} else {
		printInspection(stdout, res)
	}
	for _, o := range res.Outcome {
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
	fmt.Fprintf(w, "image name  %s\n", r.Name)
	fmt.Fprintf(w, "matches     %s\n", strings.Join(r.Matches, " "))
	fmt.Fprintf(w, "profile     %s\n", r.Profile)
	if r.OSReleasePath == "" {
		fmt.Fprintln(w, "os-release  none")
	} else {
		fmt.Fprintf(w, "os-release  %s\n", r.OSReleasePath)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.OSRelease {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(w, "  %s=%s\n", k, r.OSRelease[k])
	}
	fmt.Fprintln(w, "units")
	for _, u := range r.Units {
		state := "attached"
		if !u.Attached {
			state = "not attached"
		}
		fmt.Fprintf(w, "  %-30s %-50s %s\n", u.Name, u.Path, state)
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

// versionNote says which systemd versions a problem applies to, when not
// all.
func versionNote(p portable.Problem) string {
	if p.Since == 0 && p.Before == 0 {
		return ""
	}
	return " (systemd " + p.Versions() + " only)"
}
