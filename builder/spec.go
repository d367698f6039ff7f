// Package builder builds systemd portable-service images: a Nix store
// closure (or any files) plus unit files in, NAME_VERSION.raw out, laid out
// as systemd-portabled expects and checked before it is written with
// package portable's rules, so that every mistake portabled would refuse
// or the service would die of is caught on the build machine.
package builder

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mkportable/mkportable/portable"
)

// NixStore is the store directory store paths name, and the default host
// directory they are read from.
const NixStore = "/nix/store"

// Spec describes a portable service image. As JSON (LoadSpec) its field
// names are the json tags; paths in a spec file are relative to that file.
// The names follow nixpkgs' portableService where it has one.
type Spec struct {
	// Name is the image name, the prefix every unit's name must start with
	// (nixpkgs: pname).
	Name string `json:"name"`
	// Version becomes VERSION_ID and the file name NAME_VERSION.raw.
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	Homepage    string `json:"homepage,omitempty"`
	// Units are unit files or templates. A template is a file whose name
	// ends in ".in" (dropped from the unit's name), or every unit when
	// SubstituteAll is set: its @name@ placeholders are filled from
	// Substitutions. Other units are copied byte for byte, a literal '@'
	// and all.
	Units         []string          `json:"units"`
	Substitutions map[string]string `json:"substitutions,omitempty"`
	// SubstituteAll treats every unit as a template (nixpkgs'
	// substituteAll on each).
	SubstituteAll bool `json:"substituteAll,omitempty"`
	// Matches are the matches the image is meant to be attached with
	// (portablectl attach IMAGE MATCH...); default the name. They become
	// PORTABLE_PREFIXES.
	Matches []string `json:"matches,omitempty"`
	// Profile is the portablectl --profile the image is checked with:
	// default (the default), nonetwork, strict or trusted.
	Profile string `json:"profile,omitempty"`
	// StorePaths are copied whole into the image at their own paths. Each
	// must be /nix/store/<name>, read from StoreDir/<name>.
	StorePaths []string `json:"storePaths,omitempty"`
	// ClosureInfo is a closureInfo output directory or its store-paths
	// file: one store path a line, each added to StorePaths.
	ClosureInfo string `json:"closureInfo,omitempty"`
	// StoreDir is the host directory that holds the store paths; default
	// /nix/store. /nix/store/abc-x is read from StoreDir/abc-x.
	StoreDir string `json:"storeDir,omitempty"`
	// Contents are extra files or trees: Source on the host, Target in
	// the image. A source must lie in Dir unless HostContents is set.
	Contents []Content `json:"contents,omitempty"`
	// HostContents allows contents sources anywhere on the host.
	HostContents bool `json:"hostContents,omitempty"`
	// Symlinks are links to make in the image (nixpkgs: symlinks).
	Symlinks []Symlink `json:"symlinks,omitempty"`
	// OSRelease adds to or overrides the fields of /etc/os-release.
	OSRelease map[string]string `json:"osRelease,omitempty"`
	// Compression is xz (default), gzip, zstd, lz4 or none; xz, gzip and
	// zstd take a level after a colon, as in "zstd:19" (see
	// squashfs.NewCompressor).
	Compression string `json:"compression,omitempty"`
	// BlockSize is the squashfs block size, e.g. "1M" (default) or "128K".
	BlockSize string `json:"blockSize,omitempty"`
	// Kind is portable (the default: a portable service image), sysext (a
	// system extension, merged over /usr and /opt by systemd-sysext or
	// attached with a portable image by portablectl attach --extension)
	// or confext (a configuration extension, merged over /etc by
	// systemd-confext, 254 and later).
	Kind string `json:"kind,omitempty"`
	// Architecture is systemd's name of the architecture the image is for
	// ("x86-64", "arm64"...): the type of a DDI's root partition and an
	// extension's ARCHITECTURE=. Default: the build machine's.
	Architecture string `json:"architecture,omitempty"`
	// Format is raw (the default: NAME_VERSION.raw is the squashfs) or
	// ddi (NAME_VERSION.raw is a GPT disk image holding the squashfs as
	// the root partition, its dm-verity hash tree and, when signing, the
	// root hash signature).
	Format string `json:"format,omitempty"`
	// Verity writes NAME_VERSION.verity (the dm-verity hash tree) and
	// NAME_VERSION.roothash beside a raw image, which systemd then mounts
	// through dm-verity. A DDI always carries its hash tree.
	Verity bool `json:"verity,omitempty"`
	// SignKey and Cert are a PEM private key and its certificate, paths on
	// the build machine read at build time: the root hash is signed into
	// NAME_VERSION.roothash.p7s beside a raw image (which implies Verity)
	// or into a DDI's signature partition. systemd accepts the image only
	// on machines that trust the certificate (/etc/verity.d/*.crt).
	SignKey string `json:"signKey,omitempty"`
	Cert    string `json:"cert,omitempty"`
	// Dir is the directory contents sources are confined to: LoadSpec
	// sets it to the spec file's directory; empty means the working
	// directory.
	Dir string `json:"-"`
}

