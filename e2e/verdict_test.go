package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Outcome classes, as /work/contract.md defines them: what portabled did
// with an image, and what inspect predicts it does.
const (
	outcomeActive  = "active"  // attached, and every unit it started is active or ran successfully
	outcomeRefused = "refused" // portablectl attach failed; nothing attached
	outcomeFails   = "fails"   // attached, but a unit failed to start or never became active
	outcomeError   = "error"   // inspect itself failed (bad usage, unreadable output)
)

// guestRun is what one guest's console log says.
type guestRun struct {
	Systemd  string                  `json:"systemd"`  // major version, "252"
	Version  string                  `json:"version"`  // package version, "252.39-1~deb12u2"
	Corpus   string                  `json:"corpus"`   // the key of the corpus it judged
	Profiles map[string]string       `json:"profiles"` // profile name -> service.conf text
	Steps    map[string]string       `json:"-"`        // example step -> "PASS ..." / "FAIL ..."
	Rows     map[string]*observation `json:"-"`        // corpus row id -> what portabled did
	Leftover []string                `json:"leftovers,omitempty"`
	Done     bool                    `json:"-"`
}

// observation is what portabled did with one corpus image in one guest.
type observation struct {
	Outcome    string      `json:"outcome"`
	Message    string      `json:"message"`
	AttachExit int         `json:"attachExit"`
	Attached   []string    `json:"attached,omitempty"`
	Units      []unitState `json:"units,omitempty"`
}

// unitState is one started unit once it settled.
type unitState struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Journal string `json:"journal,omitempty"`
}

var beginRE = regexp.MustCompile(`^systemd (\d+) \(([^)]*)\)`)

