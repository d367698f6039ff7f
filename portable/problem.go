package portable

import (
	"fmt"
	"slices"
	"strconv"
)

// Versions are the systemd versions the rules model.
var Versions = []int{252, 257}

// Severity says what systemd does about a problem.
type Severity string

const (
	// Refused: portablectl attach refuses the image (non-zero exit,
	// nothing attached).
	Refused Severity = "refused"
	// Fails: attach succeeds, but a unit attach --now starts fails at
	// start or never becomes active.
	Fails Severity = "fails"
	// Ignored: attach succeeds without something the image carries.
	Ignored Severity = "ignored"
	// Note: informational; no effect on the outcome.
	Note Severity = "note"
)

// rank orders severities, the gravest first.
func (s Severity) rank() int {
	switch s {
	case Refused:
		return 0
	case Fails:
		return 1
	case Ignored:
		return 2
	}
	return 3
}

// Problem is one finding about an image.
type Problem struct {
	Severity Severity `json:"severity"`
	// Rule is a stable kebab-case identifier of the rule broken.
	Rule string `json:"rule"`
	// Path is where in the image the problem is, if anywhere.
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	// Since and Before bound the systemd versions the problem applies to:
	// v with (Since == 0 || v >= Since) && (Before == 0 || v < Before).
	Since  int `json:"since"`
	Before int `json:"before"`
}

// AppliesTo reports whether the problem applies to systemd version v.
func (p Problem) AppliesTo(v int) bool {
	return (p.Since == 0 || v >= p.Since) && (p.Before == 0 || v < p.Before)
}

// Versions describes the versions the problem applies to, as "all", "252",
// "257 and later" or "before 257".
func (p Problem) Versions() string {
	switch {
	case p.Since == 0 && p.Before == 0:
		return "all versions"
	case p.Since == 0:
		return "before " + strconv.Itoa(p.Before)
	case p.Before == 0:
		return strconv.Itoa(p.Since) + " and later"
	}
	return fmt.Sprintf("%d to %d", p.Since, p.Before-1)
}

// Error returns "rule: path: message".
func (p Problem) Error() string {
	if p.Path == "" {
		return p.Rule + ": " + p.Message
	}
	return p.Rule + ": " + p.Path + ": " + p.Message
}

// Outcome is what a systemd version does with an image as a whole.
type Outcome string

const (
	OutcomeRefused Outcome = "refused"
	OutcomeFails   Outcome = "fails"
	OutcomeActive  Outcome = "active"
)

// Unit is a unit file portabled finds in the image for the matches.
type Unit struct {
	Name string `json:"name"`
	// Path is where portabled finds it, in its search path.
	Path string `json:"path"`
	// Image is the extension image it comes from; "" for the image itself.
	Image string `json:"image,omitempty"`
	// Attached says whether portabled attaches it (for every version
	// modelled; a unit attached by one version only has an ignored
	// problem for the other).
	Attached bool `json:"attached"`
}

// MountPoint is a path that must exist in the image for a service to
// start: systemd mounts over it, or changes into it.
type MountPoint struct {
	Path string `json:"path"`
	// Kind is "dir", "file" (anything but a directory: systemd binds a
	// file or socket of the host over it) or "any".
	Kind string `json:"kind"`
	// Exists says whether the image has it, of the right kind.
	Exists bool `json:"exists"`
	// Why names the setting that needs it.
	Why string `json:"why"`
	// Since and Before bound the versions that need it, as for Problem.
	Since  int `json:"since"`
	Before int `json:"before"`
}

// Report is what Check found.
type Report struct {
	// Kind is the kind checked: "portable", "sysext" or "confext".
	Kind string `json:"kind"`
	// Name is the image name derived from the file name ("" when no
	// file name was given): for an extension, the name its release file
	// must carry.
	Name    string   `json:"name"`
	Matches []string `json:"matches"`
	Profile string   `json:"profile"`
	// OSReleasePath is where portabled found os-release, "" if nowhere.
	OSReleasePath string            `json:"osReleasePath"`
	OSRelease     map[string]string `json:"osRelease"`
	// ExtensionReleasePath and ExtensionRelease are an extension's release
	// file, as the newest modelled version finds it ("" and nil for a
	// portable image, or when there is none).
	ExtensionReleasePath string            `json:"extensionReleasePath,omitempty"`
	ExtensionRelease     map[string]string `json:"extensionRelease,omitempty"`
	// Extensions are the extensions a portable image was checked with
	// (Options.Extensions), as the newest modelled version finds them.
	Extensions []ExtensionInfo `json:"extensions,omitempty"`
	Units      []Unit          `json:"units"`
	// MountPoints are the paths the attached services need in the image.
	MountPoints []MountPoint `json:"mountPoints"`
	Problems    []Problem    `json:"problems"`
}

// Outcome returns what systemd version v does with the image: "refused"
// if any problem applying to v is Refused, else "fails" if any is Fails,
// else "active".
func (r *Report) Outcome(v int) Outcome {
	out := OutcomeActive
	for _, p := range r.Problems {
		if !p.AppliesTo(v) {
			continue
		}
		switch p.Severity {
		case Refused:
			return OutcomeRefused
		case Fails:
			out = OutcomeFails
		}
	}
	return out
}

// Outcomes returns Outcome for every modelled version, keyed by the
// version number as a string (as the JSON contract has it).
func (r *Report) Outcomes() map[string]Outcome {
	m := map[string]Outcome{}
	for _, v := range Versions {
		m[strconv.Itoa(v)] = r.Outcome(v)
	}
	return m
}

// Worst returns the problems of severity s or graver.
func (r *Report) Worst(s Severity) []Problem {
	var out []Problem
	for _, p := range r.Problems {
		if p.Severity.rank() <= s.rank() {
			out = append(out, p)
		}
	}
	return out
}

// Add records problems found outside Check (such as VerityProblems'),
// each once, and keeps the problems ordered by severity.
func (r *Report) Add(ps ...Problem) {
	for _, p := range ps {
		r.add(p)
	}
	r.sortProblems()
}

// add records a problem unless the same one is there already (a fixed
// mount point several units need is one problem).
func (r *Report) add(p Problem) {
	if slices.Contains(r.Problems, p) {
		return
	}
	r.Problems = append(r.Problems, p)
}

// sortProblems orders problems by severity, keeping the order of
// discovery within one severity.
func (r *Report) sortProblems() {
	slices.SortStableFunc(r.Problems, func(a, b Problem) int { return a.Severity.rank() - b.Severity.rank() })
}