// Content places Source, a host file or directory, at Target in the image.
type Content struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// Symlink makes Symlink in the image point at Object, as nixpkgs'
// portableService symlinks = [{ object; symlink; }] does.
type Symlink struct {
	Object  string `json:"object"`
	Symlink string `json:"symlink"`
}

// LoadSpec reads a JSON spec file. Unknown fields are errors, so a typo is
// not silently ignored; relative paths are resolved against the file's
// directory, which becomes Dir.
func LoadSpec(path string) (Spec, error) {
	var s Spec
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("spec %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for i := range s.Units {
		s.Units[i] = rel(s.Units[i])
	}
	for i := range s.Contents {
		s.Contents[i].Source = rel(s.Contents[i].Source)
	}
	s.ClosureInfo = rel(s.ClosureInfo)
	s.StoreDir = rel(s.StoreDir)
	s.SignKey = rel(s.SignKey)
	s.Cert = rel(s.Cert)
	s.Dir = dir
	return s, nil
}

// storePath is a store path and the input that named it.
type storePath struct{ path, input string }

// maxClosureLine bounds a line of a closureInfo store-paths file.
const maxClosureLine = 64 << 10

// storePaths returns StorePaths plus those of ClosureInfo, without
// repeats, in a fixed order.
func (s Spec) storePaths() ([]storePath, error) {
	var paths []storePath
	for _, p := range s.StorePaths {
		paths = append(paths, storePath{p, "storePaths"})
	}
	if s.ClosureInfo != "" {
		file := s.ClosureInfo
		info, err := os.Stat(file)
		if err == nil && info.IsDir() {
			file = filepath.Join(file, "store-paths")
			info, err = os.Stat(file)
		}
		if err == nil && !info.Mode().IsRegular() {
			// A device could be read forever, a FIFO block the open.
			return nil, &CheckError{"closureInfo " + file, fmt.Sprintf("%s, not a regular file", portable.DescribeMode(info.Mode()))}
		}
		f, err := os.Open(file)
		if err != nil {
			return nil, &CheckError{"closureInfo", err.Error()}
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, maxClosureLine)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				paths = append(paths, storePath{line, "closureInfo " + file})
			}
		}
		if err := sc.Err(); err != nil {
			return nil, &CheckError{"closureInfo " + file, err.Error()}
		}
	}
	seen := map[string]bool{}
	out := paths[:0]
	for _, p := range paths {
		if !seen[p.path] {
			seen[p.path] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// checkContentsSource refuses a contents source outside Dir, symlinks
// resolved, unless HostContents allows it.
func (s Spec) checkContentsSource(src string) error {
	if s.HostContents {
		return nil
	}
	base := s.Dir
	if base == "" {
		base = "."
	}
	absBase, err1 := filepath.Abs(base)
	absSrc, err2 := filepath.Abs(src)
	if err1 == nil && err2 == nil {
		if b, err := filepath.EvalSymlinks(absBase); err == nil {
			absBase = b
		}
		if r, err := filepath.EvalSymlinks(absSrc); err == nil {
			absSrc = r
		}
		if rel, err := filepath.Rel(absBase, absSrc); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	return &CheckError{src, fmt.Sprintf("contents source is outside %s; set \"hostContents\": true in the spec (or --host-contents) to take files from anywhere on the host", absBase)}
}

// FileName is the image's file name, NAME_VERSION.raw.
func (s Spec) FileName() string { return s.Name + "_" + s.Version + ".raw" }