// parseConsole reads the markers guest-test.sh prints (see its header).
// Text before a marker on its line (terminal escapes, a kernel message the
// line was cut into) is skipped.
func parseConsole(r io.Reader) (*guestRun, error) {
	run := &guestRun{Profiles: map[string]string{}, Steps: map[string]string{}, Rows: map[string]*observation{}}
	row := func(id string) *observation {
		o, ok := run.Rows[id]
		if !ok {
			o = &observation{AttachExit: -1}
			run.Rows[id] = o
		}
		return o
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, "E2E-")
		if i < 0 {
			continue
		}
		marker, rest, _ := strings.Cut(line[i:], " ")
		switch marker {
		case "E2E-BEGIN":
			m := beginRE.FindStringSubmatch(rest)
			if m == nil {
				return nil, fmt.Errorf("console: E2E-BEGIN without a systemd version: %q", rest)
			}
			run.Systemd, run.Version = m[1], m[2]
		case "E2E-CORPUS":
			run.Corpus = strings.TrimSpace(rest)
		case "E2E-PROFILE":
			name, text, _ := strings.Cut(rest, " ")
			run.Profiles[name] += text + "\n"
		case "E2E-RESULT":
			step, res, _ := strings.Cut(rest, " ")
			run.Steps[step] = res
		case "E2E-ATTACH":
			f := strings.Fields(rest)
			if len(f) < 2 || !strings.HasPrefix(f[1], "rc=") {
				return nil, fmt.Errorf("console: malformed E2E-ATTACH %q", rest)
			}
			rc, err := strconv.Atoi(strings.TrimPrefix(f[1], "rc="))
			if err != nil {
				return nil, fmt.Errorf("console: E2E-ATTACH %q: %w", rest, err)
			}
			o := row(f[0])
			o.AttachExit, o.Attached = rc, f[2:]
		case "E2E-UNIT":
			f := strings.SplitN(rest, " ", 3)
			if len(f) < 3 {
				return nil, fmt.Errorf("console: malformed E2E-UNIT %q", rest)
			}
			o := row(f[0])
			o.Units = append(o.Units, unitState{Name: f[1], State: f[2]})
		case "E2E-JOURNAL":
			f := strings.SplitN(rest, " ", 3)
			if len(f) < 3 {
				return nil, fmt.Errorf("console: malformed E2E-JOURNAL %q", rest)
			}
			o := row(f[0])
			for i := range o.Units {
				if o.Units[i].Name == f[1] {
					o.Units[i].Journal = f[2]
				}
			}
		case "E2E-ROW":
			f := strings.SplitN(rest, " ", 3)
			if len(f) < 2 {
				return nil, fmt.Errorf("console: malformed E2E-ROW %q", rest)
			}
			switch f[1] {
			case outcomeActive, outcomeRefused, outcomeFails:
			default:
				return nil, fmt.Errorf("console: E2E-ROW %s: unknown outcome %q", f[0], f[1])
			}
			o := row(f[0])
			o.Outcome = f[1]
			if len(f) == 3 {
				o.Message = strings.TrimSpace(f[2])
			}
		case "E2E-LEFTOVER":
			run.Leftover = append(run.Leftover, rest)
		case "E2E-DONE":
			run.Done = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if run.Systemd == "" {
		return nil, errors.New("console: no E2E-BEGIN: the test script never ran")
	}
	return run, nil
}

// prediction is what `mkportable inspect --json` says of an image for one
// systemd version.
type prediction struct {
	Outcome string   `json:"outcome"`
	Problem string   `json:"problem,omitempty"` // the first problem behind the outcome
	Exit    int      `json:"exit"`
	Shape   string   `json:"shape"`           // "contract": has outcome; "legacy": problems only
	Notes   []string `json:"notes,omitempty"` // the notes that apply to this version
	Error   string   `json:"error,omitempty"`
}

// problem is one entry of inspect's problems, in the contract's shape.
type problem struct {
	Severity string `json:"severity"`
	Rule     string `json:"rule"`
	Path     string `json:"path"`
	Message  string `json:"message"`
	Since    int    `json:"since"`
	Before   int    `json:"before"`
}

func (p problem) appliesTo(v int) bool {
	return (p.Since == 0 || v >= p.Since) && (p.Before == 0 || v < p.Before)
}

func (p problem) String() string {
	s := p.Severity + " " + p.Rule
	if p.Path != "" {
		s += " " + p.Path
	}
	return s + ": " + p.Message
}

// predict reads inspect's JSON output and exit status for systemd version
// v. It reads the contract's shape (outcome per version, typed problems);
// an output without outcome is today's inspect, whose problems are
// strings: any problem then predicts refused.
func predict(stdout, stderr []byte, exit int, v int) prediction {
	pred := prediction{Exit: exit}
	var res struct {
		Outcome  map[string]string `json:"outcome"`
		Problems json.RawMessage   `json:"problems"`
	}
	if err := json.Unmarshal(stdout, &res); err != nil {
		pred.Outcome = outcomeError
		pred.Error = fmt.Sprintf("exit %d, no JSON (%v): %s", exit, err, firstLineOf(string(stderr)))
		return pred
	}
	var typed []problem
	var plain []string
	if len(res.Problems) > 0 && string(res.Problems) != "null" {
		if err := json.Unmarshal(res.Problems, &typed); err != nil {
			typed = nil
			if err := json.Unmarshal(res.Problems, &plain); err != nil {
				pred.Outcome = outcomeError
				pred.Error = fmt.Sprintf("problems are neither the contract's objects nor strings: %v", err)
				return pred
			}
		}
	}
	if res.Outcome == nil {
		pred.Shape = "legacy"
		pred.Outcome = outcomeActive
		if len(plain) > 0 {
			pred.Outcome, pred.Problem = outcomeRefused, plain[0]
		} else if len(typed) > 0 {
			pred.Outcome, pred.Problem = outcomeRefused, typed[0].String()
		}
		return pred
	}
	pred.Shape = "contract"
	out, ok := res.Outcome[strconv.Itoa(v)]
	switch {
	case !ok:
		pred.Outcome = outcomeError
		pred.Error = fmt.Sprintf("no outcome for systemd %d", v)
		return pred
	case out != outcomeActive && out != outcomeRefused && out != outcomeFails:
		pred.Outcome = outcomeError
		pred.Error = fmt.Sprintf("outcome %q for systemd %d is not active, refused or fails", out, v)
		return pred
	}
	pred.Outcome = out
	for _, p := range typed {
		if p.appliesTo(v) && p.Severity == "note" {
			pred.Notes = append(pred.Notes, p.String())
		}
	}
	// The problem behind the outcome: the first applicable one of its
	// severity, else the first applicable one that is not a note.
	for _, sev := range []string{out, ""} {
		for _, p := range typed {
			if p.appliesTo(v) && (p.Severity == sev || sev == "" && p.Severity != "note") {
				pred.Problem = p.String()
				return pred
			}
		}
	}
	return pred
}

func firstLineOf(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// truncate shortens s to n runes for the table.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
