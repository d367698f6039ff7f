package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mkportable/mkportable/builder"
	"github.com/mkportable/mkportable/inspect"
	"github.com/mkportable/mkportable/portable"
	"github.com/mkportable/mkportable/squashfs"
)

const buildSynopsis = `build [SPEC.json] -o DIR [flags]

Builds DIR/NAME_VERSION.raw, a systemd portable service image (or, with
--kind, a system or configuration extension), from a JSON spec, from flags,
or from both (flags override the spec), creating DIR if need be. Every input
is checked first, then the laid-out image as 'mkportable inspect' checks
one: what systemd refuses or what makes a service fail is an error, what it
ignores and notes are printed. --verity writes NAME_VERSION.verity and
NAME_VERSION.roothash beside the image, --sign-key and --cert also
NAME_VERSION.roothash.p7s; --format ddi writes them all into one GPT disk
image instead. A failed or killed build leaves nothing behind.`

// buildResult is build's --json output.
type buildResult struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// Inputs say what was taken from where on the host.
	Inputs []builder.Input `json:"inputs"`
	// Created are the empty directories and files the builder added.
	Created  []string                    `json:"created"`
	Problems []portable.Problem          `json:"problems"`
	Outcome  map[string]portable.Outcome `json:"outcome"`
	// Kind, Format and Architecture are what was built.
	Kind         string `json:"kind"`
	Format       string `json:"format"`
	Architecture string `json:"architecture"`
	// RootHash is the dm-verity root hash; "" without verity.
	RootHash string `json:"rootHash"`
	// Outputs are every file written, the image last; Removed, the stale
	// sidecars of an earlier build that this one removed.
	Outputs []builder.Output `json:"outputs"`
	Removed []string         `json:"removed"`
	// Partitions are a DDI's.
	Partitions []inspect.Partition `json:"partitions,omitempty"`
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// listFlag collects a flag given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("build", buildSynopsis, stderr)
	outDir := fs.String("o", "", "output directory (required)")
	name := fs.String("name", "", "image name; every unit's name must start with it")
	version := fs.String("version", "", "image version")
	description := fs.String("description", "", "description, for os-release")
	homepage := fs.String("homepage", "", "home page URL, for os-release")
	var units, substs, storePaths, symlinks, contents listFlag
	fs.Var(&units, "unit", "unit file or template `FILE` (repeatable)")
	fs.Var(&substs, "subst", "placeholder value `KEY=VALUE`: @KEY@ becomes VALUE (repeatable)")
	fs.Var(&storePaths, "store-path", "store `PATH` to copy into the image (repeatable)")
	closureInfo := fs.String("closure-info", "", "closureInfo output or its store-paths file")
	storeDir := fs.String("store-dir", "", "host directory holding the store paths (default /nix/store)")
	fs.Var(&symlinks, "symlink", "link `OBJECT:SYMLINK` to make in the image (repeatable)")
	fs.Var(&contents, "contents", "host file or tree `SRC:DEST` to place in the image (repeatable)")
	hostContents := fs.Bool("host-contents", false, "allow contents sources outside the spec file's directory (the working directory without a spec)")
	var matches listFlag
	fs.Var(&matches, "match", "a match `M` the image is attached with (repeatable; default the name); becomes PORTABLE_PREFIXES")
	profile := fs.String("profile", "", "the portablectl --profile to check with: "+strings.Join(portable.Profiles, ", ")+" (default default)")
	substituteAll := fs.Bool("substitute-all", false, "fill @placeholders@ in every unit, not only in .in templates")
	compression := fs.String("compression", "", "xz (default), gzip, zstd, lz4 or none; xz, gzip and zstd take a level as in zstd:19")
	blockSize := fs.String("block-size", "", "squashfs block size (default 1M)")
	jobs := fs.Int("jobs", 0, "compression workers (default: all cores)")
	kind := fs.String("kind", "", "what to build: portable (default), sysext or confext")
	arch := fs.String("architecture", "", "systemd's name of the image's architecture: x86-64, arm64... (default: this machine's)")
	format := fs.String("format", "", "raw (default: the squashfs) or ddi (a GPT disk image with verity partitions)")
	verityFlag := fs.Bool("verity", false, "write NAME_VERSION.verity and NAME_VERSION.roothash beside the image")
	signKey := fs.String("sign-key", "", "sign the root hash with this PEM private `KEY` (implies --verity; needs --cert)")
	cert := fs.String("cert", "", "the PEM `CERT`ificate of --sign-key")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	cacheDir := cacheFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return usageError(err)
	}
	fail := func(code int, err error) int {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "mkportable build: %s\n", line)
		}
		return code
	}
	if len(pos) > 1 {
		return fail(2, fmt.Errorf("want at most one spec file, got %d arguments", len(pos)))
	}
	if *outDir == "" {
		return fail(2, errors.New("-o DIR is required"))
	}
	var spec builder.Spec
	if len(pos) == 1 {
		if spec, err = builder.LoadSpec(pos[0]); err != nil {
			return fail(1, err)
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&spec.Name, *name)
	set(&spec.Version, *version)
	set(&spec.Description, *description)
	set(&spec.Homepage, *homepage)
	set(&spec.ClosureInfo, *closureInfo)
	set(&spec.StoreDir, *storeDir)
	set(&spec.Compression, *compression)
	set(&spec.BlockSize, *blockSize)
	set(&spec.Profile, *profile)
	set(&spec.Kind, *kind)
	set(&spec.Architecture, *arch)
	set(&spec.Format, *format)
	set(&spec.SignKey, *signKey)
	set(&spec.Cert, *cert)
	spec.Verity = spec.Verity || *verityFlag
	spec.HostContents = spec.HostContents || *hostContents
	spec.SubstituteAll = spec.SubstituteAll || *substituteAll
	if len(matches) > 0 {
		spec.Matches = matches
	}
	if spec.Profile != "" && !slices.Contains(portable.Profiles, spec.Profile) {
		return fail(2, fmt.Errorf("--profile %q: want one of %s", spec.Profile, strings.Join(portable.Profiles, ", ")))
	}
	spec.Units = append(spec.Units, units...)
	spec.StorePaths = append(spec.StorePaths, storePaths...)
	for _, s := range substs {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fail(2, fmt.Errorf("--subst %q: want KEY=VALUE", s))
		}
		if spec.Substitutions == nil {
			spec.Substitutions = map[string]string{}
		}
		spec.Substitutions[k] = v
	}
	for _, s := range symlinks {
		obj, link, ok := strings.Cut(s, ":")
		if !ok || obj == "" || link == "" {
			return fail(2, fmt.Errorf("--symlink %q: want OBJECT:SYMLINK", s))
		}
		spec.Symlinks = append(spec.Symlinks, builder.Symlink{Object: obj, Symlink: link})
	}
	for _, c := range contents {
		src, dest, ok := strings.Cut(c, ":")
		if !ok || src == "" || dest == "" {
			return fail(2, fmt.Errorf("--contents %q: want SRC:DEST", c))
		}
		spec.Contents = append(spec.Contents, builder.Content{Source: src, Target: dest})
	}
	modTime, err := squashfs.ModTimeFromEnv(os.Getenv)
	if err != nil {
		return fail(2, err)
	}

	start := time.Now()
	cache, cacheDone, err := openCache(*cacheDir)
	if err != nil {
		return fail(2, err)
	}
	defer cacheDone()
	res, err := builder.Build(ctx, spec, *outDir, builder.Options{ModTime: modTime, Workers: *jobs, Cache: cache,
		BeforeWrite: limitMemory})
	if err != nil {
		return fail(1, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(buildResult{Path: res.Path, Size: res.Size, SHA256: res.SHA256, Name: spec.Name, Version: spec.Version,
			Inputs: nonNil(res.Inputs), Created: nonNil(res.Created), Problems: res.Report.Problems, Outcome: res.Report.Outcomes(),
			Kind: res.Kind, Format: res.Format, Architecture: res.Architecture, RootHash: res.RootHash,
			Outputs: res.Outputs, Removed: nonNil(res.Removed), Partitions: inspect.Partitions(res.Disk)}); err != nil {
			return fail(1, err)
		}
		return 0
	}
	fmt.Fprintf(stdout, "%s\n  %s %s, %s\n  size   %d bytes (%s)\n  sha256 %s\n  %d files, %.1fs\n",
		res.Path, res.Kind, res.Format, res.Architecture, res.Size, humanBytes(res.Size), res.SHA256, res.Stats.Files, time.Since(start).Seconds())
	if res.RootHash != "" {
		fmt.Fprintf(stdout, "  verity root hash %s\n", res.RootHash)
	}
	for _, o := range res.Outputs[:len(res.Outputs)-1] {
		fmt.Fprintf(stdout, "  %-9s %s (%d bytes, sha256 %s)\n", o.Role, o.Path, o.Size, o.SHA256)
	}
	for _, p := range inspect.Partitions(res.Disk) {
		fmt.Fprintf(stdout, "  partition %d %-24s %s, %d bytes at %d\n", p.Number, p.Type, p.UUID, p.Size, p.Offset)
	}
	for _, r := range res.Removed {
		fmt.Fprintf(stdout, "  removed the stale %s\n", r)
	}
	if len(res.Created) > 0 {
		fmt.Fprintf(stdout, "  created empty, as the services need them: %s\n", strings.Join(res.Created, " "))
	}
	for _, p := range res.Report.Problems {
		where := ""
		if p.Path != "" {
			where = p.Path + ": "
		}
		fmt.Fprintf(stderr, "mkportable build: %s: [%s] %s%s%s\n", p.Severity, p.Rule, where, p.Message, versionNote(p))
	}
	return 0
}
