// Package builder builds systemd portable-service images: a Nix store
// closure (or any files) plus unit files in, NAME_VERSION.raw out, laid out
// as systemd-portabled expects and checked before it is written, so that
// every mistake portabled would refuse or the service would die of is
// caught on the build machine.
package builder

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

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
	// Units are unit files or templates (a trailing ".in" is dropped from
	// the name); @name@ placeholders are filled from Substitutions.
	Units         []string          `json:"units"`
	Substitutions map[string]string `json:"substitutions,omitempty"`
	// StorePaths are copied whole into the image at their own paths.
	StorePaths []string `json:"storePaths,omitempty"`
	// ClosureInfo is a closureInfo output directory or its store-paths
	// file: one store path a line, each added to StorePaths.
	ClosureInfo string `json:"closureInfo,omitempty"`
	// StoreDir is the host directory that holds the store paths; default
	// /nix/store. /nix/store/abc-x is read from StoreDir/abc-x.
	StoreDir string `json:"storeDir,omitempty"`
	// Contents are extra files or trees: Source on the host, Target in
	// the image.
	Contents []Content `json:"contents,omitempty"`
	// Symlinks are links to make in the image (nixpkgs: symlinks).
	Symlinks []Symlink `json:"symlinks,omitempty"`
	// OSRelease adds to or overrides the fields of /etc/os-release.
	OSRelease map[string]string `json:"osRelease,omitempty"`
	// Compression is xz (default), gzip, zstd, lz4 or none.
	Compression string `json:"compression,omitempty"`
	// BlockSize is the squashfs block size, e.g. "1M" (default) or "128K".
	BlockSize string `json:"blockSize,omitempty"`
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
// directory.
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
	return s, nil
}

// storePaths returns StorePaths plus those of ClosureInfo, without
// repeats, in a fixed order.
func (s Spec) storePaths() ([]string, error) {
	paths := append([]string(nil), s.StorePaths...)
	if s.ClosureInfo != "" {
		file := s.ClosureInfo
		if info, err := os.Stat(file); err == nil && info.IsDir() {
			file = filepath.Join(file, "store-paths")
		}
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("closure info: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				paths = append(paths, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("closure info %s: %w", file, err)
		}
	}
	seen := map[string]bool{}
	out := paths[:0]
	for _, p := range paths {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// hostPath is where store path p lives on the build machine.
func (s Spec) hostPath(p string) string {
	if s.StoreDir == "" {
		return p
	}
	return filepath.Join(s.StoreDir, filepath.Base(p))
}

// FileName is the image's file name, NAME_VERSION.raw.
func (s Spec) FileName() string { return s.Name + "_" + s.Version + ".raw" }
